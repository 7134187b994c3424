"""Rights and provenance (seed 004 §25): licence metadata rules, the publish-time rights gate, credits.

The same rules run twice: at resolution (§25.4: a candidate with a missing or unknown licence is rejected and the
next source is tried) and at publish (a hard block on anything that still fails them, or that is not cleared for
redistribution; a manual override needs an approver id, recorded in the artifact).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from typing import Any

from schemas.artifacts import ResolvedAsset, RightsIssue, RightsOverride, RightsReport

# §25.1 categories, spelled as §25.2's examples spell them. CC-BY family: CC-BY, CC-BY-4.0, CC-BY-SA-4.0, ...
OPEN_LICENCES = {"CC0", "CC0-1.0", "public_domain"}
CC_BY = re.compile(r"^CC-BY(-SA)?(-\d\.\d)?$", re.IGNORECASE)
OTHER_LICENCES = {"commercial_licensed", "generated_local", "proprietary_cleared"}
LICENCE_FIELDS = ("license_type", "attribution", "purchase_record", "provider_or_model", "retrieval_date",
                  "redistributable")


def known_licences() -> str:
    return "CC0, CC-BY (CC-BY-4.0, CC-BY-SA-4.0, ...), public_domain, commercial_licensed, generated_local, " \
           "proprietary_cleared"


def is_cc_by(license_type: str) -> bool:
    return bool(CC_BY.match(license_type or ""))


def licence_fields(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The §25.2 fields of a sidecar or a source's answer, as ResolvedAsset spells them (strings, one bool).

    `redistributable` defaults to false (§25.3) unless the metadata says otherwise; open licences permit it."""
    license_type = str(meta.get("license_type") or "").strip()
    redistributable = meta.get("redistributable")
    if redistributable is None:
        redistributable = license_type in OPEN_LICENCES or is_cc_by(license_type)
    date = meta.get("retrieval_date") or ""
    if isinstance(date, dt.date):  # YAML reads an unquoted 2026-11-20 as a date
        date = date.isoformat()
    return {
        "license_type": license_type,
        "attribution": str(meta.get("attribution") or "").strip(),
        "purchase_record": str(meta.get("purchase_record") or "").strip(),
        "provider_or_model": str(meta.get("provider_or_model") or "").strip(),
        "retrieval_date": str(date).strip(),
        "redistributable": bool(redistributable),
    }


def licence_problem(fields: Mapping[str, Any]) -> str | None:
    """Why these §25.2 fields do not clear an asset for use (§25.4), or None when they do."""
    license_type = str(fields.get("license_type") or "")
    if not license_type or license_type.lower() == "unknown":
        return "no licence: set license_type in its metadata sidecar"
    if license_type not in OPEN_LICENCES | OTHER_LICENCES and not is_cc_by(license_type):
        return f"unknown licence {license_type!r} (known: {known_licences()})"
    if is_cc_by(license_type) and not fields.get("attribution"):
        return f"{license_type} needs an attribution line"
    if license_type == "commercial_licensed" and not fields.get("purchase_record"):
        return "commercial_licensed needs a purchase_record (invoice or licence document)"
    date = str(fields.get("retrieval_date") or "")
    if date:
        try:
            dt.date.fromisoformat(date[:10])
        except ValueError:
            return f"retrieval_date {date!r} is not an ISO 8601 date"
    return None


def attribution_line(asset: ResolvedAsset) -> str:
    return f"{asset.attribution} ({asset.license_type})"


def attributions(assets: Iterable[ResolvedAsset]) -> list[str]:
    """One credit line per distinct CC-BY attribution among the resolved assets, in plan order."""
    lines: list[str] = []
    for a in assets:
        if a.status == "resolved" and is_cc_by(a.license_type) and a.attribution:
            line = attribution_line(a)
            if line not in lines:
                lines.append(line)
    return lines


def rights_gate(assets: Iterable[ResolvedAsset], override: RightsOverride | None = None) -> RightsReport:
    """§25.4 at publish: every asset the episode uses must carry a valid licence and be cleared for redistribution.

    `passed` says whether the assets alone pass; an override (approver id required) lets publish go on and is kept
    in the report, so the artifact records who cleared what."""
    assets = list(assets)
    issues: list[RightsIssue] = []
    for a in assets:
        if a.status != "resolved":
            continue  # a placeholder is NAOS's own card; the missing_assets quality gate blocks it
        fields = a.model_dump(include=set(LICENCE_FIELDS))
        problem = licence_problem(fields)
        if problem is None and not a.redistributable:
            problem = "not cleared for redistribution (§25.3: redistributable is false)"
        if problem is not None:
            issues.append(RightsIssue(asset_id=a.asset_id, license_type=a.license_type or "unknown", problem=problem))
    return RightsReport(passed=not issues, issues=issues, attributions=attributions(assets),
                        override=override if issues else None)


def credits_text(title: str, episode_id: str, assets: Iterable[ResolvedAsset], voices: Iterable[str] = ()) -> str:
    """credits.txt: the CC-BY attributions first (they must be shown), then the voices (who speaks with which engine,
    model and voice, under which licence), then every asset with its licence and source."""
    assets = list(assets)
    out = [f"{title} {episode_id}: credits", ""]
    lines = attributions(assets)
    if lines:
        out += ["Attributions", *(f"  {line}" for line in lines), ""]
    voices = list(voices)
    if voices:
        out += ["Voices", *(f"  {line}" for line in voices), ""]
    out.append("Assets")
    for a in assets:
        if a.status != "resolved" and not a.flagged:
            continue  # an optional need nobody supplied (a sound effect, an expression) is not in the episode
        parts = [a.license_type or "unknown"]
        if a.attribution:
            parts.append(f"by {a.attribution}")
        if a.provider_or_model:
            parts.append(f"from {a.provider_or_model}")
        if a.purchase_record:
            parts.append(f"purchase record {a.purchase_record}")
        if a.retrieval_date:
            parts.append(f"retrieved {a.retrieval_date}")
        if a.status == "placeholder":
            parts.append("placeholder")
        out.append(f"  {a.asset_id}: {', '.join(parts)}")
    return "\n".join(out) + "\n"
