"""Narrative stage (§4, §7): Story Arc -> Episode Plan. An author's outline, when present, wins."""

from dagster import AssetExecutionContext, Output, asset

from engines.writing import PLANNER, plan_episode
from resources import NaosHome, NaosProject
from schemas import EpisodePlan, StoryArc

from ..partitions import episodes
from ..queues import LOCAL_AI_QUEUE, on_queue
from ..sources import ARC_FILE, OUTLINE_FILE, PROJECT_FILE
from ..stage import bad_input, stage_output


@asset(deps=[PROJECT_FILE, ARC_FILE], io_manager_key="registry", code_version=PLANNER, group_name="season_plan", **on_queue(LOCAL_AI_QUEUE), kinds={"json"},
       description="The season's story arcs and the beat each episode covers, read from the project's arc file "
                   "(empty when the project has none). Each episode's plan starts from it.")
def story_arc(context: AssetExecutionContext, project: NaosProject, naos: NaosHome) -> Output[StoryArc]:
    with bad_input():
        proj = project.load()
        arc, arc_sha = project.story_arc(proj)
    return stage_output(
        "story_arc", naos, StoryArc, inputs={"arc": arc_sha or "none"}, params={"project_title": proj.title},
        code_version=PLANNER, compute=lambda: arc or StoryArc.new(title=proj.title),
        describe=lambda v: {"arcs": len(v.arcs), "beats": sum(len(a.beats) for a in v.arcs)},
    )


@asset(deps=[PROJECT_FILE, ARC_FILE, OUTLINE_FILE], partitions_def=episodes, io_manager_key="registry", code_version=PLANNER, group_name="episode", **on_queue(LOCAL_AI_QUEUE),
       kinds={"json"}, description="What happens in the episode, scene by scene: the author's outline when there is "
                                   "one, else the season arc's beat for the episode, expanded. The canon and script "
                                   "stages read it.")
def episode_plan(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
                 story_arc: StoryArc) -> Output[EpisodePlan]:
    episode = context.partition_key
    with bad_input():
        proj = project.load()
        outline, outline_sha = project.outline(proj, episode)
        arc_sha = story_arc.sha256() if story_arc.arcs else None
        plan = plan_episode(proj, project.project_file, episode, outline, outline_sha, story_arc, arc_sha)
    return stage_output(
        "episode_plan", naos, EpisodePlan, inputs={"plan": plan.sha256()}, params={}, code_version=PLANNER,
        compute=lambda: plan,
        describe=lambda v: {"source": v.source, "arc": v.arc_id or "", "arc_end": v.arc_end, "scenes": len(v.scenes)},
    )
