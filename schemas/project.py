"""Inputs written by authors: Project (§5.1) and Episode outline (§5.4)."""

from __future__ import annotations

import re
from itertools import pairwise
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from .artifacts import Profile
from .base import Artifact, NaosModel, canonical_json, sha256_bytes
from .canon import WorldRule
from .errors import FieldValueError

ID = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$", description="lower-case id: letters, digits, _ and -")]
EPISODE_ID = Annotated[str, Field(pattern=r"^s\d{2}e\d{2}$", description="season and episode, like s01e01")]


def library_relative(value: str | None) -> str | None:
    """An asset path inside the library: relative, no '..' segment (§25: nothing outside the library)."""
    if value is None:
        return value
    p = PurePosixPath(value.replace("\\", "/"))
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"asset path {value!r} escapes the asset library; use a path inside it")
    return p.as_posix()


class DurationWindow(NaosModel):
    min: float = Field(gt=0, description="shortest acceptable episode, seconds")
    max: float = Field(gt=0, description="longest acceptable episode, seconds")

    @model_validator(mode="after")
    def _ordered(self):
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class RenderProfileSettings(NaosModel):
    width: int = Field(1280, gt=0)
    height: int = Field(720, gt=0)
    fps: int = Field(24, gt=0, le=120)
    burn_in_captions: bool = True
    speaker_labels: bool = Field(True, description='captions read "Name: line"; false: the line alone')
    motion: dict[Literal["establishing", "wide", "medium", "two_shot", "over_shoulder", "close_up"],
                 Literal["static", "pan_left", "pan_right", "push_in", "ken_burns"]] = Field(
        default_factory=dict, description="per framing, a motion template replacing the planner's, e.g. "
                                          "{establishing: ken_burns}")


# What each local profile means when a project names it without settings (seed 004 §11): the fast 720p preview, and
# the 1080p standard render with richer camera motion. A project's own settings for a profile override these.
PROFILE_DEFAULTS: dict[str, dict] = {
    "preview_local": {},
    "standard_local": {"width": 1920, "height": 1080, "fps": 24,
                       "motion": {"establishing": "ken_burns", "wide": "push_in", "two_shot": "push_in"}},
}


class CostPolicy(NaosModel):
    """§12.4: what a project may spend. The run and episode caps stop paid external asset sources before they are
    asked; resolution then falls back to local generation (docs/ASSETS.md, "Budget")."""

    max_budget_usd: float = Field(0.0, ge=0, description="the project's whole budget, reported by `naos cost`; "
                                                         "0: none set")
    local_cpu_hour_usd: float = Field(0.0, ge=0)
    max_run_usd: float | None = Field(None, ge=0, description="most one run may spend on paid external asset "
                                                              "sources; none: no per-run cap")
    max_episode_usd: float | None = Field(None, ge=0, description="most one episode may spend on paid external asset "
                                                                  "sources, over all its runs (earlier runs' spend "
                                                                  "counts); none: no per-episode cap")
    approval_threshold_usd: float = Field(0.0, ge=0, description="an external spend estimate above this needs the "
                                                                 "approve_external_spend checkpoint (when that flag "
                                                                 "is on)")


class HumanCheckpoints(NaosModel):
    """§27.2 flags with the seed's defaults."""

    approve_canon_diff: bool = True
    approve_character_packs: bool = False
    approve_shotlist_timing_lock: bool = True
    approve_external_spend: bool = True


class AssetSourceConfig(NaosModel):
    """A resolver plugin (§9): a name registered under the `naos.asset_sources` entry point group, or
    `package.module:Class`. External sources run only when listed here."""

    source: str = Field(min_length=1, description="plugin name, or package.module:Class")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the plugin's constructor")


class SettingWords(NaosModel):
    """Words a project adds to the setting vocabulary (engines/media/settings.yaml)."""

    kinds: dict[str, list[str]] = Field(default_factory=dict, description="kind of place -> words of a location's "
                                                                          "name or description, e.g. {interior: "
                                                                          "[greenhouse]}")
    times: dict[Literal["day", "dawn", "dusk", "night"], list[str]] = Field(
        default_factory=dict, description="light -> words of a scene's time, e.g. {night: [curfew]}")
    poses: dict[Literal["lying", "turned_away"], list[str]] = Field(
        default_factory=dict, description="pose -> words of an action beat, e.g. {lying: [keels over]}")


