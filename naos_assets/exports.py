"""An episode's files out of the registry (verified on the way): the operations layer's export, shared by
`naos render --out DIR` / `naos backfill --out DIR` and by the render_output asset.

Every render_output materialization, whoever launched it (the UI, a backfill, a schedule, `naos render`), exports the
episode to `$NAOS_HOME/out/<episode>/` (`export_to_home`): the JSON artifacts (EpisodePlan.json ... RenderOutput.json),
episode.mp4, episode.srt, episode.vtt, episode.m4a, credits.txt, RecordingPacket.csv and contact_sheet.png. That folder
is written whole in a temporary folder beside it and renamed into place, so a reader sees the previous export or the
new one, never a mix or a half-written file; exporting the same content again leaves it as it is (same bytes, same
files). `write_files` writes into a folder the caller owns (`--out`), each file atomically (temp + rename).

run_summary.json is not here: it is built from the whole run's events (every step's status, time and cache use) once
the run has ended, which the render_output step, a step inside that run, cannot know; the CLI writes it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter

from engines.audio.packets import packet_csv
from engines.video.contact import CONTACT_SHEET_VERSION, contact_sheet, timecode
from io_managers import Registry, cache_key
from io_managers.registry import sha256_file
from schemas import Artifact, RecordingPacket, RenderOutput, RenderPlan, ShotList

# (asset, file name): the JSON artifacts an export holds, in the order they are written
EXPORTS = [("episode_plan", "EpisodePlan.json"), ("canon_snapshot", "Canon.json"), ("canon_diff", "CanonDiff.json"),
           ("context_pack", "ContextPack.json"), ("script", "Script.json"), ("canon_gate", "GateReport.json"),
           ("voice_over", "VoiceOver.json"), ("shot_list", "ShotList.json"), ("asset_manifest", "AssetManifest.json"),
           ("recording_packet", "RecordingPacket.json"), ("render_plan", "RenderPlan.json"),
           ("episode_audio", "EpisodeAudio.json"), ("render_output", "RenderOutput.json")]
CONTACT_SHEET = "contact_sheet.png"
CONTACT_SHEET_ASSET = "render_output/contact_sheet"  # its registry record and ref (the ref keeps it live)
OUT_FOLDER = "out"  # $NAOS_HOME/out/<episode>/


class ExportError(RuntimeError):
    """An artifact the export needs has never been materialized for the episode."""


@dataclass(frozen=True)
class ExportFile:
    name: str
    sha256: str
    data: bytes | None = None  # bytes to write; None: copy the registry object sha256


@dataclass
class Export:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)  # file name -> its path in `folder`
    contact_sheet_sha256: str | None = None
    written: bool = True  # False: the folder already held exactly these files
    seconds: float = 0.0


def home_out(naos_home: str | Path) -> Path:
    return Path(naos_home) / OUT_FOLDER


def episode_folder(naos_home: str | Path, episode: str) -> Path:
    return home_out(naos_home) / episode


def _data(data: bytes, name: str) -> ExportFile:
    return ExportFile(name, hashlib.sha256(data).hexdigest(), data)


def contact_sheet_sha(registry: Registry, output: RenderOutput, fps: int, *, episode: str,
                      run_id: str | None = None) -> str:
    """The episode's contact sheet (engines/video/contact.py) in the registry, made once per video: a cache entry by
    the video's hash, a record under render_output/contact_sheet and a ref to it (so cache pruning keeps it)."""
    shots = [(c.shot_id, c.frames) for c in output.shot_clips]
    title = f"{output.episode_id} \u00b7 {len(shots)} shots \u00b7 {timecode(output.duration_s)}"
    params = {"shots": [list(s) for s in shots], "fps": fps, "title": title}
    key = cache_key("contact_sheet", {"video": output.video.sha256}, params, CONTACT_SHEET_VERSION)
    sha = registry.cache_get(key)
    if sha is None or not registry.has(sha):
        registry.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=registry.scratch) as tmp:
            path = Path(tmp) / CONTACT_SHEET
            contact_sheet(registry.path(output.video.sha256), shots, fps, path, title=title)
            sha = registry.put_file(path)
        registry.cache_put(key, sha, CONTACT_SHEET_ASSET)
    registry.put_record(CONTACT_SHEET_ASSET, episode, sha, schema_version=None, parents={"video": output.video.sha256},
                        params=params, code_version=CONTACT_SHEET_VERSION, media_type="image/png", run_id=run_id)
    registry.set_ref(CONTACT_SHEET_ASSET, episode, sha, None, None, media_type="image/png")
    return sha


