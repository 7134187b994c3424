"""The registry's cache (§29.3): entries with size and times, LRU pruning to a budget, expiry, live objects kept.

Real files in a temporary registry; time is passed in through the `now=` parameters, never slept."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from io_managers.registry import EPOCH, LocalStore, Registry, cache_key

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def key(name: str) -> str:
    return cache_key("shot_clip", {"shot": name}, {}, "render@1")


@pytest.fixture
def reg(tmp_path: Path) -> Registry:
    return Registry.local(tmp_path / "registry")


def obj(reg: Registry, digest: str) -> Path:
    return reg.store.root / "objects" / digest


def entry_file(reg: Registry, cache_key_: str) -> Path:
    return reg.store.root / "cache" / f"{cache_key_}.json"


def cached(reg: Registry, name: str, size: int, minutes: float, stage: str = "shot_clip", **kw) -> str:
    """Put `size` bytes unique to `name` and cache them under key(name) at time `minutes`."""
    data = (name.encode() + b":").ljust(size, b".")
    digest = reg.put_bytes(data)
    reg.cache_put(key(name), digest, stage, now=at(minutes), **kw)
    return digest


def tmp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.name.startswith(".tmp-"))


# ---- entries ---------------------------------------------------------------------------------------------------


def test_put_get_roundtrip_records_bytes_and_times(reg: Registry):
    digest = cached(reg, "s01", 1000, 0)
    assert reg.cache_get(key("s01"), now=at(5)) == digest
    [entry] = reg.cache_entries()
    assert (entry.key, entry.sha256, entry.stage, entry.bytes) == (key("s01"), digest, "shot_clip", 1000)
    assert (entry.created_at, entry.last_used, entry.expires_at) == (at(0), at(5), None)
    assert entry.present and not entry.live
    raw = json.loads(entry_file(reg, key("s01")).read_text())
    assert raw["bytes"] == 1000 and raw["created_at"].startswith("2025-03-01T12:00:00") and raw["expires_at"] is None
    assert raw["last_used"].endswith("+00:00")


def test_cache_key_has_no_times_and_a_reput_keeps_creation_and_expiry(reg: Registry):
    digest = reg.put_bytes(b"a take")
    reg.cache_put(key("take"), digest, "voice_over/take", expires_at=at(60), now=at(0))
    reg.cache_put(key("take"), digest, "voice_over/take", now=at(30))  # same inputs later: same file
    assert sorted(p.name for p in (reg.store.root / "cache").iterdir()) == [f"{key('take')}.json"]
    [entry] = reg.cache_entries()
    assert (entry.created_at, entry.last_used, entry.expires_at) == (at(0), at(30), at(60))
    other = reg.put_bytes(b"a different take")
    reg.cache_put(key("take"), other, "voice_over/take", now=at(40))  # a new object: a new entry
    [entry] = reg.cache_entries()
    assert (entry.sha256, entry.created_at, entry.expires_at) == (other, at(40), None)


def test_missing_entry_or_object_is_a_miss(reg: Registry):
    assert reg.cache_get(key("nothing")) is None
    digest = cached(reg, "gone", 10, 0)
    obj(reg, digest).unlink()
    assert reg.cache_get(key("gone"), now=at(1)) is None
    assert not reg.cache_entries()[0].present


def test_legacy_entry_without_new_fields_works(reg: Registry):
    digest = reg.put_bytes(b"x" * 321)
    entry_file(reg, key("old")).parent.mkdir(parents=True, exist_ok=True)
    entry_file(reg, key("old")).write_text(json.dumps({"sha256": digest, "stage": "shot_list"}))
    [entry] = reg.cache_entries()
    assert (entry.bytes, entry.created_at, entry.last_used, entry.expires_at) == (321, EPOCH, EPOCH, None)
    newer = cached(reg, "new", 100, 0)
    report = reg.cache_prune(100, now=at(1))  # the legacy entry is the least recently used
    assert (report.evicted, report.freed_bytes) == (1, 321)
    assert not obj(reg, digest).exists() and obj(reg, newer).exists()

    entry_file(reg, key("old")).write_text(json.dumps({"sha256": newer, "stage": "shot_list"}))
    assert reg.cache_get(key("old"), now=at(2)) == newer  # a hit fills in the size and the last use
    raw = json.loads(entry_file(reg, key("old")).read_text())
    assert raw["bytes"] == 100 and raw["last_used"].startswith("2025-03-01T12:02:00")
    assert {e.key: e.last_used for e in reg.cache_entries()}[key("old")] == at(2)


# ---- LRU -------------------------------------------------------------------------------------------------------


def test_lru_order_follows_last_access(reg: Registry):
    a = cached(reg, "a", 100, 0)
    b = cached(reg, "b", 200, 1)
    c = cached(reg, "c", 300, 2)
    assert reg.cache_get(key("a"), now=at(3)) == a  # a is now the most recently used
    assert [e.key for e in sorted(reg.cache_entries(), key=lambda e: e.last_used)] == [key("b"), key("c"), key("a")]
    report = reg.cache_prune(400, now=at(4))
    assert (report.evicted, report.freed_bytes, report.deleted_objects) == (1, 200, (b,))
    assert reg.cache_get(key("b"), now=at(5)) is None
    assert reg.cache_get(key("a"), now=at(5)) == a and reg.cache_get(key("c"), now=at(5)) == c


def test_prune_to_budget_evicts_least_recently_used_first_and_frees_exactly_their_bytes(reg: Registry):
    shas = [cached(reg, f"s{i}", 100 * i, i) for i in range(1, 6)]  # 100..500 bytes, used in that order
    assert reg.cache_stats()["cache_only_bytes"] == 1500
    report = reg.cache_prune(1100, now=at(10))
    assert (report.expired, report.evicted, report.freed_bytes) == (0, 3, 100 + 200 + 300)
    assert (report.kept_entries, report.kept_bytes, report.live_kept) == (2, 900, 0)
    assert report.deleted_objects == tuple(shas[:3])
    assert [obj(reg, s).exists() for s in shas] == [False, False, False, True, True]
    assert [e.key for e in reg.cache_entries()] == sorted([key("s4"), key("s5")])
    assert reg.cache_stats()["bytes"] == 900
    assert tmp_files(reg.store.root) == []


def test_prune_with_a_budget_larger_than_the_cache_evicts_nothing(reg: Registry):
    shas = [cached(reg, f"s{i}", 50, i) for i in range(4)]
    report = reg.cache_prune(10_000, now=at(10))
    assert (report.expired, report.evicted, report.freed_bytes, report.deleted_objects) == (0, 0, 0, ())
    assert (report.kept_entries, report.kept_bytes) == (4, 200)
    assert all(obj(reg, s).exists() for s in shas) and len(reg.cache_entries()) == 4


def test_recently_used_entries_are_spared_by_min_idle(reg: Registry):
    old = cached(reg, "old", 100, 0)
    fresh = cached(reg, "fresh", 100, 58)
    report = reg.cache_prune(0, now=at(60), min_idle=timedelta(minutes=5))
    assert (report.evicted, report.deleted_objects, report.kept_bytes) == (1, (old,), 100)
    assert obj(reg, fresh).exists()


# ---- live and shared objects -------------------------------------------------------------------------------------


def test_live_objects_survive_prune(reg: Registry):
    clip = cached(reg, "clip", 400, 0)  # named inside the ref'd ShotClips artifact
    stale = cached(reg, "stale", 300, 1)  # named by nothing current
    artifact = json.dumps({"clips": [{"shot_id": "s01", "uri": f"registry:{clip}", "sha256": clip}]}).encode()
    shot_clips = reg.put_bytes(artifact)
    reg.cache_put(key("shot_clips"), shot_clips, "shot_clips", now=at(2))
    reg.set_ref("shot_clips", "s01e01", shot_clips, "ShotClips", "1.0.0")
    mp4 = reg.put_bytes(f"not json, but names {stale}".encode())  # a media ref is not scanned
    reg.set_ref("render", "s01e01", mp4, None, None, media_type="video/mp4")

    assert reg.live_objects() >= {clip, shot_clips, mp4} and stale not in reg.live_objects()
    assert {e.key: e.live for e in reg.cache_entries()} == {key("clip"): True, key("stale"): False,
                                                           key("shot_clips"): True}
    stats = reg.cache_stats()
    assert (stats["live_bytes"], stats["cache_only_bytes"]) == (400 + len(artifact), 300)

    report = reg.cache_prune(0, now=at(10))
    assert (report.evicted, report.freed_bytes, report.deleted_objects) == (1, 300, (stale,))
    assert (report.kept_entries, report.kept_bytes, report.live_kept) == (2, 0, 2)
    assert obj(reg, clip).exists() and obj(reg, shot_clips).exists() and not obj(reg, stale).exists()

    # the ref moves on: the old clip list and its clip now live in the cache alone, and may go
    newer = reg.put_bytes(b'{"clips": []}')
    reg.set_ref("shot_clips", "s01e01", newer, "ShotClips", "1.0.0")
    report = reg.cache_prune(0, now=at(20))
    assert report.evicted == 2 and set(report.deleted_objects) == {clip, shot_clips}
    assert report.freed_bytes == 400 + len(artifact)
    assert obj(reg, newer).exists() and obj(reg, mp4).exists()


def test_an_expired_entry_of_a_live_object_goes_but_the_object_stays(reg: Registry):
    digest = cached(reg, "asset", 100, 0, stage="resolved_asset", expires_at=at(30))
    reg.set_ref("asset_manifest", "s01e01", reg.put_bytes(json.dumps({"sha256": digest}).encode()), "M", "1")
    assert reg.cache_get(key("asset"), now=at(31)) is None
    assert not entry_file(reg, key("asset")).exists() and obj(reg, digest).exists()


def test_a_shared_object_goes_only_with_its_last_entry(reg: Registry):
    data = b"s" * 300
    shared = reg.put_bytes(data)
    reg.cache_put(key("first"), shared, "shot_clip", now=at(0))
    other = cached(reg, "other", 100, 1)
    reg.cache_put(key("second"), shared, "voice_over/take", now=at(2))
    stats = reg.cache_stats()
    assert (stats["entries"], stats["objects"], stats["bytes"]) == (3, 2, 400)  # the shared object counts once
    assert stats["stages"] == {"shot_clip": {"entries": 2, "bytes": 400}, "voice_over/take": {"entries": 1, "bytes": 300}}

    report = reg.cache_prune(300, now=at(3))  # LRU: first (frees nothing: second holds it), then other
    assert (report.evicted, report.freed_bytes, report.deleted_objects) == (2, 100, (other,))
    assert obj(reg, shared).exists() and reg.cache_get(key("first"), now=at(4)) is None
    assert reg.cache_get(key("second"), now=at(4)) == shared

    report = reg.cache_prune(0, now=at(5))
    assert (report.evicted, report.freed_bytes, report.deleted_objects) == (1, 300, (shared,))
    assert not obj(reg, shared).exists()


# ---- expiry ------------------------------------------------------------------------------------------------------


def test_an_expired_entry_is_a_miss_and_is_removed(reg: Registry):
    digest = cached(reg, "fetched", 100, 0, stage="resolved_asset", expires_at=at(60))
    assert reg.cache_get(key("fetched"), now=at(59)) == digest
    assert reg.cache_get(key("fetched"), now=at(60)) is None
    assert not entry_file(reg, key("fetched")).exists()
    assert not obj(reg, digest).exists()  # licence over: the bytes go too (nothing else holds them)
    assert reg.cache_entries() == []


def test_an_expired_entry_keeps_an_object_another_entry_holds(reg: Registry):
    digest = reg.put_bytes(b"shared bytes")
    reg.cache_put(key("fetched"), digest, "resolved_asset", expires_at=at(10), now=at(0))
    reg.cache_put(key("kept"), digest, "shot_clip", now=at(0))
    assert reg.cache_get(key("fetched"), now=at(11)) is None
    assert obj(reg, digest).exists() and reg.cache_get(key("kept"), now=at(11)) == digest


def test_prune_removes_expired_entries_first(reg: Registry):
    old = cached(reg, "old", 100, 0)
    fetched = cached(reg, "fetched", 200, 50, stage="resolved_asset", expires_at=at(55))
    report = reg.cache_prune(100, now=at(60))  # the expired one goes although it was used more recently
    assert (report.expired, report.evicted, report.freed_bytes, report.deleted_objects) == (1, 0, 200, (fetched,))
    assert (report.kept_entries, report.kept_bytes) == (1, 100)
    assert obj(reg, old).exists() and not obj(reg, fetched).exists()
    assert reg.cache_stats(now=at(60))["expired"] == 0


def test_prune_drops_entries_whose_object_is_gone(reg: Registry):
    digest = cached(reg, "gone", 100, 0)
    obj(reg, digest).unlink()
    report = reg.cache_prune(10_000, now=at(1))
    assert (report.dangling, report.evicted, report.freed_bytes, report.kept_entries) == (1, 0, 0, 0)
    assert reg.cache_entries() == []


def test_negative_budget_is_refused(reg: Registry):
    with pytest.raises(ValueError):
        reg.cache_prune(-1)


# ---- store and concurrency ---------------------------------------------------------------------------------------


def test_local_store_delete_is_idempotent(tmp_path: Path):
    store = LocalStore(tmp_path / "store")
    store.put_bytes("objects/abc", b"abc")
    assert store.size("objects/abc") == 3
    store.delete("objects/abc")
    store.delete("objects/abc")
    store.delete("never/was")
    assert not store.exists("objects/abc")


def test_prune_beside_a_render_never_fails_a_lookup_or_leaves_temp_files(reg: Registry):
    errors: list[BaseException] = []
    stop = threading.Event()

    def render() -> None:
        try:
            for i in range(300):
                k = key(f"shot{i % 7}")
                if reg.cache_get(k) is None:
                    reg.cache_put(k, reg.put_bytes(f"clip {i % 7}".encode() * 50), "shot_clip")
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            stop.set()

    worker = threading.Thread(target=render)
    worker.start()
    while not stop.is_set():
        reg.cache_prune(0)
    worker.join()
    assert errors == []
    assert tmp_files(reg.store.root) == []
