"""Canon stage (§6): CanonDiff proposal, canon snapshot, context pack, and the Canon Gate.

canon_snapshot reads the Canon Store rather than taking diffs as inputs: the canon of episode N folds the approved
diffs of the episodes before N, and Dagster has no "earlier partitions" mapping. Its one upstream is the observable
source `canon_before` (naos_assets/canon/ledger.py), whose version per episode is the hash of what the earlier
episodes put in the store: a snapshot is stale exactly when what it folds changed, and never for a later episode.
"""

from dagster import AssetExecutionContext, Failure, MetadataValue, Output, asset

from engines.canon import (
    CANON_VERSION,
    GATE_VERSION,
    INITIAL_CANON_FIELDS,
    PROPOSER_VERSION,
    CanonDiffError,
    check_episode,
    describe_contradiction,
    fold,
    gate_report,
    initial_canon,
    propose_diff,
)
from engines.writing import CONTEXT_VERSION, build_context_pack, past_passages
from engines.writing.context import recall_query
from resources import NaosHome, NaosProject
from schemas import (
    Canon,
    CanonDiff,
    ContextPack,
    EpisodePlan,
    GateReport,
    RecallHit,
    Script,
    canonical_json,
    sha256_bytes,
)

from ..partitions import episodes
from ..queues import CPU_QUEUE, LOCAL_AI_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import EXIT_BAD_INPUT, EXIT_GATE_BLOCKED, EXIT_PIPELINE_FAILED, bad_input, stage_output
from .ledger import CANON_BEFORE, report_canon_before

RECALL_K = 3
AUTO_APPROVER = "auto: human_checkpoints.approve_canon_diff is off"


def _report_ledger(context: AssetExecutionContext, store, proj) -> None:
    """The store changed: record `canon_before` of the later episodes now, before any of their snapshots runs."""
    report_canon_before(context.instance, store, proj.id, [e.id for e in proj.episodes], log=context.log_event)


def _diff_error(exc: CanonDiffError) -> Failure:
    return Failure(description=f"bad CanonDiff: {exc}", allow_retries=False,
                   metadata={"naos/exit_code": EXIT_BAD_INPUT, "episode": exc.episode_id, "field": exc.field})


@asset(deps=[PROJECT_FILE], partitions_def=episodes, io_manager_key="registry", code_version=PROPOSER_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json"}, description="The changes the episode proposes to the story's canon (facts added, changed or "
                                   "removed), drawn from the plan's new facts and who appears in each scene. Pending "
                                   "until the canon gate passes it and, if the project asks, a reviewer approves it.")
def canon_diff(context: AssetExecutionContext, project: NaosProject, naos: NaosHome,
               episode_plan: EpisodePlan) -> Output[CanonDiff]:
    with bad_input():
        relations = project.load().world.relations
    out = stage_output(
        "canon_diff", naos, CanonDiff, inputs={"episode_plan": episode_plan.sha256()},
        params={"relations": sorted(relations)}, code_version=PROPOSER_VERSION,
        compute=lambda: propose_diff(episode_plan, relations=relations),
        describe=lambda v: {"added": len(v.added_facts), "modified": len(v.modified_facts),
                            "removed": len(v.removed_facts)},
    )
    store = naos.canon_store()
    # the plan is the store's record, not the diff's: recall reads the episode's current plan from there
    store.record_diff(out.value, episode_plan=episode_plan.sha256(), proposer=PROPOSER_VERSION)
    _report_ledger(context, store, project.load())
    return out


@asset(partitions_def=episodes, io_manager_key="registry", code_version=CANON_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json", "duckdb"}, deps=[PROJECT_FILE, CANON_BEFORE],
       description="The story's canon (what is true of its characters, places and things) as the episode starts: the "
                   "project's initial canon with every earlier episode's approved changes applied. The context pack "
                   "and the canon gate read it.")
