"""Audio contracts (seed 004 §19.0 Audio, seed 000 Audio Engine): voice-over takes before the timing lock, the
episode mix after it, and the recording packet human voice actors work from."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .artifacts import FileRef
from .base import Artifact, NaosModel


class LineCheck(NaosModel):
    """The listening test of one take: what a local speech recognizer heard, against what the line says."""

    line_id: str = ""
    transcript: str
    wer: float = Field(ge=0, description="word error rate of the transcript against the spoken text")
    misheard: list[str] = Field(default_factory=list, description="words of the line the recognizer did not hear")


class VoiceTake(NaosModel):
    """One spoken line: its audio in the registry (None in no-voice mode), its real duration, and who spoke it:
    engine, engine version, model and voice (credits and the registry record name them too)."""

    line_id: str
    speaker_id: str = Field(description="a character id, or 'narrator' for a narrated action beat")
    text: str
    emotion: str
    voice: str
    engine: str | None = Field(None, description="kokoro, flite or espeak-ng; None in no-voice mode")
    engine_version: str | None = None
    model: str | None = Field(None, description="the voice model and its hash, e.g. kokoro-v1.0.int8 6e742170d309")
    speed: float | None = Field(None, description="the speed the engine was asked for (voice x emotion)")
    spoken: str | None = Field(None, description="what the engine read: numbers in words, pronunciations applied")
    rate: int | None = Field(None, description="espeak-ng only: words per minute")
    pitch: int | None = Field(None, description="espeak-ng only")
    volume: int | None = Field(None, description="espeak-ng only")
    sha256: str | None = Field(None, description="WAV (mono 16-bit 48 kHz) in the registry; None without a voice")
    duration_s: float = Field(gt=0)
    source: Literal["tts", "estimate", "studio"]
    listening: LineCheck | None = Field(None, description="the listening test; None when it did not run")
    mouth: str = Field("", pattern=r"^[012]*$", description="mouth openness per 40 ms (0 closed, 1 half, 2 open): "
                                                           "from the take's loudness envelope, or from the words' "
                                                           "syllables without a voice")


class Listening(NaosModel):
    recognizer: str = Field(description="e.g. faster-whisper 1.2.1/whisper-base 1a2b3c4d5e6f; 'none' when not run")
    max_wer: float = Field(description="the project's threshold")
    mean_wer: float | None = None
    over: list[LineCheck] = Field(default_factory=list, description="lines above the threshold, worst first")
    note: str = ""


class VoiceOver(Artifact):
    """Every line of an episode voiced before the timing lock, so the shot planner sizes shots to real speech."""

    SCHEMA_VERSION = "2.1.0"  # 2.0: no script_sha256; 2.1: takes' mouth tracks
    UPGRADES = {"1": ("script_sha256",)}
    episode_id: str
    engine: str = Field(description="the engines (and versions) that spoke, or 'none' in no-voice mode")
    voiced: bool
    takes: list[VoiceTake] = Field(default_factory=list)
    cast: dict[str, str] = Field(default_factory=dict, description="speaker id -> engine:voice")
    listening: Listening | None = None
    unknown_names: list[str] = Field(default_factory=list, description="names no pronunciation covers, named in the "
                                                                      "episode where the season first says them")
    warnings: list[str] = Field(default_factory=list)

    def take(self, line_id: str) -> VoiceTake | None:
        return next((t for t in self.takes if t.line_id == line_id), None)


class Placement(NaosModel):
    line_id: str
    shot_id: str
    start_s: float = Field(ge=0, description="from the start of the episode")
    end_s: float
    tempo: float = Field(1.0, description="atempo applied to fit the locked slot (1.0: none)")


class Loudness(NaosModel):
    integrated_lufs: float
    true_peak_db: float
    lra: float


class EpisodeAudio(Artifact):
    """The episode's mix after the timing lock: dialogue placed in its slots, music ducked under it, loudness
    normalised (one linear gain over the episode, BS.1770 metered, true-peak limited)."""

    SCHEMA_VERSION = "2.0.0"  # 2.0: no shot_list_sha256, voice_over_sha256
    UPGRADES = {"1": ("shot_list_sha256", "voice_over_sha256")}
    episode_id: str
    timing_lock_hash: str
    mix: FileRef
    duration_s: float
    target_lufs: float
    true_peak_target_db: float
    loudness: Loudness | None = Field(None, description="measured on the final mix; None for a silent mix")
    music_bed: str | None = None
    placements: list[Placement] = Field(default_factory=list)


class RecordingLine(NaosModel):
    speaker_id: str
    speaker_name: str
    line_id: str
    shot_id: str
    scene_id: str
    text: str
    emotion: str
    target_duration_s: float
    scene_context: str


class RecordingPacket(Artifact):
    """For human voice actors: every line with its id, so a studio take can replace the TTS take line by line."""

    SCHEMA_VERSION = "1.0.0"
    episode_id: str
    timing_lock_hash: str
    lines: list[RecordingLine] = Field(default_factory=list)


class AudiobookChapter(NaosModel):
    title: str
    start_s: float
    end_s: float


class SeasonAudiobook(Artifact):
    """A season as one .m4b (seed 000 audiobook delivery): the episodes' audiobooks end to end, a chapter each."""

    SCHEMA_VERSION = "1.0.0"
    project_id: str
    title: str
    episodes: list[str]
    m4b: FileRef
    chapters: list[AudiobookChapter] = Field(default_factory=list)
