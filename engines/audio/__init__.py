"""Audio engine (seed 004 §19.0 Audio, seed 000 Audio Engine): local TTS voices, fitting, mix, loudness, audiobook.
Plain Python over espeak-ng and the bundled ffmpeg; no Dagster. Import the submodules (tts, mix, audiobook)."""
