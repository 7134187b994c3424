"""Canon (§5.2), CanonDiff (§5.3) and the Canon Gate's report (§6.3): the story's truth and changes to it.

Fact vocabulary (subject, attribute, value) used by CanonDiff and outline `new_facts`:
- a character: name, age, status (alive|dead), location, confined_to, knows (a secret id),
  and every relation the project declares (value: the other character's id);
- a location: name, accessible (false: nobody can be there);
- a prop: name, location;
- a promise: `promise` opens it (value: the setup's text), `status` resolved closes it;
- `story`: year (the story's calendar), event (a timeline event's text);
- any subject: a persistent state the project declares under `world.states`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .base import Artifact, NaosModel

Value = str | int | float | bool | None
STORY = "story"


class CanonFact(NaosModel):
    subject: str = Field(min_length=1)
    attribute: str = Field(min_length=1)
    value: Value
    previous: Value = None
    episode_id: str | None = None
    scene_id: str | None = Field(None, description="the fact holds from this scene of episode_id on")


class CanonCharacter(NaosModel):
    id: str
    name: str
    age: int = Field(ge=0)
    age_year: int | None = Field(None, description="story year in which `age` holds")
    status: Literal["alive", "dead"] = "alive"
    died_in: str | None = Field(None, description="episode/scene of death, e.g. s01e02/sc03")
    location: str | None = None
    confined_to: str | None = Field(None, description="a location this character cannot leave")


class CanonLocation(NaosModel):
    id: str
    name: str
    accessible: bool = True


class CanonProp(NaosModel):
    id: str
    name: str
    location: str | None = None


class Secret(NaosModel):
    """A fact characters can know or not (seed 000: knowledge states). Keywords mark speech about it."""

    id: str
    statement: str = Field(min_length=1)
    keywords: list[str] = Field(min_length=1)


class KnowledgeState(NaosModel):
    character: str
    secret: str
    since_episode: str | None = Field(None, description="None: known before the story starts")
    since_scene: str | None = None


class Promise(NaosModel):
    """A setup awaiting its payoff (seed 000): an outline's unresolved thread opens it, a later episode resolves it."""

    id: str
    text: str
    arc: str | None = None
    opened_in: str | None = None
    status: Literal["open", "resolved"] = "open"
    resolved_in: str | None = None


class WorldRule(NaosModel):
    id: str
    kind: Literal["acyclic", "forbidden_location", "note"]
    relation: str | None = Field(None, description="acyclic: the relation no chain may close on itself")
    character: str | None = Field(None, description="forbidden_location: a character id, or * for everyone")
    location: str | None = None
    text: str = ""


class Relationship(NaosModel):
    source: str
    relation: str
    target: str
    since_episode: str | None = None


class TimelineEvent(NaosModel):
    episode_id: str
    scene_id: str | None = None
    year: int | None = None
    time: str = ""
    text: str


class Canon(Artifact):
    """The canon as of the start of an episode: the project's initial canon folded with approved diffs."""

    SCHEMA_VERSION = "2.0.0"
    project_id: str
    as_of_episode: str | None = Field(None, description="canon at the start of this episode; None = initial canon")
    story_year: int | None = None
    characters: list[CanonCharacter] = Field(default_factory=list)
    locations: list[CanonLocation] = Field(default_factory=list)
    props: list[CanonProp] = Field(default_factory=list)
    relations: list[str] = Field(default_factory=list, description="relation names facts may use")
    state_names: list[str] = Field(default_factory=list, description="persistent states facts may set")
    world_rules: list[WorldRule] = Field(default_factory=list)
    secrets: list[Secret] = Field(default_factory=list)
    knowledge: list[KnowledgeState] = Field(default_factory=list)
    promises: list[Promise] = Field(default_factory=list)
    relationships: list[Relationship] = Field(default_factory=list)
    timeline_events: list[TimelineEvent] = Field(default_factory=list)
    persistent_states: list[CanonFact] = Field(default_factory=list)
    applied_diffs: list[str] = Field(default_factory=list, description="sha256 of each CanonDiff folded, in order")

    def character(self, cid: str) -> CanonCharacter | None:
        return next((c for c in self.characters if c.id == cid), None)

    def location(self, lid: str) -> CanonLocation | None:
        return next((loc for loc in self.locations if loc.id == lid), None)


class Contradiction(NaosModel):
    kind: str
    episode_id: str
    scene_id: str | None = None
    beat_index: int | None = None
    message: str
    canon_fact: CanonFact | None = None
    severity: Literal["error", "warning"] = "error"


class ValidationResult(NaosModel):
    status: Literal["passed", "failed", "not_run"] = "not_run"
    contradictions: list[Contradiction] = Field(default_factory=list)


class CanonDiff(Artifact):
    SCHEMA_VERSION = "1.1.0"
    project_id: str
    episode_id: str
    arc_id: str | None = Field(None, description="the arc whose promises this episode opens")
    base_canon_sha256: str | None = None
    added_facts: list[CanonFact] = Field(default_factory=list)
    modified_facts: list[CanonFact] = Field(default_factory=list)
    removed_facts: list[CanonFact] = Field(default_factory=list)
    justification: str = ""
    provenance: dict[str, str] = Field(default_factory=dict)
    validation: ValidationResult = Field(default_factory=ValidationResult)
    approval_status: Literal["pending", "approved", "rejected"] = "pending"


class GateReport(Artifact):
    """The Canon Gate's verdict on one episode (§6.3): errors block, warnings inform (block under strict)."""

    SCHEMA_VERSION = "1.0.0"
    project_id: str
    episode_id: str
    canon_sha256: str
    script_sha256: str
    canon_diff_sha256: str
    continuity_mode: Literal["standard", "strict"]
    status: Literal["passed", "blocked"]
    errors: list[Contradiction] = Field(default_factory=list)
    warnings: list[Contradiction] = Field(default_factory=list)
    approval_status: Literal["pending", "approved", "rejected"]
