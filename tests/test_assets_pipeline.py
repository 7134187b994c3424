"""Assets through the real pipeline (`naos render` / `naos publish`, Dagster runs, ffmpeg): a generated stand-in,
the rights gate blocking publish and an approver's override recorded, a CC-BY asset from a search plugin credited on
an end card, and a one-line edit re-rendering exactly the shot that line is in (seed 004 §9, §17, §25, §29.3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import _copy_pilot, _edit_yaml, naos, render

pytestmark = pytest.mark.slow


def _json(path: Path) -> dict:
    return json.loads(path.read_text())


def publish(project: Path, home: Path, *extra: str):
    return naos("publish", "--project", str(project / "project.yaml"), "--episode", "s01e02", *extra, home=home)


def test_generated_stand_in_blocks_publish_until_an_approver_overrides(tmp_path):
    project = _copy_pilot(tmp_path)
    home, out = tmp_path / "home", tmp_path / "out"
    result = render(project / "project.yaml", out, home, episode="s01e02")
    assert result.returncode == 0, result.stderr
    plan = _json(out / "RenderPlan.json")
    cave = next(a for a in plan["assets"] if a["asset_id"] == "background:sea_cave")
    # not in the library: drawn locally, kept in the registry, licence generated_local, not cleared (§25.3)
    assert (cave["status"], cave["source"], cave["license_type"]) == ("resolved", "generative_local", "generated_local")
    assert cave["uri"] == f"registry:{cave['sha256']}" and not cave["redistributable"]
    assert cave["fallbacks"] == ["library:backgrounds/sea_cave.png"]
    output = _json(out / "RenderOutput.json")
    assert output["placeholders"] == []
    assert [i["asset_id"] for i in output["rights"]["issues"]] == ["background:sea_cave"]
    assert "rights gate: background:sea_cave" in result.stderr

    blocked = publish(project, home)
    assert blocked.returncode == 3, blocked.stderr
    assert "background:sea_cave (generated_local): not cleared for redistribution" in blocked.stderr
    assert "rights_override" in blocked.stderr
    assert not (home / "published").exists()

    no_approver = publish(project, home, "--rights-override")
    assert no_approver.returncode == 2 and "--approver" in no_approver.stderr

    done = publish(project, home, "--rights-override", "--approver", "rights@studio", "--reason", "our own drawing")
    assert done.returncode == 0, done.stderr
    folder = home / "published" / "pilot" / "s01e02"
    record = _json(folder / "PublishRecord.json")
    assert record["rights"]["override"] == {"approver": "rights@studio", "reason": "our own drawing"}
    assert record["rights"]["passed"] is False and "render_output_sha256" not in record
    # which RenderOutput was released is lineage: the registry record of the publish names it
    from io_managers import Registry

    registry = Registry.local(home / "artifacts")
    published = registry.get_record("publish", "s01e02", registry.get_ref("publish", "s01e02")["sha256"])
    assert published["parents"]["render_output"] == registry.get_ref("render_output", "s01e02")["sha256"]
    assert (folder / "episode.mp4").read_bytes()[4:8] == b"ftyp"
    assert "background:sea_cave: generated_local" in (folder / "credits.txt").read_text()


def test_search_plugin_supplies_a_cc_by_asset_credited_on_an_end_card(tmp_path):
    import av

    project = _copy_pilot(tmp_path)
    _edit_yaml(project / "project.yaml", lambda d: d.update(assets={"sources": [
        {"source": "tests.asset_sources:StockSearch", "options": {"attribution": "Sea cave by Ada Lens"}}]}))
    home, out = tmp_path / "home", tmp_path / "out"
    result = render(project / "project.yaml", out, home, episode="s01e02")
    assert result.returncode == 0, result.stderr
    cave = next(a for a in _json(out / "RenderPlan.json")["assets"] if a["asset_id"] == "background:sea_cave")
    assert (cave["source"], cave["license_type"], cave["cost_usd"]) == ("stock_search", "CC-BY-4.0", 0.25)
    output = _json(out / "RenderOutput.json")
    assert output["rights"]["attributions"] == ["Sea cave by Ada Lens (CC-BY-4.0)"]
    assert output["end_card_s"] == 4.0
    shots = sum(c["frames"] for c in output["shot_clips"])
    assert output["frames"] == shots + 4 * 24
    with av.open(str(out / "episode.mp4")) as container:
        assert container.streams.video[0].frames == output["frames"]
    credits = (out / "credits.txt").read_text()
    assert "Attributions\n  Sea cave by Ada Lens (CC-BY-4.0)" in credits
    assert "background:sea_cave: CC-BY-4.0, by Sea cave by Ada Lens, from stock.example" in credits
    # a CC-BY asset is cleared for redistribution: publish needs no override
    done = publish(project, home)
    assert done.returncode == 0, done.stderr
    assert _json(home / "published" / "pilot" / "s01e02" / "PublishRecord.json")["rights"]["passed"] is True


def test_one_line_edit_rerenders_only_the_shot_it_is_in(tmp_path):
    project = _copy_pilot(tmp_path)
    home = tmp_path / "home"
    first = render(project / "project.yaml", tmp_path / "first", home)
    assert first.returncode == 0, first.stderr
    shot_list = _json(tmp_path / "first" / "ShotList.json")

    def edit(d):
        d["scenes"][1]["beats"][1]["line"] = "Your keeper's lamp just went out. Does that happen often here?"

    _edit_yaml(project / "episodes" / "s01e01.yaml", edit)
    second = render(project / "project.yaml", tmp_path / "second", home)
    assert second.returncode == 0, second.stderr
    summary = _json(tmp_path / "second" / "run_summary.json")
    edited = [s["id"] for s in shot_list["shots"] if any("lamp just" in ln["text"] for ln in s["lines"])]
    assert len(edited) == 1
    assert [shot for shot, hit in summary["shot_cache"].items() if not hit] == edited
    assert len(summary["shot_cache"]) == len(shot_list["shots"])
    before = {c["shot_id"]: c["sha256"] for c in _json(tmp_path / "first" / "RenderOutput.json")["shot_clips"]}
    after = {c["shot_id"]: c["sha256"] for c in _json(tmp_path / "second" / "RenderOutput.json")["shot_clips"]}
    assert {s for s in before if before[s] != after[s]} == set(edited)
