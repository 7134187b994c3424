"""The asset catalog as the Dagster UI shows it: owners, kinds, plain descriptions, code references and code versions
on every asset; the groups the lineage is laid out by; jobs that select what they always did; and materialization
and check metadata whose figures are numbers Dagster plots."""

from __future__ import annotations

from pathlib import Path

import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterInstance,
    FloatMetadataValue,
    IntMetadataValue,
    LocalFileCodeReference,
)

from engines.video import RENDERER_VERSION
from naos_assets.definitions import OWNERS, build_definitions
from naos_assets.figures import listening_figures, numbers
from naos_assets.partitions import episodes

ROOT = Path(__file__).resolve().parents[1]
PILOT = ROOT / "examples" / "pilot" / "project.yaml"
EPISODE_GROUP = [
    "episode_plan", "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate", "canon_diff_approval",
    "voice_over", "shot_list", "shotlist_timing_lock", "recording_packet", "asset_manifest", "external_spend_approval",
    "render_plan", "character_pack_approval", "shot_clips", "episode_audio", "render_output"]
GROUPS = {
    **{name: "sources" for name in ("project_file", "human_checkpoints", "story_arc_file", "outline_file", "canon_before")},
    "story_arc": "season_plan",
    **{name: "episode" for name in EPISODE_GROUP},
    "season_audiobook": "season",
    "publish": "publish",
}
# observed, never materialized: their version is the data version (the file's content hash), not code
OBSERVED = {"project_file", "human_checkpoints", "story_arc_file", "outline_file", "canon_before"}
CANON_CHECK = ["story_arc", "episode_plan", "canon_diff", "canon_snapshot", "context_pack", "script", "canon_gate",
               "canon_diff_approval"]
QUALITY = ["caption_sync", "loudness", "missing_assets", "rights", "runtime"]
CHECKPOINTS = ["canon_diff_approval", "character_pack_approval", "external_spend_approval", "shotlist_timing_lock"]
# what each job selected before the assets were regrouped by phase (computed from the domain groups: narrative,
# canon, writing, approvals, audio, film, media, render, audiobook): the regrouping must not change any of them
JOBS_BEFORE = {
    "render_episode": (
        {"story_arc", *EPISODE_GROUP},
        {*(f"{a}:approved" for a in CHECKPOINTS), *(f"render_output:{c}" for c in QUALITY), "voice_over:listening_test"},
    ),
    "canon_check": (set(CANON_CHECK), {"canon_diff_approval:approved"}),
    "season_m4b": ({"season_audiobook"}, set()),
    "publish_episode": (set(), set()),
    "review_checkpoint": (set(), set()),
}


@pytest.fixture(scope="module")
def defs(tmp_path_factory):
    return build_definitions(project_file=str(PILOT), naos_home=str(tmp_path_factory.mktemp("home")))


@pytest.fixture(scope="module")
def graph(defs):
    return defs.resolve_asset_graph()


def _nodes(graph) -> dict:
    return {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}


def test_every_asset_has_owners_kinds_a_plain_description_a_code_reference_and_version(graph):
    nodes = _nodes(graph)
    assert set(nodes) == set(GROUPS)
    teams = set(OWNERS)
    for name, node in nodes.items():
        assert node.owners and set(node.owners) <= teams, (name, node.owners)
        assert all(o.startswith("team:") for o in node.owners), name
        assert node.kinds, name
        assert node.description and "§" not in node.description and "seed 0" not in node.description, name
        refs = node.metadata["dagster/code_references"].code_references
        assert refs and all(isinstance(r, LocalFileCodeReference) for r in refs), name
        for ref in refs:
            lines = Path(ref.file_path).read_text().splitlines()
            assert ref.line_number and ref.line_number <= len(lines), (name, ref)
            assert Path(ref.file_path).is_relative_to(ROOT / "naos_assets"), (name, ref.file_path)
        if name in OBSERVED:
            assert node.code_version is None and not node.is_materializable, name
        else:
            assert node.code_version, name
    # the link opens where the asset is made: its decorator and function (the publish op for the reported `publish`)
    for name, fn in (("shot_clips", "shot_clips"), ("render_output", "render_output"),
                     ("project_file", "project_file"), ("canon_diff_approval", "canon_diff_approval"),
                     ("publish", "publish_op")):
        (ref,) = nodes[name].metadata["dagster/code_references"].code_references
        following = Path(ref.file_path).read_text().splitlines()[ref.line_number - 1:]
        assert following[0].startswith("@"), (name, following[0])
        assert next(line for line in following if line.startswith("def ")).startswith(f"def {fn}("), name


def test_shot_clips_carries_the_renderers_version_and_kinds(graph):
    node = graph.get(AssetKey("shot_clips"))
    assert node.code_version == RENDERER_VERSION
    assert node.kinds == {"mp4", "ffmpeg"}
    assert set(node.owners) == {"team:picture"}


def test_owners_by_team(graph):
    owners = {n: set(node.owners) for n, node in _nodes(graph).items()}
    assert owners["voice_over"] == owners["episode_audio"] == owners["season_audiobook"] == {"team:sound"}
    assert owners["script"] == owners["canon_gate"] == owners["project_file"] == {"team:story"}
    assert owners["render_output"] == owners["render_plan"] == {"team:picture"}
    assert owners["publish"] == owners["external_spend_approval"] == {"team:ops"}
    assert owners["canon_diff_approval"] == {"team:story", "team:ops"}
    assert owners["shotlist_timing_lock"] == owners["character_pack_approval"] == {"team:picture", "team:ops"}


