"""Film adaptation stage: Script -> ShotList (timing locked by hash) -> AssetManifest."""

from dagster import AssetDep, AssetExecutionContext, Output, asset

from engines.film import MANIFEST_VERSION, PLANNER_VERSION, PROJECT_FIELDS, build_manifest, plan_shots
from engines.media.settings import project_vocabulary
from resources import NaosHome, NaosProject
from schemas import AssetManifest, Script, ShotList, VoiceOver

from ..partitions import episodes
from ..queues import CPU_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import bad_input, stage_output


# The Canon Gate stands between the script and everything downstream: a blocked episode gets no shots.
@asset(partitions_def=episodes, io_manager_key="registry", code_version=PLANNER_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json"}, deps=[AssetDep("canon_gate"), AssetDep("canon_diff_approval"), AssetDep(PROJECT_FILE)],
       description="The episode cut into shots (framing, who is on screen, which lines play), each as long as its "
                   "voice-over takes; its timing lock hash changes whenever any shot's timing does. Made only once "
                   "the canon gate has passed the script.")
def shot_list(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, script: Script,
              voice_over: VoiceOver) -> Output[ShotList]:
    with bad_input():
        proj = project.load()
    speech = {t.line_id: t.duration_s for t in voice_over.takes}
    mouths = {t.line_id: t.mouth for t in voice_over.takes}
    names = {c.id: c.name for c in proj.characters}  # for name tags
    vocab = project_vocabulary(proj.assets.setting_words)  # a scene's light from its time
    return stage_output(
        "shot_list", naos, ShotList, inputs={"script": script.sha256(), "voice_over": voice_over.sha256(),
                                             "project": proj.fields_sha256("characters.id", "characters.name",
                                                                           "assets.setting_words")},
        params={}, code_version=PLANNER_VERSION, compute=lambda: plan_shots(script, speech, mouths, names, vocab),
        describe=lambda v: {"timing_lock_hash": v.timing_lock_hash, "shots": len(v.shots),
                            "duration_s": v.total_duration_s},
    )


@asset(partitions_def=episodes, io_manager_key="registry", code_version=MANIFEST_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json"}, deps=[AssetDep("shotlist_timing_lock"), AssetDep(PROJECT_FILE)],
       description="Every picture and sound the shots need (characters and their expressions, backgrounds, music, "
                   "sound effects, voice lines), listed before anything is looked up. The render plan resolves it.")
def asset_manifest(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                   shot_list: ShotList) -> Output[AssetManifest]:
    with bad_input():
        proj = project.load()
    return stage_output(
        "asset_manifest", naos, AssetManifest,
        # only the project fields the manifest reads: a checkpoint flag or a voice does not change it
        inputs={"shot_list": shot_list.sha256(), "project": proj.fields_sha256(*PROJECT_FIELDS)},
        params={}, code_version=MANIFEST_VERSION, compute=lambda: build_manifest(shot_list, proj),
    )
