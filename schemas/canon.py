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

    # 3.0: applied_diffs names the episodes folded in, not the diffs' hashes (which held their plans' hashes)
    SCHEMA_VERSION = "3.0.0"
    UPGRADES = {"2": ()}
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
    applied_diffs: list[str] = Field(default_factory=list, description="the episodes whose approved CanonDiff is "
                                                                      "folded in, in order")

    @classmethod
    def upgrade(cls, major: str, data: dict) -> dict | None:
        # 2.x listed diff hashes. Every diff canon-proposer@1 makes adds its episode's summary event, so the episodes
        # folded are those of the summary events, when there are as many as hashes; else the 2.x file is refused.
        hashes = data.get("applied_diffs") or []
        events = [e.get("episode_id") for e in data.get("timeline_events") or []
                  if isinstance(e, dict) and e.get("scene_id") is None]
        folded = list(dict.fromkeys(e for e in events if e))
        return {**data, "applied_diffs": folded} if len(folded) == len(hashes) else None

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
    # 2.0: no base_canon_sha256, provenance (the plan's hash made every diff new at any edit of its plan; the Canon
    # Store keeps the plan each diff was proposed from)
    SCHEMA_VERSION = "2.0.0"
    UPGRADES = {"1": ("base_canon_sha256", "provenance")}
    project_id: str
    episode_id: str
    arc_id: str | None = Field(None, description="the arc whose promises this episode opens")
    added_facts: list[CanonFact] = Field(default_factory=list)
    modified_facts: list[CanonFact] = Field(default_factory=list)
    removed_facts: list[CanonFact] = Field(default_factory=list)
    justification: str = ""
    validation: ValidationResult = Field(default_factory=ValidationResult)
    approval_status: Literal["pending", "approved", "rejected"] = "pending"


class GateReport(Artifact):
    """The Canon Gate's verdict on one episode (§6.3): errors block, warnings inform (block under strict)."""

    SCHEMA_VERSION = "2.0.0"  # 2.0: no canon_sha256, script_sha256, canon_diff_sha256
    UPGRADES = {"1": ("canon_sha256", "script_sha256", "canon_diff_sha256")}
    project_id: str
    episode_id: str
    continuity_mode: Literal["standard", "strict"]
    status: Literal["passed", "blocked"]
    errors: list[Contradiction] = Field(default_factory=list)
    warnings: list[Contradiction] = Field(default_factory=list)
    approval_status: Literal["pending", "approved", "rejected"]
