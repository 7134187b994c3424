"""The setting vocabulary (settings.yaml): what kind of place a location is, and what light a scene's time means.

kind_of(name, description)  -> "interior", "sea", … or None (no word matched)
time_of_day(text)           -> "day", "dawn", "dusk" or "night" ("day" when no word matches)
Vocabulary.pose_of(action)  -> "lying", "turned_away" or None (standing)
A project extends the vocabulary with `assets.setting_words` ({kinds: {kind: [words]}, times: {time: [words]}});
`Vocabulary.extended(...)` merges such a mapping after the built-in words.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TABLE = Path(__file__).with_name("settings.yaml")
TIMES = ("day", "dawn", "dusk", "night")
NAME_WEIGHT = 3  # a word of the location's name counts three times one of its description


def _words(text: str) -> str:
    return " " + " ".join(re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)?", text.lower())) + " "


@dataclass(frozen=True)
class Vocabulary:
    kinds: dict[str, tuple[str, ...]]
    times: dict[str, tuple[str, ...]]
    poses: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path = TABLE) -> Vocabulary:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls({k: tuple(v) for k, v in data["kinds"].items()}, {k: tuple(v) for k, v in data["times"].items()},
                   {k: tuple(v) for k, v in data.get("poses", {}).items()})

    def pose_of(self, action: str) -> str | None:
        """The pose an action's words put its actors in ("Tobias clutches his chest and sinks" -> lying), or None."""
        padded = _words(action)
        for pose, words in self.poses.items():
            if any(f" {w} " in padded for w in words):
                return pose
        return None

    def extended(self, extra: Mapping[str, Mapping[str, Sequence[str]]] | None) -> Vocabulary:
        """These words plus a project's: new words of a known kind or time, or new kinds (drawn as plain land)."""
        if not extra:
            return self
        kinds = {k: list(v) for k, v in self.kinds.items()}
        times = {k: list(v) for k, v in self.times.items()}
        for kind, words in (extra.get("kinds") or {}).items():
            kinds.setdefault(kind, []).extend(w.lower() for w in words)
        for time, words in (extra.get("times") or {}).items():
            times.setdefault(time, []).extend(w.lower() for w in words)
        poses = {k: list(v) for k, v in self.poses.items()}
        for pose, words in (extra.get("poses") or {}).items():
            poses.setdefault(pose, []).extend(w.lower() for w in words)
        return Vocabulary({k: tuple(v) for k, v in kinds.items()}, {k: tuple(v) for k, v in times.items()},
                          {k: tuple(v) for k, v in poses.items()})

    def kind_of(self, name: str, description: str = "") -> str | None:
        """The kind whose words the location's name (×3) and description hold most; the first listed on a tie."""
        named, described = _words(name), _words(description)
        best, best_score = None, 0
        for kind, words in self.kinds.items():
            score = sum(NAME_WEIGHT * named.count(f" {w} ") + described.count(f" {w} ") for w in words)
            if score > best_score:
                best, best_score = kind, score
        return best

    def time_of_day(self, text: str) -> str:
        """The light a scene's time (or an image's description) names: the last time word in it wins ("day 2, dusk"
        is dusk); "day" when none does."""
        found, at = "day", -1
        padded = _words(text)
        for time, words in self.times.items():
            for w in words:
                i = padded.rfind(f" {w} ")
                if i > at and not (time == "day" and w == "day" and found != "day"):
                    found, at = time, i
        return found


@functools.cache
def vocabulary() -> Vocabulary:
    return Vocabulary.load()


def project_vocabulary(words: object | None) -> Vocabulary:
    """The built-in vocabulary plus a project's `assets.setting_words` (a SettingWords model, a mapping, or None)."""
    if words is not None and hasattr(words, "model_dump"):
        words = words.model_dump()
    return vocabulary().extended(words)  # type: ignore[arg-type]


def kind_of(name: str, description: str = "") -> str | None:
    return vocabulary().kind_of(name, description)


def time_of_day(text: str) -> str:
    return vocabulary().time_of_day(text)
