"""Pipeline artifacts (§5.2–5.9, §16, §21): what each stage writes to the artifact registry."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Artifact, NaosModel

Framing = Literal["establishing", "wide", "medium", "two_shot", "over_shoulder", "close_up"]
Pose = Literal["standing", "lying", "turned_away"]
Movement = Literal["static", "pan_left", "pan_right", "push_in", "ken_burns"]
Profile = Literal["preview_local", "standard_local", "hq_providerX"]
TimeOfDay = Literal["day", "dawn", "dusk", "night"]


# ---- §5.5 Script: scenes, dialogue with speaker ids, actions, emotion tags; no camera ------------


class ScriptElement(NaosModel):
    kind: Literal["action", "dialogue"]
    text: str
    speaker_id: str | None = None
    speaker_name: str | None = None
    emotion: str | None = None
    hold_s: float | None = Field(None, gt=0)
    line_id: str | None = Field(None, description="stable id of a line, e.g. sc01_l002 (dialogue), sc01_n001 (action)")
    actors: list[str] = Field(default_factory=list, description="character ids who perform an action")


class ScriptScene(NaosModel):
    id: str
    location_id: str
    location_name: str
    time: str
    characters: list[str]
    elements: list[ScriptElement]


class Script(Artifact):
    # 2.0: what the script was written from is in its registry record and Dagster's lineage, not in its bytes
    SCHEMA_VERSION = "2.0.0"
    UPGRADES = {"1": ("source_outline_sha256", "episode_plan_sha256", "context_pack_sha256")}
    project_id: str
    episode_id: str
    episode_number: int
    title: str
    summary: str
    scenes: list[ScriptScene]
    unresolved_threads: list[str] = Field(default_factory=list)
    generator: str = Field(description="how the script was written, e.g. template@1")


# ---- §5.6 ShotList -----------------------------------------------------------------------------


MOUTH_HZ = 25  # mouth tracks: one openness level per 40 ms


class ShotLine(NaosModel):
    line_id: str
    speaker_id: str
    speaker_name: str
    text: str
    emotion: str
    start_s: float = Field(ge=0, description="from the start of the shot")
    end_s: float = Field(gt=0)
    mouth: str = Field("", pattern=r"^[012]*$", description="the speaker's mouth over the line, one level per 40 ms "
                                                           "(0 closed, 1 half open, 2 open) from the take's audio "
                                                           "envelope, spread over start_s..end_s; empty: no track")


class AudioIntent(NaosModel):
    vo_refs: list[str] = Field(default_factory=list)
    sfx_tags: list[str] = Field(default_factory=list)
    music_mood: str = "neutral"


class Shot(NaosModel):
    id: str
    scene_id: str
    index: int = Field(ge=0)
    template: str
    duration_s: float = Field(gt=0)
    framing: Framing
    movement: Movement
    characters: list[str] = Field(default_factory=list)
    expressions: dict[str, str] = Field(default_factory=dict)
    environment: str = Field(description="location id")
    environment_notes: str = ""
    action_beats: list[str] = Field(default_factory=list)
    lines: list[ShotLine] = Field(default_factory=list)
    audio_intent: AudioIntent = Field(default_factory=AudioIntent)
    time_of_day: TimeOfDay = Field("day", description="the scene's light, from its time's words")
    title: list[str] = Field(default_factory=list, description="the episode's title lines, shown over its opening shot")
    poses: dict[str, Pose] = Field(default_factory=dict, description="character id -> pose, from the action's verbs "
                                                                     "(standing when absent)")
    ends_scene: bool = Field(False, description="the scene's last shot: the picture dips to black at its end (and "
                                                "up from black at the next scene's establishing shot)")
    introduces: dict[str, str] = Field(default_factory=dict, description="character id -> name, for those seen "
                                                                        "here for the first time in the episode "
                                                                        "(a name tag)")


class ShotList(Artifact):
    SCHEMA_VERSION = "2.1.0"  # 2.0: no script_sha256 (lineage lives in the registry record); 2.1: mouth tracks
    UPGRADES = {"1": ("script_sha256",)}
    episode_id: str
    shots: list[Shot] = Field(min_length=1)
    total_duration_s: float
    timing_lock_hash: str = Field(description="sha256 of the ordered (shot id, duration ms) list")


# ---- §5.7 AssetManifest: needs only, no provider references -----------------------------------


class AssetNeed(NaosModel):
    asset_id: str = Field(description="e.g. background:harbor, character:mara, expression:mara/worried")
    kind: Literal["background", "character", "expression", "prop", "music", "sfx"]
    name: str = Field("", description="what the character, place or prop is called (for generated stand-ins)")
    description: str = ""
    library_path: str = Field(description="where the library should hold it, relative to the library")
    shots: list[str] = Field(default_factory=list)


class VOLine(NaosModel):
    line_id: str
    shot_id: str
    speaker_id: str
    text: str
    emotion: str
    pacing: Literal["slow", "normal", "fast"] = "normal"


class BeatMarker(NaosModel):
    """An audio scene object's beat (seed 000): where a line starts or ends, or an action beat lands, in episode time."""

    kind: Literal["line_start", "line_end", "action"]
    ref: str = Field(description="the line id, or the shot id of an action beat")
    shot_id: str
    at_s: float = Field(ge=0)


