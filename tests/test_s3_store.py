"""The artifact registry on S3 (io_managers/s3_store.py), against moto's S3-compatible server on loopback.

The server runs as a subprocess for this module. Without it the tests skip, except under CI=true, where a server
that does not start fails them. Each test works under its own key prefix in one bucket. Transient errors come from a
small HTTP proxy thread in front of moto that answers 500/503 to the first N requests it is told to fail
(tests/s3_server.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from botocore.retries.adaptive import ClientRateLimiter
from dagster_aws.s3 import S3PickleIOManager, S3Resource

from io_managers import AuditError, AuditTrail, IntegrityError, Registry, cache_key
from io_managers.registry import LocalStore, registry_from_env
from io_managers.s3_settings import (
    S3Settings,
    SettingsError,
    check_bucket,
    registry_backend,
    step_io_manager_from_env,
)
from io_managers.s3_store import S3Store, make_client
from tests.s3_server import CREDS, CREDS_ENV, FlakyProxy, moto_server

BUCKET = "naos-test"
T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        yield url


@pytest.fixture(scope="module")
def client(moto_url):
    c = make_client(endpoint_url=moto_url, **CREDS)
    c.create_bucket(Bucket=BUCKET)
    return c


def calls(client) -> Counter:
    """Counts of S3 operations `client` makes from now on (PutObject, GetObject, ListObjectsV2...)."""
    seen: Counter = Counter()
    client.meta.events.register("before-call.s3", lambda model, **_: seen.update([model.name]))
    return seen


@pytest.fixture
def store(client) -> S3Store:
    return S3Store(BUCKET, f"t/{uuid.uuid4().hex}", client=client)


@pytest.fixture
def reg(store: S3Store, tmp_path: Path) -> Registry:
    return Registry(store, scratch=tmp_path / "scratch")


@pytest.fixture(params=["local", "s3"])
def any_reg(request, tmp_path: Path) -> Registry:
    """The same behaviour on both backends."""
    if request.param == "local":
        return Registry.local(tmp_path / "registry")
    return Registry(S3Store(BUCKET, f"t/{uuid.uuid4().hex}", client=request.getfixturevalue("client")),
                    scratch=tmp_path / "scratch")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def corrupt(store: S3Store, key: str) -> None:
    """Flip one byte of an object behind the registry's back, through the S3 client."""
    data = bytearray(store.client.get_object(Bucket=store.bucket, Key=store._key(key))["Body"].read())
    data[len(data) // 2] ^= 0xFF
    store.client.put_object(Bucket=store.bucket, Key=store._key(key), Body=bytes(data))


def raw_keys(store: S3Store) -> list[str]:
    pages = store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=store.prefix + "/")
    return sorted(item["Key"][len(store.prefix) + 1:] for page in pages for item in page.get("Contents", []))


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def key(name: str) -> str:
    return cache_key("shot_clip", {"shot": name}, {}, "render@1")


def cached(reg: Registry, name: str, size: int, minutes: float, **kw) -> str:
    digest = reg.put_bytes((name.encode() + b":").ljust(size, b"."))
    reg.cache_put(key(name), digest, "shot_clip", now=at(minutes), **kw)
    return digest


# ---- the store ---------------------------------------------------------------------------------------------------


def test_store_basics_and_missing_keys(store: S3Store):
    assert not store.exists("refs/a/x.json")
    store.put_bytes("refs/a/x.json", b"{}")
    assert store.exists("refs/a/x.json") and store.get_bytes("refs/a/x.json") == b"{}"
    assert store.size("refs/a/x.json") == 2
    store.put_bytes("refs/a/x.json", b'{"v": 2}')  # a ref is overwritten in place
    assert store.get_bytes("refs/a/x.json") == b'{"v": 2}'
    with pytest.raises(FileNotFoundError):
        store.get_bytes("refs/nothing.json")
    with pytest.raises(FileNotFoundError):
        store.size("refs/nothing.json")
    store.delete("refs/a/x.json")
    store.delete("refs/a/x.json")  # already gone: not an error
    assert not store.exists("refs/a/x.json")