class AssetSettings(NaosModel):
    """How the asset resolver looks beyond the library (§9 priority: library, cache, search, generative, placeholder)."""

    sources: list[AssetSourceConfig] = Field(default_factory=list, description="plugins (external search or "
                                                                               "generative), tried in this order "
                                                                               "within their role; none by default")
    generate_missing: bool = Field(True, description="draw stand-ins locally (Pillow) for images the library lacks")
    external_ttl_days: int = Field(30, gt=0, description="cached external assets expire after this many days, "
                                                         "unless the source's licence terms say sooner")
    setting_words: SettingWords = Field(default_factory=SettingWords, description="words added to the setting "
                                                                                  "vocabulary: kinds of place and "
                                                                                  "times of day (docs/ASSETS.md)")


VoiceEngine = Literal["kokoro", "flite", "espeak-ng"]
VOICE_ENGINES: tuple[str, ...] = ("kokoro", "flite", "espeak-ng")  # the default chain, best first (docs/AUDIO.md)


class VoiceProfile(NaosModel):
    """A voice (seed 004 §19.0 Audio): an engine and one of its voices, or hints for automatic casting. Emotion tags
    adjust speed, pauses and level from here; `naos voices` lists the voices and writes a sample of each."""

    engine: VoiceEngine | None = Field(None, description="kokoro, flite or espeak-ng; none: the engine the voice id "
                                                         "belongs to, or the first installed of audio.engines")
    voice: str | None = Field(None, min_length=1, description="the engine's voice id, e.g. bf_emma (kokoro), slt "
                                                              "(flite), en-gb+f3 (espeak-ng); none: cast automatically")
    speed: float = Field(1.0, ge=0.5, le=2.0, description="speaking speed; 1.0 is the voice's own")
    accent: Literal["us", "gb"] | None = Field(None, description="casting hint: American or British English")
    gender: Literal["female", "male"] | None = Field(None, description="casting hint; default: from the character's "
                                                                       "description (she/her, he/his)")
    pitch: int = Field(50, ge=0, le=99, description="espeak-ng only: 0..99")
    rate: int = Field(165, ge=80, le=450, description="espeak-ng only: words per minute")
    volume: int = Field(100, ge=0, le=200, description="espeak-ng only")


class Pronunciation(NaosModel):
    """How to say a word: a respelling every engine reads, and optionally IPA for engines that take phonemes."""

    say: str = Field(min_length=1, description="a respelling, e.g. Inesh for Inês")
    ipa: str | None = Field(None, min_length=1, description="IPA phonemes (Kokoro speaks them as written), e.g. ɪnˈɛʃ")


def _pronunciation(value):
    # `Inês: Inesh` is a respelling alone.
    return {"say": value} if isinstance(value, str) else value


class ListeningTest(NaosModel):
    """The listening gate: a local speech recognizer transcribes every take and compares it with the line."""

    enabled: bool = Field(True, description="transcribe every take (faster-whisper, Whisper base, on the CPU)")
    max_wer: float = Field(0.25, ge=0, le=1, description="a line whose word error rate is above this is reported")


