"""§28.1 continuity regression suite: contradictions the Canon Gate must reject and valid diffs it must accept.

A small season is built here: a project, approved CanonDiffs for s01e01..s01e03 (the HISTORY), then each scenario's
script and diff for a later (or earlier) episode against the canon folded to that episode's start. Every scenario
asserts the exact list of (kind, scene, beat, canon fact) the gate reports.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

import pytest

from engines.canon import (
    ERROR_KINDS,
    WARNING_KINDS,
    CanonDiffError,
    apply_diff,
    check_episode,
    fold,
    gate_report,
    initial_canon,
    propose_diff,
)
from schemas import (
    ActionBeat,
    Canon,
    CanonDiff,
    CanonFact,
    Character,
    DialogueBeat,
    EpisodePlan,
    EpisodeRef,
    Location,
    NewFact,
    Project,
    Prop,
    SceneOutline,
    Script,
    ScriptElement,
    ScriptScene,
    Thread,
)
from schemas.canon import WorldRule
from schemas.project import DurationWindow, RelationshipSeed, SecretSeed, World

ORDER = ["s01e01", "s01e02", "s01e03", "s01e04", "s01e05", "s01e06"]
TORN_PAGE = "Who tore the last page from the logbook?"


def make_project() -> Project:
    return Project.new(
        id="gull", title="Gull Point", target_duration_s=DurationWindow(min=30, max=90), asset_library="library",
        story_year=1900, episodes=[EpisodeRef(id=e, outline=f"episodes/{e}.yaml") for e in ORDER],
        characters=[
            Character(id="tobias", name="Tobias Venn", age=67, location="lighthouse"),
            Character(id="mara", name="Mara Quill", age=34, location="harbor"),
            Character(id="ines", name="Ines Calder", age=41, location="inn"),
            Character(id="aldo", name="Aldo Finch", age=52, location="harbor"),
            Character(id="pip", name="Pip Quill", age=10, location="harbor"),
            Character(id="silas", name="Silas Venn", age=90, status="dead"),
        ],
        locations=[Location(id=i, name=n) for i, n in (
            ("harbor", "Gull Point Harbour"), ("lighthouse", "Gull Point Lighthouse"), ("inn", "The Drowned Bell"),
            ("sea_cave", "The North Cave"), ("cell", "The Harbour Cell"), ("vault", "The Sealed Vault"))],
        props=[Prop(id="logbook", name="The keeper's logbook", location="lighthouse")],
        world=World(
            relations=["parent_of", "friend_of"], states=["lamp_state", "last_page"],
            rules=[WorldRule(id="no-ancestor-loops", kind="acyclic", relation="parent_of"),
                   WorldRule(id="pip-not-in-cave", kind="forbidden_location", character="pip", location="sea_cave"),
                   WorldRule(id="vault-sealed", kind="forbidden_location", character="*", location="vault"),
                   WorldRule(id="tides", kind="note", text="The cave floods at high tide.")],
            secrets=[SecretSeed(id="keeper_alive", statement="Tobias hides in the cave.",
                                keywords=["still alive", "hiding in the cave"], known_by=["tobias"]),
                     SecretSeed(id="aldo_wrecker", statement="Aldo wrecks ships for salvage.",
                                keywords=["wrecker", "salvage"], known_by=["aldo"])],
            relationships=[RelationshipSeed(source="tobias", relation="parent_of", target="mara")],
        ),
    )


PROJECT = make_project()
INITIAL = initial_canon(PROJECT)


def F(subject: str, attribute: str, value, scene: str | None = None) -> CanonFact:
    return CanonFact(subject=subject, attribute=attribute, value=value, scene_id=scene)


def make_diff(episode: str, added=(), modified=(), removed=(), arc: str | None = "keeper",
              status: str = "approved") -> CanonDiff:
    def stamp(facts):
        return [f.model_copy(update={"episode_id": episode}) for f in facts]

    return CanonDiff.new(project_id=PROJECT.id, episode_id=episode, arc_id=arc,
                         added_facts=stamp([*added, F("story", "event", f"what happens in {episode}")]),
                         modified_facts=stamp(modified), removed_facts=stamp(removed), approval_status=status)


HISTORY = [
    make_diff("s01e01", added=[F("torn-page", "promise", TORN_PAGE)],
              modified=[F("lighthouse", "lamp_state", "dark", "sc02"), F("logbook", "last_page", "torn out")]),
    make_diff("s01e02", modified=[F("tobias", "status", "dead", "sc03"), F("sea_cave", "accessible", False)]),
    make_diff("s01e03", modified=[F("story", "year", 1901), F("aldo", "confined_to", "cell", "sc01")],
              added=[F("mara", "knows", "aldo_wrecker", "sc02"), F("ines", "friend_of", "mara")]),
]


def canon_at(episode: str, extra: tuple[CanonDiff, ...] = ()) -> Canon:
    return fold(INITIAL, [*HISTORY, *extra], ORDER, episode)


# ---- compact scripts ----------------------------------------------------------------------------------------------


def S(sid: str, location: str, time: str, characters: list[str], *elements) -> tuple:
    return sid, location, time, characters, elements


def act(text: str, *actors: str) -> tuple:
    return "action", text, actors


def say(speaker: str, text: str, name: str | None = None) -> tuple:
    return "dialogue", speaker, text, name


def make_script(episode: str, scenes: list[tuple]) -> Script:
    names = {c.id: c.name for c in INITIAL.characters}
    places = {loc.id: loc.name for loc in INITIAL.locations}
    out = []
    for sid, location, time, characters, elements in scenes:
        els = []
        for n, e in enumerate(elements):
            if e[0] == "action":
                els.append(ScriptElement(kind="action", text=e[1], actors=list(e[2])))
            else:
                els.append(ScriptElement(kind="dialogue", speaker_id=e[1], text=e[2],
                                         speaker_name=e[3] or names.get(e[1], e[1]), line_id=f"{sid}_l{n:03d}"))
        out.append(ScriptScene(id=sid, location_id=location, location_name=places.get(location, location), time=time,
                               characters=list(characters), elements=els))
    return Script.new(project_id=PROJECT.id, episode_id=episode, episode_number=int(episode[-2:]), title=episode,
                      summary=f"{episode} summary", scenes=out, generator="test@1")


def reported(result) -> list[tuple]:
    out = []
    for c in [*result.errors, *result.warnings]:
        f = c.canon_fact
        fact = None if f is None else (f.subject, f.attribute, f.value, f.episode_id, f.scene_id)
        out.append((c.kind, c.scene_id, c.beat_index, fact))
    return out


@dataclass
class Case:
    name: str
    episode: str
    scenes: list[tuple]
    added: list[CanonFact] = field(default_factory=list)
    modified: list[CanonFact] = field(default_factory=list)
    removed: list[CanonFact] = field(default_factory=list)
    expected: list[tuple] = field(default_factory=list)
    mode: str = "standard"
    arc_end: bool = False
    extra: tuple[CanonDiff, ...] = ()

    def run(self):
        diff = make_diff(self.episode, self.added, self.modified, self.removed, status="pending")
        script = make_script(self.episode, self.scenes)
        return check_episode(canon_at(self.episode, self.extra), script, diff, continuity_mode=self.mode,
                             arc_end=self.arc_end)


TOBIAS_DEATH = ("tobias", "status", "dead", "s01e02", "sc03")
MORNING, NOON, DUSK, NIGHT = "day 5, morning", "day 5, noon", "day 5, dusk", "day 5, night"

REJECT = [
    Case("dead character speaks two episodes after his death", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Where were you?"), say("tobias", "At sea."))],
         expected=[("dead_character_speaks", "sc01", 1, TOBIAS_DEATH)]),
    Case("dead character is in a scene and speaks in it", "s01e06",
         [S("sc01", "harbor", DUSK, ["mara", "tobias"], say("mara", "Where were you?"), say("tobias", "At sea."))],
         expected=[("dead_character_appears", "sc01", None, TOBIAS_DEATH),
                   ("dead_character_speaks", "sc01", 1, TOBIAS_DEATH)]),
    Case("dead character stands in a scene", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara", "tobias"], say("mara", "Say something."))],
         expected=[("dead_character_appears", "sc01", None, TOBIAS_DEATH)]),
    Case("dead character acts", "s01e05",
         [S("sc01", "harbor", DUSK, ["mara"], act("Tobias rows into the harbour.", "tobias"))],
         expected=[("dead_character_acts", "sc01", 0, TOBIAS_DEATH)]),
    Case("character dies in sc02 and speaks in sc04 of the same episode", "s01e04",
         [S("sc01", "inn", MORNING, ["ines", "mara"], say("ines", "Morning.")),
          S("sc02", "harbor", NOON, ["mara"], act("Ines's boat drifts in, empty.", "mara")),
          S("sc03", "inn", NIGHT, ["mara"], say("mara", "She is gone.")),
          S("sc04", "harbor", "day 6, dawn", ["mara"], say("ines", "I am back."))],
         modified=[F("ines", "status", "dead", "sc02")],
         expected=[("dead_character_speaks", "sc04", 0, ("ines", "status", "dead", "s01e04", "sc02"))]),
    Case("a death holds in its own scene", "s01e04",
         [S("sc01", "harbor", MORNING, ["ines"], say("ines", "Storm's coming.")),
          S("sc02", "harbor", NOON, ["ines", "mara"], say("ines", "Take my hand!"), act("Ines slips.", "ines"))],
         modified=[F("ines", "status", "dead", "sc02")],
         expected=[("dead_character_appears", "sc02", None, ("ines", "status", "dead", "s01e04", "sc02")),
                   ("dead_character_speaks", "sc02", 0, ("ines", "status", "dead", "s01e04", "sc02")),
                   ("dead_character_acts", "sc02", 1, ("ines", "status", "dead", "s01e04", "sc02"))]),
    Case("character dead since before the story speaks", "s01e02",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Who is there?"), say("silas", "Your grandfather."))],
         expected=[("dead_character_speaks", "sc01", 1, ("silas", "status", "dead", None, None))]),
    Case("script misspells a speaker's name", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello.", name="Mara Quil"))],
         expected=[("name_mismatch", "sc01", 0, ("mara", "name", "Mara Quill", None, None))]),
    Case("diff renames a character", "s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello."))],
         modified=[F("mara", "name", "Mara Venn")],
         expected=[("name_mismatch", None, None, ("mara", "name", "Mara Quill", None, None))]),
    Case("age too old a year later", "s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello."))],
         modified=[F("mara", "age", 37)],
         expected=[("age_mismatch", None, None, ("mara", "age", 34, None, None))]),
    Case("age changes within the same year", "s01e02",
         [S("sc01", "harbor", DUSK, ["pip"], say("pip", "I am eleven now!"))],
         modified=[F("pip", "age", 11, "sc01")],
         expected=[("age_mismatch", "sc01", None, ("pip", "age", 10, None, None))]),
    Case("age against the year the diff itself sets", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Years have passed."))],
         modified=[F("story", "year", 1905), F("mara", "age", 35)],
         expected=[("age_mismatch", None, None, ("mara", "age", 34, None, None))]),
    Case("one character in two places at once", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "The boats are in.")),
          S("sc02", "inn", "Day 5,   DUSK", ["ines", "mara"], say("ines", "You are early."))],
         expected=[("two_places_at_once", "sc02", None, ("mara", "location", "harbor", "s01e04", "sc01"))]),
    Case("character at a place a world rule forbids them", "s01e01",
         [S("sc01", "sea_cave", "day 1, low tide", ["pip"], act("Pip splashes into the cave.", "pip"))],
         expected=[("location_forbidden", "sc01", None, ("pip", "forbidden_location", "sea_cave", None, None))]),
    Case("anyone at a place forbidden to everyone", "s01e04",
         [S("sc01", "vault", DUSK, ["mara", "ines"], act("They pry the vault open.", "mara", "ines"))],
         expected=[("location_forbidden", "sc01", None, ("*", "forbidden_location", "vault", None, None)),
                   ("location_forbidden", "sc01", None, ("*", "forbidden_location", "vault", None, None))]),
    Case("scene at a place made inaccessible two episodes earlier", "s01e04",
         [S("sc01", "sea_cave", DUSK, ["mara"], say("mara", "The water is gone."))],
         expected=[("location_inaccessible", "sc01", None, ("sea_cave", "accessible", False, None, None))]),
    Case("place floods in sc02 and is visited again in sc03", "s01e01",
         [S("sc01", "sea_cave", "day 1, low tide", ["mara"], act("Mara lights her lantern.", "mara")),
          S("sc02", "harbor", "day 1, noon", ["mara"], say("mara", "It is flooded to the roof.")),
          S("sc03", "sea_cave", "day 2, low tide", ["mara"], act("Mara wades back in.", "mara"))],
         modified=[F("sea_cave", "accessible", False, "sc02")],
         expected=[("location_inaccessible", "sc03", None, ("sea_cave", "accessible", False, "s01e01", "sc02"))]),
    Case("confined character walks the harbour", "s01e04",
         [S("sc01", "harbor", DUSK, ["aldo"], say("aldo", "Fine evening."))],
         expected=[("confined_elsewhere", "sc01", None, ("aldo", "confined_to", "cell", None, None))]),
    Case("confined in sc01, elsewhere in sc02", "s01e04",
         [S("sc01", "inn", MORNING, ["ines"], act("The door is barred from outside.")),
          S("sc02", "harbor", NIGHT, ["ines"], say("ines", "Free at last."))],
         modified=[F("ines", "confined_to", "inn", "sc01")],
         expected=[("confined_elsewhere", "sc02", None, ("ines", "confined_to", "inn", "s01e04", "sc01"))]),
    Case("diff moves a confined character", "s01e04", [S("sc01", "cell", DUSK, ["aldo"], say("aldo", "Let me out."))],
         modified=[F("aldo", "location", "harbor")],
         expected=[("confined_elsewhere", None, None, ("aldo", "confined_to", "cell", None, None))]),
    Case("diff moves a character somewhere forbidden", "s01e04",
         [S("sc01", "harbor", DUSK, ["pip"], say("pip", "Bye."))],
         modified=[F("pip", "location", "vault")],
         expected=[("location_forbidden", None, None, ("*", "forbidden_location", "vault", None, None))]),
    Case("unknown character in a scene", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara", "ghost"], say("mara", "Who are you?"))],
         expected=[("unknown_character", "sc01", None, None)]),
    Case("unknown speaker", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello?"), say("stranger", "Evening."))],
         expected=[("unknown_character", "sc01", 1, None)]),
    Case("unknown actor", "s01e04", [S("sc01", "harbor", DUSK, ["mara"], act("A stranger waves.", "stranger"))],
         expected=[("unknown_character", "sc01", 0, None)]),
    Case("unknown location", "s01e04", [S("sc01", "moon", DUSK, ["mara"], say("mara", "So quiet here."))],
         expected=[("unknown_location", "sc01", None, None)]),
    Case("speaks of a secret never learned", "s01e04",
         [S("sc01", "inn", DUSK, ["ines"], say("ines", "Aldo is a WRECKER, I am sure of it."))],
         expected=[("knowledge_violation", "sc01", 0, ("ines", "knows", "aldo_wrecker", None, None))],
         mode="strict"),
    Case("speaks of a secret one scene before learning it", "s01e04",
         [S("sc01", "inn", MORNING, ["ines"], say("ines", "Good morning.")),
          S("sc02", "harbor", NOON, ["ines"], say("ines", "He is still\n alive, I know it.")),
          S("sc03", "lighthouse", DUSK, ["ines"], say("ines", "Still alive!"))],
         added=[F("ines", "knows", "keeper_alive", "sc03")],
         expected=[("knowledge_violation", "sc02", 0, ("ines", "knows", "keeper_alive", None, None))],
         mode="strict"),
    Case("arc ends with a promise still open", "s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Done."))],
         arc_end=True, mode="strict",
         expected=[("open_promise", None, None, ("torn-page", "promise", TORN_PAGE, "s01e01", None))]),
    Case("a promise opened in this arc's last episode is still open", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Who rang the bell?"))],
         added=[F("who-rang", "promise", "Who rang the bell?")], modified=[F("torn-page", "status", "resolved")],
         arc_end=True, mode="strict",
         expected=[("open_promise", None, None, ("who-rang", "promise", "Who rang the bell?", "s01e04", None))]),
    Case("several contradictions come in scene, beat, kind order", "s01e04",
         [S("sc01", "moon", MORNING, ["ghost", "mara"], say("mara", "Hi.", name="M."),
            act("Tobias waves.", "tobias")),
          S("sc02", "harbor", DUSK, ["aldo"], say("aldo", "Good salvage tonight."))],
         modified=[F("mara", "name", "Mara Venn")],
         expected=[("unknown_character", "sc01", None, None), ("unknown_location", "sc01", None, None),
                   ("name_mismatch", "sc01", 0, ("mara", "name", "Mara Quill", None, None)),
                   ("dead_character_acts", "sc01", 1, TOBIAS_DEATH),
                   ("confined_elsewhere", "sc02", None, ("aldo", "confined_to", "cell", None, None)),
                   ("name_mismatch", None, None, ("mara", "name", "Mara Quill", None, None))]),
]

ACCEPT = [
    Case("a death mentioned only by others", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara", "ines"], say("mara", "Tobias died in the cave."),
            say("ines", "I remember Tobias."), act("Mara lays Tobias's coat on the pier.", "mara"))]),
    Case("a journey between scenes at different times", "s01e04",
         [S("sc01", "harbor", "day 5, dawn", ["mara"], act("Mara rows out.", "mara")),
          S("sc02", "inn", NOON, ["mara", "ines"], say("ines", "You made good time."))],
         modified=[F("mara", "location", "inn", "sc02")]),
    Case("same time, same place, two scenes", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Here.")),
          S("sc02", "harbor", "Day 5, Dusk", ["mara", "pip"], say("pip", "Still here."))]),
    Case("a birthday across a year", "s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Thirty-five!"))],
         modified=[F("mara", "age", 35)]),
    Case("birthday not yet passed a year later", "s01e04",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Still thirty-four."))], modified=[F("mara", "age", 34)]),
    Case("an age restated in the same year", "s01e02", [S("sc01", "harbor", DUSK, ["pip"], say("pip", "Ten."))],
         modified=[F("pip", "age", 10)]),
    Case("a secret learned mid-episode, then spoken", "s01e04",
         [S("sc01", "inn", MORNING, ["ines"], say("ines", "Good morning.")),
          S("sc02", "harbor", NOON, ["ines", "mara"], say("mara", "Aldo is a wrecker."),
            say("ines", "A wrecker? Then the salvage is his.")),
          S("sc03", "inn", NIGHT, ["ines"], say("ines", "The wrecker must be stopped."))],
         added=[F("ines", "knows", "aldo_wrecker", "sc02")]),
    Case("a secret learned in an earlier episode", "s01e05",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "I know about the salvage, Aldo."))]),
    Case("a look-alike word is not a keyword", "s01e04",
         [S("sc01", "harbor", DUSK, ["ines"], say("ines", "We salvaged the nets; wreckers' tales are old."))]),
    Case("a promise opened then paid off at arc end", "s01e04",
         [S("sc01", "lighthouse", DUSK, ["mara"], say("mara", "So that is who tore the page."))],
         modified=[F("torn-page", "status", "resolved")], arc_end=True, mode="strict"),
    Case("a promise of an earlier episode paid off with the arc's others", "s01e05",
         [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Now we know who rang it."))],
         modified=[F("torn-page", "status", "resolved"), F("who-rang", "status", "resolved")], arc_end=True,
         mode="strict", extra=(make_diff("s01e04", added=[F("who-rang", "promise", "Who rang the bell?")]),)),
    Case("a move", "s01e04", [S("sc01", "lighthouse", DUSK, ["mara"], act("Mara climbs to the lamp.", "mara"))],
         modified=[F("mara", "location", "lighthouse", "sc01"), F("lighthouse", "lamp_state", "lit", "sc01")]),
    Case("a relationship added", "s01e04", [S("sc01", "inn", DUSK, ["ines", "pip"], say("ines", "Come here, son."))],
         added=[F("ines", "parent_of", "pip"), F("pip", "friend_of", "mara")]),
    Case("leaving confinement after the diff clears it", "s01e04",
         [S("sc01", "cell", MORNING, ["aldo"], act("The cell door swings open.", "aldo")),
          S("sc02", "harbor", NIGHT, ["aldo"], say("aldo", "Fresh air."))],
         removed=[F("aldo", "confined_to", "cell", "sc01")]),
    Case("free in a later episode once a diff cleared confinement", "s01e05",
         [S("sc01", "harbor", DUSK, ["aldo"], say("aldo", "Fresh air."))],
         extra=(make_diff("s01e04", modified=[F("aldo", "confined_to", None)]),)),
    Case("a confined character where they are confined", "s01e04",
         [S("sc01", "cell", DUSK, ["aldo", "mara"], say("mara", "Why, Aldo?"), say("aldo", "For the salvage."))]),
    Case("a death at the episode's end: the character is in every scene", "s01e04",
         [S("sc01", "harbor", MORNING, ["ines"], say("ines", "Storm's coming.")),
          S("sc02", "harbor", NOON, ["ines", "mara"], say("ines", "Take my hand!"), act("Ines slips.", "ines"))],
         modified=[F("ines", "status", "dead")]),
    Case("a flooded place reachable again from the scene the tide goes out", "s01e04",
         [S("sc01", "harbor", MORNING, ["mara"], say("mara", "Low tide at noon.")),
          S("sc02", "sea_cave", NOON, ["mara"], act("Mara wades into the cave.", "mara"))],
         modified=[F("sea_cave", "accessible", True, "sc02")]),
]


@pytest.mark.parametrize("case", REJECT, ids=[c.name for c in REJECT])
def test_gate_rejects(case: Case):
    result = case.run()
    assert reported(result) == case.expected
    assert result.status == "blocked"
    for c in result.errors:
        assert c.severity == "error" and c.episode_id == case.episode and c.message
    for c in result.warnings:
        assert c.severity == "warning"


@pytest.mark.parametrize("case", ACCEPT, ids=[c.name for c in ACCEPT])
def test_gate_accepts(case: Case):
    result = case.run()
    assert reported(result) == []
    assert result.status == "passed"


def test_suite_covers_every_kind_and_is_big_enough():
    kinds = {e[0] for case in REJECT for e in case.expected}
    assert kinds == set(ERROR_KINDS) | set(WARNING_KINDS)
    assert len(REJECT) >= 24 and len(ACCEPT) >= 12


def test_messages_name_the_character_and_canon():
    result = REJECT[0].run()
    (error,) = result.errors
    assert "Tobias Venn (tobias)" in error.message and "s01e02/sc03" in error.message
    assert error.canon_fact == CanonFact(subject="tobias", attribute="status", value="dead", episode_id="s01e02",
                                         scene_id="sc03")


def test_knowledge_violation_warns_under_standard_and_blocks_under_strict():
    case = next(c for c in REJECT if c.name == "speaks of a secret never learned")
    diff = make_diff(case.episode, status="pending")
    script = make_script(case.episode, case.scenes)
    canon = canon_at(case.episode)
    standard = check_episode(canon, script, diff, continuity_mode="standard", arc_end=False)
    strict = check_episode(canon, script, diff, continuity_mode="strict", arc_end=False)
    assert standard.status == "passed" and strict.status == "blocked"
    assert standard.errors == strict.errors == []
    assert standard.warnings == strict.warnings
    assert [(w.kind, w.scene_id, w.beat_index) for w in strict.warnings] == [("knowledge_violation", "sc01", 0)]


def test_open_promise_only_at_arc_end_and_only_for_the_diffs_arc():
    script = make_script("s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Done."))])
    canon = canon_at("s01e04")
    not_end = check_episode(canon, script, make_diff("s01e04"), continuity_mode="strict", arc_end=False)
    other_arc = check_episode(canon, script, make_diff("s01e04", arc="another"), continuity_mode="strict",
                              arc_end=True)
    assert reported(not_end) == reported(other_arc) == []


def test_gate_is_deterministic_and_reports_as_an_artifact():
    case = REJECT[-1]
    diff = make_diff(case.episode, case.added, case.modified, case.removed, status="pending")
    script = make_script(case.episode, case.scenes)
    canon = canon_at(case.episode)
    one = check_episode(canon, script, diff, continuity_mode="standard", arc_end=False)
    two = check_episode(canon.model_copy(deep=True), script, diff, continuity_mode="standard", arc_end=False)
    assert one.model_dump() == two.model_dump()
    report = gate_report(canon, script, diff, one, continuity_mode="standard")
    assert report.status == "blocked" and report.approval_status == "pending"
    assert report.errors == one.errors and report.episode_id == case.episode
    # the verdict, not what it was given: the same verdict on a canon with another past is the same report
    assert gate_report(canon.model_copy(update={"applied_diffs": ["s00e01"]}), script, diff, one,
                       continuity_mode="standard").sha256() == report.sha256()


def test_a_diff_that_cannot_apply_is_bad_input_not_a_contradiction():
    script = make_script("s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello."))])
    canon = canon_at("s01e04")
    bad = make_diff("s01e04", modified=[F("marra", "location", "inn")])
    with pytest.raises(CanonDiffError) as err:
        check_episode(canon, script, bad, continuity_mode="standard", arc_end=False)
    assert str(err.value).startswith("s01e04: modified_facts[0] (marra.location = 'inn'): unknown subject 'marra'")
    assert "did you mean 'mara'?" in str(err.value)
    copy = pickle.loads(pickle.dumps(err.value))  # crosses process boundaries (Dagster steps) intact
    assert (str(copy), copy.field, copy.fact) == (str(err.value), err.value.field, err.value.fact)
    wrong_scene = make_diff("s01e04", modified=[F("mara", "location", "inn", "sc09")])
    with pytest.raises(CanonDiffError) as err:
        check_episode(canon, script, wrong_scene, continuity_mode="standard", arc_end=False)
    assert err.value.field == "modified_facts[0].scene_id"
    assert "scene 'sc09' is not a scene of the script of s01e04 (sc01)" in str(err.value)


def test_wrong_canon_or_episode_is_refused():
    script = make_script("s01e04", [S("sc01", "harbor", DUSK, ["mara"], say("mara", "Hello."))])
    with pytest.raises(ValueError, match="fold the canon to the start of s01e04"):
        check_episode(canon_at("s01e03"), script, make_diff("s01e04"), continuity_mode="standard", arc_end=False)
    with pytest.raises(ValueError, match="the CanonDiff is for s01e03"):
        check_episode(canon_at("s01e04"), script, make_diff("s01e03"), continuity_mode="standard", arc_end=False)


# ---- the proposer's diff through the gate -------------------------------------------------------------------------


def make_plan(episode: str, scenes: list[SceneOutline], **fields) -> EpisodePlan:
    return EpisodePlan.new(project_id=PROJECT.id, episode_id=episode, episode_number=int(episode[-2:]),
                           source="outline", title=episode,
                           summary=fields.pop("summary", f"{episode}: things happen."), scenes=scenes, **fields)


def script_of(plan: EpisodePlan) -> Script:
    return make_script(plan.episode_id, [
        S(s.id, s.location, s.time, s.characters,
          *[act(b.action, *b.actors) if isinstance(b, ActionBeat) else say(b.speaker, b.line) for b in s.beats])
        for s in plan.scenes])


def test_proposed_diff_of_a_plan_passes_and_reads_as_expected():
    plan = make_plan("s01e02", [
        SceneOutline(id="sc01", location="harbor", time="day 2, dawn", characters=["mara", "tobias"],
                     beats=[DialogueBeat(speaker="tobias", line="I am going to the cave.")]),
        SceneOutline(id="sc02", location="lighthouse", time="day 2, noon", characters=["mara"],
                     beats=[ActionBeat(action="Mara lights the lamp.", actors=["mara"])]),
        SceneOutline(id="sc03", location="harbor", time="day 2, dusk", characters=["ines", "mara"],
                     beats=[ActionBeat(action="Ines finds Tobias lifeless on the pier.", actors=["ines"]),
                            DialogueBeat(speaker="ines", line="Someone help!")]),
    ], year=1900, arc_id="keeper", new_facts=[
        NewFact(subject="tobias", attribute="status", value="dead", scene="sc03"),
        NewFact(subject="ines", attribute="knows", value="keeper_alive", scene="sc03"),
        NewFact(subject="lighthouse", attribute="lamp_state", value="lit", scene="sc02"),
        NewFact(subject="ines", attribute="location", value="inn"),
        NewFact(subject="ines", attribute="friend_of", value="mara"),
    ], unresolved_threads=[Thread(id="who-found-him", text="Who found Tobias first?")], resolves=["torn-page"])
    diff = propose_diff(plan, relations=INITIAL.relations)
    assert diff.approval_status == "pending" and diff.arc_id == "keeper"
    # the changes only: an edited line of dialogue (no fact, no presence changed) proposes the very same diff
    reworded = plan.model_copy(update={"scenes": [plan.scenes[0].model_copy(update={"beats": [
        DialogueBeat(speaker="tobias", line="I am off to the cave, then.")]}), *plan.scenes[1:]]})
    assert reworded.sha256() != plan.sha256()
    assert propose_diff(reworded, relations=INITIAL.relations).sha256() == propose_diff(
        plan, relations=INITIAL.relations).sha256()
    assert [(f.subject, f.attribute, f.value, f.scene_id) for f in diff.added_facts] == [
        ("ines", "knows", "keeper_alive", "sc03"), ("ines", "friend_of", "mara", None),
        ("who-found-him", "promise", "Who found Tobias first?", None), ("story", "event", "s01e02: things happen.", None)]
    assert [(f.subject, f.attribute, f.value, f.scene_id) for f in diff.modified_facts] == [
        ("tobias", "status", "dead", "sc03"), ("lighthouse", "lamp_state", "lit", "sc02"),
        ("ines", "location", "inn", None), ("torn-page", "status", "resolved", None), ("story", "year", 1900, None),
        ("mara", "location", "harbor", "sc03"), ("tobias", "location", "harbor", "sc01")]
    assert diff.removed_facts == [] and all(f.episode_id == "s01e02" for f in diff.modified_facts)
    assert propose_diff(plan, relations=INITIAL.relations).sha256() == diff.sha256()
    # without the project's relation names a relation fact is listed as modified; canon applies it the same way
    plain = propose_diff(plan)
    assert ("ines", "friend_of", "mara") in [(f.subject, f.attribute, f.value) for f in plain.modified_facts]
    base = canon_at("s01e02")
    assert apply_diff(base, plain).relationships == apply_diff(base, diff).relationships
    canon = canon_at("s01e02")
    result = check_episode(canon, script_of(plan), diff, continuity_mode="strict", arc_end=True)
    assert reported(result) == [("open_promise", None, None, ("who-found-him", "promise", "Who found Tobias first?",
                                                              "s01e02", None))]
