"""Publish (seed 004 §15, §25.4; seed 000 one-way publish): the last gate, then the episode's files leave NAOS.

Publish is blocked (exit 3) by any failed quality gate, or by the rights gate: an asset with an unknown licence, or one
not cleared for redistribution. Only the rights gate can be overridden, with `rights_override` and an approver id; the
override is recorded in the PublishRecord artifact. Files go to $NAOS_HOME/published/<project>/<episode>/.
"""

from pathlib import Path

from dagster import AssetExecutionContext, Config, DataVersion, Failure, MetadataValue, Output, asset

from engines.media import rights_gate
from resources import NaosHome, NaosProject
from schemas import PublishRecord, RenderOutput, RenderPlan, RightsOverride

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


@asset(partitions_def=episodes, io_manager_key="registry", code_version=PUBLISH_VERSION, group_name="publish", **on_queue(MEDIA_QUEUE),
       kinds={"json"}, description="One-way publish behind the quality and rights gates (§15, §25.4); an override of "
                                   "the rights gate records its approver in the PublishRecord.")
def publish(context: AssetExecutionContext, config: PublishConfig, project: NaosProject, naos: NaosHome,
            render_output: RenderOutput, render_plan: RenderPlan) -> Output[PublishRecord]:
    with bad_input():
        proj = project.load()
    if render_output.lineage.get("render_plan") != render_plan.sha256():
        raise Failure("the RenderOutput was not made from the current RenderPlan: re-render the episode first",
                      allow_retries=False)
    override = _override(config)
    rights = rights_gate(render_plan.assets, override)
    blocked = [f"quality gate {c.name}: {c.detail}" for c in render_output.quality_checks if not c.passed]
    if not rights.passed and override is None:
        blocked += [f"rights: {i.asset_id} ({i.license_type}): {i.problem}" for i in rights.issues]
    if blocked:
        hint = " (the rights gate can be overridden with rights_override and an approver id)" \
            if not rights.passed and override is None else ""
        raise Failure(f"publish of {render_output.episode_id} blocked: {'; '.join(blocked)}{hint}",
                      metadata={"naos/exit_code": EXIT_GATE_BLOCKED, "blocked_by": MetadataValue.json(blocked)},
                      allow_retries=False)
    if override is not None:
        context.log.warning(f"rights gate overridden by {override.approver}: "
                            + "; ".join(f"{i.asset_id}: {i.problem}" for i in rights.issues))
    registry = naos.registry()
    rel = Path("published") / proj.id / render_output.episode_id
    dest = Path(naos.naos_home) / rel
    files = {}
    for field, name in FILES.items():
        ref = getattr(render_output, field)
        if ref is not None:
            registry.export(ref.sha256, dest / name)  # atomic, verified against its hash
            files[field] = ref
    record = PublishRecord.new(episode_id=render_output.episode_id, render_output_sha256=render_output.sha256(),
                               files=files, rights=rights, quality_checks=render_output.quality_checks,
                               destination=rel.as_posix())
    tmp = dest / ".tmp-PublishRecord.json"
    tmp.write_bytes(record.canonical_bytes())
    tmp.replace(dest / "PublishRecord.json")  # written last: its presence says the folder is complete
    sha = record.sha256()
    return Output(record, data_version=DataVersion(sha), metadata={
        "naos/sha256": sha, "naos/code_version": PUBLISH_VERSION,
        "naos/parents": MetadataValue.json({"render_output": record.render_output_sha256,
                                            "render_plan": render_plan.sha256()}),
        "destination": rel.as_posix(), "rights_override": override.approver if override else "none",
    })