def canon_snapshot(context: AssetExecutionContext, project: NaosProject, naos: NaosHome) -> Output[Canon]:
    episode = context.partition_key
    with bad_input():
        proj = project.load()
    order = [e.id for e in proj.episodes]
    earlier = order[:order.index(episode)]
    store = naos.canon_store()
    latest = store.latest_diffs(proj.id)
    # An earlier diff the gate has not judged yet (none recorded, or only proposed, e.g. in a concurrent backfill)
    # would silently leave canon out: stop instead, and say what to run.
    reviewed = store.reviewed(proj.id)
    missing = [e for e in earlier if e not in latest or latest[e][0].sha256() not in reviewed]
    if missing:
        raise Failure(
            description=f"the canon of {episode} folds the CanonDiffs of the episodes before it, and "
                        f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} not been through the Canon "
                        f"Gate yet: materialize canon_gate for {'it' if len(missing) == 1 else 'them'} first, in "
                        f"episode order (`naos render` does this by itself)",
            metadata={"naos/exit_code": EXIT_PIPELINE_FAILED, "missing": ", ".join(missing)}, allow_retries=False)
    diffs = [latest[e][0].model_copy(update={"approval_status": latest[e][1]}) for e in earlier]
    statuses = {d.episode_id: d.approval_status for d in diffs}
    for ep, status in statuses.items():
        if status != "approved":
            context.log.warning(f"the CanonDiff of {ep} is {status}: the canon of {episode} does not include it")
    # what the fold reads: the earlier diffs (content and review status) and the project's initial canon, nothing
    # else of the project (a human checkpoint's flag or a voice is not canon)
    inputs = {"project": proj.fields_sha256(*INITIAL_CANON_FIELDS),
              **{f"diff:{d.episode_id}": d.sha256() for d in diffs}}
    try:
        out = stage_output(
            "canon_snapshot", naos, Canon, inputs=inputs, params={"as_of": episode, "earlier": earlier},
            code_version=CANON_VERSION,
            compute=lambda: fold(initial_canon(proj), diffs, order, episode),
            describe=lambda v: {"diffs_folded": len(v.applied_diffs),
                                "diff_status": MetadataValue.json(statuses)},
        )
    except CanonDiffError as exc:
        raise _diff_error(exc) from None
    store.save_snapshot(out.value)
    return out


def _recall_corpus(naos: NaosHome, plan: EpisodePlan, order: list[str]) -> list[tuple[str, int, str, str]]:
    """(episode, its index, scene, text) of every scene recall may return for `plan`: the current plans of the earlier
    episodes whose CanonDiff is approved (the plan each came from is the Canon Store's record, not the diff's)."""
    registry, store = naos.registry(), naos.canon_store()
    latest = store.latest_diffs(plan.project_id)
    corpus = []
    for ep in order[:order.index(plan.episode_id)]:
        if ep not in latest or latest[ep][1] != "approved":
            continue
        ref = registry.get_ref("episode_plan", ep)  # a Canon Store from before it kept plans: the latest plan
        sha = store.episode_plan(plan.project_id, ep) or (ref["sha256"] if ref else None)
        if sha is None or not registry.has(sha):
            continue
        past = EpisodePlan.model_validate_json(registry.get_bytes(sha))
        corpus += [(ep, order.index(ep), scene_id, text) for scene_id, text in past_passages(past)]
    return corpus


def _recall(naos: NaosHome, plan: EpisodePlan, order: list[str],
            corpus: list[tuple[str, int, str, str]]) -> tuple[list[RecallHit], str]:
    """Top-k scenes of the corpus, by meaning. Colour only, never truth."""
    from engines.recall import MODEL, Passage

    index = naos.recall_index()
    index.add([Passage(project_id=plan.project_id, episode_id=ep, episode_index=i, scene_id=scene_id, text=text)
               for ep, i, scene_id, text in corpus])
    hits = index.top_k(plan.project_id, recall_query(plan), RECALL_K, order.index(plan.episode_id))
    return [RecallHit(episode_id=h.episode_id, scene_id=h.scene_id, text=h.text, score=h.score) for h in hits], MODEL


@asset(deps=[PROJECT_FILE], partitions_def=episodes, io_manager_key="registry", code_version=CONTEXT_VERSION, group_name="episode", **on_queue(LOCAL_AI_QUEUE),
       kinds={"json"}, description="What the script writer is given: the part of the canon the episode touches, past "
                                   "events, the previous episode's summary, open threads, and similar scenes recalled "
                                   "from earlier episodes.")