def test_store_list_is_per_folder_and_under_the_prefix(store: S3Store, client):
    for k in ("refs/a/x.json", "refs/b/y.json", "refsX/z.json", "cache/k.json"):
        store.put_bytes(k, b"{}")
    assert list(store.list("refs")) == ["refs/a/x.json", "refs/b/y.json"]
    assert list(store.list("refs/")) == ["refs/a/x.json", "refs/b/y.json"]
    assert list(store.list("nothing-here")) == []
    assert list(store.list("")) == ["cache/k.json", "refs/a/x.json", "refs/b/y.json", "refsX/z.json"]
    other = S3Store(BUCKET, store.prefix + "-other", client=client)  # a sibling prefix sees none of it
    assert list(other.list("")) == []


def test_list_paginates_past_1000_keys(store: S3Store):
    names = [f"cache/{i:05d}.json" for i in range(1001)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: store.put_bytes(k, b"{}"), names))
    seen = calls(store.client)
    assert list(store.list("cache")) == names
    assert seen["ListObjectsV2"] == 2  # S3 pages hold at most 1000 keys


def test_put_file_failure_writes_nothing(store: S3Store, tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        store.put_file("objects/abc", tmp_path / "does-not-exist")
    assert not store.exists("objects/abc")


# ---- objects -----------------------------------------------------------------------------------------------------


def test_objects_are_content_addressed_and_written_once(reg: Registry):
    seen = calls(reg.store.client)
    data = b"the lamp at gull point\n"
    digest = reg.put_bytes(data)
    assert digest == sha(data) and reg.has(digest) and reg.get_bytes(digest) == data
    assert reg.store.get_bytes(f"objects/{digest}") == data
    assert reg.put_bytes(data) == digest
    assert seen["PutObject"] == 1  # the second put found the object and wrote nothing
    assert reg.put_bytes(b"") == sha(b"") and reg.get_bytes(sha(b"")) == b""


def test_put_file_streams_multipart_and_writes_once(reg: Registry, tmp_path: Path):
    reg.store.transfer = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)
    data = os.urandom(1 << 20) * 11 + b"tail"  # 11 MiB: three parts
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    seen = calls(reg.store.client)
    digest = reg.put_file(src)
    assert digest == sha(data) and seen["UploadPart"] == 3 and seen["CompleteMultipartUpload"] == 1
    assert reg.get_bytes(digest) == data
    assert reg.put_file(src) == digest and seen["UploadPart"] == 3  # already there: not uploaded again
    assert reg.export(digest, tmp_path / "out.bin").read_bytes() == data


def test_unknown_object(reg: Registry):
    assert not reg.has("0" * 64)
    with pytest.raises(FileNotFoundError):
        reg.get_bytes("0" * 64)
    with pytest.raises(FileNotFoundError):
        reg.path("0" * 64)


def test_corruption_in_the_bucket_is_detected(reg: Registry, tmp_path: Path):
    digest = reg.put_bytes(b"x" * 4096)
    good = reg.path(digest)  # a verified local copy
    corrupt(reg.store, f"objects/{digest}")
    with pytest.raises(IntegrityError, match=digest):
        reg.get_bytes(digest)
    with pytest.raises(IntegrityError):
        reg.path(digest)  # the bucket changed under the copy (new ETag): downloaded again, and caught
    assert reg.path(digest, verify=False) == good
    dest = tmp_path / "out" / "episode.mp4"
    dest.parent.mkdir()
    dest.write_bytes(b"previous good render")
    with pytest.raises(IntegrityError):
        reg.export(digest, dest)
    assert dest.read_bytes() == b"previous good render"
    assert [p.name for p in dest.parent.iterdir()] == ["episode.mp4"]


def test_local_path_downloads_once_into_scratch(reg: Registry):
    data = os.urandom(300_000)
    digest = reg.put_bytes(data)
    seen = calls(reg.store.client)
    path = reg.path(digest)
    assert path.read_bytes() == data and path.is_relative_to(reg.scratch)
    assert reg.path(digest) == path and seen["GetObject"] == 1  # reused: same size, same ETag
    path.write_bytes(data[:1000])  # a truncated copy (a crash mid-copy elsewhere) is not trusted
    assert reg.path(digest).read_bytes() == data and seen["GetObject"] == 2
    assert not [p for p in reg.scratch.rglob(".tmp-*")]


