"""Audio stage: voice-over before the timing lock (shots are sized to real speech), the mix after it, recording
packets, and the season audiobook."""

import tempfile
from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Failure,
    MetadataValue,
    Output,
    asset,
)

from engines.audio import tts
from engines.audio.audiobook import write_m4b
from engines.audio.casting import CastingError
from engines.audio.episode import MIX_VERSION, episode_length_s, mix_episode
from engines.audio.mix import SlotError
from engines.audio.packets import PACKET_VERSION
from engines.audio.packets import recording_packet as make_packet
from engines.audio.voice import VOICE_VERSION, cast_params, check_voices, script_scenes, season_context
from engines.audio.voice import cast as make_cast
from engines.audio.voice import voice_over as make_voice_over
from engines.film import MUSIC_BED
from resources import NaosHome, NaosProject
from schemas import (
    AudiobookChapter,
    EpisodeAudio,
    FileRef,
    RecordingPacket,
    RenderOutput,
    RenderPlan,
    Script,
    SeasonAudiobook,
    ShotList,
    VoiceOver,
)

from ..figures import hit_rate, listening_figures, loudness_figures
from ..media.files import asset_path
from ..partitions import episodes
from ..queues import CPU_QUEUE, LOCAL_AI_QUEUE, on_queue
from ..sources import PROJECT_FILE
from ..stage import EXIT_BAD_INPUT, EXIT_PIPELINE_FAILED, bad_input, stage_output
from .listening import (
    LISTENING_CHECK,
    listening_check,
    listening_params,
    listening_rows,
    voice_switches,
    voice_warnings,
)

SEASON_VERSION = "season-m4b@1"


@asset(partitions_def=episodes, io_manager_key="registry", code_version=VOICE_VERSION, group_name="episode", **on_queue(LOCAL_AI_QUEUE),
       kinds={"audio"}, deps=[AssetDep("canon_gate"), AssetDep("canon_diff_approval"), AssetDep(PROJECT_FILE)],
       description="Every script line spoken in its character's cast voice (Kokoro, else flite, else espeak-ng) and "
                   "heard back by a local speech recognizer (the listening test). The shots are timed to these takes; "
                   "a take is reused while its text, voice, delivery and engine stay the same.",
       check_specs=[AssetCheckSpec(LISTENING_CHECK, asset="voice_over", partitions_def=episodes,
                                   description="Listening test: every take transcribed by Whisper base; warns when a "
                                               "line's word error rate is above audio.listening_test.max_wer and "
                                               "names the misheard words (add a pronunciation)")])
def voice_over(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, script: Script):
    with bad_input():
        proj = project.load()
        check_voices(proj, project.project_file)
        outlines = {ep.id: project.outline(proj, ep.id)[0] for ep in proj.episodes}
    registry = naos.registry()
    together, earlier = season_context(proj, outlines, script.episode_id)
    force, listening = voice_switches()
    if not tts.available():
        context.log.warning(tts.INSTALL_HINT)

    def cached(key: str) -> bytes | None:
        sha = registry.cache_get(key)
        return None if sha is None else registry.get_bytes(sha)

    def store(key: str, blob: bytes) -> str:
        sha = registry.put_bytes(blob)
        registry.cache_put(key, sha, "voice_over/take")
        return sha

    def record(take) -> None:  # the take's registry record names who spoke it: engine, version, model, voice
        registry.put_record("voice_over/take", script.episode_id, take.sha256, schema_version=None,
                            parents={"script": script.sha256()}, code_version=VOICE_VERSION, media_type="audio/wav",
                            params=take.model_dump(include={"line_id", "speaker_id", "emotion", "engine",
                                                            "engine_version", "model", "voice", "speed", "spoken"}),
                            run_id=context.run.run_id)

    try:
        cast = cast_params(make_cast(proj, [*together, *script_scenes(script)], force_engine=force)) \
            if tts.available() else {}
    except CastingError as exc:
        raise Failure(description=f"casting: {exc}", allow_retries=False,
                      metadata={"naos/exit_code": EXIT_BAD_INPUT}) from None
    params = {"cast": cast, "narration": proj.audio.narration, "listening": listening_params(proj, listening),
              "pronunciations": {w: p.model_dump() for w, p in sorted(proj.pronunciations.items())},
              "earlier_names": earlier}
    out = stage_output(
        "voice_over", naos, VoiceOver, inputs={"script": script.sha256()}, params=params, code_version=VOICE_VERSION,
        compute=lambda: make_voice_over(script, proj, cached, store, together=together,
                                        force_engine=force, listening=listening, earlier_names=earlier,
                                        record=record),
        describe=lambda v: {"engine": v.engine, "takes": len(v.takes), "voiced": v.voiced,
                            "speech_s": round(sum(t.duration_s for t in v.takes), 2),
                            "cast": ", ".join(f"{k}={c}" for k, c in v.cast.items()) or "none",
                            **listening_figures(v),
                            "naos/listening": MetadataValue.json(listening_rows(v)),
                            "naos/warnings": MetadataValue.json(voice_warnings(v))},
    )
    yield out
    for warning in out.value.warnings:
        context.log.warning(warning)
    yield listening_check(out.value)


