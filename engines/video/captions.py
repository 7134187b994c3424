"""Caption cues from a ShotList: the SRT sidecar (srt library) and the ASS files libass burns into the picture.

Times: a shot starts at the sum of the previous shots' durations. Given the render fps, each duration counts as
round(duration_s × fps) / fps, exactly what the video engine renders, so cues cannot drift from the picture when a
duration is not a whole number of frames (with frame-aligned durations both give the same times). Lines are clipped
to their shot, so a caption never spills into the next shot (as when burned per shot).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import srt
import webvtt

from schemas.artifacts import CaptionSettings, Shot, ShotList

REFERENCE_HEIGHT = 720  # CaptionSettings.font_size is in pixels of a 720-line frame; other sizes scale with it


def shot_frames(duration_s: float, fps: int) -> int:
    """Frames a shot occupies: round(duration_s × fps), at least one. The single rounding rule NAOS uses."""
    return max(1, round(duration_s * fps))


@dataclass(frozen=True)
class Cue:
    start_s: float
    end_s: float
    text: str
    speaker_name: str = ""
    line_id: str = ""
    shot_id: str = ""


def _cue_text(speaker_name: str, text: str, label: bool) -> str:
    text = " ".join(part.strip() for part in text.replace("\r\n", "\n").split("\n") if part.strip())
    return f"{speaker_name}: {text}" if label and speaker_name.strip() else text


def shot_cues(
    shot: Shot, *, offset_s: float = 0.0, shot_length_s: float | None = None, label: bool = True
) -> list[Cue]:
    """Cues of one shot, shifted by offset_s and clipped to [0, shot_length_s] (default: shot.duration_s)."""
    length = shot.duration_s if shot_length_s is None else shot_length_s
    cues = []
    for line in shot.lines:
        start = min(max(line.start_s, 0.0), length)
        end = min(line.end_s, length)
        text = _cue_text(line.speaker_name, line.text, label)
        if end <= start or not text:
            continue
        cues.append(Cue(offset_s + start, offset_s + end, text, line.speaker_name, line.line_id, shot.id))
    return cues


def shot_offsets(shot_list: ShotList, *, fps: int | None = None) -> list[float]:
    """Start time (s) of each shot: the sum of the previous durations, or, given fps, of their rendered frames."""
    offsets, frames, seconds = [], 0, 0.0
    for shot in shot_list.shots:
        offsets.append(frames / fps if fps else seconds)
        if fps:
            frames += shot_frames(shot.duration_s, fps)
        seconds += shot.duration_s
    return offsets


def episode_cues(shot_list: ShotList, *, fps: int | None = None, label: bool = True) -> list[Cue]:
    """Every line of the episode with absolute times: shot offset + line start_s/end_s. label=True: "Name: text".

    Pass the render fps (plan.fps) to time cues by rendered frames (see the module docstring); without it, offsets
    are the plain sums of shot durations (identical whenever durations are whole frames, e.g. half seconds).
    """
    cues: list[Cue] = []
    for shot, offset in zip(shot_list.shots, shot_offsets(shot_list, fps=fps), strict=True):
        length = shot_frames(shot.duration_s, fps) / fps if fps else shot.duration_s
        cues.extend(shot_cues(shot, offset_s=offset, shot_length_s=length, label=label))
    return cues


def _td(seconds: float) -> timedelta:
    return timedelta(milliseconds=round(seconds * 1000))


SIDECAR_LINE_CHARS = 42  # the usual limit for a caption line, legible at 1280x720 and on phones


def sidecar_lines(text: str) -> str:
    """A cue wrapped for sidecar players (burned-in captions are wrapped by libass instead)."""
    return "\n".join(textwrap.wrap(text, SIDECAR_LINE_CHARS, break_long_words=False, break_on_hyphens=False)) or text


def srt_text(cues: list[Cue]) -> str:
    subs = [
        srt.Subtitle(index=i, start=_td(c.start_s), end=_td(c.end_s), content=sidecar_lines(c.text))
        for i, c in enumerate(cues, 1)
    ]
    return srt.compose(subs, reindex=True, start_index=1, strict=True, eol="\n")


def _vtt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    return f"{h:02d}:{m:02d}:{rem // 1000:02d}.{rem % 1000:03d}"


def vtt_text(cues: list[Cue]) -> str:
    captions = [webvtt.Caption(_vtt_time(c.start_s), _vtt_time(c.end_s), sidecar_lines(c.text)) for c in cues]
    return webvtt.WebVTT(captions=captions).content


def write_vtt(cues: list[Cue], path: Path | str) -> Path:
    """Write the WebVTT sidecar (webvtt-py): UTF-8, \n newlines, the same cues and wrapping as the SRT."""
    path = Path(path)
    path.write_bytes(vtt_text(cues).encode("utf-8"))
    return path


def write_srt(cues: list[Cue], path: Path | str) -> Path:
    """Write the SRT sidecar: UTF-8, \\n newlines, no BOM, so the same cues always give the same bytes."""
    path = Path(path)
    path.write_bytes(srt_text(cues).encode("utf-8"))
    return path


# ---- ASS for burn-in (libass) --------------------------------------------------------------------------------------


def _ass_time(seconds: float) -> str:
    cs = max(0, round(seconds * 100))
    h, rem = divmod(cs, 360000)
    m, rem = divmod(rem, 6000)
    s, cs = divmod(rem, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def ass_escape(text: str) -> str:
    """Plain text for an ASS Dialogue: braces would open override blocks, a backslash before N/n/h is a control."""
    out = []
    for i, ch in enumerate(text):
        if ch in "{}":
            out.append("\\" + ch)
        elif ch == "\\" and text[i + 1 : i + 2] in ("N", "n", "h"):
            out.append("\\\u2060")  # word joiner: invisible, breaks the escape sequence
        elif ch == "\n":
            out.append("\\N")
        elif ch != "\r":
            out.append(ch)
    return "".join(out)


def ass_text(cues: list[Cue], *, width: int, height: int, captions: CaptionSettings) -> str:
    """An ASS script for libass: bottom-centred, outlined, wrapped within side margins, sized for a 720-line frame."""
    play_y = REFERENCE_HEIGHT
    play_x = round(REFERENCE_HEIGHT * width / height)
    margin_lr = round(play_x * 0.07)
    margin_v = round(play_y * 0.055)
    style = (
        f"Style: Default,{captions.font},{captions.font_size},&H00FFFFFF,&H000000FF,&H00000000,&H96000000,"
        f"0,0,0,0,100,100,0,0,1,2,1,2,{margin_lr},{margin_lr},{margin_v},1"
    )
    lines = [
        "[Script Info]",
        "ScriptType: v4.00+",
        f"PlayResX: {play_x}",
        f"PlayResY: {play_y}",
        "WrapStyle: 0",
        "ScaledBorderAndShadow: yes",
        "YCbCr Matrix: TV.709",
        "",
        "[V4+ Styles]",
        "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, "
        "Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, "
        "MarginR, MarginV, Encoding",
        style,
        "",
        "[Events]",
        "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
    ]
    for cue in cues:
        lines.append(
            f"Dialogue: 0,{_ass_time(cue.start_s)},{_ass_time(cue.end_s)},Default,,0,0,0,,{ass_escape(cue.text)}"
        )
    return "\n".join(lines) + "\n"


def write_ass(cues: list[Cue], path: Path | str, *, width: int, height: int, captions: CaptionSettings) -> Path:
    path = Path(path)
    path.write_bytes(ass_text(cues, width=width, height=height, captions=captions).encode("utf-8"))
    return path
