"""Render stage: one step per shot (visible and retried alone in the UI), then the episode by stream copy.

`shot_clips` is a graph-backed asset: `plan_shot_steps` fans out one dynamic step per shot,
`render_shot_clip` encodes one clip (or reuses it from the registry by its render key), `collect_clips`
records the clip list as the asset's artifact. No shot partition dimension: a multi-partition would
be the full episodes x shots cross-product.
"""

import tempfile
from pathlib import Path
from time import perf_counter

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    DataVersion,
    DynamicOut,
    DynamicOutput,
    Failure,
    In,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    RetryPolicy,
    asset,
    graph_asset,
    op,
)

from engines.audio.audiobook import remux_m4a
from engines.audio.casting import NARRATOR
from engines.audio.episode import scene_chapters
from engines.audio.voice import credit_lines
from engines.media import credits_text, placeholders, rights_gate
from engines.video import (
    RENDERER_VERSION,
    RenderError,
    concat_clips,
    episode_cues,
    ffmpeg_version,
    render_end_card,
    render_shot,
    shot_asset_ids,
    shot_frames,
    shot_render_key,
    write_srt,
    write_vtt,
)
from engines.video.quality import QUALITY_GATES, QUALITY_VERSION, quality_checks
from resources import NaosHome, NaosProject
from schemas import (
    EpisodeAudio,
    FileRef,
    RenderOutput,
    RenderPlan,
    Shot,
    ShotClip,
    ShotClips,
    ShotList,
    VoiceOver,
    canonical_json,
    sha256_bytes,
)

from ..exports import export_metadata, export_to_home
from ..figures import clip_figures, quality_figures
from ..media.files import asset_path
from ..partitions import episodes
from ..queues import CPU_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import bad_input, stage_output

EPISODE_VERSION = "episode-concat@5"  # + credits (with the voices), the attribution end card and the rights gate
RIGHTS_CHECK = ("rights", "Every picture and sound in the episode has a known licence and may be redistributed "
                          "(blocks publish unless an approver overrides it).")


def end_card_seconds(lines: int) -> float:
    """Long enough to read: 4 s, plus 1 s for every attribution after the third."""
    return 4.0 + max(0, lines - 3) * 1.0


def _sha_json(data: dict) -> str:
    return sha256_bytes(canonical_json(data))


# `approved` (Nothing): the character pack checkpoint; when it pauses, no shot is drawn.
@op(ins={"approved": In(Nothing)}, out=DynamicOut(dict), **on_queue(None, op=True), description="One render step per shot of the locked ShotList.")
def plan_shot_steps(render_plan: RenderPlan, shot_list: ShotList):
    if render_plan.timing_lock_hash != shot_list.timing_lock_hash:
        raise Failure("RenderPlan and ShotList disagree on the timing lock: re-materialize the render plan")
    for shot in shot_list.shots:
        yield DynamicOutput({"shot": shot.model_dump(mode="json")}, mapping_key=shot.id)


@op(retry_policy=RetryPolicy(max_retries=2, delay=1), **on_queue(CPU_QUEUE, op=True),
    description="Encode one shot clip, or reuse it by render key.")
def render_shot_clip(context: OpExecutionContext, project: NaosProject, naos: NaosHome, step: dict,
                     render_plan: RenderPlan) -> dict:
    shot = Shot.model_validate(step["shot"])
    registry = naos.registry()
    key = shot_render_key(shot, render_plan)
    started = perf_counter()
    sha = registry.cache_get(key)
    hit = sha is not None
    frames = shot_frames(shot.duration_s, render_plan.fps)
    if sha is None:
        library = project.library(project.load())
        paths = {}
        for asset_id in shot_asset_ids(shot):  # only this shot's files: each is hashed to verify it
            path = asset_path(render_plan.asset(asset_id), library, registry)
            if path is not None:
                paths[asset_id] = path
        with tempfile.TemporaryDirectory(dir=naos.scratch()) as tmp:
            clip = Path(tmp) / f"{shot.id}.mp4"
            try:
                frames = render_shot(shot, render_plan, paths, clip)
            except RenderError as exc:
                raise _shot_failure(shot, render_plan, exc) from exc
            sha = registry.put_file(clip)
        registry.put_record("shot_clip", context.partition_key, sha, schema_version=None,
                            parents={"render_plan": render_plan.sha256(), "shot": _sha_json(step["shot"])},
                            params={"render_key": key}, code_version=RENDERER_VERSION, media_type="video/mp4",
                            run_id=context.run.run_id)
        registry.cache_put(key, sha, "shot_clip")
    context.log.info(f"shot {shot.id}: {'cache hit' if hit else 'rendered'} in {perf_counter() - started:.2f}s")
    return {"shot_id": shot.id, "sha256": sha, "frames": frames, "render_key": key, "cache_hit": hit,
            "seconds": round(perf_counter() - started, 3)}


