"""The Canon Gate (seed 004 §6.3): a script and its CanonDiff against canon; contradictions block the episode.

The script is walked scene by scene. Canon is the state at the start of the episode; a fact of this episode's diff
that names a scene holds from that scene on, that scene included (a death in sc02 makes the character dead in sc02
and after; a secret learned in sc03 may be spoken in sc03). Facts without a scene hold from the end of the episode.

Errors (always block): dead_character_appears, dead_character_speaks, dead_character_acts, name_mismatch,
age_mismatch, two_places_at_once, location_forbidden, location_inaccessible, confined_elsewhere, unknown_character,
unknown_location. Warnings (block under continuity_mode strict): knowledge_violation, open_promise.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Literal

from schemas import (
    STORY,
    Canon,
    CanonCharacter,
    CanonDiff,
    CanonFact,
    Contradiction,
    GateReport,
    NaosModel,
    Script,
    ScriptScene,
    WorldRule,
)

from .errors import CanonDiffError
from .fold import SECTIONS, apply_diff, split_where

GATE_VERSION = "canon-gate@1"

ERROR_KINDS = (
    "dead_character_appears", "dead_character_speaks", "dead_character_acts", "name_mismatch", "age_mismatch",
    "two_places_at_once", "location_forbidden", "location_inaccessible", "confined_elsewhere", "unknown_character",
    "unknown_location",
)
WARNING_KINDS = ("knowledge_violation", "open_promise")

_SPACE = re.compile(r"\s+")


class GateResult(NaosModel):
    errors: list[Contradiction]
    warnings: list[Contradiction]
    status: Literal["passed", "blocked"]


def normalise_time(time: str) -> str:
    """Scene times compare casefolded with runs of spaces collapsed: 'Day 1,  Dusk' is 'day 1, dusk'."""
    return _SPACE.sub(" ", time.casefold()).strip()


def _keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    words = [_SPACE.sub(" ", k.casefold()).strip() for k in keywords]
    alternatives = sorted({re.escape(w).replace(r"\ ", r"\s+") for w in words if w}, key=lambda w: (-len(w), w))
    if not alternatives:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(alternatives) + r")(?!\w)")


@dataclass
class _State:
    """What the gate needs to know of canon at one point of the episode; copied, never shared, when facts apply."""

    dead: dict[str, CanonFact] = field(default_factory=dict)
    confined: dict[str, CanonFact] = field(default_factory=dict)
    inaccessible: dict[str, CanonFact] = field(default_factory=dict)
    knows: set[tuple[str, str]] = field(default_factory=set)

    @classmethod
    def of(cls, canon: Canon) -> _State:
        state = cls()
        for c in canon.characters:
            if c.status == "dead":
                episode, scene = split_where(c.died_in)
                state.dead[c.id] = CanonFact(subject=c.id, attribute="status", value="dead", episode_id=episode,
                                             scene_id=scene)
            if c.confined_to is not None:
                state.confined[c.id] = CanonFact(subject=c.id, attribute="confined_to", value=c.confined_to)
        for loc in canon.locations:
            if not loc.accessible:
                state.inaccessible[loc.id] = CanonFact(subject=loc.id, attribute="accessible", value=False)
        state.knows = {(k.character, k.secret) for k in canon.knowledge}
        return state

    def after(self, facts: list[tuple[str, CanonFact]], episode: str, chars: dict, locs: dict) -> _State:
        """This state with `facts` (section, fact) applied, as apply_diff applies them (already checked by it)."""
        if not facts:
            return self
        new = _State(dict(self.dead), dict(self.confined), dict(self.inaccessible), set(self.knows))
        for section, f in facts:
            if f.attribute == "promise":
                continue
            remove = section == "removed_facts"
            made = CanonFact(subject=f.subject, attribute=f.attribute, value=f.value, episode_id=episode,
                             scene_id=f.scene_id)
            if f.subject in chars:
                if f.attribute == "status":
                    if f.value == "dead":
                        new.dead.setdefault(f.subject, made)
                    else:
                        new.dead.pop(f.subject, None)
                elif f.attribute == "confined_to":
                    if remove or f.value is None:
                        new.confined.pop(f.subject, None)
                    else:
                        new.confined[f.subject] = made
                elif f.attribute == "knows":
                    (new.knows.discard if remove else new.knows.add)((f.subject, f.value))
            elif f.subject in locs and f.attribute == "accessible":
                if f.value is False:
                    new.inaccessible[f.subject] = made
                else:
                    new.inaccessible.pop(f.subject, None)
        return new


class _Gate:
    def __init__(self, canon: Canon, script: Script, diff: CanonDiff):
        self.canon = canon
        self.script = script
        self.diff = diff
        self.episode = script.episode_id
        self.chars: dict[str, CanonCharacter] = {c.id: c for c in canon.characters}
        self.locs = {loc.id: loc for loc in canon.locations}
        self.forbidden: dict[tuple[str, str], WorldRule] = {}
        for rule in canon.world_rules:
            if rule.kind == "forbidden_location" and rule.character and rule.location:
                self.forbidden.setdefault((rule.character, rule.location), rule)
        self.secrets = [(s.id, _keyword_pattern(s.keywords)) for s in canon.secrets]
        # one search tells whether a line names any secret at all (most do not); then each secret is looked at
        self.any_secret = _keyword_pattern([k for s in canon.secrets for k in s.keywords])
        self.scene_pos = {}
        for i, scene in enumerate(script.scenes):
            self.scene_pos.setdefault(scene.id, i)
        self.found: list[tuple[tuple, Contradiction]] = []

    # ---- reporting -------------------------------------------------------------------------------------------

    def report(self, kind: str, scene_id: str | None, beat: int | None, message: str,
               fact: CanonFact | None) -> None:
        pos = self.scene_pos.get(scene_id, len(self.script.scenes)) if scene_id else len(self.script.scenes)
        severity = "warning" if kind in WARNING_KINDS else "error"
        c = Contradiction(kind=kind, episode_id=self.episode, scene_id=scene_id, beat_index=beat, message=message,
                          canon_fact=fact, severity=severity)
        key = (pos, -1 if beat is None else beat, kind, len(self.found))  # ties: the order the walk found them
        self.found.append((key, c))

    def who(self, cid: str) -> str:
        c = self.chars.get(cid)
        return f"{c.name} ({cid})" if c else repr(cid)

    @staticmethod
    def died(fact: CanonFact) -> str:
        place = "/".join(p for p in (fact.episode_id, fact.scene_id) if p)
        return f"died in {place}" if place else "were dead before the story starts"

    # ---- the walk ----------------------------------------------------------------------------------------------

    def run(self) -> tuple[_State, list[_State]]:
        per_scene: list[list[tuple[str, CanonFact]]] = [[] for _ in self.script.scenes]
        at_end: list[tuple[str, CanonFact]] = []
        for section in SECTIONS:
            for i, f in enumerate(getattr(self.diff, section)):
                if f.scene_id is None:
                    at_end.append((section, f))
                elif f.scene_id in self.scene_pos:
                    per_scene[self.scene_pos[f.scene_id]].append((section, f))
                else:
                    raise CanonDiffError(self.episode, f"{section}[{i}].scene_id",
                                         f"scene {f.scene_id!r} is not a scene of the script of {self.episode} "
                                         f"({', '.join(s.id for s in self.script.scenes)})", f)
        state = _State.of(self.canon)
        states: list[_State] = []
        seen_at: dict[tuple[str, str], ScriptScene] = {}
        for k, scene in enumerate(self.script.scenes):
            state = state.after(per_scene[k], self.episode, self.chars, self.locs)
            states.append(state)
            self.scene(scene, state, seen_at)
        final = state.after(at_end, self.episode, self.chars, self.locs)
        return final, states

    def scene(self, scene: ScriptScene, st: _State, seen_at: dict) -> None:
        sid, loc = scene.id, scene.location_id
        known_loc = loc in self.locs
        if not known_loc:
            self.report("unknown_location", sid, None,
                        f"{sid} takes place at {loc!r}, which is not a location of canon", None)
        reported_unknown: set[str] = set()
        present: list[str] = []
        for cid in dict.fromkeys(scene.characters):
            if cid not in self.chars:
                reported_unknown.add(cid)
                self.report("unknown_character", sid, None, f"{cid!r} in {sid} is not a character of canon", None)
                continue
            present.append(cid)
            death = st.dead.get(cid)
            if death is not None:
                self.report("dead_character_appears", sid, None,
                            f"{self.who(cid)} appears in {sid}, but canon says they {self.died(death)}", death)
            if known_loc:
                self.place(cid, loc, sid, st)
            key = (cid, normalise_time(scene.time))
            if key in seen_at and seen_at[key].location_id != loc:
                other = seen_at[key]
                self.report("two_places_at_once", sid, None,
                            f"{self.who(cid)} is at {loc} in {sid} and at {other.location_id} in {other.id}, both "
                            f"at {scene.time!r}",
                            CanonFact(subject=cid, attribute="location", value=other.location_id,
                                      episode_id=self.episode, scene_id=other.id))
            else:
                seen_at.setdefault(key, scene)
        if known_loc and loc in st.inaccessible and present:
            self.report("location_inaccessible", sid, None,
                        f"{', '.join(self.who(c) for c in present)} at {loc} in {sid}, but canon says nobody can "
                        f"be there (accessible: false)", st.inaccessible[loc])

        for b, element in enumerate(scene.elements):
            if element.kind == "dialogue" and element.speaker_id:
                self.speaker(element, sid, b, st, reported_unknown)
            elif element.kind == "action":
                for actor in dict.fromkeys(element.actors):
                    if actor not in self.chars:
                        if actor not in reported_unknown:
                            reported_unknown.add(actor)
                            self.report("unknown_character", sid, b,
                                        f"actor {actor!r} in {sid} is not a character of canon", None)
                        continue
                    death = st.dead.get(actor)
                    if death is not None:
                        self.report("dead_character_acts", sid, b,
                                    f"{self.who(actor)} acts in {sid} ({element.text!r}), but canon says they "
                                    f"{self.died(death)}", death)

    def speaker(self, element, sid: str, b: int, st: _State, reported_unknown: set[str]) -> None:
        cid = element.speaker_id
        c = self.chars.get(cid)
        if c is None:
            if cid not in reported_unknown:
                reported_unknown.add(cid)
                self.report("unknown_character", sid, b, f"speaker {cid!r} in {sid} is not a character of canon",
                            None)
            return
        if element.speaker_name is not None and element.speaker_name != c.name:
            self.report("name_mismatch", sid, b,
                        f"{sid} gives {cid!r} the name {element.speaker_name!r}; canon's name is {c.name!r}",
                        CanonFact(subject=cid, attribute="name", value=c.name))
        death = st.dead.get(cid)
        if death is not None:
            self.report("dead_character_speaks", sid, b,
                        f"{self.who(cid)} speaks in {sid} ({element.text!r}), but canon says they {self.died(death)}",
                        death)
        text = element.text.casefold()
        if self.any_secret is None or self.any_secret.search(text) is None:
            return
        for secret, pattern in self.secrets:
            if pattern is None or (cid, secret) in st.knows:
                continue
            match = pattern.search(text)
            if match:
                self.report("knowledge_violation", sid, b,
                            f"{self.who(cid)} speaks of secret {secret!r} ({match.group(0)!r}) in {sid}, but canon "
                            f"says they do not know it", CanonFact(subject=cid, attribute="knows", value=secret))

    def place(self, cid: str, loc: str, sid: str | None, st: _State, via: str = "") -> None:
        """A character at a location: world rules that forbid it, and confinement elsewhere."""
        rule = self.forbidden.get((cid, loc)) or self.forbidden.get(("*", loc))
        if rule is not None:
            whom = "everyone" if rule.character == "*" else cid
            self.report("location_forbidden", sid, None,
                        f"{self.who(cid)} is at {loc}{via or f' in {sid}'}, which world rule {rule.id!r} forbids "
                        f"for {whom}",
                        CanonFact(subject=rule.character, attribute="forbidden_location", value=loc))
        confined = st.confined.get(cid)
        if confined is not None and confined.value != loc:
            self.report("confined_elsewhere", sid, None, f"{self.who(cid)} is at {loc}{via or f' in {sid}'}, but "
                                                         f"canon confines them to {confined.value}", confined)

    # ---- the diff's own facts -----------------------------------------------------------------------------------

    def diff_facts(self, final: _State, states: list[_State]) -> None:
        year = self.canon.story_year
        for section in SECTIONS[1:]:
            for f in getattr(self.diff, section):
                if f.subject == STORY and f.attribute == "year" and isinstance(f.value, int):
                    year = f.value
        for section in SECTIONS[1:]:
            for f in getattr(self.diff, section):
                c = self.chars.get(f.subject)
                if c is None or f.attribute == "promise":
                    continue
                if f.attribute == "name" and f.value != c.name:
                    self.report("name_mismatch", f.scene_id, None,
                                f"the diff renames {f.subject!r} to {f.value!r}; canon's name is {c.name!r}",
                                CanonFact(subject=c.id, attribute="name", value=c.name))
                elif f.attribute == "age":
                    self.age(c, f, year)
                elif f.attribute == "location" and f.value is not None:
                    scene = self.script.scenes[self.scene_pos[f.scene_id]] if f.scene_id else None
                    if scene is not None and scene.location_id == f.value and f.subject in scene.characters:
                        continue  # the scene itself was checked
                    if f.value in self.locs:
                        self.diff_place(f, states[self.scene_pos[f.scene_id]] if scene is not None else final)

    def diff_place(self, f: CanonFact, st: _State) -> None:
        loc = f.value
        via = f" by the diff's fact {f.subject}.location = {loc!r}"
        self.place(f.subject, loc, f.scene_id, st, via)
        if loc in st.inaccessible:
            self.report("location_inaccessible", f.scene_id, None,
                        f"{self.who(f.subject)} is at {loc}{via}, but canon says nobody can be there "
                        f"(accessible: false)", st.inaccessible[loc])

    def age(self, c: CanonCharacter, f: CanonFact, year: int | None) -> None:
        dy = 0 if year is None or c.age_year is None else year - c.age_year
        if dy == 0:
            allowed = [c.age]
        elif dy > 0:
            allowed = [c.age + dy - 1, c.age + dy]
        else:
            allowed = [c.age + dy, c.age + dy + 1]
        if f.value not in allowed:
            when = f" in {c.age_year}" if c.age_year is not None else ""
            expect = " or ".join(str(a) for a in allowed) if len(allowed) > 1 else f"exactly {c.age}"
            self.report("age_mismatch", f.scene_id, None,
                        f"the diff makes {self.who(c.id)} {f.value} in {year}; canon says {c.age}{when}, so "
                        f"{expect}" if year is not None else
                        f"the diff makes {self.who(c.id)} {f.value}; canon says {c.age}",
                        CanonFact(subject=c.id, attribute="age", value=c.age))

    def open_promises(self, after: Canon) -> None:
        for p in after.promises:
            if p.arc == self.diff.arc_id and p.status == "open":
                episode, scene = split_where(p.opened_in)
                arc = f"arc {p.arc!r}" if p.arc else "the arc"
                self.report("open_promise", None, None,
                            f"{arc} ends with {self.episode} but promise {p.id!r} ({p.text!r}, opened in "
                            f"{p.opened_in}) is still open",
                            CanonFact(subject=p.id, attribute="promise", value=p.text, episode_id=episode,
                                      scene_id=scene))


def check_episode(canon: Canon, script: Script, diff: CanonDiff, *, continuity_mode: Literal["standard", "strict"],
                  arc_end: bool) -> GateResult:
    """The Canon Gate's verdict on one episode: its script and CanonDiff against the canon at its start.

    Raises CanonDiffError when the diff itself cannot apply to canon (or names a scene the script does not have):
    that is bad input, not a contradiction. Contradictions come sorted by scene, beat, kind.
    """
    if continuity_mode not in ("standard", "strict"):
        raise ValueError(f"continuity_mode is 'standard' or 'strict', not {continuity_mode!r}")
    episode = script.episode_id
    if diff.episode_id != episode:
        raise ValueError(f"the CanonDiff is for {diff.episode_id}, the script for {episode}")
    if script.project_id != canon.project_id:
        raise ValueError(f"the script is for project {script.project_id!r}, the canon is {canon.project_id!r}'s")
    if canon.as_of_episode not in (None, episode):
        raise ValueError(f"the canon is as of {canon.as_of_episode}, the script is {episode}: fold the canon to "
                         f"the start of {episode} first")
    diff = _without_unknown_presence(canon, script, diff)
    after = apply_diff(canon, diff)
    gate = _Gate(canon, script, diff)
    final, states = gate.run()
    gate.diff_facts(final, states)
    if arc_end:
        gate.open_promises(after)
    found = [c for _, c in sorted(gate.found, key=lambda kc: kc[0])]
    errors = [c for c in found if c.severity == "error"]
    warnings = [c for c in found if c.severity == "warning"]
    blocked = bool(errors) or (continuity_mode == "strict" and bool(warnings))
    return GateResult(errors=errors, warnings=warnings, status="blocked" if blocked else "passed")


def _without_unknown_presence(canon: Canon, script: Script, diff: CanonDiff) -> CanonDiff:
    """Drop the diff's facts about characters and places the script names but canon does not know.

    The proposer reads where characters end up off the scenes, so an unknown character in a scene also sits in the
    diff; the gate reports it as unknown_character / unknown_location (a contradiction, exit 3) rather than letting
    the diff fail to apply (bad input). An unknown id that only the author's facts name is still bad input. The
    episode is blocked either way, so the dropped facts never reach canon.
    """
    people = {c.id for c in canon.characters}
    places = {loc.id for loc in canon.locations}
    named: set[str] = set()
    for scene in script.scenes:
        named.update(scene.characters)
        for el in scene.elements:
            named.update(el.actors)
            if el.speaker_id:
                named.add(el.speaker_id)
    strangers = named - people
    nowhere = {scene.location_id for scene in script.scenes} - places
    if not strangers and not nowhere:
        return diff

    def known(f: CanonFact) -> bool:
        return f.subject not in strangers and not (f.attribute == "location" and f.value in nowhere)

    return diff.model_copy(update={section: [f for f in getattr(diff, section) if known(f)] for section in SECTIONS})


def gate_report(canon: Canon, script: Script, diff: CanonDiff, result: GateResult, *,
                continuity_mode: Literal["standard", "strict"]) -> GateReport:
    """The GateReport artifact (§6.3) of a check_episode result."""
    return GateReport.new(
        project_id=canon.project_id, episode_id=script.episode_id, continuity_mode=continuity_mode,
        status=result.status, errors=result.errors, warnings=result.warnings, approval_status=diff.approval_status,
    )


def describe_contradiction(c: Contradiction) -> str:
    """One line: where (episode, scene, beat), what, and the canon fact it breaks with where that fact came from."""
    where = " ".join(p for p in (c.episode_id, c.scene_id, None if c.beat_index is None else f"beat {c.beat_index}")
                     if p)
    fact = c.canon_fact
    canon = ""
    if fact is not None:
        origin = "/".join(p for p in (fact.episode_id, fact.scene_id) if p) or "initial canon"
        canon = f" [canon: {fact.subject}.{fact.attribute} = {json.dumps(fact.value)} ({origin})]"
    return f"{where}: {c.kind}: {c.message}{canon}"