def plan_files(registry: Registry, episode: str, *, values: Mapping[str, Artifact] | None = None,
               strict: bool = True, run_id: str | None = None) -> tuple[RenderOutput, list[ExportFile]]:
    """What an export of `episode` holds, in writing order: each artifact from `values` (what a step has in hand,
    e.g. a RenderOutput not stored yet) or else the registry's ref. strict: a missing ref is an ExportError; else the
    file is left out, as is a RecordingPacket of another timing lock than the ShotList's (recording_packet is not
    upstream of render_output: a step exporting render_output may run before it)."""
    values = values or {}
    files: list[ExportFile] = []
    raw: dict[str, bytes | None] = {}
    for asset, name in EXPORTS:
        if asset in values:
            data = values[asset].canonical_bytes()
            files.append(_data(data, name))
            raw[asset] = data
            continue
        ref = registry.get_ref(asset, episode)
        if ref is None:
            if strict or asset == "render_output":
                raise ExportError(f"{asset} has no artifact for {episode}: materialize it first")
            continue
        files.append(ExportFile(name, ref["sha256"]))

    def read(asset: str) -> bytes | None:
        if asset not in raw:
            entry = next((f for f in files if f.name == dict(EXPORTS)[asset]), None)
            raw[asset] = registry.get_bytes(entry.sha256) if entry is not None else None
        return raw[asset]

    output = RenderOutput.model_validate_json(read("render_output"))
    packet_bytes = read("recording_packet")
    packet = RecordingPacket.model_validate_json(packet_bytes) if packet_bytes is not None else None
    shots = read("shot_list")
    if packet is not None and not strict and shots is not None and \
            packet.timing_lock_hash != ShotList.model_validate_json(shots).timing_lock_hash:
        files = [f for f in files if f.name != "RecordingPacket.json"]
        packet = None
    files.append(ExportFile("episode.mp4", output.video.sha256))
    files.append(ExportFile("episode.srt", output.captions.sha256))
    for ref, name in ((output.captions_vtt, "episode.vtt"), (output.audiobook, "episode.m4a"),
                      (output.credits, "credits.txt")):
        if ref is not None:
            files.append(ExportFile(name, ref.sha256))
    if packet is not None:
        files.append(_data(packet_csv(packet), "RecordingPacket.csv"))
    plan_bytes = read("render_plan")
    if plan_bytes is not None:
        fps = RenderPlan.model_validate_json(plan_bytes).fps
        files.append(ExportFile(CONTACT_SHEET, contact_sheet_sha(registry, output, fps, episode=episode,
                                                                 run_id=run_id)))
    return output, files


def write_atomic(path: Path, data: bytes) -> None:
    """path holds data or its previous content, never a part of data."""
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(registry: Registry, files: list[ExportFile], folder: Path) -> dict[str, Path]:
    """Each file into `folder` (created if need be) atomically; registry objects are verified against their hash."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for f in files:
        path = folder / f.name
        if f.data is not None:
            write_atomic(path, f.data)
        else:
            registry.export(f.sha256, path)
        written[f.name] = path
    return written


def export_episode(registry: Registry, episode: str, out: Path) -> RenderOutput:
    """`naos render --out` / `naos backfill --out`: the episode's files into `out`, from the registry's refs."""
    output, files = plan_files(registry, episode)
    write_files(registry, files, out)
    return output


def _holds(folder: Path, files: list[ExportFile]) -> bool:
    if not folder.is_dir():
        return False
    if sorted(p.name for p in folder.iterdir()) != sorted(f.name for f in files):
        return False
    return all(sha256_file(folder / f.name) == f.sha256 for f in files)


def _swap_in(tmp: Path, dest: Path) -> None:
    """Rename the complete folder tmp to dest. A dest already there is moved aside first and removed after: a reader
    finds the old folder, for an instant none, then the new one; never a part of either."""
    for _ in range(5):
        try:
            os.rename(tmp, dest)  # dest absent (or an empty folder)
            return
        except OSError:
            if not dest.exists():
                raise
        old = dest.with_name(f".old-{dest.name}-{uuid.uuid4().hex[:8]}")
        try:
            os.rename(dest, old)
        except FileNotFoundError:  # another export moved it aside first
            continue
        try:
            os.rename(tmp, dest)
            return
        except OSError:
            if not dest.exists():
                raise
        finally:
            shutil.rmtree(old, ignore_errors=True)
    raise OSError(f"could not move the export {tmp} to {dest}: other exports kept replacing it")


def export_to_home(registry: Registry, naos_home: str | Path, episode: str, *,
                   values: Mapping[str, Artifact] | None = None, run_id: str | None = None) -> Export:
    """The episode's files to $NAOS_HOME/out/<episode>/, the folder replaced whole (see the module docstring)."""
    started = perf_counter()
    _, files = plan_files(registry, episode, values=values, strict=False, run_id=run_id)
    dest = episode_folder(naos_home, episode)
    result = Export(folder=dest, files={f.name: dest / f.name for f in files},
                    contact_sheet_sha256=next((f.sha256 for f in files if f.name == CONTACT_SHEET), None))
    if _holds(dest, files):
        result.written = False
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".tmp-{episode}-{uuid.uuid4().hex[:8]}")
        tmp.mkdir()
        try:
            write_files(registry, files, tmp)
            _swap_in(tmp, dest)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    result.seconds = round(perf_counter() - started, 3)
    return result


def export_metadata(export: Export) -> dict:
    """render_output's materialization metadata for the exported files: paths (and a file:// URL for the video) that
    the UI shows and copies."""
    from dagster import MetadataValue

    labels = {"episode.mp4": "video_path", "episode.vtt": "captions_vtt_path", "episode.srt": "captions_srt_path",
              "episode.m4a": "audiobook_path", CONTACT_SHEET: "contact_sheet_path"}
    meta: dict = {"export_folder": MetadataValue.path(str(export.folder))}
    for name, label in labels.items():
        if name in export.files:
            meta[label] = MetadataValue.path(str(export.files[name]))
    if "episode.mp4" in export.files:
        meta["video_url"] = MetadataValue.url(export.files["episode.mp4"].resolve().as_uri())
    if export.contact_sheet_sha256:
        meta["contact_sheet_sha256"] = export.contact_sheet_sha256
    meta["naos/export_seconds"] = export.seconds
    return meta
