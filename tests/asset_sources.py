"""Stand-ins for external asset providers (stock search, a paid image model): the one boundary we cannot reach here.

They are real AssetSource plugins, loaded the way a project names them (`tests.asset_sources:StockSearch`); they
record their calls so tests can see which sources the resolver asked, and in what order.
"""

from __future__ import annotations

from typing import ClassVar

from engines.media import AssetSource, Candidate, SourceError
from schemas import AssetNeed

CALLS: list[tuple[str, str]] = []


def _png(asset_id: str) -> bytes:
    """A small, real, deterministic image whose colour depends on the asset id."""
    import hashlib
    import io

    from PIL import Image

    r, g, b = hashlib.sha256(asset_id.encode()).digest()[:3]
    buf = io.BytesIO()
    Image.new("RGB", (320, 180), (r, g, b)).save(buf, format="PNG")
    return buf.getvalue()


class StockSearch(AssetSource):
    """An external stock library: answers every background with a CC-BY image, for a fee."""

    name = "stock_search"
    role = "search"
    locality = "external"
    cost_usd = 0.25
    ttl_days = 7
    kinds: ClassVar[frozenset[str]] = frozenset({"background"})

    def find(self, need: AssetNeed) -> Candidate | None:
        CALLS.append((self.name, need.asset_id))
        licence = {"license_type": self.options.get("license_type", "CC-BY-4.0"),
                   "attribution": self.options.get("attribution", f"Photo of {need.asset_id} by Ada Lens"),
                   "provider_or_model": "stock.example", "retrieval_date": "2026-11-22"}
        data = self.options.get("data") or _png(need.asset_id)
        return Candidate(data=data, uri=f"https://stock.example/{need.asset_id}", media_type="image/png",
                         licence=licence)


class DownSearch(AssetSource):
    """An external source whose service is down."""

    name = "down_search"
    role = "search"
    locality = "external"

    def find(self, need: AssetNeed) -> Candidate | None:
        CALLS.append((self.name, need.asset_id))
        raise SourceError("503 Service Unavailable")


class NothingSearch(AssetSource):
    """An external source that has nothing for any need."""

    name = "nothing_search"
    role = "search"
    locality = "external"

    def find(self, need: AssetNeed) -> Candidate | None:
        CALLS.append((self.name, need.asset_id))
        return None


class NotASource:
    name = "not_a_source"


class PaidPainter(AssetSource):
    """An external image model: paints backgrounds and characters for a fee (tests/test_budget.py)."""

    name = "paid_painter"
    role = "generative"
    locality = "external"
    cost_usd = 0.5
    kinds: ClassVar[frozenset[str]] = frozenset({"background", "character"})

    def find(self, need: AssetNeed) -> Candidate | None:
        CALLS.append((self.name, need.asset_id))
        return Candidate(data=_png("painted " + need.asset_id), uri=f"https://painter.example/{need.asset_id}",
                         media_type="image/png", licence={
                             "license_type": "commercial_licensed", "purchase_record": "invoice 42",
                             "provider_or_model": "painter.example", "retrieval_date": "2026-11-22",
                             "redistributable": True})
