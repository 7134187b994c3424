"""Canon from a project, CanonDiffs applied to canon, and the fold of approved diffs (seed 004 §5.2, §5.3, §6.1).

Canon changes only through CanonDiff. `apply_diff` checks every fact of a diff against the canon (and against the
facts before it in the same diff) on a private working state and builds the new Canon only when all of them hold,
so a bad diff raises CanonDiffError and nothing of it is applied.

Canons are values: `apply_diff` never changes its input, and the Canon it returns shares the unchanged items
(characters, facts, ...) with its input, so neither should be changed in place.

Within one diff the facts apply section by section (removed_facts, then added_facts, then modified_facts), each in
list order: a relationship can end before its reverse starts, and a promise opened by this episode can be resolved
by it. added_facts and modified_facts differ only in what a reader expects: a multi-valued fact (knows, a relation,
story.event, promise) adds to what holds, a single-valued one replaces the current value, whichever list it is in.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Sequence

from schemas import (
    STORY,
    Canon,
    CanonCharacter,
    CanonDiff,
    CanonFact,
    CanonLocation,
    CanonProp,
    KnowledgeState,
    Project,
    Promise,
    Relationship,
    Secret,
    TimelineEvent,
    WorldRule,
)

from .errors import CanonDiffError

CANON_VERSION = "canon-fold@1"
# What initial_canon reads of the project: the canon_snapshot stage's cache key hashes these fields only.
INITIAL_CANON_FIELDS = ("id", "story_year", "characters.id", "characters.name", "characters.age", "characters.status",
                        "characters.location", "locations.id", "locations.name", "props.id", "props.name",
                        "props.location", "world")

CHARACTER_ATTRIBUTES = ("name", "age", "status", "location", "confined_to", "knows")
LOCATION_ATTRIBUTES = ("name", "accessible")
PROP_ATTRIBUTES = ("name", "location")
PROMISE_ATTRIBUTES = ("promise", "status")
STORY_ATTRIBUTES = ("year", "event")
SECTIONS = ("removed_facts", "added_facts", "modified_facts")
# Removable single-valued attributes (besides persistent states); the multi-valued ones are always removable.
_REMOVABLE = {"character": {"location", "confined_to"}, "prop": {"location"}}


def is_multi_valued(attribute: str, subject: str, relations: Collection[str] = ()) -> bool:
    """Facts that add to what holds rather than replace a value: knows, relations, story.event, promise."""
    return attribute in ("knows", "promise") or attribute in relations or (subject == STORY and attribute == "event")


def where(episode_id: str | None, scene_id: str | None) -> str | None:
    """`s01e02/sc03`, the form of CanonCharacter.died_in and Promise.opened_in/resolved_in."""
    if episode_id is None:
        return None
    return f"{episode_id}/{scene_id}" if scene_id else episode_id


def split_where(value: str | None) -> tuple[str | None, str | None]:
    if not value:
        return None, None
    episode, _, scene = value.partition("/")
    return episode, scene or None


# ---- initial canon ------------------------------------------------------------------------------------------------


def initial_canon(project: Project) -> Canon:
    """The canon before the first episode: the project's characters, places, props and world, sorted by id."""
    world = project.world
    canon = Canon.new(
        project_id=project.id,
        as_of_episode=None,
        story_year=project.story_year,
        characters=sorted(
            (CanonCharacter(id=c.id, name=c.name, age=c.age, age_year=project.story_year, status=c.status,
                            location=c.location) for c in project.characters),
            key=lambda c: c.id),
        locations=sorted((CanonLocation(id=loc.id, name=loc.name) for loc in project.locations), key=lambda x: x.id),
        props=sorted((CanonProp(id=p.id, name=p.name, location=p.location) for p in project.props),
                     key=lambda p: p.id),
        relations=sorted(set(world.relations)),
        state_names=sorted(set(world.states)),
        world_rules=sorted(
            (WorldRule(id=r.id, kind=r.kind, relation=r.relation, character=r.character, location=r.location,
                       text=r.text) for r in world.rules),
            key=lambda r: r.id),
        secrets=sorted((Secret(id=s.id, statement=s.statement, keywords=list(s.keywords)) for s in world.secrets),
                       key=lambda s: s.id),
        knowledge=[KnowledgeState(character=c, secret=s)
                   for c, s in sorted({(cid, s.id) for s in world.secrets for cid in s.known_by})],
        relationships=[Relationship(source=s, relation=r, target=t)
                       for s, r, t in sorted({(r.source, r.relation, r.target) for r in world.relationships})],
    )
    for rule in canon.world_rules:
        if rule.kind == "acyclic" and rule.relation:
            edges: dict[str, set[str]] = {}
            for rel in canon.relationships:
                if rel.relation != rule.relation:
                    continue
                path = _path(edges, rel.target, rel.source)
                if path is not None:
                    raise ValueError(
                        f"project {project.id!r}: world.relationships: {rel.source} {rel.relation} {rel.target} "
                        f"closes the cycle {' -> '.join([rel.source, *path])} that world rule {rule.id!r} forbids")
                edges.setdefault(rel.source, set()).add(rel.target)
    return canon


