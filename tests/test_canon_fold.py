"""Canon fold, apply_diff and the DuckDB Canon Store: determinism (hypothesis), bad input, exact round trips,
two processes writing one store file at once."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engines.canon import CanonDiffError, DuckDBCanonStore, apply_diff, fold, initial_canon
from engines.canon.store import model_rows, rebuild
from schemas import (
    Canon,
    CanonCharacter,
    CanonDiff,
    CanonFact,
    CanonLocation,
    CanonProp,
    Character,
    Contradiction,
    EpisodeRef,
    KnowledgeState,
    Location,
    Project,
    Promise,
    Prop,
    Relationship,
    Secret,
    TimelineEvent,
    ValidationResult,
    WorldRule,
)
from schemas.project import DurationWindow, RelationshipSeed, SecretSeed, World

ROOT = Path(__file__).resolve().parent.parent
ORDER = [f"s01e{n:02d}" for n in range(1, 9)]
CHARS = ["aldo", "ines", "mara", "tobias"]
LOCS = ["harbor", "inn", "lighthouse", "sea_cave"]
PROPS = ["lamp_key", "logbook"]
SECRETS = ["aldo_wrecker", "keeper_alive"]


def make_project(**world) -> Project:
    return Project.new(
        id="gull", title="Gull Point", target_duration_s=DurationWindow(min=30, max=90), asset_library="library",
        story_year=1900, episodes=[EpisodeRef(id=e, outline=f"episodes/{e}.yaml") for e in ORDER],
        characters=[Character(id=c, name=c.title(), age=30 + i, location="harbor") for i, c in enumerate(CHARS)],
        locations=[Location(id=loc, name=loc.replace("_", " ").title()) for loc in reversed(LOCS)],
        props=[Prop(id=p, name=p.replace("_", " "), location="lighthouse") for p in PROPS],
        world=World(
            relations=["parent_of", "friend_of"], states=["last_page"],
            rules=[WorldRule(id="no-ancestor-loops", kind="acyclic", relation="parent_of")],
            secrets=[SecretSeed(id=s, statement=f"{s} is true", keywords=[s.split("_")[1]],
                                known_by=["tobias"] if s == "keeper_alive" else []) for s in SECRETS],
            relationships=[RelationshipSeed(source="tobias", relation="parent_of", target="mara")],
            **world,
        ),
    )


PROJECT = make_project()
INITIAL = initial_canon(PROJECT)


def F(subject: str, attribute: str, value, scene: str | None = None, previous=None) -> CanonFact:
    return CanonFact(subject=subject, attribute=attribute, value=value, scene_id=scene, previous=previous)


def make_diff(episode: str, added=(), modified=(), removed=(), status="approved") -> CanonDiff:
    return CanonDiff.new(project_id=PROJECT.id, episode_id=episode, arc_id="keeper", added_facts=list(added),
                         modified_facts=list(modified), removed_facts=list(removed), approval_status=status)


def test_initial_canon_is_the_project_sorted():
    assert [c.id for c in INITIAL.characters] == sorted(CHARS)
    assert [loc.id for loc in INITIAL.locations] == sorted(LOCS)
    assert {c.age_year for c in INITIAL.characters} == {1900} and INITIAL.story_year == 1900
    assert INITIAL.knowledge == [KnowledgeState(character="tobias", secret="keeper_alive")]
    assert INITIAL.relations == ["friend_of", "parent_of"] and INITIAL.as_of_episode is None
    assert initial_canon(make_project()).canonical_bytes() == INITIAL.canonical_bytes()


def test_a_project_whose_relationships_already_loop_is_refused():
    with pytest.raises(ValueError, match="tobias parent_of mara closes the cycle tobias -> mara -> tobias that world rule 'no-ancestor-loops'"):
        initial_canon(make_project().model_copy(update={"world": make_project().world.model_copy(update={
            "relationships": [RelationshipSeed(source="tobias", relation="parent_of", target="mara"),
                              RelationshipSeed(source="mara", relation="parent_of", target="tobias")]})}))


def test_apply_diff_applies_every_kind_of_fact():
    e1 = make_diff("s01e01", added=[
        F("mara", "knows", "aldo_wrecker", "sc02"), F("ines", "friend_of", "mara"),
        F("torn-page", "promise", "Who tore the page?"), F("story", "event", "The lamp goes dark."),
    ], modified=[
        F("tobias", "status", "dead", "sc03", previous="alive"), F("mara", "location", "inn", "sc02"),
        F("aldo", "confined_to", "lighthouse"), F("sea_cave", "accessible", False), F("logbook", "location", "inn"),
        F("logbook", "last_page", "torn out", "sc01"), F("story", "year", 1901), F("ines", "age", 33),
    ])
    c1 = apply_diff(INITIAL, e1)
    chars = {c.id: c for c in c1.characters}
    assert (chars["tobias"].status, chars["tobias"].died_in) == ("dead", "s01e01/sc03")
    assert chars["mara"].location == "inn" and chars["aldo"].confined_to == "lighthouse"
    assert (chars["ines"].age, chars["ines"].age_year) == (33, 1901)
    assert c1.location("sea_cave").accessible is False and c1.props[1].location == "inn"
    assert KnowledgeState(character="mara", secret="aldo_wrecker", since_episode="s01e01",
                          since_scene="sc02") in c1.knowledge
    assert Relationship(source="ines", relation="friend_of", target="mara", since_episode="s01e01") in c1.relationships
    assert c1.promises == [Promise(id="torn-page", text="Who tore the page?", arc="keeper", opened_in="s01e01")]
    assert c1.timeline_events == [TimelineEvent(episode_id="s01e01", year=1901, text="The lamp goes dark.")]
    assert c1.persistent_states == [CanonFact(subject="logbook", attribute="last_page", value="torn out",
                                              episode_id="s01e01", scene_id="sc01")]
    assert c1.story_year == 1901 and c1.applied_diffs == ["s01e01"]  # the episodes folded, not lineage

    e2 = make_diff("s01e02", removed=[
        F("mara", "knows", "aldo_wrecker"), F("ines", "friend_of", "mara"), F("aldo", "confined_to", "lighthouse"),
        F("logbook", "last_page", None),
    ], modified=[F("torn-page", "status", "resolved", "sc04"), F("logbook", "last_page", "found", previous=None)])
    c2 = apply_diff(c1, e2)
    assert c2.promises[0].status == "resolved" and c2.promises[0].resolved_in == "s01e02/sc04"
    assert c2.character("aldo").confined_to is None and c2.relationships == INITIAL.relationships
    assert c2.knowledge == INITIAL.knowledge
    assert c2.persistent_states == [CanonFact(subject="logbook", attribute="last_page", value="found",
                                              episode_id="s01e02")]
    assert c2.applied_diffs == ["s01e01", "s01e02"]


# ---- bad input: CanonDiffError, nothing applied --------------------------------------------------------------------

BAD = [
    ("unknown id", make_diff("s01e03", modified=[F("mara", "location", "inn"), F("marra", "location", "inn")]),
     "modified_facts[1].subject",
     "s01e03: modified_facts[1] (marra.location = 'inn'): unknown subject 'marra': not a character, location, prop, "
     "secret or promise of this canon, nor 'story'; did you mean 'mara'?"),
    ("unknown attribute", make_diff("s01e03", added=[F("story", "event", "x"), F("mara", "knows", "keeper_alive"),
                                                     F("logbook", "colour", "red")]),
     "added_facts[2].attribute",
     "s01e03: added_facts[2] (logbook.colour = 'red'): unknown attribute 'colour' for prop 'logbook'; known: name, "
     "location, last_page"),
    ("cyclic relationship", make_diff("s01e03", added=[F("mara", "parent_of", "tobias")]), "added_facts[0].value",
     "s01e03: added_facts[0] (mara.parent_of = 'tobias'): mara parent_of tobias closes the cycle mara -> tobias -> "
     "mara, which world rule 'no-ancestor-loops' forbids (parent_of is acyclic)"),
    ("self loop", make_diff("s01e03", added=[F("ines", "parent_of", "ines")]), "added_facts[0].value",
     "s01e03: added_facts[0] (ines.parent_of = 'ines'): ines parent_of ines closes the cycle ines -> ines, which "
     "world rule 'no-ancestor-loops' forbids (parent_of is acyclic)"),
    ("previous mismatch", make_diff("s01e03", modified=[F("mara", "location", "inn", previous="lighthouse")]),
     "modified_facts[0].previous",
     "s01e03: modified_facts[0] (mara.location = 'inn'): previous 'lighthouse' does not match canon: mara.location "
     "is 'harbor'"),
    ("status value", make_diff("s01e03", modified=[F("mara", "status", "missing")]), "modified_facts[0].value",
     "s01e03: modified_facts[0] (mara.status = 'missing'): status is 'alive' or 'dead', not 'missing'"),
    ("location value", make_diff("s01e03", modified=[F("mara", "location", "moon")]), "modified_facts[0].value",
     "s01e03: modified_facts[0] (mara.location = 'moon'): 'moon' is not a location id of this canon; known: harbor, "
     "inn, lighthouse, sea_cave"),
    ("knows value", make_diff("s01e03", added=[F("mara", "knows", "nothing")]), "added_facts[0].value",
     "s01e03: added_facts[0] (mara.knows = 'nothing'): 'nothing' is not a secret id of this canon; known: "
     "aldo_wrecker, keeper_alive"),
    ("relation target", make_diff("s01e03", added=[F("mara", "friend_of", "harbor")]), "added_facts[0].value",
     "s01e03: added_facts[0] (mara.friend_of = 'harbor'): 'harbor' is not a character id of this canon; a relation "
     "links two characters"),
    ("age value", make_diff("s01e03", modified=[F("mara", "age", True)]), "modified_facts[0].value",
     "s01e03: modified_facts[0] (mara.age = True): an age is a whole number >= 0, not True"),
    ("negative age", make_diff("s01e03", modified=[F("mara", "age", -1)]), "modified_facts[0].value",
     "s01e03: modified_facts[0] (mara.age = -1): an age is a whole number >= 0, not -1"),
    ("accessible value", make_diff("s01e03", modified=[F("inn", "accessible", "no")]), "modified_facts[0].value",
     "s01e03: modified_facts[0] (inn.accessible = 'no'): accessible is true or false, not 'no'"),
    ("removing what does not hold", make_diff("s01e03", removed=[F("mara", "knows", "keeper_alive")]),
     "removed_facts[0].value",
     "s01e03: removed_facts[0] (mara.knows = 'keeper_alive'): the fact does not hold: mara does not know "
     "'keeper_alive'"),
    ("removing a name", make_diff("s01e03", removed=[F("mara", "name", "Mara")]), "removed_facts[0].attribute",
     "s01e03: removed_facts[0] (mara.name = 'Mara'): character attribute 'name' cannot be removed; modify it "
     "instead"),
    ("resolving an unknown promise", make_diff("s01e03", modified=[F("who-knows", "status", "resolved")]),
     "modified_facts[0].subject",
     "s01e03: modified_facts[0] (who-knows.status = 'resolved'): unknown subject 'who-knows': not a character, "
     "location, prop, secret or promise of this canon, nor 'story'"),
    ("resolving twice", make_diff("s01e03", added=[F("p1", "promise", "Why?")],
                                  modified=[F("p1", "status", "resolved"), F("p1", "status", "resolved")]),
     "modified_facts[1].subject",
     "s01e03: modified_facts[1] (p1.status = 'resolved'): promise 'p1' is not open: resolved in s01e03"),
    ("fact of another episode", make_diff("s01e03", modified=[CanonFact(subject="mara", attribute="location",
                                                                        value="inn", episode_id="s01e02")]),
     "modified_facts[0].episode_id",
     "s01e03: modified_facts[0] (mara.location = 'inn'): the fact belongs to episode 's01e02', the diff to 's01e03'"),
]


@pytest.mark.parametrize(("name", "diff", "field", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_diff_raises_and_applies_nothing(tmp_path, name, diff, field, message):
    before = INITIAL.canonical_bytes()
    with pytest.raises(CanonDiffError) as err:
        apply_diff(INITIAL, diff)
    assert str(err.value) == message
    assert err.value.episode_id == "s01e03" and err.value.field == field
    index = int(field.split("[")[1].split("]")[0])
    assert err.value.fact == getattr(diff, field.split("[")[0])[index]
    assert INITIAL.canonical_bytes() == before


def test_a_bad_diff_in_a_fold_leaves_the_store_as_it_was(tmp_path):
    store = DuckDBCanonStore(tmp_path / "canon.duckdb")
    good = make_diff("s01e01", added=[F("ines", "parent_of", "aldo")])
    bad = make_diff("s01e02", added=[F("aldo", "parent_of", "tobias"), F("mara", "parent_of", "ines")])
    sha = store.save_snapshot(fold(INITIAL, [good], ORDER, "s01e03"))
    with pytest.raises(CanonDiffError, match=r"^s01e02: added_facts\[1\] \(mara.parent_of = 'ines'\): .*cycle mara -> "
                                             r"ines -> aldo -> tobias -> mara"):
        store.save_snapshot(fold(INITIAL, [bad, good], ORDER, "s01e03"))
    assert store.load_snapshot("gull", "s01e03").sha256() == sha


def test_diff_for_another_project_or_applied_twice_is_refused():
    other = make_diff("s01e01").model_copy(update={"project_id": "elsewhere"})
    with pytest.raises(CanonDiffError, match="s01e01: project_id: the diff is for project 'elsewhere'"):
        apply_diff(INITIAL, other)
    once = apply_diff(INITIAL, make_diff("s01e01"))
    with pytest.raises(CanonDiffError, match="a CanonDiff of s01e01 is already applied"):
        apply_diff(once, make_diff("s01e01", added=[F("story", "event", "another take")]))  # one diff an episode


def test_fold_refuses_two_diffs_for_one_episode_and_unknown_episodes():
    with pytest.raises(ValueError, match="two CanonDiffs for episode s01e01"):
        fold(INITIAL, [make_diff("s01e01"), make_diff("s01e01", added=[F("story", "event", "x")])], ORDER, "s01e03")
    with pytest.raises(ValueError, match="not in episode_order"):
        fold(INITIAL, [make_diff("s09e01")], ORDER, "s01e03")
    with pytest.raises(ValueError, match="as_of_episode 's02e01' is not in episode_order"):
        fold(INITIAL, [], ORDER, "s02e01")


# ---- the fold: order-independent, approved diffs only (hypothesis) ------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
state_values = st.one_of(names.filter(bool), st.integers(-5, 5), st.booleans())


def valid_facts(episode: str) -> st.SearchStrategy[list[tuple[str, CanonFact]]]:
    """Facts that apply to the canon of any earlier fold: (section, fact)."""
    chars, locs = st.sampled_from(CHARS), st.sampled_from(LOCS)
    modified = st.one_of(
        st.builds(lambda c, loc, s: F(c, "location", loc, s), chars, locs, st.sampled_from([None, "sc01", "sc02"])),
        st.builds(lambda c, a: F(c, "age", a), chars, st.integers(0, 99)),
        st.builds(lambda c, v: F(c, "status", v), chars, st.sampled_from(["alive", "dead"])),
        st.builds(lambda loc, v: F(loc, "accessible", v), locs, st.booleans()),
        st.builds(lambda p, loc: F(p, "location", loc), st.sampled_from(PROPS), locs),
        st.builds(lambda s, v: F(s, "last_page", v), st.sampled_from(PROPS + LOCS), state_values),
        st.builds(lambda y: F("story", "year", y), st.integers(1890, 1910)),
    )
    added = st.one_of(
        st.builds(lambda c, s: F(c, "knows", s), chars, st.sampled_from(SECRETS)),
        st.builds(lambda a, b: F(a, "friend_of", b), chars, chars),
        st.builds(lambda t: F("story", "event", t), names.filter(str.strip)),
        st.builds(lambda n, t: F(f"{episode}-thread-{n}", "promise", t), st.integers(0, 3), names.filter(str.strip)),
    )
    return st.lists(st.one_of(st.tuples(st.just("modified"), modified), st.tuples(st.just("added"), added)),
                    max_size=8)


@st.composite
def seasons(draw) -> list[CanonDiff]:
    diffs = []
    for episode in ORDER:
        if not draw(st.booleans()):
            continue
        facts = draw(valid_facts(episode))
        diffs.append(make_diff(episode, added=[f for s, f in facts if s == "added"],
                               modified=[f for s, f in facts if s == "modified"],
                               status=draw(st.sampled_from(["approved", "approved", "pending", "rejected"]))))
    return diffs


FAST = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(diffs=seasons(), as_of=st.sampled_from(ORDER), seed=st.integers(0, 2**16))
def test_fold_is_order_independent_and_folds_approved_diffs_only(diffs, as_of, seed):
    before = [d.canonical_bytes() for d in diffs]
    canon = fold(INITIAL, diffs, ORDER, as_of)
    shuffled = list(diffs)
    random.Random(seed).shuffle(shuffled)
    assert fold(INITIAL, iter(shuffled), ORDER, as_of).canonical_bytes() == canon.canonical_bytes()

    earlier = ORDER[:ORDER.index(as_of)]
    approved = [d for d in diffs if d.approval_status == "approved" and d.episode_id in earlier]
    assert canon.applied_diffs == [d.episode_id for d in approved] and canon.as_of_episode == as_of
    assert fold(INITIAL, approved, ORDER, as_of).canonical_bytes() == canon.canonical_bytes()
    by_hand = INITIAL
    for d in approved:
        by_hand = apply_diff(by_hand, d)
    assert by_hand.model_copy(update={"as_of_episode": as_of}).canonical_bytes() == canon.canonical_bytes()
    # folding on from an earlier fold gives the same canon
    middle = ORDER[ORDER.index(as_of) // 2]
    assert fold(fold(INITIAL, diffs, ORDER, middle), diffs, ORDER, as_of).canonical_bytes() == canon.canonical_bytes()
    assert [d.canonical_bytes() for d in diffs] == before


@FAST
@given(diffs=seasons())
def test_apply_diff_does_not_change_its_input(diffs):
    canon = INITIAL
    for d in diffs:
        before = canon.canonical_bytes()
        after = apply_diff(canon, d)
        assert canon.canonical_bytes() == before
        assert after.applied_diffs[-1] == d.episode_id and after is not canon
        assert all(getattr(after, name) is not getattr(canon, name) for name in Canon.model_fields
                   if isinstance(getattr(canon, name), list))
        canon = after


# ---- the store: exact round trips ----------------------------------------------------------------------------------

ids = st.text("abcdefghij_-0123456789", min_size=1, max_size=8)
optional = st.none() | names
values = st.one_of(st.none(), names, st.integers(), st.booleans(),
                   st.floats(allow_nan=False, allow_infinity=False))
facts = st.builds(CanonFact, subject=names.filter(bool), attribute=names.filter(bool), value=values, previous=values,
                  episode_id=optional, scene_id=optional)
canons = st.builds(
    Canon.new,
    project_id=st.sampled_from(["gull", "other"]), as_of_episode=st.none() | st.sampled_from(ORDER),
    story_year=st.none() | st.integers(-3000, 3000),
    characters=st.lists(st.builds(CanonCharacter, id=ids, name=names, age=st.integers(0, 10**12),
                                  age_year=st.none() | st.integers(), status=st.sampled_from(["alive", "dead"]),
                                  died_in=optional, location=optional, confined_to=optional), max_size=4),
    locations=st.lists(st.builds(CanonLocation, id=ids, name=names, accessible=st.booleans()), max_size=3),
    props=st.lists(st.builds(CanonProp, id=ids, name=names, location=optional), max_size=3),
    relations=st.lists(names, max_size=3), state_names=st.lists(names, max_size=3),
    world_rules=st.lists(st.builds(WorldRule, id=ids, kind=st.sampled_from(["acyclic", "forbidden_location", "note"]),
                                   relation=optional, character=optional, location=optional, text=names), max_size=2),
    secrets=st.lists(st.builds(Secret, id=ids, statement=names.filter(bool), keywords=st.lists(names, min_size=1,
                                                                                              max_size=3)), max_size=2),
    knowledge=st.lists(st.builds(KnowledgeState, character=ids, secret=ids, since_episode=optional,
                                 since_scene=optional), max_size=3),
    promises=st.lists(st.builds(Promise, id=ids, text=names, arc=optional, opened_in=optional,
                                status=st.sampled_from(["open", "resolved"]), resolved_in=optional), max_size=3),
    relationships=st.lists(st.builds(Relationship, source=ids, relation=ids, target=ids, since_episode=optional),
                           max_size=3),
    timeline_events=st.lists(st.builds(TimelineEvent, episode_id=ids, scene_id=optional,
                                       year=st.none() | st.integers(), time=names, text=names), max_size=3),
    persistent_states=st.lists(facts, max_size=4),
    applied_diffs=st.lists(st.sampled_from(ORDER), max_size=3, unique=True),
)
diffs = st.builds(
    CanonDiff.new, project_id=st.sampled_from(["gull", "other"]), episode_id=st.sampled_from(ORDER),
    arc_id=optional, added_facts=st.lists(facts, max_size=4),
    modified_facts=st.lists(facts, max_size=4), removed_facts=st.lists(facts, max_size=2), justification=names,
    validation=st.builds(ValidationResult, status=st.sampled_from(["passed", "failed", "not_run"]),
                         contradictions=st.lists(st.builds(Contradiction, kind=ids, episode_id=ids, scene_id=optional,
                                                           beat_index=st.none() | st.integers(0, 9), message=names,
                                                           canon_fact=st.none() | facts), max_size=2)),
    approval_status=st.sampled_from(["pending", "approved", "rejected"]),
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory) -> DuckDBCanonStore:
    return DuckDBCanonStore(tmp_path_factory.mktemp("store") / "canon.duckdb")


@settings(max_examples=50, deadline=None)
@given(canon=canons, diff=diffs)
def test_models_round_trip_through_fact_rows(canon, diff):
    rows = [(kind, position, attribute, value) for kind, position, _, attribute, value in model_rows(canon, "canon")]
    assert Canon.model_validate(rebuild(rows, "canon")).canonical_bytes() == canon.canonical_bytes()
    rows = [(kind, position, attribute, value) for kind, position, _, attribute, value in model_rows(diff, "diff")]
    assert CanonDiff.model_validate(rebuild(rows, "diff")).canonical_bytes() == diff.canonical_bytes()


# Every store operation opens its own DuckDB connection (~25 ms here), so fewer examples go through the file.
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(canon=canons)
def test_snapshots_round_trip_exactly(shared_store, canon):
    sha = shared_store.save_snapshot(canon)
    assert sha == canon.sha256()
    loaded = shared_store.load_snapshot(canon.project_id, canon.as_of_episode)
    assert loaded.canonical_bytes() == canon.canonical_bytes()


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(diff=diffs)
def test_diffs_round_trip_exactly(shared_store, diff):
    assert shared_store.record_diff(diff) == diff.sha256()
    loaded, status = shared_store.latest_diffs(diff.project_id)[diff.episode_id]
    assert loaded.canonical_bytes() == diff.canonical_bytes() and status == diff.approval_status


def test_snapshot_is_stored_as_fact_rows(tmp_path):
    import duckdb

    store = DuckDBCanonStore(tmp_path / "canon.duckdb")
    folded = fold(INITIAL, [make_diff("s01e01", modified=[F("tobias", "status", "dead", "sc03")])], ORDER, "s01e02")
    sha = store.save_snapshot(folded)
    assert store.save_snapshot(folded) == sha  # idempotent
    con = duckdb.connect(str(tmp_path / "canon.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT kind, position, subject, attribute, value_json FROM canon_facts WHERE "
                           "snapshot_sha = ? AND subject = 'tobias' AND kind = 'characters' ORDER BY attribute",
                           [sha]).fetchall()
        assert con.execute("SELECT count(*) FROM canon_snapshots").fetchone() == (1,)
    finally:
        con.close()
    assert ("characters", 3, "tobias", "died_in", '"s01e01/sc03"') in rows
    assert ("characters", 3, "tobias", "status", '"dead"') in rows
    assert store.load_snapshot("gull", "s01e02").sha256() == sha
    with pytest.raises(LookupError, match="no as of s01e05 canon snapshot of project 'gull'"):
        store.load_snapshot("gull", "s01e05")


def test_diff_statuses_approvers_and_latest_diffs(tmp_path):
    store = DuckDBCanonStore(tmp_path / "canon.duckdb")
    first = make_diff("s01e01", status="pending")
    second = make_diff("s01e01", added=[F("story", "event", "rewritten")], status="pending")
    other = make_diff("s01e02", status="approved")
    a, b, c = store.record_diff(first), store.record_diff(second), store.record_diff(other)
    assert store.record_diff(first) == a  # idempotent, and second stays the latest of s01e01
    assert store.diff_status("gull", "s01e01", a) == "pending" and store.diff_status("gull", "s01e02", c) == "approved"
    assert store.diff_status("gull", "s01e01", "0" * 64) is None
    store.set_status("gull", "s01e01", b, "approved", approver="ines", note="reads well")
    history = store.status_history("gull", "s01e01", b)
    assert [(h.status, h.approver, h.note) for h in history] == [("pending", "", "recorded"),
                                                                  ("approved", "ines", "reads well")]
    latest = store.latest_diffs("gull")
    assert list(latest) == ["s01e01", "s01e02"]
    assert latest["s01e01"][0].sha256() == b and latest["s01e01"][1] == "approved"
    assert latest["s01e02"] == (other, "approved")
    folded = fold(INITIAL, store.diffs_for_fold("gull"), ORDER, "s01e03")
    assert [e.text for e in folded.timeline_events] == ["rewritten"] and len(folded.applied_diffs) == 2
    with pytest.raises(LookupError, match="no CanonDiff"):
        store.set_status("gull", "s01e02", a, "approved", approver="ines")
    with pytest.raises(ValueError, match="status is one of"):
        store.set_status("gull", "s01e01", b, "maybe", approver="ines")
    assert store.latest_diffs("nobody") == {}


def test_the_store_records_the_plan_a_diff_came_from(tmp_path):
    """The diff's bytes hold its facts; the plan it was proposed from is the store's record, and follows the latest
    proposal of the episode even when an edited plan gives the same diff (its status and approvals stay)."""
    store = DuckDBCanonStore(tmp_path / "canon.duckdb")
    diff = make_diff("s01e01", status="pending")
    assert store.episode_plan("gull", "s01e01") is None
    sha = store.record_diff(diff, episode_plan="a" * 64, proposer="canon-proposer@1")
    store.set_status("gull", "s01e01", sha, "approved", approver="ines")
    assert store.record_diff(diff, episode_plan="b" * 64, proposer="canon-proposer@1") == sha  # a dialogue edit
    assert store.episode_plan("gull", "s01e01") == "b" * 64
    assert store.record_diff(diff) == sha and store.episode_plan("gull", "s01e01") == "b" * 64  # the gate's call
    assert [(h.status, h.approver) for h in store.status_history("gull", "s01e01", sha)] == [
        ("pending", "canon-proposer@1"), ("approved", "ines")]
    assert store.latest_diffs("gull")["s01e01"] == (diff, "approved")


def test_a_diff_recorded_before_content_not_lineage_still_loads(tmp_path):
    """A CanonDiff 1.x in the store (it held its plan's hash) loads upgraded; its bytes differ now, so it is not
    what the gate reviewed: the next canon_gate run records it again."""
    import duckdb

    store = DuckDBCanonStore(tmp_path / "canon.duckdb")
    diff = make_diff("s01e01", status="approved")
    sha = store.record_diff(diff)
    con = duckdb.connect(str(tmp_path / "canon.duckdb"))
    try:
        con.execute("UPDATE canon_diff_facts SET value_json = '\"1.1.0\"' WHERE attribute = 'schema_version'")
        con.execute("INSERT INTO canon_diff_facts VALUES (?, 'diff', 0, 'gull', 'provenance', ?)",
                    [sha, json.dumps({"episode_plan": "a" * 64})])
    finally:
        con.close()
    loaded, status = store.latest_diffs("gull")["s01e01"]
    assert loaded.canonical_bytes() == diff.canonical_bytes() and status == "approved"


# ---- two processes, one store file --------------------------------------------------------------------------------

WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from engines.canon import DuckDBCanonStore
    from schemas import Canon, CanonDiff, CanonFact

    db, who, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    canon = Canon.model_validate_json(Path(sys.argv[4]).read_text())
    while not go.exists():
        time.sleep(0.005)
    store = DuckDBCanonStore(db)
    for i in range(4):
        store.save_snapshot(canon.model_copy(update={"project_id": who, "as_of_episode": f"s01e0{i + 1}"}))
        diff = CanonDiff.new(project_id=who, episode_id=f"s01e0{i + 1}", added_facts=[
            CanonFact(subject="story", attribute="event", value=f"{who} {i}")])
        sha = store.record_diff(diff)
        store.set_status(who, diff.episode_id, sha, "approved", approver=who)
    print("ok", who)
""")


def test_two_processes_write_one_store_at_once(tmp_path):
    db, go, canon_file = tmp_path / "canon.duckdb", tmp_path / "go", tmp_path / "canon.json"
    canon_file.write_bytes(fold(INITIAL, [], ORDER, "s01e01").canonical_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(db), who, str(go), str(canon_file)], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("alpha", "beta")]
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    assert sorted(out.strip() for out, _ in outs) == ["ok alpha", "ok beta"]
    store = DuckDBCanonStore(db)
    for who in ("alpha", "beta"):
        assert store.load_snapshot(who, "s01e04").project_id == who
        latest = store.latest_diffs(who)
        assert list(latest) == [f"s01e0{i}" for i in range(1, 5)]
        assert {status for _, status in latest.values()} == {"approved"}
