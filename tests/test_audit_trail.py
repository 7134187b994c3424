"""The registry's audit trail (§27.3): hash-chained records of review requests and decisions; concurrent appends
from processes with separate scratch folders, on the local store and on S3 (moto's server, tests/s3_server.py)."""

from __future__ import annotations

import json
import multiprocessing
import uuid
from datetime import UTC, datetime

import pytest

from io_managers import AuditError, AuditTrail, Registry
from io_managers.registry import LocalStore
from io_managers.s3_store import S3Store, make_client
from tests.s3_server import CREDS, moto_server

SHA_A, SHA_B = "a" * 64, "b" * 64


def _append(trail: AuditTrail, decision: str, sha: str = SHA_A, episode: str = "s01e01",
            checkpoint: str = "approve_shotlist_timing_lock", by: str = "naos", note: str = "") -> dict:
    return trail.append(project_id="pilot", episode_id=episode, checkpoint=checkpoint, artifact="ShotList",
                        artifact_sha256=sha, decision=decision, by=by, note=note,
                        now=datetime(2026, 11, 22, 6, 0, tzinfo=UTC))


@pytest.fixture
def trail(tmp_path) -> AuditTrail:
    return AuditTrail(Registry.local(tmp_path / "artifacts"))


def test_records_chain_each_to_the_one_before(trail):
    first = _append(trail, "requested")
    second = _append(trail, "approved", by="ed", note="pacing ok")
    assert (first["seq"], second["seq"]) == (1, 2)
    assert first["prev"] == "0" * 64 and second["prev"] == first["sha256"]
    assert trail.verify() == second["sha256"]
    assert [r["decision"] for r in trail.records()] == ["requested", "approved"]
    assert second["at"] == "2026-11-22T06:00:00+00:00" and second["by"] == "ed"


def _path(trail: AuditTrail, seq: int):
    return trail.registry.store.root / "audit" / f"{seq:08d}.json"


def test_editing_a_past_record_is_detected(trail):
    _append(trail, "requested")
    _append(trail, "rejected", by="ed", note="too slow")
    _append(trail, "requested", sha=SHA_B)
    path = _path(trail, 2)
    record = json.loads(path.read_text())
    record["decision"], record["note"] = "approved", ""
    path.write_text(json.dumps(record))
    with pytest.raises(AuditError, match=r"audit/00000002.json: its contents no longer match its sha256"):
        trail.verify()


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(trail):
    from io_managers.audit import record_sha

    _append(trail, "requested")
    _append(trail, "rejected", by="ed")
    _append(trail, "requested", sha=SHA_B)
    path = _path(trail, 2)
    record = json.loads(path.read_text())
    record["decision"] = "approved"
    record["sha256"] = record_sha(record)  # a careful forger
    path.write_text(json.dumps(record))
    with pytest.raises(AuditError, match=r"audit/00000003.json: does not follow record 2"):
        trail.verify()


def test_removing_a_record_is_detected(trail):
    for decision in ("requested", "approved", "requested"):
        _append(trail, decision)
    _path(trail, 2).unlink()
    with pytest.raises(AuditError, match=r"expected record 2 here"):
        trail.verify()


def test_an_approval_holds_for_its_bytes_only(trail):
    _append(trail, "requested")
    _append(trail, "approved", by="ed")
    assert trail.review("pilot", "s01e01", "approve_shotlist_timing_lock", SHA_A).status == "approved"
    # the ShotList changed: no decision exists for the new bytes
    assert trail.review("pilot", "s01e01", "approve_shotlist_timing_lock", SHA_B) is None
    assert trail.review("pilot", "s01e02", "approve_shotlist_timing_lock", SHA_A) is None
    assert trail.review("pilot", "s01e01", "approve_canon_diff", SHA_A) is None


def test_pending_is_the_newest_open_request_per_episode_and_checkpoint(trail):
    _append(trail, "requested", sha=SHA_A)
    _append(trail, "requested", sha=SHA_B)  # the artifact changed before anyone decided
    _append(trail, "requested", sha=SHA_A, episode="s01e02")
    _append(trail, "requested", sha=SHA_A, checkpoint="approve_canon_diff")
    pending = trail.pending("pilot")
    assert [(r["episode_id"], r["checkpoint"], r["artifact_sha256"]) for r in pending] == [
        ("s01e01", "approve_shotlist_timing_lock", SHA_B), ("s01e02", "approve_shotlist_timing_lock", SHA_A),
        ("s01e01", "approve_canon_diff", SHA_A)]
    _append(trail, "approved", sha=SHA_A, by="ed")  # a decision on the superseded bytes leaves the newer open
    assert [r["artifact_sha256"] for r in trail.pending("pilot", "s01e01", "approve_shotlist_timing_lock")] == [SHA_B]
    _append(trail, "rejected", sha=SHA_B, by="ed")
    assert trail.pending("pilot", "s01e01", "approve_shotlist_timing_lock") == []
    assert trail.pending("other") == []


def test_bad_records_are_refused(trail):
    with pytest.raises(ValueError, match="decision"):
        _append(trail, "maybe")
    with pytest.raises(ValueError, match="--by"):
        _append(trail, "approved", by=" ")
    assert trail.records() == []


BUCKET, WRITERS, EACH = "naos-audit", 3, 15


def _registry(spec: dict, writer: int) -> Registry:
    """Each writer its own registry object and its own scratch folder: separate machines or containers."""
    scratch = f"{spec['scratch']}/{writer}"
    if "url" in spec:
        return Registry(S3Store(BUCKET, spec["prefix"], client=make_client(endpoint_url=spec["url"], **CREDS)),
                        scratch=scratch)
    return Registry(LocalStore(spec["root"]), scratch=scratch)


def _append_many(spec: dict, writer: int, start) -> None:
    trail = AuditTrail(_registry(spec, writer))
    start.wait()
    for i in range(EACH):
        _append(trail, "requested", sha=f"{writer * 100 + i:064x}")


@pytest.fixture(scope="module")
def moto_url(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto") / "server.log") as url:
        make_client(endpoint_url=url, **CREDS).create_bucket(Bucket=BUCKET)
        yield url


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_concurrent_appends_from_processes_keep_one_unbroken_chain(backend, tmp_path, request):
    spec = {"scratch": str(tmp_path / "scratch"), "root": str(tmp_path / "artifacts")}
    if backend == "s3":
        spec.update(url=request.getfixturevalue("moto_url"), prefix=f"t/{uuid.uuid4().hex}")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WRITERS)
    workers = [ctx.Process(target=_append_many, args=(spec, n, start)) for n in range(WRITERS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
        assert w.exitcode == 0
    reg = _registry(spec, 99)
    trail = AuditTrail(reg)
    records = trail.records()
    assert [r["seq"] for r in records] == list(range(1, WRITERS * EACH + 1))
    assert {r["artifact_sha256"] for r in records} == {f"{w * 100 + i:064x}" for w in range(WRITERS)
                                                       for i in range(EACH)}  # no record replaced
    assert trail.verify() == records[-1]["sha256"]
    assert reg.check().ok