class AudioSettings(NaosModel):
    narration: bool = Field(False, description="the narrator reads action beats")
    narrator: VoiceProfile = Field(default_factory=VoiceProfile, description="the narrator's voice; none: cast, "
                                                                             "unlike every character's")
    engines: list[VoiceEngine] = Field(default_factory=lambda: list(VOICE_ENGINES), min_length=1,
                                       description="the engine chain: a line without an engine of its own is "
                                                   "spoken by the first of these that is installed")
    accent: Literal["us", "gb"] | None = Field(None, description="casting hint for every character without one")
    listening_test: ListeningTest = Field(default_factory=ListeningTest)
    loudness_lufs: float = Field(-16.0, ge=-40, le=-5, description="integrated loudness target of the final mix")
    true_peak_db: float = Field(-1.0, ge=-9, le=0, description="true-peak ceiling, dBTP")
    music_bed: str | None = Field(None, description="music inside the asset library, played under the dialogue")

    @field_validator("engines")
    @classmethod
    def _once_each(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError(f"an engine is listed twice in {value}")
        return value

    @field_validator("music_bed")
    @classmethod
    def _inside_library(cls, value: str | None) -> str | None:
        return library_relative(value)


class Character(NaosModel):
    id: ID
    name: str = Field(min_length=1)
    age: int = Field(ge=0)
    status: Literal["alive", "dead"] = "alive"
    location: str | None = None
    description: str = ""
    portrait: str | None = Field(None, description="image inside the asset library; default characters/<id>.png")
    voice: VoiceProfile = Field(default_factory=VoiceProfile)

    @field_validator("portrait")
    @classmethod
    def _inside_library(cls, value: str | None) -> str | None:
        return library_relative(value)


class Location(NaosModel):
    id: ID
    name: str = Field(min_length=1)
    description: str = ""
    background: str | None = Field(None, description="image inside the asset library; default backgrounds/<id>.png")

    @field_validator("background")
    @classmethod
    def _inside_library(cls, value: str | None) -> str | None:
        return library_relative(value)


class EpisodeRef(NaosModel):
    id: EPISODE_ID
    outline: str | None = Field(None, min_length=1,
                                description="outline YAML, relative to the project file; none: expand the story arc")


class Prop(NaosModel):
    id: ID
    name: str = Field(min_length=1)
    location: str | None = None
    description: str = ""


class SecretSeed(NaosModel):
    id: ID
    statement: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1, description="words that mark a line as speaking of this secret")
    known_by: list[str] = Field(default_factory=list, description="characters who know it when the story starts")


class RelationshipSeed(NaosModel):
    source: str
    relation: str
    target: str


class World(NaosModel):
    """The initial canon beyond characters and locations (§5.2)."""

    relations: list[ID] = Field(default_factory=list, description="relation names, e.g. parent_of")
    states: list[ID] = Field(default_factory=list, description="persistent states facts may set, e.g. lamp_state")
    rules: list[WorldRule] = Field(default_factory=list)
    secrets: list[SecretSeed] = Field(default_factory=list)
    relationships: list[RelationshipSeed] = Field(default_factory=list)


