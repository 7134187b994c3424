"""Registry.check() and `naos registry check`: each kind of problem, on the local store and on S3 (moto's server on
loopback, tests/s3_server.py); versions of write-once keys on a versioned bucket."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from io_managers import AuditTrail, Registry
from io_managers.registry import LocalStore
from io_managers.s3_store import S3Store, make_client
from tests.s3_server import CREDS, CREDS_ENV, moto_server

ROOT = Path(__file__).resolve().parent.parent
BUCKET, VERSIONED = "naos-check", "naos-check-versioned"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        client = make_client(endpoint_url=url, **CREDS)
        client.create_bucket(Bucket=BUCKET)
        client.create_bucket(Bucket=VERSIONED)
        client.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        yield url, client


@pytest.fixture(params=["local", "s3"])
def reg(request, tmp_path: Path) -> Registry:
    if request.param == "local":
        return Registry.local(tmp_path / "artifacts")
    _, client = request.getfixturevalue("moto")
    return Registry(S3Store(BUCKET, f"t/{uuid.uuid4().hex}", client=client), scratch=tmp_path / "scratch")


def artifact(reg: Registry, name: str, partition: str | None = "s01e01", data: bytes | None = None) -> str:
    """What the IO manager does for one output: object, record, then ref."""
    sha = reg.put_bytes(data if data is not None else f"{name} {partition}".encode())
    reg.put_record(name, partition, sha, schema_version="1.0.0", parents={}, params={}, code_version="t@1",
                   media_type="application/json")
    reg.set_ref(name, partition, sha, "Script", "1.0.0")
    return sha


def kinds(reg: Registry) -> list[tuple[str, str]]:
    return sorted((p.kind, p.where) for p in reg.check().problems)


def raw_put(reg: Registry, key: str, data: bytes) -> None:
    reg.store.put_bytes(key, data)  # behind the registry's back


def test_a_whole_registry_is_consistent_and_counted(reg: Registry):
    artifact(reg, "script")
    artifact(reg, "story_arc", None)
    artifact(reg, "render_output/video", data=os.urandom(3 << 20))  # several read chunks
    reg.cache_put("k" * 64, reg.get_ref("script", "s01e01")["sha256"], "script")
    AuditTrail(reg).append(project_id="p", episode_id="s01e01", checkpoint="c", artifact="Script",
                           artifact_sha256="a" * 64, decision="requested", by="naos")
    report = reg.check()
    assert report.ok, report.text()
    assert {k: report.counts[k] for k in ("objects", "records", "refs", "pruned_records", "cache_entries",
                                         "audit_records")} == {"objects": 3, "records": 3, "refs": 3,
                                                               "pruned_records": 0, "cache_entries": 1,
                                                               "audit_records": 1}
    assert report.counts["object_bytes"] == (3 << 20) + len(b"script s01e01") + len(b"story_arc None")
    assert report.to_dict()["ok"] is True


def test_big_objects_are_hashed_in_chunks(reg: Registry):
    sha = reg.put_bytes(os.urandom(3 << 20))
    chunks = list(reg.store.iter_bytes(f"objects/{sha}"))
    assert len(chunks) >= 3 and max(map(len, chunks)) <= 1 << 20
    assert hashlib.sha256(b"".join(chunks)).hexdigest() == sha


def test_a_record_whose_object_was_pruned_is_history_not_a_problem(reg: Registry):
    old = artifact(reg, "script", data=b"first draft")
    artifact(reg, "script", data=b"second draft")  # the ref moves on; the first draft is cache-only now
    reg.store.delete(f"objects/{old}")
    report = reg.check()
    assert report.ok, report.text()
    assert (report.counts["records"], report.counts["pruned_records"]) == (2, 1)


def test_a_ref_to_a_missing_object(reg: Registry):
    sha = artifact(reg, "script")
    reg.store.delete(f"objects/{sha}")
    assert kinds(reg) == [("missing_object", "refs/script/s01e01.json")]


def test_an_orphan_ref_has_no_record(reg: Registry):
    sha = reg.put_bytes(b"never recorded")
    reg.set_ref("script", "s01e02", sha, "Script", "1.0.0")
    problems = reg.check().problems
    assert [(p.kind, p.where) for p in problems] == [("orphan_ref", "refs/script/s01e02.json")]
    assert sha in problems[0].detail


def test_a_ref_that_is_not_json_or_names_no_object(reg: Registry):
    raw_put(reg, "refs/script/s01e03.json", b"{not json")
    raw_put(reg, "refs/script/s01e04.json", json.dumps({"sha256": "nope"}).encode())
    assert kinds(reg) == [("bad_ref", "refs/script/s01e03.json"), ("bad_ref", "refs/script/s01e04.json")]


def test_corrupt_objects_and_stray_object_keys(reg: Registry):
    sha = artifact(reg, "script", data=b"the lamp is lit")
    raw_put(reg, f"objects/{sha}", b"the lamp is dark")
    raw_put(reg, "objects/readme.txt", b"hello")
    problems = {p.kind: p for p in reg.check().problems}
    assert sorted(problems) == ["bad_object_key", "corrupt_object"]
    assert problems["corrupt_object"].where == f"objects/{sha}"
    assert hashlib.sha256(b"the lamp is dark").hexdigest() in problems["corrupt_object"].detail
    assert problems["bad_object_key"].where == "objects/readme.txt"


def test_unreadable_or_misfiled_records(reg: Registry):
    sha = artifact(reg, "script")
    raw_put(reg, f"records/script/s01e09/{'c' * 64}.json", b"[1, 2]")
    moved = reg.get_record("script", "s01e01", sha)
    raw_put(reg, f"records/script/s01e05/{sha}.json", json.dumps(moved).encode())  # says s01e01, filed as s01e05
    problems = reg.check().problems
    assert sorted((p.kind, p.where) for p in problems) == [
        ("bad_record", f"records/script/s01e05/{sha}.json"), ("bad_record", f"records/script/s01e09/{'c' * 64}.json")]
    assert any("partition 's01e01'" in p.detail for p in problems)


def test_leftover_temp_keys(reg: Registry):
    artifact(reg, "script")
    if isinstance(reg.store, LocalStore):  # a writer killed between mkstemp and rename
        (reg.store.root / "objects" / ".tmp-abc123").write_bytes(b"half")
        (reg.store.root / "scratch").mkdir(exist_ok=True)
        (reg.store.root / "scratch" / ".tmp-download").write_bytes(b"local scratch, not the registry")
        expected = [("temp_key", "objects/.tmp-abc123")]
    else:  # a multipart upload never completed (a killed put_file of a big clip), and a stray temp-named key
        store = reg.store
        upload = store.client.create_multipart_upload(Bucket=store.bucket, Key=store._key("objects/" + "d" * 64))
        raw_put(reg, "objects/.tmp-xyz", b"half")
        expected = [("temp_key", "objects/.tmp-xyz"),
                    ("temp_key", f"objects/{'d' * 64} (unfinished multipart upload {upload['UploadId']})")]
    assert kinds(reg) == sorted(expected)


def test_a_broken_audit_chain(reg: Registry):
    trail = AuditTrail(reg)
    for decision in ("requested", "approved"):
        trail.append(project_id="p", episode_id="s01e01", checkpoint="c", artifact="Script",
                     artifact_sha256="a" * 64, decision=decision, by="ed")
    record = json.loads(reg.store.get_bytes("audit/00000001.json"))
    record["by"] = "mallory"
    raw_put(reg, "audit/00000001.json", json.dumps(record).encode())
    problems = reg.check().problems
    assert [(p.kind, p.where) for p in problems] == [("audit_chain", "audit/")]
    assert "audit/00000001.json" in problems[0].detail


def test_versions_of_different_bytes_under_a_write_once_key(moto, tmp_path: Path):
    _, client = moto
    reg = Registry(S3Store(VERSIONED, f"t/{uuid.uuid4().hex}", client=client), scratch=tmp_path / "scratch")
    same = artifact(reg, "script", data=b"v1")
    artifact(reg, "script", data=b"v2")  # the ref has two versions of different bytes: that is what refs do
    reg.store.put_bytes(f"objects/{same}", b"v1")  # the same bytes again: harmless
    report = reg.check()
    assert report.ok and report.counts["versioned"] == 1, report.text()
    record = f"records/script/s01e01/{same}.json"
    reg.store.put_bytes(record, reg.store.get_bytes(record).replace(b"t@1", b"t@2"))  # a second writer won
    reg.store.put_bytes(f"objects/{same}", b"v1")
    reg.store.put_bytes(f"objects/{same}", b"not v1")
    reg.store.put_bytes(f"objects/{same}", b"v1")  # current bytes verify; the history shows the rewrite
    problems = reg.check().problems
    assert sorted((p.kind, p.where, p.detail) for p in problems) == [
        ("rewritten_key", f"objects/{same}", "5 versions with different bytes (a write-once key)"),
        ("rewritten_key", record, "2 versions with different bytes (a write-once key)")]


def naos_check(home: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("NAOS_", "DAGSTER_HOME"))}
    full.update(env, NAOS_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "naos_assets.cli", "registry", "check", *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=300)


def test_naos_registry_check_exit_codes_and_json(tmp_path: Path):
    home = tmp_path / "home"
    reg = Registry.local(home / "artifacts")
    sha = artifact(reg, "script")
    ok = naos_check(home, {}, "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["counts"]["refs"] == 1
    reg.store.delete(f"objects/{sha}")
    bad = naos_check(home, {})
    assert bad.returncode == 4, bad.stderr
    assert "INCONSISTENT" in bad.stdout and "missing_object: refs/script/s01e01.json" in bad.stdout


def test_naos_registry_check_on_s3(moto, tmp_path: Path):
    url, client = moto
    prefix = f"t/{uuid.uuid4().hex}"
    artifact(Registry(S3Store(BUCKET, prefix, client=client), scratch=tmp_path / "s"), "script")
    env = {"NAOS_REGISTRY": "s3", "NAOS_S3_BUCKET": BUCKET, "NAOS_S3_PREFIX": prefix, "NAOS_S3_ENDPOINT_URL": url,
           **CREDS_ENV}
    result = naos_check(tmp_path / "home", env, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] and report["counts"]["refs"] == 1 and report["counts"]["objects"] == 1