def _path(edges: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """The nodes of a path start -> ... -> goal along edges (breadth first, deterministic), or None."""
    if start == goal:
        return [start]
    previous: dict[str, str] = {start: start}
    frontier = [start]
    while frontier:
        nxt: list[str] = []
        for node in frontier:
            for target in sorted(edges.get(node, ())):
                if target in previous:
                    continue
                previous[target] = node
                if target == goal:
                    path = [goal]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return path[::-1]
                nxt.append(target)
        frontier = nxt
    return None


# ---- applying one diff ---------------------------------------------------------------------------------------------


def _listing(items: Iterable[str]) -> str:
    items = list(items)
    return ", ".join(items) if items else "(none)"


class _Working:
    """A private view of canon while diffs are checked and applied to it: dicts by id, items replaced, never mutated.

    `take(diff)` applies one diff (several in a fold); `result()` builds the new Canon once at the end.
    """

    def __init__(self, canon: Canon):
        self.canon = canon
        self.diff: CanonDiff | None = None
        self.episode = ""
        self.chars = {c.id: c for c in canon.characters}
        self.locs = {loc.id: loc for loc in canon.locations}
        self.props = {p.id: p for p in canon.props}
        self.secrets = {s.id: s for s in canon.secrets}
        self.promises = {p.id: p for p in canon.promises}
        self.relations = set(canon.relations)
        self.state_names = list(canon.state_names)
        self.states = set(canon.state_names)
        self.acyclic: dict[str, WorldRule] = {}
        for rule in canon.world_rules:
            if rule.kind == "acyclic" and rule.relation and rule.relation not in self.acyclic:
                self.acyclic[rule.relation] = rule
        self.story_year = canon.story_year
        self.year = canon.story_year
        self.applied = list(canon.applied_diffs)
        self._applied = set(canon.applied_diffs)
        self._base: dict[str, list[str]] = {}
        self._tables = {"character": self.chars, "location": self.locs, "prop": self.props}
        self._changes: dict[str, dict[str, dict]] = {"character": {}, "location": {}, "prop": {}}
        self._attributes: dict[str, list[str]] = {}
        self.dirty: set[str] = set()
        self._knowledge: dict[tuple[str, str], KnowledgeState] | None = None
        self._relationships: dict[tuple[str, str, str], Relationship] | None = None
        self._edges: dict[str, dict[str, set[str]]] = {}
        self._persistent: dict[tuple[str, str], CanonFact] | None = None
        self.events: list[TimelineEvent] = []

    def take(self, diff: CanonDiff) -> None:
        """Check and apply every fact of `diff` (CanonDiffError at the first that does not hold)."""
        if diff.project_id != self.canon.project_id:
            raise CanonDiffError(diff.episode_id, "project_id", f"the diff is for project {diff.project_id!r}, the "
                                                                f"canon is {self.canon.project_id!r}'s")
        if diff.episode_id in self._applied:  # one diff per episode: the canon names the episodes it folds
            raise CanonDiffError(diff.episode_id, "diff", f"a CanonDiff of {diff.episode_id} is already applied to "
                                                          f"the canon")
        self.diff, self.episode = diff, diff.episode_id
        self.year = episode_year(diff, self.story_year)
        for section in SECTIONS:
            for i, fact in enumerate(getattr(diff, section)):
                self.apply(section, i, fact)
        self.applied.append(diff.episode_id)
        self._applied.add(diff.episode_id)

    # lazily built indexes of the large collections
    @property
    def knowledge(self) -> dict[tuple[str, str], KnowledgeState]:
        if self._knowledge is None:
            self._knowledge = {(k.character, k.secret): k for k in self.canon.knowledge}
        return self._knowledge

    @property
    def relationships(self) -> dict[tuple[str, str, str], Relationship]:
        if self._relationships is None:
            self._relationships = {(r.source, r.relation, r.target): r for r in self.canon.relationships}
        return self._relationships

    def edges(self, relation: str) -> dict[str, set[str]]:
        if relation not in self._edges:
            graph: dict[str, set[str]] = {}
            for source, rel, target in self.relationships:
                if rel == relation:
                    graph.setdefault(source, set()).add(target)
            self._edges[relation] = graph
        return self._edges[relation]

    @property
    def persistent(self) -> dict[tuple[str, str], CanonFact]:
        if self._persistent is None:
            self._persistent = {(f.subject, f.attribute): f for f in self.canon.persistent_states}
        return self._persistent

    # what a subject is
    def kind_of(self, fact: CanonFact) -> str | None:
        if fact.attribute == "promise":
            return "promise"
        s = fact.subject
        if s in self.chars:
            return "character"
        if s in self.locs:
            return "location"
        if s in self.props:
            return "prop"
        if s in self.secrets:
            return "secret"
        if s in self.promises:
            return "promise"
        if s == STORY:
            return STORY
        return None

    def base_attributes(self, kind: str) -> list[str]:
        """The vocabulary's attributes of a kind of subject (schemas/canon.py), before the declared states."""
        if not self._base:
            self._base.update({
                "character": [*CHARACTER_ATTRIBUTES, *sorted(self.relations)], "location": list(LOCATION_ATTRIBUTES),
                "prop": list(PROP_ATTRIBUTES), "secret": [], "promise": list(PROMISE_ATTRIBUTES),
                STORY: list(STORY_ATTRIBUTES)})
        return self._base[kind]

    def attributes(self, kind: str) -> list[str]:
        """Every attribute a subject of this kind may have: the vocabulary's, then the declared states."""
        if kind not in self._attributes:
            base = self.base_attributes(kind)
            self._attributes[kind] = base + [s for s in self.state_names if s not in base]
        return self._attributes[kind]

    def known_ids(self) -> list[str]:
        return [*self.chars, *self.locs, *self.props, *self.secrets, *self.promises, STORY]

    def get(self, kind: str, sid: str, name: str):
        """A field of a character, location or prop, with this fold's changes (kept apart until `result`)."""
        changed = self._changes[kind].get(sid)
        if changed is not None and name in changed:
            return changed[name]
        return getattr(self._tables[kind][sid], name)

    def set(self, kind: str, sid: str, **fields) -> None:
        self._changes[kind].setdefault(sid, {}).update(fields)

    def current(self, kind: str, fact: CanonFact):
        """The value canon holds now for a single-valued (subject, attribute)."""
        s, a = fact.subject, fact.attribute
        if kind == "character" and a in ("name", "age", "status", "location", "confined_to"):
            return self.get(kind, s, a)
        if kind == "location" and a in LOCATION_ATTRIBUTES:
            return self.get(kind, s, a)
        if kind == "prop" and a in PROP_ATTRIBUTES:
            return self.get(kind, s, a)
        if kind == "promise" and a == "status":
            return self.promises[s].status
        if kind == STORY and a == "year":
            return self.story_year
        state = self.persistent.get((s, a))
        return None if state is None else state.value

    # ---- one fact ----------------------------------------------------------------------------------------------

    def apply(self, section: str, index: int, fact: CanonFact) -> None:
        def fail(part: str, message: str):
            raise CanonDiffError(self.episode, f"{section}[{index}].{part}", message, fact)

        if fact.episode_id is not None and fact.episode_id != self.episode:
            fail("episode_id", f"the fact belongs to episode {fact.episode_id!r}, the diff to {self.episode!r}")
        kind = self.kind_of(fact)
        if kind is None:
            close = difflib.get_close_matches(fact.subject, self.known_ids(), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            fail("subject", f"unknown subject {fact.subject!r}: not a character, location, prop, secret or promise "
                            f"of this canon, nor 'story'{hint}")
        known = self.attributes(kind)
        if fact.attribute not in known:
            fail("attribute", f"unknown attribute {fact.attribute!r} for {kind} {fact.subject!r}; known: "
                              f"{_listing(known)}")
        remove = section == "removed_facts"
        multi = is_multi_valued(fact.attribute, fact.subject, self.relations) and kind in ("character", "promise",
                                                                                          STORY)
        if not multi:
            self._single(kind, fact, remove, fail)
        elif fact.attribute == "knows":
            self._knows(fact, remove, fail)
        elif fact.attribute == "promise":
            self._promise(fact, remove, fail)
        elif fact.attribute == "event":
            if remove:
                fail("attribute", "timeline events cannot be removed; canon keeps what happened")
            if not isinstance(fact.value, str) or not fact.value.strip():
                fail("value", "a story event is a non-empty text")
            self.events.append(TimelineEvent(episode_id=self.episode, scene_id=fact.scene_id, year=self.year,
                                             text=fact.value))
            self.dirty.add("timeline_events")
        else:
            self._relation(fact, remove, fail)

    def _single(self, kind: str, fact: CanonFact, remove: bool, fail) -> None:
        s, a, v = fact.subject, fact.attribute, fact.value
        now = self.current(kind, fact)
        if fact.previous is not None and fact.previous != now:
            fail("previous", f"previous {fact.previous!r} does not match canon: {s}.{a} is {now!r}")
        is_state = a in self.states and a not in self.base_attributes(kind)
        if remove:
            if not (is_state or a in _REMOVABLE.get(kind, ())):
                fail("attribute", f"{kind} attribute {a!r} cannot be removed; modify it instead")
            if now is None or (v is not None and v != now):
                fail("value", f"the fact does not hold: canon has {s}.{a} = {now!r}")
            v = None
        elif kind == "character":
            v = self._character_value(fact, fail)
        elif kind == "location" and a == "accessible":
            if not isinstance(v, bool):
                fail("value", f"accessible is true or false, not {v!r}")
        elif kind == "prop" and a == "location":
            if v is not None and v not in self.locs:
                fail("value", f"{v!r} is not a location id of this canon; known: {_listing(self.locs)}")
        elif a == "name" and kind in ("location", "prop"):
            if not isinstance(v, str) or not v.strip():
                fail("value", "a name is a non-empty text")
        elif kind == "promise" and a == "status":
            if v != "resolved":
                fail("value", f"a promise's status can only become 'resolved', not {v!r}")
            promise = self.promises[s]
            if promise.status != "open":
                fail("subject", f"promise {s!r} is not open: resolved in {promise.resolved_in}")
        elif kind == STORY and a == "year" and not _is_int(v):
            fail("value", f"the story year is a whole number, not {v!r}")

        if is_state:
            self._state(fact, v, now)
            return
        if kind == "character":
            update: dict = {a: v}
            if a == "status" and v == "dead":  # dying again changes nothing: the first death stands
                dead = self.get(kind, s, "status") == "dead"
                update["died_in"] = self.get(kind, s, "died_in") if dead else where(self.episode, fact.scene_id)
            elif a == "status":
                update["died_in"] = None
            elif a == "age":
                update["age_year"] = self.year
            self.set(kind, s, **update)
        elif kind in ("location", "prop"):
            self.set(kind, s, **{a: v})
        elif kind == "promise":
            self.promises[s] = self.promises[s].model_copy(
                update={"status": "resolved", "resolved_in": where(self.episode, fact.scene_id)})
            self.dirty.add("promises")
        elif kind == STORY:
            self.story_year = v

    def _character_value(self, fact: CanonFact, fail):
        a, v = fact.attribute, fact.value
        if a == "name" and (not isinstance(v, str) or not v.strip()):
            fail("value", "a name is a non-empty text")
        if a == "age" and (not _is_int(v) or v < 0):
            fail("value", f"an age is a whole number >= 0, not {v!r}")
        if a == "status" and v not in ("alive", "dead"):
            fail("value", f"status is 'alive' or 'dead', not {v!r}")
        if a in ("location", "confined_to") and v is not None and v not in self.locs:
            fail("value", f"{v!r} is not a location id of this canon; known: {_listing(self.locs)}")
        return v

    def _state(self, fact: CanonFact, value, now) -> None:
        key = (fact.subject, fact.attribute)
        if value is None:
            self.persistent.pop(key, None)
        else:
            self.persistent[key] = CanonFact(subject=fact.subject, attribute=fact.attribute, value=value,
                                             previous=now, episode_id=self.episode, scene_id=fact.scene_id)
        self.dirty.add("persistent_states")

    def _knows(self, fact: CanonFact, remove: bool, fail) -> None:
        s, v = fact.subject, fact.value
        if v not in self.secrets:
            fail("value", f"{v!r} is not a secret id of this canon; known: {_listing(self.secrets)}")
        key = (s, v)
        if remove:
            if key not in self.knowledge:
                fail("value", f"the fact does not hold: {s} does not know {v!r}")
            del self.knowledge[key]
        elif key not in self.knowledge:  # knowing it already changes nothing
            self.knowledge[key] = KnowledgeState(character=s, secret=v, since_episode=self.episode,
                                                 since_scene=fact.scene_id)
        self.dirty.add("knowledge")

    def _promise(self, fact: CanonFact, remove: bool, fail) -> None:
        s, v = fact.subject, fact.value
        existing = self.promises.get(s)
        if remove:
            if existing is None or (v is not None and v != existing.text):
                fail("subject", f"the fact does not hold: there is no promise {s!r}"
                     + ("" if existing is None else f" with that text (it reads {existing.text!r})"))
            del self.promises[s]
        else:
            if not isinstance(v, str) or not v.strip():
                fail("value", "a promise is opened with its text")
            if s in self.chars or s in self.locs or s in self.props or s in self.secrets or s == STORY:
                fail("subject", f"{s!r} already names something else in canon; give the promise another id")
            if existing is not None and existing.status == "resolved":
                fail("subject", f"promise {s!r} was already resolved in {existing.resolved_in}; open a new one")
            if existing is None:  # an open thread listed again stays as first opened
                self.promises[s] = Promise(id=s, text=v, arc=self.diff.arc_id,
                                           opened_in=where(self.episode, fact.scene_id))
        self.dirty.add("promises")

    def _relation(self, fact: CanonFact, remove: bool, fail) -> None:
        s, r, v = fact.subject, fact.attribute, fact.value
        if v not in self.chars:
            fail("value", f"{v!r} is not a character id of this canon; a relation links two characters")
        key = (s, r, v)
        if remove:
            if key not in self.relationships:
                fail("value", f"the fact does not hold: canon has no relationship {s} {r} {v}")
            del self.relationships[key]
            if r in self._edges:
                self._edges[r].get(s, set()).discard(v)
        elif key not in self.relationships:
            rule = self.acyclic.get(r)
            if rule is not None:
                edges = self.edges(r)
                cycle = _path(edges, v, s)
                if cycle is not None:
                    fail("value", f"{s} {r} {v} closes the cycle {' -> '.join([s, *cycle])}, which world rule "
                                  f"{rule.id!r} forbids ({r} is acyclic)")
                edges.setdefault(s, set()).add(v)
            elif r in self._edges:
                self._edges[r].setdefault(s, set()).add(v)
            self.relationships[key] = Relationship(source=s, relation=r, target=v, since_episode=self.episode)
        self.dirty.add("relationships")

    # ---- the new canon ---------------------------------------------------------------------------------------

    def result(self) -> Canon:
        c = self.canon
        for kind, changes in self._changes.items():
            table = self._tables[kind]
            for sid, fields in changes.items():
                table[sid] = table[sid].model_copy(update=fields)
        update: dict = {
            "story_year": self.story_year,
            "applied_diffs": list(self.applied),
            "characters": list(self.chars.values()),  # ids cannot be added by a diff: the order stays
            "locations": list(self.locs.values()),
            "props": list(self.props.values()),
            "promises": sorted(self.promises.values(), key=lambda p: p.id) if "promises" in self.dirty
            else list(c.promises),
            "knowledge": [self.knowledge[k] for k in sorted(self.knowledge)] if "knowledge" in self.dirty
            else list(c.knowledge),
            "relationships": [self.relationships[k] for k in sorted(self.relationships)]
            if "relationships" in self.dirty else list(c.relationships),
            "persistent_states": [self.persistent[k] for k in sorted(self.persistent)]
            if "persistent_states" in self.dirty else list(c.persistent_states),
            "timeline_events": [*c.timeline_events, *self.events],
            # what a diff cannot change is still copied, so the result shares no list with its input
            "relations": list(c.relations), "state_names": list(c.state_names), "world_rules": list(c.world_rules),
            "secrets": list(c.secrets),
        }
        return c.model_copy(update=update)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def episode_year(diff: CanonDiff, current: int | None) -> int | None:
    """The story year of a diff's episode: its story.year fact (the last one), else the canon's current year."""
    year = current
    for section in SECTIONS[1:]:
        for fact in getattr(diff, section):
            if fact.subject == STORY and fact.attribute == "year" and _is_int(fact.value):
                year = fact.value
    return year


def apply_diff(canon: Canon, diff: CanonDiff) -> Canon:
    """The canon after `diff`; raises CanonDiffError (and applies nothing) if any fact of it does not hold."""
    work = _Working(canon)
    work.take(diff)
    return work.result()


# ---- the fold ------------------------------------------------------------------------------------------------------


def fold(initial: Canon, diffs: Iterable[CanonDiff], episode_order: Sequence[str], as_of_episode: str) -> Canon:
    """The canon at the START of `as_of_episode`: `initial` with the approved diffs of the episodes before it.

    Diffs apply in `episode_order`, whatever order `diffs` comes in; pending and rejected diffs are skipped. At most
    one diff per episode. `initial` may be a canon folded earlier (its as_of_episode set): then only the episodes from
    its as_of_episode on are applied.
    """
    order = list(episode_order)
    if len(set(order)) != len(order):
        twice = sorted({e for e in order if order.count(e) > 1})
        raise ValueError(f"episode_order lists {', '.join(twice)} more than once")
    if as_of_episode not in order:
        raise ValueError(f"as_of_episode {as_of_episode!r} is not in episode_order ({_listing(order)})")
    by_episode: dict[str, CanonDiff] = {}
    for diff in diffs:
        if diff.episode_id in by_episode:
            raise ValueError(f"two CanonDiffs for episode {diff.episode_id} ({by_episode[diff.episode_id].sha256()[:12]}"
                             f" and {diff.sha256()[:12]}); fold takes one diff per episode")
        if diff.episode_id not in order:
            raise ValueError(f"a CanonDiff for episode {diff.episode_id!r}, which is not in episode_order")
        by_episode[diff.episode_id] = diff
    start = 0
    if initial.as_of_episode is not None:
        if initial.as_of_episode not in order:
            raise ValueError(f"the initial canon is as of {initial.as_of_episode!r}, which is not in episode_order")
        start = order.index(initial.as_of_episode)
    end = order.index(as_of_episode)
    if start > end:
        raise ValueError(f"cannot fold back: the initial canon is as of {initial.as_of_episode}, after {as_of_episode}")
    work = _Working(initial)  # one working state for the whole fold: a failing diff raises, nothing is returned
    for episode in order[start:end]:
        diff = by_episode.get(episode)
        if diff is not None and diff.approval_status == "approved":
            work.take(diff)
    return work.result().model_copy(update={"as_of_episode": as_of_episode})