# ---- refs, records, layout ---------------------------------------------------------------------------------------


def test_refs_records_and_the_layout_match_the_local_store(reg: Registry):
    with pytest.raises(IntegrityError):
        reg.set_ref("script", "s01e01", "0" * 64, "Script", "1.0.0")
    first, second = reg.put_bytes(b'{"v": 1}'), reg.put_bytes(b'{"v": 2}')
    reg.set_ref("script", "s01e01", first, "Script", "1.0.0")
    reg.set_ref("script", "s01e01", second, "Script", "1.1.0")
    reg.set_ref("video", None, first, None, None, media_type="video/mp4")
    assert reg.get_ref("script", "s01e01") == {"sha256": second, "contract": "Script", "schema_version": "1.1.0",
                                               "media_type": "application/json"}
    assert reg.get_ref("video", None)["media_type"] == "video/mp4" and reg.get_ref("script", "s01e02") is None

    rec = reg.put_record("script", "s01e01", second, schema_version="1.1.0", parents={"outline": "1" * 64},
                         params={"generator": "template@1"}, code_version="writing@1",
                         media_type="application/json", run_id="first")
    reg.put_record("script", "s01e01", second, schema_version="1.1.0", parents={"outline": "2" * 64},
                   params={}, code_version="writing@2", media_type="application/json", run_id="second")
    assert reg.get_record("script", "s01e01", second) == rec  # write once: the first record stands
    assert reg.get_record("script", "s01e01", first) is None
    reg.cache_put(key("a"), first, "shot_clip", now=at(0))

    assert raw_keys(reg.store) == sorted([
        f"objects/{first}", f"objects/{second}", "refs/script/s01e01.json", "refs/video/__all__.json",
        f"records/script/s01e01/{second}.json", f"cache/{key('a')}.json"])
    raw = reg.store.get_bytes("refs/script/s01e01.json")
    assert raw.endswith(b"\n") and json.loads(raw)["sha256"] == second


# ---- the same behaviours on both backends --------------------------------------------------------------------------


def test_cache_roundtrip_prune_and_live_objects(any_reg: Registry):
    reg = any_reg
    assert reg.cache_get(key("nothing")) is None
    clip = cached(reg, "clip", 400, 0)
    stale = cached(reg, "stale", 300, 1)
    old = cached(reg, "old", 200, 2)
    artifact = json.dumps({"clips": [{"uri": f"registry:{clip}", "sha256": clip}]}).encode()
    shot_clips = reg.put_bytes(artifact)
    reg.cache_put(key("shot_clips"), shot_clips, "shot_clips", now=at(3))
    reg.set_ref("shot_clips", "s01e01", shot_clips, "ShotClips", "1.0.0")
    assert reg.cache_get(key("old"), now=at(4)) == old  # old is now the most recently used

    assert reg.live_objects() == {clip, shot_clips}
    [entry] = [e for e in reg.cache_entries() if e.key == key("clip")]
    assert (entry.bytes, entry.created_at, entry.last_used, entry.live) == (400, at(0), at(0), True)
    stats = reg.cache_stats()
    assert (stats["entries"], stats["live_bytes"], stats["cache_only_bytes"]) == (4, 400 + len(artifact), 500)

    report = reg.cache_prune(250, now=at(10))  # stale (least recently used) goes; old fits the budget
    assert (report.evicted, report.freed_bytes, report.deleted_objects) == (1, 300, (stale,))
    assert reg.has(clip) and reg.has(old) and not reg.has(stale)
    assert reg.cache_get(key("stale"), now=at(11)) is None

    expiring = cached(reg, "licensed", 50, 12, expires_at=at(20))
    assert reg.cache_get(key("licensed"), now=at(19)) == expiring
    assert reg.cache_get(key("licensed"), now=at(20)) is None and not reg.has(expiring)

    reg.store.delete(f"objects/{old}")
    assert reg.cache_get(key("old"), now=at(21)) is None
    assert reg.cache_prune(10**9, now=at(22)).dangling == 1