class AssetManifest(Artifact):
    SCHEMA_VERSION = "2.0.0"  # 2.0: no shot_list_sha256
    UPGRADES = {"1": ("shot_list_sha256",)}
    episode_id: str
    timing_lock_hash: str = Field(description="the shot timing the beat markers are placed in")
    character_packs: list[AssetNeed] = Field(default_factory=list)
    backgrounds: list[AssetNeed] = Field(default_factory=list)
    props: list[AssetNeed] = Field(default_factory=list)
    vo_lines: list[VOLine] = Field(default_factory=list)
    beat_markers: list[BeatMarker] = Field(default_factory=list, description="line starts/ends and action beats")
    sfx: list[AssetNeed] = Field(default_factory=list)
    music: list[AssetNeed] = Field(default_factory=list)

    def needs(self) -> list[AssetNeed]:
        return [*self.backgrounds, *self.character_packs, *self.props, *self.sfx, *self.music]


# ---- §5.8 RenderPlan ---------------------------------------------------------------------------


class AssetRejection(NaosModel):
    """A candidate the resolver turned down (§25.4 unknown licence, a source error), and why; the next source was tried."""

    source: str
    uri: str = ""
    reason: str


HEX_COLOUR = r"^#[0-9a-fA-F]{6}$"


class FaceRig(NaosModel):
    """Where a character image's face is, in the image's own pixels, so the renderer can blink its eyes and move its
    mouth: from a library sidecar's `face:`, or from the source that drew the image."""

    eyes: list[tuple[int, int]] = Field(min_length=1, max_length=2, description="eye centres (x, y)")
    eye_r: int = Field(gt=0, description="eye radius: a closed lid covers about twice this")
    mouth: tuple[int, int] = Field(description="mouth centre (x, y)")
    mouth_w: int = Field(gt=0, description="mouth width")
    skin: str = Field(pattern=HEX_COLOUR, description="colour of the lids, e.g. #e8c0a4")
    mouth_bg: str | None = Field(None, pattern=HEX_COLOUR, description="what surrounds the mouth when it is not skin "
                                                                       "(a beard)")
    brows: list[tuple[int, int]] = Field(default_factory=list, max_length=2, description="brow centres, over the "
                                                                                         "eyes; default 2.6 eye "
                                                                                         "radii above each eye")
    brow_colour: str | None = Field(None, pattern=HEX_COLOUR, description="default: a dark brown")


