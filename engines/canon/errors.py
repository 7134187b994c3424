"""The one error of the canon engine: a CanonDiff that cannot apply to a canon (bad input, never a contradiction)."""

from __future__ import annotations

from schemas import CanonFact


def _fact_path(field: str) -> str:
    """`added_facts[2].subject` -> `added_facts[2]`: the fact a field belongs to."""
    end = field.find("]")
    return field[: end + 1] if end >= 0 else field


class CanonDiffError(ValueError):
    """A CanonDiff names something canon does not have, or asserts what canon does not hold.

    `field` is the path inside the diff (e.g. `added_facts[2].subject`), `fact` the fact at fault (None when the
    diff as a whole is wrong, e.g. its project), `message` what is wrong. Nothing of the diff has been applied.
    """

    def __init__(self, episode_id: str, field: str, message: str, fact: CanonFact | None = None):
        self.episode_id = episode_id
        self.field = field
        self.fact = fact
        self.message = message
        super().__init__(episode_id, field, message, fact)

    def __str__(self) -> str:
        if self.fact is None:
            return f"{self.episode_id}: {self.field}: {self.message}"
        f = self.fact
        return f"{self.episode_id}: {_fact_path(self.field)} ({f.subject}.{f.attribute} = {f.value!r}): {self.message}"

    def __reduce__(self):  # picklable across processes (Dagster runs)
        return (type(self), (self.episode_id, self.field, self.message, self.fact))