def test_export_and_path_on_both_backends(any_reg: Registry, tmp_path: Path):
    data = os.urandom(3 * (1 << 20) + 17)
    digest = any_reg.put_bytes(data)
    dest = any_reg.export(digest, tmp_path / "out" / "nested" / "episode.mp4")
    assert dest.read_bytes() == data and any_reg.path(digest).read_bytes() == data
    assert [p.name for p in dest.parent.iterdir()] == ["episode.mp4"]


def test_audit_trail_appends_and_verifies(any_reg: Registry):
    trail = AuditTrail(any_reg)

    def append(decision: str, sha_: str = "a" * 64, by: str = "naos") -> dict:
        return trail.append(project_id="pilot", episode_id="s01e01", checkpoint="approve_shotlist_timing_lock",
                            artifact="ShotList", artifact_sha256=sha_, decision=decision, by=by,
                            now=datetime(2026, 11, 22, 6, 0, tzinfo=UTC))

    first, second, third = append("requested"), append("approved", by="ed"), append("requested", "b" * 64)
    assert (first["seq"], second["prev"], third["prev"]) == (1, first["sha256"], second["sha256"])
    assert trail.verify() == third["sha256"]
    assert trail.review("pilot", "s01e01", "approve_shotlist_timing_lock", "a" * 64).status == "approved"
    assert [r["seq"] for r in trail.pending("pilot")] == [3]

    record = json.loads(any_reg.store.get_bytes("audit/00000002.json"))
    record["decision"] = "rejected"
    any_reg.store.put_bytes("audit/00000002.json", json.dumps(record).encode())
    with pytest.raises(AuditError, match=r"audit/00000002.json: its contents no longer match"):
        trail.verify()


def test_the_approvals_view_reads_an_audit_trail_kept_on_s3(reg: Registry, tmp_path: Path):
    """naos.duckdb's `approvals` view globs $NAOS_HOME/artifacts/audit on the local registry; a trail in the bucket
    reaches it through a copy the analytics writes (and `naos approve` refreshes)."""
    from naos_assets.analytics import audit_copy_path, export_audit_trail, query

    home = tmp_path / "home"
    trail = AuditTrail(reg)
    for decision, by in (("requested", "naos"), ("approved", "ed")):
        trail.append(project_id="pilot", episode_id="s01e01", checkpoint="approve_shotlist_timing_lock",
                     artifact="ShotList", artifact_sha256="a" * 64, decision=decision, by=by)
    assert export_audit_trail(home, reg) == audit_copy_path(home)
    assert query(home, "SELECT seq, decision, actor FROM approvals ORDER BY seq") == [
        {"seq": 1, "decision": "requested", "actor": "naos"}, {"seq": 2, "decision": "approved", "actor": "ed"}]
    trail.append(project_id="pilot", episode_id="s01e02", checkpoint="approve_shotlist_timing_lock",
                 artifact="ShotList", artifact_sha256="b" * 64, decision="requested", by="naos")
    export_audit_trail(home, reg)  # rewritten whole: the view follows the bucket
    assert [r["seq"] for r in query(home, "SELECT seq FROM approvals ORDER BY seq")] == [1, 2, 3]
    assert export_audit_trail(home, Registry.local(home / "artifacts")) is None  # a local trail is read in place


# ---- configuration -----------------------------------------------------------------------------------------------


def test_registry_from_env(tmp_path: Path, moto_url, client, monkeypatch):
    local = registry_from_env(tmp_path / "home", env={})
    assert isinstance(local.store, LocalStore) and local.store.root == tmp_path / "home" / "artifacts"
    with pytest.raises(ValueError, match="NAOS_S3_BUCKET"):
        registry_from_env(tmp_path, env={"NAOS_REGISTRY": "s3"})
    with pytest.raises(ValueError, match="local or s3"):
        registry_from_env(tmp_path, env={"NAOS_REGISTRY": "gcs"})

    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    prefix = f"t/{uuid.uuid4().hex}"
    reg = registry_from_env(tmp_path / "home", env={
        "NAOS_REGISTRY": "S3", "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_PREFIX": f"/{prefix}/",
        "NAOS_S3_ENDPOINT_URL": moto_url, "NAOS_S3_MAX_ATTEMPTS": "3"})
    assert isinstance(reg.store, S3Store) and reg.store.prefix == prefix
    assert reg.scratch == tmp_path / "home" / "artifacts" / "scratch"
    assert reg.store.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 3}
    digest = reg.put_bytes(b"from the environment")
    assert client.get_object(Bucket=BUCKET, Key=f"{prefix}/objects/{digest}")["Body"].read() == b"from the environment"