def _shot_failure(shot: Shot, plan: RenderPlan, exc: RenderError) -> Failure:
    """Name the shot and the library files it read; ffmpeg's first complaint up front, its full tail as metadata."""
    lines = [ln.split("] ", 1)[-1] for ln in exc.stderr.splitlines() if ln.strip()]
    inputs = [f"{a.asset_id} = {a.uri}" for a in plan.assets if a.asset_id in shot_asset_ids(shot)]
    return Failure(
        description=f"shot {shot.id}: ffmpeg could not render it ({lines[0] if lines else exc.what}); "
                    f"its inputs: {'; '.join(inputs)}",
        metadata={"ffmpeg_stderr": MetadataValue.text(exc.stderr), "shot_id": shot.id},
    )


@op(out=Out(io_manager_key="registry"), **on_queue(None, op=True), description="Record the episode's clips, in shot order, as the shot_clips artifact.")
def collect_clips(context: OpExecutionContext, clips: list[dict], render_plan: RenderPlan,
                  shot_list: ShotList) -> Output[ShotClips]:
    order = {s.id: i for i, s in enumerate(shot_list.shots)}
    clips = sorted(clips, key=lambda c: order[c["shot_id"]])
    value = ShotClips.new(
        episode_id=shot_list.episode_id, timing_lock_hash=shot_list.timing_lock_hash,
        clips=[ShotClip(shot_id=c["shot_id"], sha256=c["sha256"], frames=c["frames"], render_key=c["render_key"])
               for c in clips],
    )
    hits = sum(c["cache_hit"] for c in clips)
    sha = value.sha256()
    return Output(value, data_version=DataVersion(sha), metadata={
        "naos/sha256": sha,
        "naos/parents": {"render_plan": render_plan.sha256(), "shot_list": shot_list.sha256()},
        "naos/code_version": RENDERER_VERSION,
        "naos/shot_cache": {c["shot_id"]: c["cache_hit"] for c in clips},
        "shot_cache_hits": hits,
        "shot_cache_misses": len(clips) - hits,
        **clip_figures(clips, render_plan.fps),  # shots, duration_s, shot_cache_hit_rate, naos/seconds
    })


@graph_asset(
    partitions_def=episodes, group_name="episode", kinds={"mp4", "ffmpeg"}, code_version=RENDERER_VERSION,
    ins={"render_plan": AssetIn(), "shot_list": AssetIn(),
         "character_pack_approval": AssetIn(dagster_type=Nothing)},
    description="The episode's shots as silent video clips, one render step per shot (each retried on its own); a "
                "shot whose inputs are unchanged reuses its clip from the cache. render_output joins them.",
)
def shot_clips(render_plan: RenderPlan, shot_list: ShotList, character_pack_approval):
    steps = plan_shot_steps(render_plan, shot_list, approved=character_pack_approval)
    clips = steps.map(lambda step: render_shot_clip(step, render_plan))
    return collect_clips(clips.collect(), render_plan, shot_list)


# §15 quality gates as Dagster asset checks beside the asset: a failing gate warns (it blocks publish, not preview).
@asset(deps=[PROJECT_FILE], partitions_def=episodes, io_manager_key="registry", code_version=EPISODE_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"video"}, description="The finished episode: the mp4 (the clips joined, with the mix), SRT and WebVTT "
                                    "captions, an .m4a audiobook with a chapter per scene, the credits, and the "
                                    "quality and rights checks that gate publishing.",
       check_specs=[AssetCheckSpec(name, asset="render_output", description=text, partitions_def=episodes)
                    for name, text in (*QUALITY_GATES.items(), RIGHTS_CHECK)])