class ResolvedAsset(NaosModel):
    """One need of the AssetManifest, resolved (§9) with the §25.2 rights fields every asset carries."""

    asset_id: str
    kind: str
    status: Literal["resolved", "placeholder"]
    uri: str = Field(description="library:<relative path>, registry:<sha256> (generated or fetched, kept in the "
                                 "registry) or placeholder:<kind>:<id>")
    sha256: str | None = Field(None, description="content hash of the resolved file; None for placeholders")
    source: str = Field("", description="the source that supplied it: library, cache, generative_local, a plugin name, "
                                        "or placeholder")
    fallbacks: list[str] = Field(default_factory=list, description="uris tried before this one")
    flagged: bool = False
    reason: str = ""
    license_type: str = "unknown"
    attribution: str = Field("", description="required for CC-BY and similar; empty for CC0 and generated assets")
    purchase_record: str = Field("", description="invoice or licence document, for commercial assets")
    provider_or_model: str = ""
    retrieval_date: str = Field("", description="ISO 8601 date of acquisition; empty for assets drawn locally "
                                                "(reproducible from the generator version)")
    redistributable: bool = Field(False, description="§25.3: cleared for redistribution; false unless stated")
    cost_usd: float = Field(0.0, ge=0)
    provenance: str = ""
    rejections: list[AssetRejection] = Field(default_factory=list)
    face: FaceRig | None = Field(None, description="characters: where the face is, for blinks and a talking mouth")
    time_of_day: TimeOfDay | None = Field(None, description="backgrounds: the light the image shows (its sidecar's "
                                                             "time_of_day, or its description's words); a shot at "
                                                             "another time is graded to its own")
    floor: tuple[float, float] | None = Field(None, description="backgrounds: the stretch of the image's bottom edge "
                                                                "people can stand on, as fractions of its width "
                                                                "(e.g. [0.5, 1.0]: the rocks, not the sea); None: all")

    @field_validator("floor")
    @classmethod
    def _floor_in_order(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not 0 <= value[0] < value[1] <= 1:
            raise ValueError(f"floor {list(value)} must be [from, to] with 0 <= from < to <= 1")
        return value


class CaptionSettings(NaosModel):
    burn_in: bool = True
    speaker_labels: bool = Field(True, description='cues read "Name: line"')
    sidecar: Literal["srt"] = "srt"
    font: str = "DejaVu Sans"
    font_size: int = 28


class EncoderSettings(NaosModel):
    """Fixed so every machine writes identical bytes (RENDERING-NOTES: threads pinned, bitexact)."""

    video_codec: Literal["libx264"] = "libx264"
    preset: str = "veryfast"
    crf: int = 23
    tune: str = "stillimage"
    pix_fmt: str = "yuv420p"
    x264_threads: int = 2
    audio_codec: Literal["aac"] = "aac"
    audio_rate: int = 48000
    audio_bitrate: str = "128k"


class RenderPlan(Artifact):
    SCHEMA_VERSION = "2.1.0"  # 2.0: no shot_list_sha256, asset_manifest_sha256; 2.1: face rigs
    UPGRADES = {"1": ("shot_list_sha256", "asset_manifest_sha256")}
    episode_id: str
    profile: Profile = "preview_local"
    width: int
    height: int
    aspect: str = "16:9"
    fps: int
    timing_lock_hash: str = Field(description="the shot timing the plan renders")
    captions: CaptionSettings = Field(default_factory=CaptionSettings)
    encoder: EncoderSettings = Field(default_factory=EncoderSettings)
    motion: dict[Framing, Movement] = Field(default_factory=dict, description="per framing, the motion template that "
                                                                          "replaces the shot planner's choice")
    assets: list[ResolvedAsset]

    def movement(self, shot: Shot) -> Movement:
        return self.motion.get(shot.framing, shot.movement)

    def asset(self, asset_id: str) -> ResolvedAsset | None:
        return next((a for a in self.assets if a.asset_id == asset_id), None)


# ---- per-shot clips and §5.9 RenderOutput ------------------------------------------------------


class ShotClip(NaosModel):
    shot_id: str
    sha256: str = Field(description="content hash of the encoded clip in the registry")
    frames: int
    render_key: str = Field(description="hash of everything that determines the clip's bytes")


class ShotClips(Artifact):
    SCHEMA_VERSION = "2.0.0"  # 2.0: no render_plan_sha256
    UPGRADES = {"1": ("render_plan_sha256",)}
    episode_id: str
    timing_lock_hash: str
    clips: list[ShotClip]


class FileRef(NaosModel):
    uri: str = Field(description="registry:<sha256> (content address)")
    sha256: str
    bytes: int
    media_type: str


class QualityCheck(NaosModel):
    name: str
    passed: bool
    detail: str = ""


# ---- §25.4 rights gate, §5.9 RenderOutput, publish ---------------------------------------------


class RightsIssue(NaosModel):
    asset_id: str
    license_type: str
    problem: str


class RightsOverride(NaosModel):
    """§25.4: a manual override needs an approver id, recorded in the artifact."""

    approver: str = Field(min_length=1)
    reason: str = ""


class RightsReport(NaosModel):
    passed: bool
    issues: list[RightsIssue] = Field(default_factory=list)
    attributions: list[str] = Field(default_factory=list, description="CC-BY credit lines, shown on the end card")
    override: RightsOverride | None = None


class RenderOutput(Artifact):
    SCHEMA_VERSION = "2.0.0"  # 2.0: no lineage (the registry record's parents and Dagster's naos/parents hold it)
    UPGRADES = {"1": ("lineage",)}
    episode_id: str
    profile: Profile
    video: FileRef
    captions: FileRef
    captions_vtt: FileRef | None = None
    audio: FileRef | None = Field(None, description="the episode mix (WAV)")
    audiobook: FileRef | None = Field(None, description="the episode as an .m4a with one chapter per scene")
    audio_stems: list[FileRef] = Field(default_factory=list)
    duration_s: float
    frames: int
    shot_clips: list[ShotClip]
    placeholders: list[str] = Field(default_factory=list, description="asset ids rendered as flagged placeholders")
    provenance: dict[str, str] = Field(default_factory=dict, description="the tools that made it (renderer, "
                                                                         "ffmpeg build), not its inputs")
    quality_checks: list[QualityCheck] = Field(default_factory=list)
    credits: FileRef | None = Field(None, description="credits.txt: every asset with its licence and attribution")
    end_card_s: float = Field(0.0, ge=0, description="length of the end card (series, episode, any CC-BY credits) at "
                                                    "the end of the video")
    rights: RightsReport | None = Field(None, description="§25.4 rights gate, before any override")


class PublishRecord(Artifact):
    """What one-way publish released (the files, by content hash), under which gates and override."""

    SCHEMA_VERSION = "2.0.0"  # 2.0: no render_output_sha256 (the publish record in the registry names it)
    UPGRADES = {"1": ("render_output_sha256",)}
    episode_id: str
    files: dict[str, FileRef]
    rights: RightsReport
    quality_checks: list[QualityCheck] = Field(default_factory=list)
    destination: str = Field(description="folder the files were published to, relative to NAOS_HOME")


# ---- §16 run summary ---------------------------------------------------------------------------


class StageTiming(NaosModel):
    stage: str
    status: Literal["success", "failure", "skipped"]
    duration_s: float
    cache_hit: bool | None = None


class ErrorRecord(NaosModel):
    code: str
    message: str
    stage: str | None = None
    recoverable: bool = False


class RunSummary(Artifact):
    SCHEMA_VERSION = "1.2.0"
    run_id: str
    project_id: str
    episode_id: str
    status: Literal["success", "failure", "blocked", "waiting_for_approval", "bad_input"]
    exit_code: int
    started_at: str
    finished_at: str
    duration_s: float
    stages: list[StageTiming] = Field(default_factory=list)
    cache_hits: int = 0
    cache_misses: int = 0
    shot_cache: dict[str, bool] = Field(default_factory=dict, description="shot id -> cache hit")
    errors: list[ErrorRecord] = Field(default_factory=list)
    artifacts: dict[str, str] = Field(default_factory=dict, description="artifact name -> sha256")
    quality_checks: list[QualityCheck] = Field(default_factory=list, description="§15 gates, as Dagster asset checks")
    listening: list[dict] = Field(default_factory=list, description="per voiced line: line id, speaker, engine:voice, "
                                                                    "word error rate, misheard words")
    warnings: list[str] = Field(default_factory=list, description="e.g. names no pronunciation covers")


# ---- §21 RenderPackage v1 ----------------------------------------------------------------------


class RenderPackageInputs(NaosModel):
    shotlist_ref: str | ShotList
    asset_manifest_ref: str | AssetManifest
    render_plan_ref: str | RenderPlan


class LoggingOptions(NaosModel):
    trace_level: Literal["error", "warning", "info", "debug"] = "info"
    redact: list[str] = Field(default_factory=list)


class RenderPackageRequest(Artifact):
    SCHEMA_VERSION = "1.0.0"
    request_id: str
    idempotency_key: str
    tenant_id: str = "default"
    render_profile: Profile
    inputs: RenderPackageInputs
    desired_outputs: list[Literal["video", "captions", "audio_stems", "run_summary"]] = Field(min_length=1)
    callbacks: list[str] = Field(default_factory=list)
    logging_options: LoggingOptions = Field(default_factory=LoggingOptions)


class RenderPackageResponse(Artifact):
    SCHEMA_VERSION = "2.0.0"  # 2.0: no lineage_hashes
    UPGRADES = {"1": ("lineage_hashes",)}
    request_id: str
    status: Literal["queued", "in_progress", "completed", "failed", "degraded"]
    artifact_uris: dict[str, str] = Field(default_factory=dict)
    run_summary: RunSummary | None = None
    errors: list[ErrorRecord] = Field(default_factory=list)


# ---- §27 human checkpoints -----------------------------------------------------------------------

CHECKPOINTS = ("approve_canon_diff", "approve_character_packs", "approve_shotlist_timing_lock",
               "approve_external_spend")
Checkpoint = Literal["approve_canon_diff", "approve_character_packs", "approve_shotlist_timing_lock",
                     "approve_external_spend"]


class Approval(Artifact):
    """A checkpoint passed (§27): which artifact hash was cleared, and by whom. A pending or rejected review has no
    Approval; the audit trail in the registry holds every request and decision with its time."""

    SCHEMA_VERSION = "1.0.0"
    project_id: str
    episode_id: str
    checkpoint: Checkpoint
    artifact: str = Field(description="what was reviewed, e.g. ShotList or CanonDiff")
    artifact_sha256: str = Field(description="the exact bytes approved; a changed artifact needs a new approval")
    decision: Literal["approved", "not_required"] = Field(
        description="not_required: the checkpoint is off in human_checkpoints, or nothing needed review")
    approver: str = Field("", description="who approved (empty when not required)")
    note: str = ""
    audit_sha256: str = Field("", description="the audit-trail record of the decision (empty when not required)")