def rate_limited(client) -> bool:
    """botocore's adaptive mode is on: its client-side rate limiter listens before every send."""
    handlers = client.meta.events._emitter._handlers.prefix_search("before-send.s3.PutObject")
    return any(isinstance(getattr(h, "__self__", None), ClientRateLimiter) for h in handlers)


def test_production_defaults_to_s3_and_naos_registry_overrides(tmp_path: Path):
    production = {"NAOS_PROFILE": "production", "NAOS_REGISTRY_INDEX": "store"}
    assert registry_backend({}) == "local" and registry_backend({"NAOS_PROFILE": "embedded"}) == "local"
    assert registry_backend(production) == "s3"
    assert registry_backend({**production, "NAOS_REGISTRY": "local"}) == "local"
    with pytest.raises(SettingsError, match="^NAOS_S3_BUCKET: not set"):
        registry_from_env(tmp_path / "home", env=production)
    assert isinstance(registry_from_env(tmp_path / "home", env={**production, "NAOS_REGISTRY": "local"}).store,
                      LocalStore)


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("NAOS_S3_BUCKET", "Not_A_Bucket", "is not an S3 bucket name"),
    ("NAOS_S3_BUCKET", "ab", "is not an S3 bucket name"),
    ("NAOS_S3_ENDPOINT_URL", "127.0.0.1:9000", "is not an http(s)://host[:port] URL"),
    ("NAOS_S3_MAX_ATTEMPTS", "0", "is not a whole number >= 1"),
    ("NAOS_S3_MAX_ATTEMPTS", "three", "is not a whole number >= 1"),
    ("NAOS_S3_RETRY_MODE", "legacy", "must be standard or adaptive"),
    ("NAOS_S3_PREFIX", "a/../b", "has an empty, . or .. segment"),
])
def test_bad_s3_settings_name_the_variable(tmp_path: Path, variable: str, value: str, problem: str):
    env = {"NAOS_REGISTRY": "s3", "NAOS_S3_BUCKET": BUCKET, variable: value}
    with pytest.raises(SettingsError, match=f"^{variable}: .*{re.escape(problem)}") as err:
        registry_from_env(tmp_path / "home", env=env)
    assert err.value.variable == variable
    assert not (tmp_path / "home").exists()  # nothing written


def test_the_client_comes_from_dagster_aws_and_the_registry_is_cached(tmp_path: Path, moto_url, client,
                                                                       monkeypatch):
    for name, value in CREDS_ENV.items():
        monkeypatch.setenv(name, value)
    env = {"NAOS_REGISTRY": "s3", "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_ENDPOINT_URL": moto_url,
           "NAOS_S3_RETRY_MODE": "adaptive", "NAOS_S3_PREFIX": f"t/{uuid.uuid4().hex}"}
    settings = S3Settings.from_env(env)
    resource = settings.resource()
    assert isinstance(resource, S3Resource) and resource.endpoint_url == moto_url and resource.max_attempts == 7
    reg = registry_from_env(tmp_path / "home", env=env)
    assert registry_from_env(tmp_path / "home", env=dict(env)) is reg  # one client per process and settings
    assert registry_from_env(tmp_path / "home", env={**env, "NAOS_S3_MAX_ATTEMPTS": "2"}) is not reg
    assert reg.store.client.meta.config.retries == {"mode": "standard", "total_max_attempts": 8}
    assert rate_limited(reg.store.client) and not rate_limited(S3Settings(BUCKET).resource().get_client())
    digest = reg.put_bytes(b"adaptive")
    assert client.get_object(Bucket=BUCKET, Key=f"{settings.prefix}/objects/{digest}")["Body"].read() == b"adaptive"

    step_io = settings.step_io_manager(resource)
    assert isinstance(step_io, S3PickleIOManager)
    assert (step_io.s3_bucket, step_io.s3_prefix) == (BUCKET, f"{settings.prefix}/dagster-io")
    assert step_io_manager_from_env({"NAOS_REGISTRY": "local", "NAOS_S3_BUCKET": BUCKET}) is None