def context_pack(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, canon_snapshot: Canon,
                 episode_plan: EpisodePlan) -> Output[ContextPack]:
    with bad_input():
        proj = project.load()
    order = [e.id for e in proj.episodes]
    corpus = _recall_corpus(naos, episode_plan, order) if canon_snapshot.applied_diffs else []

    def compute() -> ContextPack:
        hits, model = _recall(naos, episode_plan, order, corpus) if canon_snapshot.applied_diffs else ([], None)
        return build_context_pack(canon_snapshot, episode_plan, hits, model)

    # Recall reads the earlier episodes' scenes: their text is an input, so an edited line there is seen (the canon's
    # hash no longer changes with it); when what is recalled stays the same, so do the pack's bytes.
    inputs = {"canon": canon_snapshot.sha256(), "episode_plan": episode_plan.sha256(),
              "recall_corpus": sha256_bytes(canonical_json(corpus))}
    return stage_output(
        "context_pack", naos, ContextPack, inputs=inputs, params={"k": RECALL_K},
        code_version=CONTEXT_VERSION, compute=compute,
        describe=lambda v: {"characters": len(v.characters), "open_promises": len(v.open_promises),
                            "recalled": len(v.recalled)},
    )


@asset(deps=[PROJECT_FILE], partitions_def=episodes, io_manager_key="registry", code_version=GATE_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json"}, description="The canon gate's verdict: whether the script or the proposed canon changes "
                                   "contradict the canon so far. A blocked episode stops here; nothing after it runs.")
def canon_gate(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, script: Script,
               canon_snapshot: Canon, canon_diff: CanonDiff, episode_plan: EpisodePlan) -> Output[GateReport]:
    with bad_input():
        proj = project.load()
    try:
        result = check_episode(canon_snapshot, script, canon_diff, continuity_mode=proj.continuity_mode,
                               arc_end=episode_plan.arc_end)
    except CanonDiffError as exc:
        raise _diff_error(exc) from None
    store = naos.canon_store()
    diff_sha = store.record_diff(canon_diff)
    for warning in result.warnings:
        context.log.warning(describe_contradiction(warning))
    history = store.status_history(proj.id, script.episode_id, diff_sha)
    current = history[-1].status if history else None
    by_person = len(history) > 1 and history[-1].approver not in ("canon_gate", AUTO_APPROVER)
    if result.status == "blocked":
        if current != "rejected":
            store.set_status(proj.id, script.episode_id, diff_sha, "rejected", approver="canon_gate",
                             note=f"{len(result.errors)} contradiction(s), {len(result.warnings)} warning(s)")
        _report_ledger(context, store, proj)
        found = [*result.errors, *(result.warnings if proj.continuity_mode == "strict" else [])]
        raise Failure(
            description=f"Canon Gate blocked {script.episode_id}: {len(found)} contradiction(s)\n"
                        + "\n".join(f"  - {describe_contradiction(c)}" for c in found),
            metadata={"naos/exit_code": EXIT_GATE_BLOCKED,
                      "contradictions": MetadataValue.json([c.model_dump(mode="json") for c in found])},
            allow_retries=False,
        )
    if not proj.human_checkpoints.approve_canon_diff:
        if current != "approved":
            store.set_status(proj.id, script.episode_id, diff_sha, "approved", approver=AUTO_APPROVER)
    elif not by_person and (len(history) <= 1 or current == "rejected"):  # a person's verdict stands
        store.set_status(proj.id, script.episode_id, diff_sha, "pending", approver="canon_gate",
                         note="passed the Canon Gate; awaiting approval (human_checkpoints.approve_canon_diff)")
    status = store.diff_status(proj.id, script.episode_id, diff_sha) or "pending"
    _report_ledger(context, store, proj)
    report = gate_report(canon_snapshot, script, canon_diff, result, continuity_mode=proj.continuity_mode)
    report = report.model_copy(update={"approval_status": status})
    return stage_output(
        "canon_gate", naos, GateReport, inputs={"report": report.sha256()}, params={}, code_version=GATE_VERSION,
        compute=lambda: report,
        describe=lambda v: {"status": v.status, "warnings": len(v.warnings), "approval_status": v.approval_status},
    )