@asset(partitions_def=episodes, io_manager_key="registry", code_version=PACKET_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"json", "csv"}, deps=[AssetDep("shotlist_timing_lock")],
       description="Recording packet: every line by speaker with its id, text, emotion, target "
                                          "duration and scene, for human voice actors (JSON; `naos render` adds CSV).")
def recording_packet(context: AssetExecutionContext, naos: NaosHome, shot_list: ShotList) -> Output[RecordingPacket]:
    return stage_output(
        "recording_packet", naos, RecordingPacket, inputs={"shot_list": shot_list.sha256()}, params={},
        code_version=PACKET_VERSION, compute=lambda: make_packet(shot_list),
        describe=lambda v: {"lines": len(v.lines), "speakers": len({ln.speaker_id for ln in v.lines})},
    )


@asset(deps=[PROJECT_FILE], partitions_def=episodes, io_manager_key="registry", code_version=MIX_VERSION, group_name="episode", **on_queue(CPU_QUEUE),
       kinds={"audio"}, description="The episode's soundtrack: each take fitted to its shot, music ducked under the "
                                    "dialogue, sound effects, mixed scene by scene and brought to the project's "
                                    "loudness target. The finished episode and its audiobook carry it.")
def episode_audio(context: AssetExecutionContext, project: NaosProject, naos: NaosHome, shot_list: ShotList,
                  voice_over: VoiceOver, render_plan: RenderPlan) -> Output[EpisodeAudio]:
    with bad_input():
        proj = project.load()
    registry = naos.registry()
    bed = next((a for a in render_plan.assets if a.asset_id == MUSIC_BED and a.status == "resolved"), None)
    library = project.library(proj)
    music = asset_path(bed, library, registry)  # library or registry (a plugin's), verified against the plan's hash
    sfx = {a.asset_id.removeprefix("sfx:"): asset_path(a, library, registry)
           for a in render_plan.assets if a.kind == "sfx" and a.status == "resolved"}
    inputs = {"shot_list": shot_list.sha256(), "voice_over": voice_over.sha256(), "render_plan": render_plan.sha256()}
    params = {"target_lufs": proj.audio.loudness_lufs, "true_peak_db": proj.audio.true_peak_db}
    segments = {"hits": 0, "misses": 0}  # scene segments of the mix found in the registry's cache, or mixed

    class Segments:  # the engine's SegmentCache over the registry: cache key -> WAV object
        def get(self, key: str) -> bytes | None:
            sha = registry.cache_get(key)
            segments["hits" if sha is not None else "misses"] += 1
            return None if sha is None else registry.get_bytes(sha)

        def put(self, key: str, wav: bytes) -> None:
            registry.cache_put(key, registry.put_bytes(wav), "episode_audio/segment")

    def compute() -> EpisodeAudio:
        try:
            wav, placements, loudness = mix_episode(
                shot_list, voice_over, registry.get_bytes, fps=render_plan.fps, music=music, sfx=sfx,
                target_lufs=proj.audio.loudness_lufs, true_peak_db=proj.audio.true_peak_db, cache=Segments())
        except SlotError as exc:
            raise Failure(description=f"QA: {exc}", allow_retries=False,
                          metadata={"naos/exit_code": EXIT_PIPELINE_FAILED, "shot_id": exc.shot_id,
                                    "line_id": exc.line_id}) from None
        sha = registry.put_bytes(wav)
        registry.put_record("episode_audio/mix", shot_list.episode_id, sha, schema_version=None, parents=inputs,
                            params=params, code_version=MIX_VERSION, media_type="audio/wav", run_id=context.run.run_id)
        return EpisodeAudio.new(
            episode_id=shot_list.episode_id, timing_lock_hash=shot_list.timing_lock_hash,
            mix=FileRef(uri=f"registry:{sha}", sha256=sha, bytes=len(wav), media_type="audio/wav"),
            duration_s=round(episode_length_s(shot_list, render_plan.fps), 3), target_lufs=params["target_lufs"],
            true_peak_target_db=params["true_peak_db"], loudness=loudness, music_bed=bed.uri if bed else None,
            placements=placements)

    return stage_output(
        "episode_audio", naos, EpisodeAudio, inputs=inputs, params=params, code_version=MIX_VERSION, compute=compute,
        describe=lambda v: {"lines": len(v.placements), "music_bed": v.music_bed or "none", "sfx": ", ".join(sfx) or "none",
                            "duration_s": v.duration_s, **loudness_figures(v),
                            "segment_hits": segments["hits"], "segment_misses": segments["misses"],
                            **hit_rate("segment_hit_rate", segments["hits"], segments["hits"] + segments["misses"])},
    )


