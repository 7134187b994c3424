"""Audio engine (seed 004 §19.0 Audio, seed 000 Audio Engine), plain Python over espeak-ng and the bundled ffmpeg;
no Dagster. Import the submodules:

tts        espeak-ng voices, emotion prosody, deterministic WAV takes, cache keys
voice      every line of a script voiced (or estimated, in no-voice mode) before the timing lock
mix        fitting a take to its slot (atempo ±10 %), placing, ducking a music bed, per-scene segments, one loudness gain + limiter, measuring
episode    the episode mix on the video's timeline; audiobook chapters per scene
packets    recording packets (JSON/CSV) for voice actors
lipsync    mouth tracks (openness per 40 ms) from a take's loudness envelope, or from the words without a voice
audiobook  .m4a per episode, .m4b per season, with chapters
"""
