"""Audiobook files: an episode as an `.m4a`, a season as an `.m4b`, with chapters and tags, byte-deterministic.

AAC (ffmpeg's native encoder) in MP4 via the `ipod` muxer. Tags and chapters come only from an ffmetadata file
(`;FFMETADATA1`, `[CHAPTER]` with `TIMEBASE=1/1000`); `-fflags +bitexact` keeps the encoder version string out and no
creation_time is ever set (the mvhd/tkhd dates stay 0). Files are written to a temporary name and renamed into place.
Plain Python over the bundled ffmpeg, no Dagster.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.audio.mix import RATE, read_wav, wav_bytes
from engines.video.ffmpeg import GLOBAL_FLAGS, run_ffmpeg_into

AAC_BITRATE = "96k"  # mono speech


@dataclass(frozen=True)
class Chapter:
    title: str
    start_s: float
    end_s: float


def _escape(value: str) -> str:
    """ffmetadata escaping: '=', ';', '#', '\\' and newlines take a backslash."""
    out = str(value)
    for ch in ("\\", "=", ";", "#", "\n"):
        out = out.replace(ch, "\\" + ch)
    return out


def ffmetadata(tags: dict[str, str], chapters: list[Chapter]) -> str:
    """An ffmetadata document: global tags, then one [CHAPTER] per chapter in milliseconds."""
    lines = [";FFMETADATA1"]
    lines += [f"{key}={_escape(value)}" for key, value in tags.items()]
    for ch in chapters:
        lines += ["[CHAPTER]", "TIMEBASE=1/1000", f"START={round(ch.start_s * 1000)}", f"END={round(ch.end_s * 1000)}",
                  f"title={_escape(ch.title)}"]  # fmt: skip
    return "\n".join(lines) + "\n"


def _check_chapters(chapters: list[Chapter], duration_s: float) -> None:
    last_end = 0.0
    for ch in chapters:
        if not (0 <= ch.start_s < ch.end_s) or ch.start_s < last_end - 1e-6:
            raise ValueError(f"chapter {ch.title!r} ({ch.start_s}..{ch.end_s} s) is empty, negative or overlaps")
        if ch.end_s > duration_s + 0.001:
            raise ValueError(f"chapter {ch.title!r} ends at {ch.end_s} s, after the audio ({duration_s:.3f} s)")
        last_end = ch.end_s


def _encode(samples: np.ndarray, out: Path, tags: dict[str, str], chapters: list[Chapter], brand: str) -> Path:
    out = Path(out)
    _check_chapters(chapters, len(samples) / RATE)
    with tempfile.TemporaryDirectory(prefix="naos-audiobook-") as tmp:
        src, meta = Path(tmp) / "in.wav", Path(tmp) / "meta.txt"
        src.write_bytes(wav_bytes(samples))
        meta.write_text(ffmetadata(tags, chapters), encoding="utf-8")
        run_ffmpeg_into(
            out,
            [*GLOBAL_FLAGS, "-i", f"file:{src}", "-f", "ffmetadata", "-i", f"file:{meta}",
             "-map", "0:a:0", "-map_metadata", "1", "-map_chapters", "1",
             "-c:a", "aac", "-b:a", AAC_BITRATE, "-ar", str(RATE), "-ac", "1", "-threads", "1",
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-brand", brand, "-movflags", "+faststart", "-f", "ipod"],
            f"write {out.name}",
        )  # fmt: skip
    return out


def write_m4a(
    wav: bytes | Path,
    out: Path,
    *,
    chapters: list[Chapter],
    title: str,
    album: str,
    artist: str,
    track: int | None = None,
) -> Path:
    """`wav` as an AAC `.m4a` at `out` with the given chapters and title/album/artist(/track) tags. Returns `out`."""
    tags = {"title": title, "album": album, "artist": artist}
    if track is not None:
        tags["track"] = str(int(track))
    return _encode(read_wav(wav), out, tags, chapters, "M4A ")


def write_m4b(episodes: list[tuple[str, Path]], out: Path, *, title: str, artist: str) -> Path:
    """A season's `.m4b`: the episodes' audio (m4a or WAV files, decoded to 48 kHz mono) end to end, one chapter per
    episode titled by its first element. Tags: title and album = `title`, artist. Returns `out`."""
    if not episodes:
        raise ValueError("an m4b needs at least one episode")
    parts, chapters, start = [], [], 0
    for ep_title, path in episodes:
        samples = read_wav(Path(path))  # AAC is decoded by ffmpeg (priming/padding trimmed by the edit list)
        parts.append(samples)
        chapters.append(Chapter(ep_title, start / RATE, (start + len(samples)) / RATE))
        start += len(samples)
    return _encode(np.concatenate(parts), out, {"title": title, "album": title, "artist": artist}, chapters, "M4B ")


def remux_m4a(source: Path, out: Path, *, chapters: list[Chapter], title: str, album: str, artist: str,
              track: int | None = None) -> Path:
    """An `.m4a` from the AAC track of `source` (the episode MP4) by stream copy, with chapters and tags: the
    episode's audio is encoded once, for the video, and the audiobook carries the same bytes."""
    tags = {"title": title, "album": album, "artist": artist}
    if track is not None:
        tags["track"] = str(int(track))
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="naos-audiobook-") as tmp:
        meta = Path(tmp) / "meta.txt"
        meta.write_text(ffmetadata(tags, chapters), encoding="utf-8")
        run_ffmpeg_into(
            out,
            [*GLOBAL_FLAGS, "-i", f"file:{Path(source).resolve()}", "-f", "ffmetadata", "-i", f"file:{meta}",
             "-map", "0:a:0", "-map_metadata", "1", "-map_chapters", "1", "-c:a", "copy",
             "-fflags", "+bitexact", "-flags:a", "+bitexact", "-brand", "M4A ", "-movflags", "+faststart",
             "-f", "ipod"],
            f"write {out.name}",
        )  # fmt: skip
    return out
