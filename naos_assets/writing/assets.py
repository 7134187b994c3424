"""Writing stage: outline -> Script."""

from dagster import AssetExecutionContext, Output, asset

from engines.writing import GENERATOR, write_script
from resources import NaosHome, NaosProject
from schemas import Script

from ..partitions import episodes
from ..stage import bad_input, stage_output


@asset(partitions_def=episodes, io_manager_key="registry", code_version=GENERATOR, group_name="writing",
       kinds={"json"}, description="Script (§5.5) from the episode outline, by the deterministic template generator.")
def script(context: AssetExecutionContext, project: NaosProject, naos: NaosHome) -> Output[Script]:
    episode = context.partition_key
    with bad_input():
        proj = project.load()
        outline, outline_sha = project.outline(proj, episode)
    return stage_output(
        "script", naos, Script, inputs={"outline": outline_sha, "project": proj.sha256()}, params={},
        code_version=GENERATOR, compute=lambda: write_script(proj, outline, episode, outline_sha),
    )