@asset(io_manager_key="registry", code_version=SEASON_VERSION, group_name="season", **on_queue(CPU_QUEUE), kinds={"audio"},
       deps=[AssetDep("render_output", partition_mapping=AllPartitionMapping()), AssetDep(PROJECT_FILE)],
       description="The whole season as one .m4b audiobook with a chapter per episode, made from the episodes' own "
                   "audiobooks once every episode is rendered (`naos audiobook`, or the season_m4b job).")
def season_audiobook(context: AssetExecutionContext, project: NaosProject, naos: NaosHome) -> Output[SeasonAudiobook]:
    with bad_input():
        proj = project.load()
    registry = naos.registry()
    outputs = {}
    for ep in proj.episodes:
        ref = registry.get_ref("render_output", ep.id)
        outputs[ep.id] = None if ref is None else RenderOutput.model_validate_json(registry.get_bytes(ref["sha256"]))
    missing = [e for e, out in outputs.items() if out is None or out.audiobook is None]
    if missing:
        raise Failure(description=f"the season audiobook needs every episode rendered; not yet: {', '.join(missing)} "
                                  f"(`naos render --episode <id>` each, or a backfill of render_episode)",
                      metadata={"naos/exit_code": EXIT_PIPELINE_FAILED, "missing": ", ".join(missing)},
                      allow_retries=False)
    inputs = {e: out.audiobook.sha256 for e, out in outputs.items()}

    def compute() -> SeasonAudiobook:
        with tempfile.TemporaryDirectory(dir=naos.scratch()) as tmp:
            m4b = write_m4b([(e, registry.path(sha)) for e, sha in inputs.items()], Path(tmp) / "season.m4b",
                            title=proj.title, artist="NAOS")
            sha = registry.put_file(m4b)
            size = m4b.stat().st_size
        chapters, start = [], 0.0
        for e, out in outputs.items():
            chapters.append(AudiobookChapter(title=e, start_s=round(start, 3), end_s=round(start + out.duration_s, 3)))
            start += out.duration_s
        return SeasonAudiobook.new(project_id=proj.id, title=proj.title, episodes=list(inputs),
                                   m4b=FileRef(uri=f"registry:{sha}", sha256=sha, bytes=size, media_type="audio/mp4"),
                                   chapters=chapters)

    return stage_output("season_audiobook", naos, SeasonAudiobook, inputs=inputs, params={"title": proj.title},
                        code_version=SEASON_VERSION, compute=compute,
                        describe=lambda v: {"episodes": len(v.episodes), "m4b_sha256": v.m4b.sha256,
                                            "duration_s": v.chapters[-1].end_s if v.chapters else 0.0})