def test_check_bucket_names_a_missing_bucket(moto_url, client, monkeypatch):
    for name, value in CREDS_ENV.items():
        monkeypatch.setenv(name, value)
    check_bucket(S3Store(BUCKET, "t", client=client))  # exists: passes
    check_bucket(LocalStore.__new__(LocalStore))  # not S3: nothing to check
    with pytest.raises(SettingsError, match="^NAOS_S3_BUCKET: bucket 'no-such-bucket' at .* does not exist"):
        check_bucket(S3Store("no-such-bucket", "t", client=client))
    unreachable = make_client(endpoint_url="http://127.0.0.1:9", max_attempts=1, **CREDS)
    with pytest.raises(SettingsError, match="^NAOS_S3_ENDPOINT_URL: cannot reach http://127.0.0.1:9"):
        check_bucket(S3Store(BUCKET, "t", client=unreachable))


# ---- transient errors --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def proxy(moto_url):
    with FlakyProxy(moto_url) as p:
        yield p


def _flaky_registry(proxy: FlakyProxy, tmp_path: Path, max_attempts: int) -> Registry:
    client = make_client(endpoint_url=proxy.url, max_attempts=max_attempts, **CREDS)
    return Registry(S3Store(BUCKET, f"t/{uuid.uuid4().hex}", client=client), scratch=tmp_path / "scratch")


@pytest.mark.parametrize("status", [500, 503])
def test_transient_errors_are_retried_by_botocore(proxy: FlakyProxy, tmp_path: Path, status: int):
    reg = _flaky_registry(proxy, tmp_path, max_attempts=8)
    proxy.fail_next(3, status)  # the existence check fails 3 times, then goes through
    digest = reg.put_bytes(b"through the storm")
    assert proxy.injected == 3
    proxy.fail_next(3, status)
    assert reg.get_bytes(digest) == b"through the storm" and proxy.injected == 3
    reg.set_ref("script", "s01e01", digest, "Script", "1.0.0")
    proxy.fail_next(5, status)
    assert reg.get_ref("script", "s01e01")["sha256"] == digest and proxy.injected == 5
    proxy.fail_next(2, status)
    assert reg.path(digest).read_bytes() == b"through the storm" and proxy.injected == 2


def test_without_retries_a_transient_error_surfaces(proxy: FlakyProxy, tmp_path: Path):
    reg = _flaky_registry(proxy, tmp_path, max_attempts=1)
    digest = reg.put_bytes(b"calm")
    proxy.fail_next(1, 500)
    with pytest.raises(ClientError) as err:
        reg.get_bytes(digest)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500 and proxy.injected == 1
    assert reg.get_bytes(digest) == b"calm"  # the window has passed


def test_retries_give_up_after_max_attempts(proxy: FlakyProxy, tmp_path: Path):
    reg = _flaky_registry(proxy, tmp_path, max_attempts=3)
    digest = reg.put_bytes(b"stubborn")
    proxy.fail_next(3, 500)
    with pytest.raises(ClientError):
        reg.get_bytes(digest)
    assert proxy.injected == 3 and proxy.failures == 0


def test_put_if_absent_is_a_conditional_put(store: S3Store, client):
    sent: list[str | None] = []
    client.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(
        request.headers.get("If-None-Match")))
    assert store.put_if_absent("audit/00000001.json", b"first") is True
    assert store.put_if_absent("audit/00000001.json", b"second") is False  # 412 PreconditionFailed: nothing changed
    assert store.get_bytes("audit/00000001.json") == b"first"
    assert [h.decode() if isinstance(h, bytes) else h for h in sent[-2:]] == ["*", "*"]
    assert list(store.temp_keys()) == [] and store.versioned() is False and list(store.rewrites("objects")) == []
