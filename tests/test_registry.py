"""The artifact registry (§14) on a local store: content addresses, write-once, verified reads, refs, records, cache."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from io_managers.registry import IntegrityError, LocalStore, Registry, cache_key


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tmp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.startswith(".tmp-"))


def corrupt(reg: Registry, digest: str) -> Path:
    path = reg.store.root / "objects" / digest
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry.local(tmp_path / "registry")


# ---- objects -------------------------------------------------------------------------------------


def test_put_bytes_is_content_addressed(reg: Registry):
    data = b"the lamp at gull point\n"
    digest = reg.put_bytes(data)
    assert digest == sha(data)
    obj = reg.store.root / "objects" / digest
    assert obj.read_bytes() == data
    assert reg.has(digest)
    assert reg.get_bytes(digest) == data
    assert reg.put_bytes(data + b"!") != digest


def test_put_bytes_writes_once(reg: Registry):
    data = b"write me once"
    digest = reg.put_bytes(data)
    obj = reg.store.root / "objects" / digest
    os.utime(obj, ns=(1_000_000_000, 1_000_000_000))  # an old mtime: any rewrite would move it
    before = obj.stat()
    assert reg.put_bytes(data) == digest
    after = obj.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_put_file_streams_and_matches_put_bytes(reg: Registry, tmp_path: Path):
    data = os.urandom(1024) * (2 * 1024 + 300)  # ~2.3 MiB: several read chunks
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    digest = reg.put_file(src)
    assert digest == sha(data)
    assert (reg.store.root / "objects" / digest).read_bytes() == data
    other = Registry.local(tmp_path / "other")
    assert other.put_bytes(data) == digest


def test_put_file_writes_once(reg: Registry, tmp_path: Path):
    src = tmp_path / "clip.bin"
    src.write_bytes(b"clip bytes")
    digest = reg.put_bytes(b"clip bytes")
    obj = reg.store.root / "objects" / digest
    os.utime(obj, ns=(1_000_000_000, 1_000_000_000))
    before = obj.stat()
    assert reg.put_file(src) == digest
    assert (obj.stat().st_ino, obj.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_empty_object(reg: Registry):
    digest = reg.put_bytes(b"")
    assert digest == sha(b"")
    assert reg.get_bytes(digest) == b""


def test_get_bytes_detects_corruption(reg: Registry):
    digest = reg.put_bytes(b"x" * 4096)
    corrupt(reg, digest)
    with pytest.raises(IntegrityError, match=digest):
        reg.get_bytes(digest)


def test_get_bytes_of_unknown_object(reg: Registry):
    with pytest.raises(FileNotFoundError):
        reg.get_bytes("0" * 64)


def test_path_verifies(reg: Registry):
    digest = reg.put_bytes(b"verified path")
    path = reg.path(digest)
    assert path.read_bytes() == b"verified path"
    corrupt(reg, digest)
    with pytest.raises(IntegrityError):
        reg.path(digest)
    assert reg.path(digest, verify=False) == path  # explicitly unverified access still works


def test_export_copies_atomically(reg: Registry, tmp_path: Path):
    data = os.urandom(3 * (1 << 20) + 17)
    digest = reg.put_bytes(data)
    dest_dir = tmp_path / "out" / "nested"
    dest = reg.export(digest, dest_dir / "episode.mp4")
    assert dest == dest_dir / "episode.mp4"
    assert dest.read_bytes() == data
    assert sorted(p.name for p in dest_dir.iterdir()) == ["episode.mp4"]
    assert dest.stat().st_ino != (reg.store.root / "objects" / digest).stat().st_ino  # a copy, not a link


def test_export_replaces_existing_destination(reg: Registry, tmp_path: Path):
    dest = tmp_path / "out.bin"
    dest.write_bytes(b"stale")
    digest = reg.put_bytes(b"fresh")
    reg.export(digest, dest)
    assert dest.read_bytes() == b"fresh"
    assert tmp_files(tmp_path) == []


def test_export_verifies_and_leaves_nothing(reg: Registry, tmp_path: Path):
    digest = reg.put_bytes(b"y" * 10_000)
    corrupt(reg, digest)
    dest_dir = tmp_path / "out"
    dest_dir.mkdir()
    with pytest.raises(IntegrityError):
        reg.export(digest, dest_dir / "episode.mp4")
    assert list(dest_dir.iterdir()) == []


def test_export_does_not_clobber_destination_with_corrupt_bytes(reg: Registry, tmp_path: Path):
    dest = tmp_path / "episode.mp4"
    dest.write_bytes(b"previous good render")
    digest = reg.put_bytes(b"z" * 5000)
    corrupt(reg, digest)
    with pytest.raises(IntegrityError):
        reg.export(digest, dest)
    assert dest.read_bytes() == b"previous good render"
    assert tmp_files(tmp_path) == []


# ---- refs ---------------------------------------------------------------------------------------


def test_set_ref_requires_the_object(reg: Registry):
    with pytest.raises(IntegrityError):
        reg.set_ref("script", "s01e01", "0" * 64, "Script", "1.0.0")
    assert reg.get_ref("script", "s01e01") is None
    assert not (reg.store.root / "refs").exists()


def test_get_ref_returns_what_was_set(reg: Registry):
    first = reg.put_bytes(b'{"v": 1}')
    second = reg.put_bytes(b'{"v": 2}')
    reg.set_ref("script", "s01e01", first, "Script", "1.0.0")
    assert reg.get_ref("script", "s01e01") == {"sha256": first, "contract": "Script", "schema_version": "1.0.0",
                                               "media_type": "application/json"}
    reg.set_ref("script", "s01e01", second, "Script", "1.1.0")
    assert reg.get_ref("script", "s01e01")["sha256"] == second
    assert reg.get_ref("script", "s01e01")["schema_version"] == "1.1.0"
    assert reg.get_ref("script", "s01e02") is None


def test_refs_are_per_partition_and_unpartitioned(reg: Registry):
    a = reg.put_bytes(b"a")
    b = reg.put_bytes(b"b")
    reg.set_ref("video", "s01e01", a, None, None, media_type="video/mp4")
    reg.set_ref("video", None, b, None, None, media_type="video/mp4")
    assert reg.get_ref("video", "s01e01")["sha256"] == a
    assert reg.get_ref("video", None)["sha256"] == b
    assert reg.get_ref("video", "s01e01")["media_type"] == "video/mp4"
    assert (reg.store.root / "refs" / "video" / "__all__.json").is_file()


# ---- records ------------------------------------------------------------------------------------


def test_put_record_keeps_lineage(reg: Registry):
    digest = reg.put_bytes(b"shot list")
    rec = reg.put_record("shot_list", "s01e01", digest, schema_version="1.0.0",
                         parents={"script": "b" * 64, "project": "a" * 64}, params={"planner": "shot-templates@1"},
                         code_version="film@1", media_type="application/json", run_id="run-1")
    stored = reg.get_record("shot_list", "s01e01", digest)
    assert stored == rec
    assert stored["sha256"] == digest
    assert stored["parents"] == {"project": "a" * 64, "script": "b" * 64}
    assert list(stored["parents"]) == ["project", "script"]
    assert stored["params"] == {"planner": "shot-templates@1"}
    assert stored["code_version"] == "film@1"
    assert stored["run_id"] == "run-1"
    assert stored["asset_key"] == "shot_list" and stored["partition"] == "s01e01"


def test_put_record_is_write_once(reg: Registry):
    digest = reg.put_bytes(b"script")
    reg.put_record("script", "s01e01", digest, schema_version="1.0.0", parents={"outline": "1" * 64},
                   params={"generator": "template@1"}, code_version="writing@1", media_type="application/json",
                   run_id="first")
    path = reg.store.root / "records" / "script" / "s01e01" / f"{digest}.json"
    raw = path.read_bytes()
    reg.put_record("script", "s01e01", digest, schema_version="1.0.0", parents={"outline": "2" * 64},
                   params={"generator": "other@2"}, code_version="writing@2", media_type="application/json",
                   run_id="second")
    assert path.read_bytes() == raw
    stored = reg.get_record("script", "s01e01", digest)
    assert stored["run_id"] == "first"
    assert stored["code_version"] == "writing@1"
    assert stored["parents"] == {"outline": "1" * 64}


def test_get_record_missing(reg: Registry):
    assert reg.get_record("script", "s01e01", "0" * 64) is None


# ---- cache --------------------------------------------------------------------------------------


BASE = dict(stage="shot_list", inputs={"script": "a" * 64, "project": "b" * 64},
            params={"fps": 24, "profile": "preview_local"}, code_version="film@1")


def test_cache_key_is_deterministic_and_order_free():
    key = cache_key(**BASE)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert cache_key(**BASE) == key
    reordered = dict(stage="shot_list", inputs={"project": "b" * 64, "script": "a" * 64},
                     params={"profile": "preview_local", "fps": 24}, code_version="film@1")
    assert cache_key(**reordered) == key
    nested = dict(BASE, params={"enc": {"crf": 23, "preset": "veryfast"}})
    nested_reordered = dict(BASE, params={"enc": {"preset": "veryfast", "crf": 23}})
    assert cache_key(**nested) == cache_key(**nested_reordered)


@pytest.mark.parametrize("change", [
    {"inputs": {"script": "c" * 64, "project": "b" * 64}},
    {"inputs": {"script": "a" * 64, "project": "d" * 64}},
    {"inputs": {"script": "a" * 64}},
    {"inputs": {"script": "a" * 64, "project": "b" * 64, "canon": "e" * 64}},
    {"inputs": {"scripts": "a" * 64, "project": "b" * 64}},
    {"params": {"fps": 25, "profile": "preview_local"}},
    {"params": {"fps": 24, "profile": "standard_local"}},
    {"params": {"fps": 24}},
    {"params": {"fps": "24", "profile": "preview_local"}},
    {"code_version": "film@2"},
    {"stage": "asset_manifest"},
])
def test_cache_key_changes_with_any_input(change: dict):
    assert cache_key(**{**BASE, **change}) != cache_key(**BASE)


def test_cache_roundtrip_and_missing_object(reg: Registry):
    key = cache_key(**BASE)
    assert reg.cache_get(key) is None
    digest = reg.put_bytes(b"cached shot list")
    reg.cache_put(key, digest, "shot_list")
    assert reg.cache_get(key) == digest
    (reg.store.root / "objects" / digest).unlink()
    assert reg.cache_get(key) is None


# ---- atomic writes -----------------------------------------------------------------------------


def test_no_temp_files_after_many_writes(reg: Registry, tmp_path: Path):
    shas = []
    for i in range(60):
        data = f"object {i}\n".encode() * (i + 1)
        shas.append(reg.put_bytes(data))
        reg.put_bytes(data)
        reg.set_ref("thing", f"p{i % 5}", shas[-1], "Thing", "1.0.0")
        reg.put_record("thing", f"p{i % 5}", shas[-1], schema_version="1.0.0", parents={}, params={"i": i},
                       code_version="x@1", media_type="text/plain")
        reg.cache_put(cache_key("thing", {}, {"i": i}, "x@1"), shas[-1], "thing")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(50_000))
    shas.append(reg.put_file(src))
    for digest in shas[:10]:
        reg.export(digest, tmp_path / "exports" / f"{digest}.bin")
    assert len(set(shas)) == 61
    assert tmp_files(reg.store.root) == []
    assert tmp_files(tmp_path / "exports") == []
    objects = sorted(p.name for p in (reg.store.root / "objects").iterdir())
    assert objects == sorted(set(shas))


def test_failed_store_write_leaves_no_temp_file(tmp_path: Path):
    store = LocalStore(tmp_path / "store")
    with pytest.raises(FileNotFoundError):
        store.put_file("objects/abc", tmp_path / "does-not-exist")
    assert not store.exists("objects/abc")
    assert tmp_files(tmp_path / "store") == []


def test_store_list_skips_temp_files(tmp_path: Path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("refs/a/x.json", b"{}")
    store.put_bytes("refs/b/y.json", b"{}")
    (tmp_path / "store" / "refs" / "a" / ".tmp-half-written").write_bytes(b"{")
    assert list(store.list("refs")) == ["refs/a/x.json", "refs/b/y.json"]
    assert list(store.list("nothing-here")) == []


def test_records_and_refs_are_json(reg: Registry):
    digest = reg.put_bytes(b"{}")
    reg.set_ref("canon", None, digest, "Canon", "1.0.0")
    raw = (reg.store.root / "refs" / "canon" / "__all__.json").read_bytes()
    assert json.loads(raw)["sha256"] == digest
    assert raw.endswith(b"\n")


# ---- put_if_absent: the first writer wins ------------------------------------------------------------------------


def test_put_if_absent_writes_once_and_leaves_no_temp_file(tmp_path: Path):
    store = LocalStore(tmp_path / "store")
    assert store.put_if_absent("audit/00000001.json", b"first") is True
    assert store.put_if_absent("audit/00000001.json", b"second") is False
    assert (tmp_path / "store" / "audit" / "00000001.json").read_bytes() == b"first"
    assert tmp_files(tmp_path / "store") == [] and list(store.temp_keys()) == []


def _claim(root: str, writer: int, start, out) -> None:
    store = LocalStore(root)
    start.wait()
    out.put((writer, [i for i in range(50) if store.put_if_absent(f"claims/{i}", str(writer).encode())]))


def test_put_if_absent_racing_processes_exactly_one_wins_each_key(tmp_path: Path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")  # LocalStore only: no Dagster import to wait for
    start, out = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_claim, args=(str(tmp_path / "store"), n, start, out)) for n in range(3)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    wins = sorted(i for won in results.values() for i in won)
    assert wins == list(range(50))  # each key claimed exactly once
    for writer, won in results.items():
        assert all((tmp_path / "store" / "claims" / str(i)).read_bytes() == str(writer).encode() for i in won)
    assert tmp_files(tmp_path / "store") == []
