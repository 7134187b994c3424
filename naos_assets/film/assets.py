"""Film adaptation stage: Script -> ShotList (timing locked by hash) -> AssetManifest."""

from dagster import AssetDep, AssetExecutionContext, Output, asset

from engines.film import MANIFEST_VERSION, PLANNER_VERSION, build_manifest, plan_shots
from resources import NaosHome, NaosProject
from schemas import AssetManifest, Script, ShotList, VoiceOver

from ..partitions import episodes
from ..queues import CPU_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import bad_input, stage_output


# The Canon Gate stands between the script and everything downstream: a blocked episode gets no shots.
@asset(partitions_def=episodes, io_manager_key="registry", code_version=PLANNER_VERSION, group_name="film", **on_queue(CPU_QUEUE),
       kinds={"json"}, deps=[AssetDep("canon_gate"), AssetDep("canon_diff_approval")],
       description="ShotList (§5.6): shot templates, durations sized to the voice-over, and the timing_lock_hash; "
                   "after the Canon Gate.")
def shot_list(context: AssetExecutionContext, naos: NaosHome, script: Script,
              voice_over: VoiceOver) -> Output[ShotList]:
    script_sha = script.sha256()
    speech = {t.line_id: t.duration_s for t in voice_over.takes}
    return stage_output(
        "shot_list", naos, ShotList, inputs={"script": script_sha, "voice_over": voice_over.sha256()}, params={},
        code_version=PLANNER_VERSION, compute=lambda: plan_shots(script, script_sha, speech),
        describe=lambda v: {"timing_lock_hash": v.timing_lock_hash, "shots": len(v.shots),
                            "duration_s": v.total_duration_s},
    )


@asset(partitions_def=episodes, io_manager_key="registry", code_version=MANIFEST_VERSION, group_name="film", **on_queue(CPU_QUEUE),
       kinds={"json"}, deps=[AssetDep("shotlist_timing_lock"), AssetDep(PROJECT_FILE)], description="AssetManifest (§5.7): character packs, backgrounds and VO lines the shots need.")
def asset_manifest(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                   shot_list: ShotList) -> Output[AssetManifest]:
    with bad_input():
        proj = project.load()
    shots_sha = shot_list.sha256()
    return stage_output(
        "asset_manifest", naos, AssetManifest, inputs={"shot_list": shots_sha, "project": proj.sha256()},
        params={}, code_version=MANIFEST_VERSION, compute=lambda: build_manifest(shot_list, shots_sha, proj),
    )
