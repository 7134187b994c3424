"""Writing stage: Episode Plan + context pack -> Script. The generator reads no old script (§6.4)."""

from dagster import AssetExecutionContext, Output, asset

from engines.writing import GENERATOR, write_script
from resources import NaosHome
from schemas import ContextPack, EpisodePlan, Script

from ..partitions import episodes
from ..queues import LOCAL_AI_QUEUE, on_queue
from ..stage import stage_output


@asset(partitions_def=episodes, io_manager_key="registry", code_version=GENERATOR, group_name="episode", **on_queue(LOCAL_AI_QUEUE),
       kinds={"json"}, description="The episode's script: each scene's narration and dialogue lines with speaker and "
                                   "emotion, written from the plan and the context pack by the deterministic template "
                                   "writer. The voice-over and the shot list are made from it.")
def script(context: AssetExecutionContext, naos: NaosHome, episode_plan: EpisodePlan,
           context_pack: ContextPack) -> Output[Script]:
    return stage_output(
        "script", naos, Script, inputs={"episode_plan": episode_plan.sha256(), "context_pack": context_pack.sha256()},
        params={}, code_version=GENERATOR, compute=lambda: write_script(episode_plan, context_pack),
    )
