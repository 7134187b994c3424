"""Mouth tracks: how open a speaker's mouth is, every 40 ms (schemas.MOUTH_HZ), as a string of levels 0/1/2.

From a take: the loudness envelope of its samples, in integers only (sums of squared 16-bit samples per window,
compared with the take's own loud level), so the same WAV gives the same track on every machine. Without a voice
(no-voice mode): a rhythm from the words' syllables over the estimated duration, so the picture still talks.
The renderer spreads a line's track over its slot (the mix may stretch a take by up to 10 %).
"""

from __future__ import annotations

import re

import numpy as np

from schemas.artifacts import MOUTH_HZ

LIPSYNC_VERSION = "mouth-envelope@1"
# Levels by RMS relative to the take's loud level (its 90th-percentile window): below 30 % closed, below 70 % half.
HALF_AT, OPEN_AT = 30, 70  # percent


def mouth_track(pcm16: bytes | np.ndarray, rate: int) -> str:
    """The mouth track of mono 16-bit PCM samples at `rate` Hz."""
    samples = np.frombuffer(pcm16, dtype="<i2") if isinstance(pcm16, bytes | bytearray) else np.asarray(pcm16)
    samples = samples.astype(np.int64)
    hop = rate // MOUTH_HZ
    n = -(-len(samples) // hop)
    if n == 0:
        return ""
    padded = np.zeros(n * hop, dtype=np.int64)
    padded[: len(samples)] = samples
    energy = (padded.reshape(n, hop) ** 2).sum(axis=1)  # exact: at most 1920 × 2^30 per window
    loud = int(np.sort(energy)[(n * 9) // 10])
    if loud == 0:
        return "0" * n
    # rms/loud_rms >= p/100  <=>  energy · 100² >= loud · p²  (integers: no float rounding to differ by machine)
    scaled = energy * 10_000
    levels = (scaled >= loud * HALF_AT**2).astype(np.int64) + (scaled >= loud * OPEN_AT**2).astype(np.int64)
    return "".join("012"[v] for v in levels.tolist())


def wav_mouth_track(wav: bytes) -> str:
    """The mouth track of a 16-bit PCM WAV (channels averaged; see mouth_track)."""
    from .tts import wav_samples

    samples, rate = wav_samples(wav)
    return mouth_track(np.round(samples * 32768).astype(np.int64), rate)


_VOWELS = re.compile(r"[aeiouy]+")


def text_mouth_track(text: str, duration_s: float) -> str:
    """A track without audio: each word's syllables (vowel groups) open the mouth in turn, words separated by a
    closed beat, stretched to `duration_s`."""
    beats: list[str] = []
    for word in re.findall(r"[A-Za-z']+|\d+", text):
        syllables = max(1, len(_VOWELS.findall(word.lower())))
        beats += ["2" if i % 2 == 0 else "1" for i in range(syllables)]
        beats.append("0")
    n = max(1, round(duration_s * MOUTH_HZ))
    if not beats:
        return "0" * n
    # each beat spans an equal share of the duration; integer indices keep it exact
    return "".join(beats[i * len(beats) // n] for i in range(n))