class Project(Artifact):
    SCHEMA_VERSION = "1.4.0"
    id: ID
    title: str = Field(min_length=1)
    genre: str = ""
    visual_style: str = ""
    target_duration_s: DurationWindow
    # the names a RenderPlan knows (§5.8); another name would pass here and fail the render
    render_profiles: dict[Profile, RenderProfileSettings] = Field(
        default_factory=lambda: {name: RenderProfileSettings(**d) for name, d in PROFILE_DEFAULTS.items()},
        description="profile -> its settings; preview_local and standard_local are always there, with their "
                    "defaults (PROFILE_DEFAULTS) under what a project sets",
    )
    continuity_mode: Literal["standard", "strict"] = "standard"
    cost_policy: CostPolicy = Field(default_factory=CostPolicy)
    human_checkpoints: HumanCheckpoints = Field(default_factory=HumanCheckpoints)
    safety_mode: Literal["standard", "strict", "off"] = "standard"
    characters: list[Character] = Field(min_length=1)
    locations: list[Location] = Field(min_length=1)
    asset_library: str = Field(min_length=1, description="folder of assets, relative to the project file")
    episodes: list[EpisodeRef] = Field(min_length=1, description="in season order (s01e01, s01e02, ...): the canon of "
                                                                 "an episode folds the changes of those before it")
    story_year: int | None = Field(None, description="the year the story starts; characters' ages hold then")
    story_arc: str | None = Field(None, description="story arc YAML, relative to the project file")
    props: list[Prop] = Field(default_factory=list)
    world: World = Field(default_factory=World)
    audio: AudioSettings = Field(default_factory=AudioSettings)
    pronunciations: dict[str, Pronunciation] = Field(
        default_factory=dict, description="word or name -> how to say it (a respelling, or {say, ipa}); applied "
                                          "before any voice engine, whole words, any case")
    assets: AssetSettings = Field(default_factory=AssetSettings)

    @field_validator("render_profiles", mode="before")
    @classmethod
    def _names_or_settings(cls, value):
        # `render_profiles: [preview_local]` means those profiles with default settings; a profile's settings are
        # its defaults with the project's on top; the local profiles are there even when the project leaves them out
        if isinstance(value, list):
            value = {str(name): {} for name in value}
        if isinstance(value, dict):
            given = {k: (v if v is not None else {}) for k, v in value.items()}
            merged = {name: dict(d) for name, d in PROFILE_DEFAULTS.items()}
            for name, settings in given.items():
                if isinstance(settings, dict):
                    merged[name] = {**merged.get(name, {}), **settings}
                else:
                    merged[name] = settings
            return merged
        return value

    @field_validator("pronunciations", mode="before")
    @classmethod
    def _plain_pronunciations(cls, value):
        if isinstance(value, dict):
            return {k: _pronunciation(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _unique_ids(self):
        for label, items in (("characters", self.characters), ("locations", self.locations), ("episodes", self.episodes)):
            seen: set[str] = set()
            for i, item in enumerate(items):
                if item.id in seen:
                    raise FieldValueError(f"{label}[{i}].id", f"id {item.id!r} is used twice")
                seen.add(item.id)
        # Season order is id order: a backfill from the UI runs episodes sorted by id, and each one's canon folds
        # the episodes listed before it, so the two orders must agree.
        for i, (before, ep) in enumerate(pairwise(self.episodes), start=1):
            if ep.id < before.id:
                raise FieldValueError(f"episodes[{i}].id", f"{ep.id!r} is listed after {before.id!r}; list the "
                                                           "episodes in season order (s01e01, s01e02, ...)")
        locations = {loc.id for loc in self.locations}
        for i, ch in enumerate(self.characters):
            if ch.location is not None and ch.location not in locations:
                raise FieldValueError(f"characters[{i}].location",
                                      f"{ch.location!r} is not a location id of this project")
        self._check_world(locations, {c.id for c in self.characters})
        return self

    def _check_world(self, locations: set[str], characters: set[str]) -> None:
        def need(ok: bool, field: str, what: str, value, known) -> None:
            if not ok:
                raise FieldValueError(field, f"{value!r} is not {what} of this project (it has: {', '.join(sorted(known))})")

        props: set[str] = set()
        for i, prop in enumerate(self.props):
            if prop.id in props | locations | characters:
                raise FieldValueError(f"props[{i}].id", f"id {prop.id!r} is used twice")
            props.add(prop.id)
            need(prop.location is None or prop.location in locations, f"props[{i}].location", "a location id",
                 prop.location, locations)
        relations = set(self.world.relations)
        for i, rel in enumerate(self.world.relationships):
            need(rel.relation in relations, f"world.relationships[{i}].relation", "a declared relation",
                 rel.relation, relations)
            need(rel.source in characters, f"world.relationships[{i}].source", "a character id", rel.source, characters)
            need(rel.target in characters, f"world.relationships[{i}].target", "a character id", rel.target, characters)
        for i, secret in enumerate(self.world.secrets):
            for k, cid in enumerate(secret.known_by):
                need(cid in characters, f"world.secrets[{i}].known_by[{k}]", "a character id", cid, characters)
        for i, rule in enumerate(self.world.rules):
            if rule.kind == "acyclic":
                need(rule.relation in relations, f"world.rules[{i}].relation", "a declared relation",
                     rule.relation, relations)
            if rule.kind == "forbidden_location":
                need(rule.character == "*" or rule.character in characters, f"world.rules[{i}].character",
                     "a character id (or *)", rule.character, characters)
                need(rule.location in locations, f"world.rules[{i}].location", "a location id",
                     rule.location, locations)

    def character(self, cid: str) -> Character | None:
        return next((c for c in self.characters if c.id == cid), None)

    def location(self, lid: str) -> Location | None:
        return next((loc for loc in self.locations if loc.id == lid), None)

    def fields_sha256(self, *paths: str) -> str:
        """sha256 of these fields only: dotted paths, and through a list the field of each item (`characters.name`).
        A stage's cache key hashes what the stage reads of the project, so an edit elsewhere (a human checkpoint,
        another stage's setting) leaves its cache entry alone. An unknown path is a KeyError, not a silent None."""
        data = self.model_dump(mode="json")
        return sha256_bytes(canonical_json({path: _pick(data, path, path.split(".")) for path in sorted(set(paths))}))

    def episode(self, eid: str) -> EpisodeRef | None:
        return next((e for e in self.episodes if e.id == eid), None)


def _pick(value: Any, path: str, parts: list[str]) -> Any:
    if not parts or value is None:
        return value
    if isinstance(value, list):
        return [_pick(item, path, parts) for item in value]
    if not isinstance(value, dict) or parts[0] not in value:
        raise KeyError(f"Project has no field {path!r}")
    return _pick(value[parts[0]], path, parts[1:])


class ActionBeat(NaosModel):
    action: str = Field(min_length=1)
    actors: list[str] = Field(default_factory=list, description="character ids who perform this action")
    duration_s: float | None = Field(None, gt=0, description="hold this beat on screen this long (optional)")

    @model_validator(mode="before")
    @classmethod
    def _not_also_dialogue(cls, value):
        # A beat with `action` is read as an action; without this its `speaker`/`line` would be dropped silently.
        if isinstance(value, dict) and ("line" in value or "speaker" in value):
            raise ValueError("a beat is either an action (action) or a dialogue line (speaker, line), not both")
        return value


class DialogueBeat(NaosModel):
    speaker: str = Field(min_length=1, description="a character id")
    line: str = Field(min_length=1)
    emotion: str = "neutral"


def _beat_kind(value) -> str:
    if isinstance(value, dict):
        return "action" if "action" in value else "dialogue"
    return "action" if isinstance(value, ActionBeat) else "dialogue"


Beat = Annotated[
    Annotated[ActionBeat, Tag("action")] | Annotated[DialogueBeat, Tag("dialogue")],
    Discriminator(_beat_kind),
]


class SceneOutline(NaosModel):
    id: ID
    location: str
    time: str = Field(min_length=1, description="scene time, e.g. 'day 3, dusk'")
    characters: list[str] = Field(default_factory=list)
    beats: list[Beat] = Field(min_length=1)


class NewFact(NaosModel):
    """A change to canon this episode makes (schemas/canon.py lists the vocabulary)."""

    subject: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    value: str | int | float | bool | None
    scene: str | None = Field(None, description="the scene from which the fact holds; default: the episode's end")
    remove: bool = Field(False, description="true: the fact stops holding (a relationship ends, a state clears)")


_SLUG = re.compile(r"[^a-z0-9]+")


def thread_id(text: str) -> str:
    """A stable id for a thread written as plain text: its first six words, slugged."""
    return "-".join(_SLUG.sub(" ", text.lower()).split()[:6]) or "thread"


class Thread(NaosModel):
    """An unresolved thread: a promise to the audience that a later episode pays off."""

    id: ID
    text: str = Field(min_length=1)


def _threads(value):
    # `unresolved_threads: ["Who tore the page?"]` is a thread whose id is made from its words.
    if isinstance(value, list):
        return [{"id": thread_id(v), "text": v} if isinstance(v, str) else v for v in value]
    return value


class EpisodeOutline(Artifact):
    SCHEMA_VERSION = "1.1.0"
    episode_number: int = Field(ge=1)
    arc_reference: str | None = None
    title: str = ""
    summary: str = Field(min_length=1)
    year: int | None = Field(None, description="story year of this episode; default: the canon's current year")
    scenes: list[SceneOutline] = Field(min_length=1)
    new_facts: list[NewFact] = Field(default_factory=list)
    unresolved_threads: list[Thread] = Field(default_factory=list)
    resolves: list[str] = Field(default_factory=list, description="ids of threads this episode pays off")

    @field_validator("unresolved_threads", mode="before")
    @classmethod
    def _plain_threads(cls, value):
        return _threads(value)