def test_groups_read_left_to_right(graph):
    nodes = _nodes(graph)
    assert {n: node.group_name for n, node in nodes.items()} == GROUPS
    # every edge goes forward through the phases: sources -> season_plan -> episode -> season / publish
    order = {"sources": 0, "season_plan": 1, "episode": 2, "season": 3, "publish": 3}
    for name, node in nodes.items():
        for parent in node.parent_keys:
            assert order[GROUPS[parent.to_user_string()]] <= order[GROUPS[name]], (parent, name)
    # "Materialize all" on the episode group renders one episode: neither the season's audiobook nor publish
    assert "season_audiobook" not in EPISODE_GROUP and "publish" not in EPISODE_GROUP
    assert all(nodes[n].partitions_def == episodes for n in EPISODE_GROUP)
    assert [n for n, g in GROUPS.items() if g == "publish"] == ["publish"]


def test_jobs_select_what_they_did_before_the_regrouping(defs):
    for name, (assets, checks) in JOBS_BEFORE.items():
        layer = defs.resolve_job_def(name).asset_layer
        assert {k.to_user_string() for k in layer.executable_asset_keys} == assets, name
        assert {f"{k.asset_key.to_user_string()}:{k.name}" for k in layer.asset_graph.asset_check_keys} == checks, name


def test_nothing_the_ui_shows_cites_a_design_section(defs, graph):
    texts = {f"job {j.name}": j.description for j in defs.resolve_all_job_defs() if not j.name.startswith("__")}
    texts |= {f"sensor {s.name}": s.description for s in defs.sensors}
    texts |= {f"schedule {s.name}": s.description for s in defs.schedules}
    texts |= {f"check {k.asset_key.to_user_string()}:{k.name}": graph.get_check_spec(k).description
              for k in graph.asset_check_keys}
    texts |= {f"op {op.name}": op.description for j in defs.resolve_all_job_defs() for op in j.all_node_defs}
    for what, text in texts.items():
        assert text and "§" not in text, (what, text)


def test_figures_are_numbers_and_left_out_when_they_do_not_apply():
    from types import SimpleNamespace as NS

    heard = [NS(listening=NS(wer=w)) for w in (0.0, 0.25, 0.5)]
    value = NS(takes=heard, listening=NS(mean_wer=0.25, over=[object()]))
    assert listening_figures(value) == {"worst_wer": 0.5, "lines_over": 1, "mean_wer": 0.25}
    assert listening_figures(NS(takes=[NS(listening=None)], listening=None)) == {}
    assert numbers({"added": 2, "gate": "passed", "total_usd": 1.5, "flag": True, "items": [1]}) == \
        {"added": 2, "total_usd": 1.5}


def _is_number(value) -> bool:
    return isinstance(value, FloatMetadataValue | IntMetadataValue)


@pytest.mark.slow
def test_a_materialization_plots_its_figures(tmp_path):
    """One pilot episode rendered in process, twice: the figures Dagster plots are numbers under stable labels; the
    second run reuses every shot (a hit rate of 1)."""
    defs = build_definitions(project_file=str(PILOT), naos_home=str(tmp_path / "home"))
    job = defs.resolve_job_def("render_episode")
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(episodes.name, ["s01e01"])
        first = job.execute_in_process(partition_key="s01e01", instance=instance)
        assert first.success

        def latest(name: str) -> dict:
            records = instance.fetch_materializations(
                AssetRecordsFilter(asset_key=AssetKey(name), asset_partitions=["s01e01"]), limit=1).records
            return dict(records[0].asset_materialization.metadata)

        plotted = {
            "shot_list": ["naos/seconds", "duration_s", "shots"],
            "shot_clips": ["naos/seconds", "duration_s", "shots", "shot_cache_hit_rate", "shot_cache_hits"],
            "episode_audio": ["naos/seconds", "duration_s", "integrated_lufs", "true_peak_dbtp", "lra_lu"],
            "render_plan": ["naos/seconds", "naos/external_spend_usd", "asset_cache_hit_rate"],
            "render_output": ["naos/seconds", "duration_s", "attributions"],
            "voice_over": ["naos/seconds", "speech_s", "takes"],
            "external_spend_approval": ["total_usd"],
            "shotlist_timing_lock": ["shots", "duration_s"],
            "canon_diff_approval": ["added", "modified", "removed"],
        }
        for name, labels in plotted.items():
            meta = latest(name)
            for label in labels:
                assert _is_number(meta.get(label)), (name, label, meta.get(label))
        # nothing that usually holds a number is ever text (a listening test that did not run leaves mean_wer out)
        assert "mean_wer" not in latest("voice_over")
        assert 0.0 <= latest("shot_clips")["shot_cache_hit_rate"].value < 1.0

        checks = {e.check_name: e.metadata for e in first.get_asset_check_evaluations()
                  if e.asset_key == AssetKey("render_output")}
        expected = {"caption_sync": ["max_offset_ms"], "loudness": ["integrated_lufs", "true_peak_dbtp"],
                    "runtime": ["duration_s"], "missing_assets": ["placeholders"], "rights": ["issues"]}
        for check, labels in expected.items():
            for label in labels:
                assert _is_number(checks[check].get(label)), (check, label, checks[check].get(label))
        assert checks["runtime"]["duration_s"].value == latest("render_output")["duration_s"].value

        again = job.execute_in_process(partition_key="s01e01", instance=instance)
        assert again.success
        clips = latest("shot_clips")
        assert clips["shot_cache_hit_rate"].value == 1.0 and clips["shot_cache_misses"].value == 0
        assert 0 < clips["duration_s"].value <= latest("render_output")["duration_s"].value
