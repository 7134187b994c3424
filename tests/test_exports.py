"""naos_assets/exports.py: every render_output materialization exports the episode to $NAOS_HOME/out/<episode>/ (the
files `naos render --out` writes, byte for byte, plus the contact sheet), atomically, and shows the paths as metadata.
The pilot's s01e01 materialized in process (espeak-ng voices, real ffmpeg)."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, materialize
from dagster._core.definitions.metadata import PathMetadataValue, UrlMetadataValue
from PIL import Image

from io_managers import Registry
from naos_assets import exports
from naos_assets.definitions import ASSETS
from naos_assets.definitions import resources as naos_resources
from naos_assets.exports import CONTACT_SHEET, EXPORTS, ExportError, export_episode, export_to_home
from naos_assets.partitions import episodes

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot" / "project.yaml"
EPISODE = "s01e01"
FILES = sorted([name for _, name in EXPORTS] + ["RecordingPacket.csv", "episode.mp4", "episode.srt", "episode.vtt",
                                                "episode.m4a", "credits.txt", CONTACT_SHEET])
PATHS = {"video_path": "episode.mp4", "captions_vtt_path": "episode.vtt", "captions_srt_path": "episode.srt",
         "audiobook_path": "episode.m4a", "contact_sheet_path": CONTACT_SHEET}


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def render_output_metadata(result) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == "render_output"]
    return dict(event.materialization.metadata)


@pytest.fixture(scope="module")
def pilot(tmp_path_factory):
    home = tmp_path_factory.mktemp("exports") / "home"
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions(episodes.name, [EPISODE])
    resources = naos_resources(str(PILOT), str(home))
    result = materialize(ASSETS, instance=instance, partition_key=EPISODE, resources=resources,
                         selection=AssetSelection.assets("render_output", "recording_packet").upstream())
    assert result.success
    return {"home": home, "instance": instance, "resources": resources, "meta": render_output_metadata(result),
            "registry": Registry.local(home / "artifacts")}


def test_render_output_metadata_names_the_exported_files(pilot):
    meta, folder = pilot["meta"], pilot["home"] / "out" / EPISODE
    assert sorted(p.name for p in folder.iterdir()) == FILES
    for key, name in PATHS.items():
        assert isinstance(meta[key], PathMetadataValue), key
        assert Path(meta[key].value) == folder / name and (folder / name).stat().st_size > 0, key
    assert isinstance(meta["video_url"], UrlMetadataValue)
    assert meta["video_url"].value == (folder / "episode.mp4").resolve().as_uri()
    assert Path(meta["export_folder"].value) == folder
    # what was there stays: the registry's keys and the render's figures
    for key in ("naos/sha256", "naos/cache_hit", "naos/cache_key", "naos/parents", "naos/code_version",
                "video_sha256", "duration_s", "placeholders", "attributions"):
        assert key in meta, key
    assert hashlib.sha256((folder / "episode.mp4").read_bytes()).hexdigest() == meta["video_sha256"].value
    assert hashlib.sha256((folder / "RenderOutput.json").read_bytes()).hexdigest() == meta["naos/sha256"].value
    with Image.open(folder / CONTACT_SHEET) as sheet:
        assert sheet.format == "PNG" and sheet.width > 640
    assert hashlib.sha256((folder / CONTACT_SHEET).read_bytes()).hexdigest() == meta["contact_sheet_sha256"].value


def test_the_contact_sheet_is_in_the_registry_and_the_registry_is_consistent(pilot):
    registry, sha = pilot["registry"], pilot["meta"]["contact_sheet_sha256"].value
    ref = registry.get_ref(exports.CONTACT_SHEET_ASSET, EPISODE)
    assert (ref["sha256"], ref["media_type"]) == (sha, "image/png")
    record = registry.get_record(exports.CONTACT_SHEET_ASSET, EPISODE, sha)
    assert record["parents"] == {"video": pilot["meta"]["video_sha256"].value}
    assert sha in registry.live_objects()  # the ref keeps it through cache pruning
    assert registry.check().problems == []


def test_the_home_export_is_what_naos_render_out_writes(pilot, tmp_path):
    """The step exports what it holds (a RenderOutput not stored yet); `naos render --out` reads the refs after the
    run: the same bytes, file for file."""
    export_episode(pilot["registry"], EPISODE, tmp_path / "cli")
    assert digests(tmp_path / "cli") == digests(pilot["home"] / "out" / EPISODE)


def test_exporting_the_same_content_again_is_byte_identical(pilot):
    registry, home = pilot["registry"], pilot["home"]
    folder = home / "out" / EPISODE
    before = digests(folder)
    stat = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}
    again = export_to_home(registry, home, EPISODE)
    assert not again.written  # it held exactly these files: nothing rewritten
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == stat
    (folder / "stale.txt").write_text("from an older export")
    (folder / "episode.srt").unlink()
    rewritten = export_to_home(registry, home, EPISODE)
    assert rewritten.written and digests(folder) == before  # the folder replaced whole: same bytes, nothing stale
    assert sorted(p.name for p in (home / "out").iterdir()) == [EPISODE]  # no temporary folder left


def test_a_failed_export_leaves_the_previous_one_whole(pilot, monkeypatch):
    registry, home = pilot["registry"], pilot["home"]
    folder = home / "out" / EPISODE
    (folder / "stale.txt").write_text("makes the next export rewrite the folder")
    before = digests(folder)
    real = Registry.export

    def failing(self, sha, dest):
        if Path(dest).name == "episode.m4a":
            raise OSError("disk full")
        return real(self, sha, dest)

    monkeypatch.setattr(Registry, "export", failing)
    with pytest.raises(OSError, match="disk full"):
        export_to_home(registry, home, EPISODE)
    assert digests(folder) == before
    assert sorted(p.name for p in (home / "out").iterdir()) == [EPISODE]
    monkeypatch.undo()
    export_to_home(registry, home, EPISODE)
    assert sorted(p.name for p in folder.iterdir()) == FILES


def test_a_reader_never_sees_half_an_export(pilot, monkeypatch):
    registry, home = pilot["registry"], pilot["home"]
    folder = home / "out" / EPISODE
    export_to_home(registry, home, EPISODE)
    expected = {p.name: p.stat().st_size for p in folder.iterdir()}
    monkeypatch.setattr(exports, "_holds", lambda folder, files: False)  # rewrite every time
    seen, bad, done = [0, 0], [], threading.Event()

    def reader():  # opens every file by its path, as a person or a player following the metadata would
        while not done.is_set():
            for name, size in expected.items():
                try:
                    with open(folder / name, "rb") as fh:
                        got = len(fh.read())
                except FileNotFoundError:  # the instant between moving the old folder aside and the new one in
                    seen[1] += 1
                    continue
                seen[0] += 1
                if got != size:
                    bad.append((name, got, size))

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(10):
            export_to_home(registry, home, EPISODE)
    finally:
        done.set()
        thread.join()
    assert not bad, bad[0]
    assert seen[0] > 0


def test_a_cache_hit_exports_too_and_reuses_the_contact_sheet(pilot, monkeypatch):
    import shutil

    shutil.rmtree(pilot["home"] / "out")

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the contact sheet was made again for the same video")

    monkeypatch.setattr(exports, "contact_sheet", no_rebuild)
    result = materialize(ASSETS, instance=pilot["instance"], partition_key=EPISODE, resources=pilot["resources"],
                         selection=AssetSelection.assets("render_output"))
    assert result.success
    meta = render_output_metadata(result)
    assert meta["naos/cache_hit"].value is True
    assert all(Path(meta[key].value).is_file() for key in PATHS)
    assert sorted(p.name for p in (pilot["home"] / "out" / EPISODE).iterdir()) == FILES


def test_the_cli_export_needs_every_artifact(tmp_path):
    with pytest.raises(ExportError, match="episode_plan has no artifact for s01e01: materialize it first"):
        export_episode(Registry.local(tmp_path / "artifacts"), EPISODE, tmp_path / "out")
