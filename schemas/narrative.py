"""Narrative contracts (§4, §6.4, §7): story arc -> episode plan, and the context pack generation reads."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .base import Artifact, NaosModel
from .canon import (
    CanonCharacter,
    CanonFact,
    CanonLocation,
    CanonProp,
    KnowledgeState,
    Promise,
    Relationship,
    Secret,
    TimelineEvent,
)
from .project import EPISODE_ID, ID, NewFact, SceneOutline, Thread, _threads


class ArcBeat(NaosModel):
    """One episode's beat of an arc; expands into a one-scene plan when the episode has no outline."""

    episode: EPISODE_ID
    title: str = ""
    summary: str = Field(min_length=1)
    location: str
    time: str = Field(min_length=1)
    characters: list[str] = Field(default_factory=list)
    events: list[str] = Field(min_length=1, description="what happens, in order; each becomes an action beat")
    year: int | None = None
    new_facts: list[NewFact] = Field(default_factory=list)
    unresolved_threads: list[Thread] = Field(default_factory=list)
    resolves: list[str] = Field(default_factory=list)

    @field_validator("unresolved_threads", mode="before")
    @classmethod
    def _plain_threads(cls, value):
        return _threads(value)


class Arc(NaosModel):
    id: ID
    title: str = Field(min_length=1)
    beats: list[ArcBeat] = Field(min_length=1)

    @property
    def episodes(self) -> list[str]:
        return [b.episode for b in self.beats]


class StoryArc(Artifact):
    """§4 'Story Arc': the season's arcs, each a list of episode beats. Outlines override beats."""

    SCHEMA_VERSION = "1.0.0"
    title: str = ""
    premise: str = ""
    arcs: list[Arc] = Field(default_factory=list)


class EpisodePlan(Artifact):
    """§4 'Episode Plan': what one episode must do; the script generator's only story input besides its context."""

    SCHEMA_VERSION = "2.0.0"  # 2.0: no source_sha256 (an arc's hash changed every plan of the arc at any edit)
    UPGRADES = {"1": ("source_sha256",)}
    project_id: str
    episode_id: str
    episode_number: int = Field(ge=1)
    arc_id: str | None = None
    arc_end: bool = Field(False, description="the last episode of its arc: open promises of the arc are flagged")
    source: Literal["outline", "arc"]
    title: str
    summary: str
    year: int | None = None
    scenes: list[SceneOutline] = Field(min_length=1)
    new_facts: list[NewFact] = Field(default_factory=list)
    unresolved_threads: list[Thread] = Field(default_factory=list)
    resolves: list[str] = Field(default_factory=list)


class RecallHit(NaosModel):
    episode_id: str
    scene_id: str
    text: str
    score: float


class ContextPack(Artifact):
    """§6.4: the strict context a generation step gets. Canon subset is truth; `recalled` is colour, never truth."""

    SCHEMA_VERSION = "2.0.0"  # 2.0: no canon_sha256, episode_plan_sha256
    UPGRADES = {"1": ("canon_sha256", "episode_plan_sha256")}
    project_id: str
    episode_id: str
    story_year: int | None = None
    characters: list[CanonCharacter] = Field(default_factory=list)
    locations: list[CanonLocation] = Field(default_factory=list)
    props: list[CanonProp] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    knowledge: list[KnowledgeState] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    persistent_states: list[CanonFact] = Field(default_factory=list)
    past_events: list[TimelineEvent] = Field(default_factory=list)
    last_episode_summary: str | None = None
    open_promises: list[Promise] = Field(default_factory=list)
    recalled: list[RecallHit] = Field(default_factory=list)
    recall_model: str | None = None
