"""Writing engine (§7): story arc -> episode plans -> scripts, from context packs only. No Dagster here."""

from .context import CONTEXT_VERSION, build_context_pack, past_passages
from .inputs import library_root, load_outline, load_project, outline_path
from .plan import PLANNER, load_story_arc, plan_episode
from .season import EpisodeCheck, check_season, plan_season
from .template import GENERATOR, check_outline, write_script

__all__ = ["CONTEXT_VERSION", "GENERATOR", "PLANNER", "EpisodeCheck", "build_context_pack", "check_outline",
           "check_season", "library_root", "load_outline", "load_project", "load_story_arc", "outline_path",
           "past_passages", "plan_episode", "plan_season", "write_script"]
