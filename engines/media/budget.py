"""Budget enforcement for paid asset sources (seed 004 §12.4): estimates, caps and what a cap stopped. No Dagster here.

A run's remaining budget is the smaller of the project's per-run cap (`cost_policy.max_run_usd`) and what is left of
its per-episode cap (`cost_policy.max_episode_usd` minus the episode's external spend in earlier runs). The Resolver
never asks a paid external source whose price would take the run's spend past that budget; it falls back to the next
source in §9's order (local generation, then a flagged placeholder) and records why on the asset.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

# Prices are compared and summed at this precision, so 0.1 + 0.2 fits a 0.3 budget.
USD_DIGITS = 6
BUDGET_REASON = "budget exceeded"  # the start of every AssetRejection.reason the budget writes
# sources that never cost anything per asset (the library, the built-in generator, placeholders)
FREE_SOURCES = frozenset({"", "library", "cache", "generative_local", "placeholder"})


def usd(value: float) -> float:
    return round(float(value), USD_DIGITS)


@dataclass(frozen=True)
class SpendItem:
    """One need the resolver would have to buy: the first paid external source that covers its kind, and its price."""

    need_id: str
    kind: str
    source: str
    cost_usd: float


@dataclass(frozen=True)
class SpendEstimate:
    """What resolving a manifest would spend on external sources, before any source is asked (§12.4 approvals)."""

    items: tuple[SpendItem, ...]
    total_usd: float

    @classmethod
    def of(cls, items: Iterable[SpendItem]) -> SpendEstimate:
        items = tuple(items)
        return cls(items=items, total_usd=usd(sum(i.cost_usd for i in items)))

    def to_dict(self) -> dict[str, Any]:
        return {"items": [asdict(i) for i in self.items], "total_usd": self.total_usd}

    def canonical_json(self) -> bytes:
        """Sorted keys, no whitespace, no paths, no times: the same estimate is the same bytes on every machine."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()

    def sha256(self) -> str:
        """The hash an approve_external_spend approval is bound to."""
        return hashlib.sha256(self.canonical_json()).hexdigest()


@dataclass(frozen=True)
class BudgetStop:
    """A paid source the budget kept the resolver from asking, for one need."""

    need_id: str
    source: str
    cost_usd: float
    spent_usd: float  # the run's external spend when the source was skipped
    budget_usd: float  # the run's remaining budget


def remaining_budget(max_run_usd: float | None, max_episode_usd: float | None,
                     episode_spent_usd: float = 0.0) -> float | None:
    """What this run may spend on paid external sources: min(per-run cap, per-episode cap minus the episode's earlier
    spend), never below 0; None when neither cap is set."""
    caps = [c for c in (max_run_usd, None if max_episode_usd is None else max_episode_usd - episode_spent_usd)
            if c is not None]
    return usd(max(0.0, min(caps))) if caps else None


def paid_spend(assets: Iterable[Mapping[str, Any]]) -> float:
    """External spend recorded in past RenderPlans (their assets, or the provenance their registry records keep):
    each paid asset counted once, by source and uri (an asset reused from the resolver's cache appears in every later
    plan, but was bought once)."""
    seen: dict[tuple[str, str], float] = {}
    for a in assets:
        source, cost = str(a.get("source") or ""), float(a.get("cost_usd") or 0.0)
        if source in FREE_SOURCES or cost <= 0:
            continue
        seen.setdefault((source, str(a.get("uri") or a.get("sha256") or a.get("asset_id") or "")), cost)
    return usd(sum(seen.values()))
