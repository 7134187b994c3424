"""Publish (seed 004 §15, §25.4; seed 000 one-way publish): the last gate, then the episode's files leave NAOS.

Publishing is one-way, so it is not an asset anyone can "Materialize" from the asset graph: `publish` is an external
asset (it appears in the lineage after render_output, grey, with no Materialize button) that only the
`publish_episode` job reports, one episode partition at a time. "Materialize all" therefore renders and never
publishes; the job is launched on purpose (launchpad, `naos publish`).

Publish is blocked (exit 3) by any failed quality gate, or by the rights gate: an asset with an unknown licence, or one
not cleared for redistribution. Only the rights gate can be overridden, with `rights_override` and an approver id; the
override is recorded in the PublishRecord artifact. Files go to $NAOS_HOME/published/<project>/<episode>/.
"""

from pathlib import Path

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    AssetSpec,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    job,
    op,
)

from engines.media import rights_gate
from io_managers import load_artifact, site_id, store_artifact
from resources import NaosHome, NaosProject
from schemas import PublishRecord, RenderOutput, RenderPlan, RightsOverride

from ..executors import default_run_config, naos_executor
from ..partitions import episodes
from ..queues import MEDIA_QUEUE, on_queue
from ..stage import EXIT_BAD_INPUT, EXIT_GATE_BLOCKED, bad_input

PUBLISH_VERSION = "publish@1"
FILES = {"video": "episode.mp4", "captions": "episode.srt", "captions_vtt": "episode.vtt",
         "audiobook": "episode.m4a", "credits": "credits.txt"}


class PublishConfig(Config):
    rights_override: bool = False  # §25.4: publish despite the rights gate; needs an approver id
    approver: str = ""
    reason: str = ""


def _override(config: PublishConfig) -> RightsOverride | None:
    if not config.rights_override:
        return None
    if not config.approver.strip():
        raise Failure("rights_override needs an approver id (who takes responsibility for the assets' rights)",
                      metadata={"naos/exit_code": EXIT_BAD_INPUT, "field": "approver"}, allow_retries=False)
    return RightsOverride(approver=config.approver.strip(), reason=config.reason.strip())


publish = AssetSpec(
    "publish", deps=["render_output"], partitions_def=episodes, group_name="publish", kinds={"json"},
    code_version=PUBLISH_VERSION,
    description="The episode's files as published, one way (PublishRecord). Reported only by the publish_episode job, "
                "after the quality and rights gates; never part of \"Materialize all\".")


def _rendered_from(context: OpExecutionContext, episode: str) -> str | None:
    """The RenderPlan the latest render_output of `episode` was made from, as Dagster's lineage recorded it (the
    materialization's `naos/parents`; the artifact's bytes hold no parents)."""
    result = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("render_output"), asset_partitions=[episode]), limit=1)
    if not result.records:
        return None
    parents = result.records[0].asset_materialization.metadata.get("naos/parents")
    return (getattr(parents, "value", None) or {}).get("render_plan")


@op(name="publish", **on_queue(MEDIA_QUEUE, op=True),
    description="Checks the quality gates and the rights gate, then copies the episode's files to "
                "$NAOS_HOME/published.")
def publish_op(context: OpExecutionContext, config: PublishConfig, project: NaosProject, naos: NaosHome) -> None:
    episode = context.partition_key
    with bad_input():
        proj = project.load()
    registry = naos.registry()
    render_output = load_artifact(registry, "render_output", episode)
    render_plan = load_artifact(registry, "render_plan", episode)
    assert isinstance(render_output, RenderOutput) and isinstance(render_plan, RenderPlan)
    if _rendered_from(context, episode) != render_plan.sha256():
        raise Failure(f"the RenderOutput of {episode} was not made from its current RenderPlan: re-render the "
                      f"episode first", metadata={"naos/exit_code": EXIT_GATE_BLOCKED}, allow_retries=False)
    override = _override(config)
    rights = rights_gate(render_plan.assets, override)
    blocked = [f"quality gate {c.name}: {c.detail}" for c in render_output.quality_checks if not c.passed]
    if not rights.passed and override is None:
        blocked += [f"rights: {i.asset_id} ({i.license_type}): {i.problem}" for i in rights.issues]
    if blocked:
        hint = " (the rights gate can be overridden with rights_override and an approver id)" \
            if not rights.passed and override is None else ""
        raise Failure(f"publish of {episode} blocked: {'; '.join(blocked)}{hint}",
                      metadata={"naos/exit_code": EXIT_GATE_BLOCKED, "blocked_by": MetadataValue.json(blocked)},
                      allow_retries=False)
    if override is not None:
        context.log.warning(f"rights gate overridden by {override.approver}: "
                            + "; ".join(f"{i.asset_id}: {i.problem}" for i in rights.issues))
    rel = Path("published") / proj.id / episode
    dest = Path(naos.naos_home) / rel
    files = {}
    for field, name in FILES.items():
        ref = getattr(render_output, field)
        if ref is not None:
            registry.export(ref.sha256, dest / name)  # atomic, verified against its hash
            files[field] = ref
    record = PublishRecord.new(episode_id=episode, files=files, rights=rights,
                               quality_checks=render_output.quality_checks, destination=rel.as_posix())
    tmp = dest / ".tmp-PublishRecord.json"
    tmp.write_bytes(record.canonical_bytes())
    tmp.replace(dest / "PublishRecord.json")  # written last: its presence says the folder is complete
    parents = {"render_output": render_output.sha256(), "render_plan": render_plan.sha256()}
    sha = store_artifact(registry, "publish", episode, record, parents=parents, params={},
                         code_version=PUBLISH_VERSION, run_id=context.run_id)
    context.log_event(AssetMaterialization(asset_key="publish", partition=episode, metadata={
        "naos/sha256": sha, "naos/code_version": PUBLISH_VERSION, "naos/parents": MetadataValue.json(parents),
        "destination": MetadataValue.path(str(dest)), "video": MetadataValue.path(str(dest / FILES["video"])),
        "files": len(files), "rights_override": override.approver if override else "none"}))


@job(partitions_def=episodes, executor_def=naos_executor, config=default_run_config(), tags={"naos/site_id": site_id()},
     description="One-way publish of a rendered episode: the quality gates and the rights gate, then its files to "
                 "$NAOS_HOME/published/<project>/<episode>/ (reports the `publish` asset).")
def publish_episode():
    publish_op()