def render_output(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, shot_clips: ShotClips,
                  shot_list: ShotList, render_plan: RenderPlan, episode_audio: EpisodeAudio, voice_over: VoiceOver):
    registry = naos.registry()
    with bad_input():
        proj = project.load()
    episode = shot_list.episode_id
    # the voice-over is read for the credits (who spoke, on which engine): an input like the others
    inputs = {"shot_clips": shot_clips.sha256(), "shot_list": shot_list.sha256(), "render_plan": render_plan.sha256(),
              "episode_audio": episode_audio.sha256(), "voice_over": voice_over.sha256()}
    params = {"title": proj.title, "window": proj.target_duration_s.model_dump(), "quality": QUALITY_VERSION}

    def keep(name: str, path: Path, media_type: str) -> FileRef:
        sha = registry.put_file(path)
        registry.put_record(f"render_output/{name}", context.partition_key, sha, schema_version=None, parents=inputs,
                            params={}, code_version=EPISODE_VERSION, media_type=media_type, run_id=context.run.run_id)
        return FileRef(uri=f"registry:{sha}", sha256=sha, bytes=path.stat().st_size, media_type=media_type)

    rights = rights_gate(render_plan.assets)

    def build() -> RenderOutput:
        cues = episode_cues(shot_list, fps=render_plan.fps, label=render_plan.captions.speaker_labels)
        with tempfile.TemporaryDirectory(dir=naos.scratch()) as tmp:
            tmpdir = Path(tmp)
            mix = registry.path(episode_audio.mix.sha256)
            clips = [registry.path(c.sha256) for c in shot_clips.clips]
            # the end card: the series and the episode, then any CC-BY credits (§25: shown on screen)
            episode_title = shot_list.shots[0].title[-1] if shot_list.shots[0].title else episode
            lines = [episode_title, *(["", "Credits", *rights.attributions] if rights.attributions else [])]
            card_frames = render_end_card(proj.title, lines, end_card_seconds(len(rights.attributions)),
                                          render_plan, tmpdir / "end_card.mp4")
            clips.append(tmpdir / "end_card.mp4")
            info = concat_clips(clips, tmpdir / "episode.mp4", render_plan, audio_path=mix)
            names = {c.id: c.name for c in proj.characters} | {NARRATOR: "Narrator"}
            (tmpdir / "credits.txt").write_text(credits_text(proj.title, episode, render_plan.assets,
                                                             credit_lines(voice_over, names)), encoding="utf-8")
            write_srt(cues, tmpdir / "episode.srt")
            write_vtt(cues, tmpdir / "episode.vtt")
            remux_m4a(tmpdir / "episode.mp4", tmpdir / "episode.m4a", chapters=scene_chapters(shot_list, render_plan.fps),
                      title=f"{proj.title} {episode}", album=proj.title, artist="NAOS",
                      track=int(episode[-2:]) if episode[-2:].isdigit() else None)
            refs = {name: keep(name, tmpdir / file, media_type) for name, file, media_type in (
                ("video", "episode.mp4", "video/mp4"), ("captions", "episode.srt", "application/x-subrip"),
                ("captions_vtt", "episode.vtt", "text/vtt"), ("audiobook", "episode.m4a", "audio/mp4"),
                ("credits", "credits.txt", "text/plain"))}
        frames = sum(c.frames for c in shot_clips.clips) + card_frames
        duration = round(frames / render_plan.fps, 3)
        flagged = placeholders(render_plan.assets)
        return RenderOutput.new(
            episode_id=episode, profile=render_plan.profile, video=refs["video"], captions=refs["captions"],
            captions_vtt=refs["captions_vtt"], audio=episode_audio.mix, audiobook=refs["audiobook"],
            duration_s=duration, frames=frames, shot_clips=shot_clips.clips, placeholders=flagged,
            provenance={"renderer": RENDERER_VERSION, "episode": EPISODE_VERSION, "ffmpeg": ffmpeg_version(),
                        "compute_origin": "local", "measured_duration_s": f"{info.duration_s:.3f}"},
            quality_checks=quality_checks(cues, episode_audio, duration, proj.target_duration_s, flagged,
                                          render_plan.assets),
            credits=refs["credits"], end_card_s=round(card_frames / render_plan.fps, 3), rights=rights,
        )

    out = stage_output(
        "render_output", naos, RenderOutput, inputs=inputs, params=params, code_version=EPISODE_VERSION,
        compute=build,
        describe=lambda v: {"video_sha256": v.video.sha256, "duration_s": v.duration_s,
                            "placeholders": ", ".join(v.placeholders) or "none",
                            "attributions": len(v.rights.attributions) if v.rights else 0},
    )
    # the episode's files to $NAOS_HOME/out/<episode>/ (a cache hit too), their paths shown in the UI
    exported = export_to_home(registry, naos.naos_home, context.partition_key, run_id=context.run.run_id,
                              values={"shot_list": shot_list, "render_plan": render_plan,
                                      "episode_audio": episode_audio, "render_output": out.value})
    context.log.info(f"exported to {exported.folder}" if exported.written else f"{exported.folder} is up to date")
    out = out.with_metadata({**out.metadata, **export_metadata(exported)})
    yield out
    # what each gate measured, as numbers the Checks tab plots (a cache hit too: the cues are recomputed, cheaply)
    figures = quality_figures(out.value, episode_audio, episode_cues(
        shot_list, fps=render_plan.fps, label=render_plan.captions.speaker_labels))
    for check in out.value.quality_checks:
        yield AssetCheckResult(
            check_name=check.name, passed=check.passed, severity=AssetCheckSeverity.WARN,
            metadata={"detail": check.detail, **figures.get(check.name, {})})
    issues = out.value.rights.issues if out.value.rights else []
    yield AssetCheckResult(
        check_name=RIGHTS_CHECK[0], passed=not issues, severity=AssetCheckSeverity.WARN,
        metadata={"detail": "; ".join(f"{i.asset_id}: {i.problem}" for i in issues) or "all cleared",
                  **figures[RIGHTS_CHECK[0]]})
