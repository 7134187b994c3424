"""engines/audio/casting.py on hand-built voice pools: distinct voices, gender and accent from the character's data,
the author's voices kept, sharing only between characters who never share a scene, engines missing or forced,
stability over a season. Pure Python: no engine runs here."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.audio.casting import NARRATOR, CastingError, VoiceInfo, cast_voices, gender_of, scene_clashes
from engines.writing import load_outline, load_project
from schemas import Project, VoiceProfile

ROOT = Path(__file__).resolve().parent.parent
PILOT = ROOT / "examples" / "pilot" / "project.yaml"
CHAIN = ["kokoro", "flite", "espeak-ng"]


def _pool(engine: str, *specs: str) -> list[VoiceInfo]:
    """Voices from "id:f:us" specs, best first."""
    out = []
    for spec in specs:
        vid, g, accent = spec.split(":")
        out.append(VoiceInfo(engine, vid, {"f": "female", "m": "male"}[g], accent))
    return out


KOKORO = _pool("kokoro", "af_heart:f:us", "af_bella:f:us", "bf_emma:f:gb", "am_fenrir:m:us", "am_michael:m:us",
               "bm_george:m:gb", "bm_fable:m:gb", "bf_isabella:f:gb", "af_sarah:f:us", "bm_lewis:m:gb")
FLITE = _pool("flite", "slt:f:us", "rms:m:us", "awb:m:gb", "kal16:m:us")
ESPEAK = _pool("espeak-ng", "en-gb+f3:f:gb", "en-us+f3:f:us", "en-gb-x-rp+f2:f:gb", "en-us+f4:f:us", "en-gb:m:gb",
               "en-us:m:us", "en-gb-scotland:m:gb")
ALL = {"kokoro": KOKORO, "flite": FLITE, "espeak-ng": ESPEAK}
GENDER = {v.id: v.gender for vs in ALL.values() for v in vs}
ACCENT = {v.id: v.accent for vs in ALL.values() for v in vs}


def _char(cid: str, description: str = "", **voice) -> dict:
    return {"id": cid, "name": cid.title(), "age": 40, "description": description, "voice": voice}


def _project(*characters: dict, **audio) -> Project:
    return Project.model_validate({
        "schema_version": "1.4.0", "id": "cast", "title": "Casting", "target_duration_s": {"min": 10, "max": 90},
        "characters": list(characters), "locations": [{"id": "quay", "name": "The Quay"}], "asset_library": "library",
        "episodes": [{"id": "s01e01"}], "audio": audio,
    })  # fmt: skip


def _voices(casting) -> dict[str, tuple[str, str]]:
    return {sid: (c.engine, c.voice) for sid, c in casting.items()}


# ---- distinct voices -----------------------------------------------------------------------------------------------


def test_every_speaker_gets_a_voice_of_their_own_when_the_pool_is_big_enough():
    project = _project(_char("mara", "She rows the oil out."), _char("tobias", "He keeps the light."),
                       _char("ines", "She charts the coast."), _char("aldo", "He skippers the boat."),
                       _char("wren", "A child of the harbour."), _char("oskar"))
    casting = cast_voices(project, ALL, CHAIN)
    assert set(casting) == {"mara", "tobias", "ines", "aldo", "wren", "oskar", NARRATOR}
    assert len(set(_voices(casting).values())) == len(casting), _voices(casting)
    assert {c.engine for c in casting.values()} == {"kokoro"}  # the first installed engine of the chain
    assert all(c.cast for c in casting.values())
    for sid, c in casting.items():  # the profile carries what was decided, for the cache keys
        assert (c.profile.engine, c.profile.voice) == (c.engine, c.voice), sid


def test_the_narrator_is_distinct_from_everyone_even_the_authors_choices():
    project = _project(_char("mara", voice="bf_emma", engine="kokoro"), _char("tobias", voice="bm_george"),
                       accent="gb")
    casting = cast_voices(project, ALL, CHAIN)
    narrator = casting[NARRATOR]
    assert narrator.cast and narrator.engine == "kokoro"
    assert narrator.voice not in {"bf_emma", "bm_george"}
    assert ACCENT[narrator.voice] == "gb"  # the project's accent
    assert narrator.voice == "bm_fable"  # the first free gb voice in the engine's order


def test_a_narrator_the_author_chose_is_kept():
    project = _project(_char("mara"), _char("tobias"), narrator={"engine": "kokoro", "voice": "af_heart"})
    casting = cast_voices(project, ALL, CHAIN)
    assert (casting[NARRATOR].voice, casting[NARRATOR].cast) == ("af_heart", False)
    assert "af_heart" not in {casting["mara"].voice, casting["tobias"].voice}


# ---- gender and accent ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("description", "hint", "expected"), [
    ("She rows the oil out to the lighthouse.", None, "female"),
    ("Keeper of the light; he never leaves his post.", None, "male"),
    ("She says he is lying, and she knows her bay.", None, "female"),  # more of hers than of his
    ("A fisher who rows oil out; practical, stubborn.", None, None),  # no pronoun: unknown
    ("The shepherd, the helmsman, Hershel and Hester.", None, None),  # whole words only
    ("She and he.", None, None),  # as many of each: unknown
    ("He keeps the light.", "female", "female"),  # the hint wins over the description
    ("", "male", "male"),
])  # fmt: skip
def test_gender_of(description, hint, expected):
    assert gender_of(VoiceProfile(gender=hint), description) == expected


def test_gender_from_pronouns_and_hints_is_respected_in_casting():
    project = _project(_char("a", "He keeps the light."), _char("b", "She keeps the inn."),
                       _char("c", "He is the skipper.", gender="female"), _char("d", gender="male"),
                       _char("e", "Her boat is the blue one."), _char("f", "His coat is older than him."))
    casting = cast_voices(project, ALL, CHAIN)
    got = {sid: GENDER[c.voice] for sid, c in casting.items() if sid != NARRATOR}
    assert got == {"a": "male", "b": "female", "c": "female", "d": "male", "e": "female", "f": "male"}


def test_accent_hint_and_project_accent_are_respected():
    project = _project(_char("a", "She rows."), _char("b", "He keeps the light."),
                       _char("c", "She charts.", accent="us"), _char("d", "He sails."),
                       _char("e", gender="female", accent="us"), accent="gb")
    casting = cast_voices(project, ALL, CHAIN)
    got = {sid: (GENDER[c.voice], ACCENT[c.voice]) for sid, c in casting.items()}
    assert got == {"a": ("female", "gb"), "b": ("male", "gb"), "c": ("female", "us"), "d": ("male", "gb"),
                   "e": ("female", "us"), NARRATOR: got[NARRATOR]}
    assert got[NARRATOR][1] == "gb"
    # without a project accent, the pool's order decides: the best voice of the right gender, whatever its accent
    plain = cast_voices(_project(_char("a", "She rows."), _char("b", "He keeps the light.")), ALL, CHAIN)
    assert (plain["a"].voice, plain["b"].voice) == ("af_heart", "am_fenrir")


def test_the_accent_gives_way_before_the_gender():
    pool = {"flite": FLITE}  # one female voice (us), no female gb
    project = _project(_char("a", "She rows.", accent="gb"), _char("b", "He keeps the light.", accent="gb"))
    casting = cast_voices(project, pool, CHAIN)
    assert casting["a"].voice == "slt"  # female, though American
    assert casting["b"].voice == "awb"  # the only gb male


# ---- the author's voices -------------------------------------------------------------------------------------------


def test_explicit_voices_are_kept_and_never_given_to_anyone_else():
    # af_heart, the pool's best female voice, is named by a character declared after b and c: they must not take it
    project = _project(_char("b", "She charts."), _char("c", "She sails."), _char("d", "He rows.", accent="gb"),
                       _char("a", "She keeps the light.", engine="kokoro", voice="af_heart"),
                       _char("e", voice="bm_george"),  # no engine: the engine whose list has it
                       _char("f", engine="espeak-ng", voice="en-gb-x-rp+m3"))  # espeak-ng takes any id it knows
    casting = cast_voices(project, ALL, CHAIN)
    assert (casting["a"].engine, casting["a"].voice, casting["a"].cast) == ("kokoro", "af_heart", False)
    assert (casting["e"].engine, casting["e"].voice, casting["e"].cast) == ("kokoro", "bm_george", False)
    assert (casting["f"].engine, casting["f"].voice, casting["f"].cast) == ("espeak-ng", "en-gb-x-rp+m3", False)
    others = {c.voice for sid, c in casting.items() if sid not in "aef"}
    assert not others & {"af_heart", "bm_george", "en-gb-x-rp+m3"}
    assert casting["d"].voice == "bm_fable"  # bm_george, the first gb male, is e's
    assert casting["a"].profile.engine == "kokoro" and casting["e"].profile.engine == "kokoro"


def test_the_profile_keeps_the_authors_speed_and_espeak_settings():
    project = _project(_char("a", "She rows.", speed=0.9), _char("b", engine="espeak-ng", voice="en-gb", pitch=30,
                                                                 rate=140, volume=120))
    casting = cast_voices(project, ALL, CHAIN)
    assert casting["a"].profile.speed == 0.9
    assert (casting["b"].profile.pitch, casting["b"].profile.rate, casting["b"].profile.volume) == (30, 140, 120)


# ---- a small pool: sharing only across scenes -------------------------------------------------------------------


SMALL = {"flite": _pool("flite", "v0:f:us", "v1:m:us", "v2:m:gb")}
FIVE = [_char(c) for c in "abcde"]


def test_a_small_pool_shares_a_voice_only_between_characters_who_never_meet():
    project = _project(*FIVE, narrator={"engine": "flite", "voice": "v0"})
    together = [{"a", "b"}, {"b", "c"}, {"c", "d"}, {"d", "e"}]  # a chain: two voices are enough
    casting = cast_voices(project, SMALL, CHAIN, together)
    voices = _voices(casting)
    assert voices[NARRATOR] == ("flite", "v0")
    assert len({voices[c] for c in "abcde"}) == 2  # five characters on the two voices left
    for group in together:
        assert len({voices[c] for c in group}) == len(group), (group, voices)
    for c in "abcde":
        assert voices[c] != voices[NARRATOR]
    assert not scene_clashes(casting, together)


def test_a_small_pool_that_cannot_keep_a_scene_apart_names_the_speaker():
    project = _project(*FIVE, narrator={"engine": "flite", "voice": "v0"})
    with pytest.raises(CastingError) as err:
        cast_voices(project, SMALL, CHAIN, [{"a", "b", "c"}])  # three in a scene, two voices besides the narrator's
    assert str(err.value).startswith("c:"), err.value
    assert "flite" in str(err.value)


def test_a_small_pool_leaves_a_voice_for_the_narrator():
    project = _project(*FIVE[:4])  # four characters who never share a scene, four voices, and a narrator
    casting = cast_voices(project, {"flite": FLITE}, CHAIN)
    voices = _voices(casting)
    assert all(voices[c] != voices[NARRATOR] for c in "abcd")


def test_the_pilot_season_can_be_cast_on_flite():
    project = load_project(PILOT)
    outlines = {e.id: load_outline(project, PILOT, e.id)[0] for e in project.episodes}
    together = [set(s.characters) | {b.speaker for b in s.beats if getattr(b, "speaker", None)}
                for o in outlines.values() for s in o.scenes]
    casting = cast_voices(project, ALL, CHAIN, together, force_engine="flite")
    voices = _voices(casting)
    for group in together:
        assert len({voices[c] for c in group}) == len(group)
    assert all(voices[c] != voices[NARRATOR] for c in voices if c != NARRATOR)


# ---- engines missing, engines forced -------------------------------------------------------------------------------


def test_a_voice_on_an_engine_not_installed_is_recast_on_the_first_installed_engine():
    pool = {"flite": FLITE, "espeak-ng": ESPEAK}  # no kokoro here
    project = _project(_char("mara", "She rows the oil out.", engine="kokoro", voice="bf_emma"),
                       _char("tobias", "He keeps the light.", engine="kokoro", voice="bm_george", speed=0.92),
                       _char("ines", "She charts the coast.", engine="kokoro", accent="us"), accent="gb")
    casting = cast_voices(project, pool, CHAIN)
    assert {c.engine for c in casting.values()} == {"flite"}  # kokoro -> flite, the next in the chain
    assert all(c.cast for c in casting.values())
    assert GENDER[casting["mara"].voice] == "female" and GENDER[casting["tobias"].voice] == "male"
    assert casting["tobias"].voice == "awb"  # male and gb, as the project asks
    assert casting["tobias"].profile.speed == 0.92  # the author's speed goes with the character
    assert casting["narrator"].voice not in {casting[c].voice for c in ("mara", "tobias", "ines")}


def test_a_kokoro_voice_keeps_its_gender_and_accent_where_kokoro_is_not_installed():
    project = _project(_char("mara", "A fisher who rows oil out.", engine="kokoro", voice="bf_emma"), accent="gb")
    casting = cast_voices(project, {"flite": FLITE, "espeak-ng": ESPEAK}, CHAIN)
    assert casting["mara"].voice == "slt"  # female (flite has no British woman), not awb


def test_an_explicit_engine_outside_the_chain_is_kept_when_installed():
    project = _project(_char("mara", engine="kokoro", voice="bf_emma"), engines=["flite", "espeak-ng"])
    casting = cast_voices(project, ALL, project.audio.engines)
    assert (casting["mara"].engine, casting["mara"].voice, casting["mara"].cast) == ("kokoro", "bf_emma", False)


def test_force_engine_recasts_everyone_on_it_keeping_gender_and_accent():
    project = _project(_char("mara", "A fisher.", engine="kokoro", voice="bf_emma"),
                       _char("tobias", "A keeper.", engine="kokoro", voice="bm_george"),
                       _char("ines", "She charts the coast.", accent="us"),
                       narrator={"engine": "kokoro", "voice": "af_heart"})
    casting = cast_voices(project, ALL, CHAIN, force_engine="espeak-ng")
    assert {c.engine for c in casting.values()} == {"espeak-ng"}
    assert all(c.cast for c in casting.values())
    got = {sid: (GENDER[c.voice], ACCENT[c.voice]) for sid, c in casting.items()}
    assert got == {"mara": ("female", "gb"), "tobias": ("male", "gb"), "ines": ("female", "us"),
                   NARRATOR: ("female", "us")}
    assert len(set(_voices(casting).values())) == len(casting)


def test_force_engine_not_installed_is_refused():
    project = _project(_char("mara"))
    with pytest.raises(CastingError, match="'kokoro' is not installed"):
        cast_voices(project, {"flite": FLITE, "espeak-ng": ESPEAK}, CHAIN, force_engine="kokoro")
    with pytest.raises(CastingError, match="no voice engine is installed"):
        cast_voices(project, {"kokoro": []}, CHAIN)


# ---- stability -----------------------------------------------------------------------------------------------------


def test_casting_is_stable_and_ignores_scenes_that_create_no_conflict():
    pilot = load_project(PILOT)
    extras = [pilot.characters[0].model_copy(update={"id": f"extra{i}", "voice": VoiceProfile(accent="us")})
              for i in range(3)]
    project = pilot.model_copy(update={"characters": [*pilot.characters, *extras]})
    first = cast_voices(project, ALL, CHAIN)
    assert len(set(_voices(first).values())) == len(first)
    assert _voices(cast_voices(project, ALL, CHAIN)) == _voices(first)
    assert _voices(cast_voices(project, dict(reversed(ALL.items())), CHAIN)) == _voices(first)  # the chain decides
    # a later episode's scenes: everyone already has a voice of their own, so who meets whom changes nothing
    season = [{"mara", "tobias"}, {"ines", "extra0", "extra1"}, {"aldo", "extra2", "mara"}]
    assert _voices(cast_voices(project, ALL, CHAIN, season)) == _voices(first)
    assert _voices(cast_voices(project, ALL, CHAIN, season[::-1])) == _voices(first)


def test_hints_give_way_before_a_voice_is_shared():
    women = [_char(f"w{i}", "She sails.") for i in range(4)]  # the pool has two British women's voices
    project = _project(*women, accent="gb", narrator={"engine": "kokoro", "voice": "bm_lewis"})
    casting = cast_voices(project, ALL, CHAIN)
    assert len(set(_voices(casting).values())) == len(casting), _voices(casting)
    assert all(GENDER[casting[w["id"]].voice] == "female" for w in women)


def test_a_small_pool_is_stable_when_an_episode_adds_scenes_without_conflicts():
    project = _project(*FIVE, narrator={"engine": "flite", "voice": "v0"})
    season = [{"a", "b"}, {"b", "c"}]
    before = _voices(cast_voices(project, SMALL, CHAIN, season))
    assert before["b"] != before["d"] and before["a"] == before["d"]  # d shares a's voice: they have never met
    # a new episode brings together characters who already speak with different voices: nobody changes
    assert _voices(cast_voices(project, SMALL, CHAIN, [*season, {"b", "d"}, {"a", "b"}])) == before
    assert _voices(cast_voices(project, SMALL, CHAIN, [{"b", "d"}, *season[::-1]])) == before  # in any order
    # one that brings a and d together must part them, and does so without touching anyone else
    after = _voices(cast_voices(project, SMALL, CHAIN, [*season, {"a", "d"}]))
    assert after["a"] != after["d"]
    assert {k: v for k, v in after.items() if k != "d"} == {k: v for k, v in before.items() if k != "d"}


# ---- scene clashes -------------------------------------------------------------------------------------------------


def test_scene_clashes_reports_two_explicit_identical_voices_in_one_scene():
    project = _project(_char("mara", engine="kokoro", voice="bf_emma"), _char("ines", voice="bf_emma"),
                       _char("tobias"))
    casting = cast_voices(project, ALL, CHAIN)
    assert casting["mara"].voice == casting["ines"].voice == "bf_emma"  # the author's choice, kept
    assert scene_clashes(casting, [{"mara", "tobias"}, {"ines", "tobias"}]) == []
    warnings = scene_clashes(casting, [{"tobias", "mara", "ines"}, {"ines", "mara"}])
    assert warnings == ["ines and mara share a scene and the voice kokoro:bf_emma"]  # once, however many scenes
