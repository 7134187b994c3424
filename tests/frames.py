"""Looking at a rendered episode as a viewer would: where each shot starts, where a speaker's mouth is, and how much
the pixels there change while the line plays. Shared by the pilot's and the test season's render tests."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engines.video import ffmpeg_exe
from engines.video.shots import character_layout
from schemas.artifacts import RenderOutput, RenderPlan, Shot, ShotList


@dataclass
class MouthCheck:
    shot_id: str
    speaker: str
    before: float  # largest change in the mouth box before the line starts (the face holds still)
    during: float  # largest change while the line plays


def asset_paths(plan: RenderPlan, library: Path, home: Path) -> dict[str, Path]:
    """Where each resolved asset's file is: the project's library, or the registry's objects."""
    out = {}
    for a in plan.assets:
        if a.status != "resolved":
            continue
        scheme, _, rest = a.uri.partition(":")
        out[a.asset_id] = library / rest if scheme == "library" else home / "artifacts" / "objects" / rest
    return out


def crop_frames(video: Path, first: int, count: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Frames first..first+count-1 of the video, cropped to box (x0, y0, x1, y1), as int16 RGB."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    vf = f"select='between(n\\,{first}\\,{first + count - 1})',format=rgb24,crop={w}:{h}:{x0}:{y0}"
    raw = subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(video), "-vf", vf, "-fps_mode", "passthrough",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, h, w, 3).astype(np.int16)


def shots_and_starts(out: Path) -> tuple[list[Shot], dict[str, int]]:
    """A rendered episode's shots (--out folder `out`) and the frame each starts on in episode.mp4."""
    shots = ShotList.model_validate(json.loads((out / "ShotList.json").read_text())).shots
    output = RenderOutput.model_validate(json.loads((out / "RenderOutput.json").read_text()))
    starts, at = {}, 0
    for clip in output.shot_clips:
        starts[clip.shot_id] = at
        at += clip.frames
    return shots, starts


def mouth_checks(out: Path, library: Path, home: Path) -> list[MouthCheck]:
    """For every static dialogue shot of a rendered episode (--out folder `out`), how much the speaker's mouth box
    changes before and during the line, measured in the decoded episode.mp4."""
    plan = RenderPlan.model_validate(json.loads((out / "RenderPlan.json").read_text()))
    shots, starts = shots_and_starts(out)
    paths = asset_paths(plan, library, home)
    checks = []
    for shot in shots:
        speakers = [ln for ln in shot.lines if ln.speaker_id in shot.characters]
        if not speakers or plan.movement(shot) != "static":
            continue
        line = speakers[0]
        place = next(p for p in character_layout(shot, plan, paths) if p.character_id == line.speaker_id)
        assert place.face is not None and place.rig is not None, f"{shot.id}: {line.speaker_id} has no face rig"
        f, rig = place.face, place.rig
        mx, my, half = f.ox + rig.mouth[0] * f.sx, f.oy + rig.mouth[1] * f.sy, rig.mouth_w * f.sx * 0.7
        box = (round(mx - half), round(my - half * 0.6), round(mx + half), round(my + half))
        first = round(line.start_s * plan.fps)
        end = min(round(line.end_s * plan.fps), round(shot.duration_s * plan.fps))
        frames = crop_frames(out / "episode.mp4", starts[shot.id], end, box)
        diff = np.abs(frames - frames[0]).mean(axis=(1, 2, 3))
        checks.append(MouthCheck(shot.id, line.speaker_id, float(diff[:first].max()), float(diff[first:].max())))
    return checks
