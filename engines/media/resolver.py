"""Asset resolution (seed 004 §9, §25): the library first, then cached, searched and generated assets, then placeholders.

Every need of an AssetManifest names where the library should hold it (`need.library_path`). A present file with a
valid licence in its sidecar `<file>.meta.yaml` resolves to `library:<relative posix path>` with the sha256 of its
bytes. Otherwise the Resolver tries the cache, the project's plugins and the local generator (their bytes are kept in
the registry: `registry:<sha256>`), and finally a flagged placeholder; the run continues (§17). A path that points
outside the library is an authoring error and raises AssetPathError.

Everything returned is deterministic: no timestamps, no absolute paths, only library-relative text and hashes.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml
from PIL import Image
from pydantic import ValidationError

from schemas.artifacts import AssetManifest, AssetNeed, AssetRejection, FaceRig, ResolvedAsset

from .budget import BUDGET_REASON, BudgetStop, SpendEstimate, SpendItem, usd
from .rights import licence_fields, licence_problem
from .settings import TIMES, Vocabulary, vocabulary
from .sources import AssetSource, BlobStore

RESOLVER_VERSION = "resolver@2"
LIBRARY_SCHEME = "library:"
REGISTRY_SCHEME = "registry:"
PLACEHOLDER_SCHEME = "placeholder:"
SIDECAR_SUFFIX = ".meta.yaml"
DEFAULT_PROVENANCE = "local asset library"
PLACEHOLDER_LICENSE = "generated_local"
IMAGE_KINDS = {"background", "character", "expression", "prop"}
OPTIONAL_KINDS = {"sfx": "optional sound effect not in the asset library",
                  "expression": "optional expression not in the character pack (the portrait is drawn)"}
PLACEHOLDER_PROVENANCE = "naos placeholder"


class AssetPathError(ValueError):
    """An asset path that escapes the library (absolute, `..`, or a symlink leading outside)."""


class AssetMetadataError(ValueError):
    """A sidecar `<file>.meta.yaml` that cannot be read as a mapping of licence fields."""


class AssetChangedError(ValueError):
    """A library file whose bytes no longer match the sha256 recorded when it was resolved."""


# ---- paths -------------------------------------------------------------------------------------


def _relative_parts(path: str, asset_id: str) -> tuple[str, ...]:
    """The segments of a library-relative path; refuses absolute paths, drives, `..` and empty paths."""
    text = path.replace("\\", "/")
    posix = PurePosixPath(text)
    windows = PureWindowsPath(path)
    if posix.is_absolute() or windows.drive or windows.root:
        raise AssetPathError(f"asset {asset_id!r}: path {path!r} is absolute; use a path inside the asset library")
    parts = tuple(p for p in posix.parts if p != ".")
    if ".." in parts:
        raise AssetPathError(f"asset {asset_id!r}: path {path!r} has a '..' segment and escapes the asset library")
    if not parts:
        raise AssetPathError(f"asset {asset_id!r}: path {path!r} names no file inside the asset library")
    return parts


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _checked(library_root: Path, path: str, asset_id: str) -> tuple[Path, str]:
    """(file path under the library root, normalised posix relative path), or AssetPathError.

    Symlinks are allowed only when their real path stays inside the library: the real path of the
    whole candidate (every component resolved, even for a dangling link) must lie under the real
    path of the library root.
    """
    parts = _relative_parts(path, asset_id)
    rel = PurePosixPath(*parts).as_posix()
    candidate = Path(library_root).joinpath(*parts)
    root_real = os.path.realpath(library_root)
    if not _inside(os.path.realpath(candidate), root_real):
        raise AssetPathError(
            f"asset {asset_id!r}: path {path!r} is a symlink (or goes through one) that leads outside the asset library"
        )
    return candidate, rel


def library_uri(relative_path: str) -> str:
    """`library:<relative posix path>` for a path inside the library (checked like any asset path)."""
    return LIBRARY_SCHEME + PurePosixPath(*_relative_parts(relative_path, relative_path)).as_posix()


def library_file(library_root: Path, uri: str) -> Path:
    """The file a `library:` uri names, under `library_root`, after the same traversal checks as resolve().

    Raises AssetPathError for another scheme or a path that escapes the library. The file need not
    exist (use verify() to check the bytes before use).
    """
    if not uri.startswith(LIBRARY_SCHEME):
        raise AssetPathError(f"{uri!r} is not a library uri (expected {LIBRARY_SCHEME}<path inside the library>)")
    path, _ = _checked(Path(library_root), uri[len(LIBRARY_SCHEME) :], uri)
    return path


# ---- hashing -----------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path: Path, sha256: str) -> None:
    """Raise AssetChangedError unless the file exists and its bytes hash to `sha256`."""
    path = Path(path)
    if not path.is_file():
        raise AssetChangedError(f"{path.name}: resolved asset file is gone (expected sha256 {sha256})")
    actual = file_sha256(path)
    if actual != sha256:
        raise AssetChangedError(f"{path.name}: bytes changed since resolution (sha256 {actual}, expected {sha256})")


# ---- the resolution chain ----------------------------------------------------------------------


def _bare_id(need: AssetNeed) -> str:
    prefix = f"{need.kind}:"
    return need.asset_id[len(prefix) :] if need.asset_id.startswith(prefix) else need.asset_id


def placeholder_uri(need: AssetNeed) -> str:
    """`placeholder:<kind>:<id>`; an asset id already written `<kind>:<id>` is not prefixed twice."""
    return f"{PLACEHOLDER_SCHEME}{need.kind}:{_bare_id(need)}"


def _provenance(fields: dict) -> str:
    parts = [fields.get("provider_or_model") or ""]
    if fields.get("attribution"):
        parts.append(f"attribution: {fields['attribution']}")
    return "; ".join(p for p in parts if p)


@dataclass
class ResolveEvent:
    """One step of one need's resolution, for logs, run summaries and cache statistics."""

    asset_id: str
    source: str
    outcome: str  # resolved, rejected, error, miss, cache_hit, cache_miss, placeholder, budget
    detail: str = ""


@dataclass
class Resolver:
    """Resolve AssetManifest needs in §9's priority order:

    1. the local library (`need.library_path`, licence from `<file>.meta.yaml`),
    2. cached generated or fetched assets (key: the need and the sources that would answer it, never a path),
    3. external search plugins, 4. generative plugins, the local Pillow generator last,
    5. a flagged placeholder (the run continues; §17).

    A candidate whose licence is missing or unknown is rejected (§25.4), the rejection is kept on the ResolvedAsset,
    and the next source is tried. A source that raises degrades to the next one. Only a path escaping the library
    stops resolution (AssetPathError: an authoring error).

    `budget_usd` (§12.4) is what this Resolver may spend on paid external sources (None: no cap). A paid external
    source whose price would take `spent_usd` past it is not asked: a `budget exceeded` rejection is recorded on the
    asset and the next source is tried (local generation, then a placeholder). Only assets a source actually supplies
    count as spend; cache hits cost nothing. A fallback chosen because the budget stopped a source is not cached
    under the need's key, so a later run with budget left still gets the paid asset."""

    library_root: Path
    store: BlobStore | None = None
    sources: list[AssetSource] = field(default_factory=list)
    external_ttl_days: int = 30
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    events: list[ResolveEvent] = field(default_factory=list)
    budget_usd: float | None = None
    spent_usd: float = 0.0  # external spend so far: prices of assets paid sources supplied (not cache hits)
    stops: list[BudgetStop] = field(default_factory=list)  # every paid source the budget kept from being asked
    purchases: list[tuple[str, str, float]] = field(default_factory=list)  # (asset id, source, usd) paid this run
    vocab: Vocabulary | None = None  # the setting vocabulary that reads a background's light from its words

    def __post_init__(self) -> None:
        if self.sources and self.store is None:
            raise ValueError("a Resolver with sources needs a store to keep the assets they supply")
        if self.budget_usd is not None and self.budget_usd < 0:
            raise ValueError(f"budget_usd must be 0 or more, not {self.budget_usd}")

    @property
    def budget_exceeded(self) -> list[str]:
        """Ids of the needs for which the budget stopped at least one paid source, in resolution order."""
        return list(dict.fromkeys(stop.need_id for stop in self.stops))

    def resolve(self, manifest: AssetManifest) -> list[ResolvedAsset]:
        """Every need of the manifest, in manifest order (backgrounds, character packs, props, sfx, music)."""
        return [self.resolve_need(need) for need in manifest.needs()]

    def _event(self, need: AssetNeed, source: str, outcome: str, detail: str = "") -> None:
        self.events.append(ResolveEvent(need.asset_id, source, outcome, detail))

    def _ordered_sources(self, need: AssetNeed) -> list[AssetSource]:
        """The plugins that cover the need's kind, in §9 order: search, then generative, each in configured order."""
        return [s for role in ("search", "generative") for s in self.sources if s.role == role and need.kind in s.kinds]

    def resolve_need(self, need: AssetNeed) -> ResolvedAsset:
        rejections: list[AssetRejection] = []
        tried: list[str] = []
        found = self._from_library(need, rejections, tried)
        if found is None and self.store is not None:
            found = self._from_cache(need, rejections)
        if found is None:
            stopped = False
            for source in self._ordered_sources(need):
                if self._over_budget(source, need, rejections):
                    stopped = True
                    continue
                # a fallback the budget forced is not cached: the paid asset must win once there is budget for it
                found = self._from_source(source, need, rejections, tried, cache=not stopped)
                if found is not None:
                    break
        if found is None:
            self._event(need, "placeholder", "placeholder")
            return self._placeholder(need, rejections, tried)
        return found.model_copy(update={"rejections": rejections, "fallbacks": tried})

    # -- 1. library ---------------------------------------------------------------------------

    def _library_entry(self, need: AssetNeed) -> tuple[Path, str, dict | None, str | None]:
        """(file, relative path, licence fields, licence problem); fields None when the file is missing."""
        path, rel = _checked(Path(self.library_root), need.library_path, need.asset_id)
        if not path.is_file():
            return path, rel, None, None
        try:
            meta = _sidecar(Path(self.library_root), rel, need.asset_id)
            fields = licence_fields(meta)
            if meta.get("face") is not None:
                fields["face"] = face_rig(meta["face"], f"sidecar {rel}{SIDECAR_SUFFIX}")
            if meta.get("floor") is not None:
                fields["floor"] = floor_span(meta["floor"], f"sidecar {rel}{SIDECAR_SUFFIX}")
            if need.kind == "background":  # the light it shows: said outright, or read from its words
                fields["time_of_day"] = _light(meta, need, f"sidecar {rel}{SIDECAR_SUFFIX}", self.vocab)
        except AssetMetadataError as exc:
            return path, rel, {}, str(exc)
        return path, rel, fields, licence_problem(fields)

    def _from_library(self, need: AssetNeed, rejections: list, tried: list) -> ResolvedAsset | None:
        path, rel, fields, problem = self._library_entry(need)
        uri = LIBRARY_SCHEME + rel
        if fields is None:
            self._event(need, "library", "miss", rel)
            tried.append(uri)
            return None
        if problem is not None:
            self._reject(need, "library", uri, f"{rel}: {problem}", rejections)
            tried.append(uri)
            return None
        self._event(need, "library", "resolved", rel)
        return ResolvedAsset(asset_id=need.asset_id, kind=need.kind, status="resolved", uri=uri,
                             sha256=file_sha256(path), source="library", provenance=_provenance(fields)
                             or DEFAULT_PROVENANCE, **fields)

    # -- 2. cache -----------------------------------------------------------------------------

    def cache_key(self, need: AssetNeed) -> str:
        """The need (never its path) and the sources that would answer it, so enabling a source is a new key."""
        chain = [[s.name, s.version] for s in self.sources if need.kind in s.kinds]
        payload = {"need": {"kind": need.kind, "asset_id": need.asset_id, "name": need.name,
                            "description": need.description}, "sources": chain, "resolver": RESOLVER_VERSION}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()

    def _cache_entry(self, need: AssetNeed) -> tuple[str | None, ResolvedAsset | None, str | None]:
        """(record sha, cached asset, problem): (None, None, None) on a miss; a problem when the record is unreadable
        or its licence no longer passes. Reads the cache as a hit would (the entries' last use moves), writes nothing
        else."""
        assert self.store is not None
        key, now = self.cache_key(need), self.now()
        sha = self.store.cache_get(key, now=now)
        # the bytes' own entry is touched too (LRU keeps record and bytes together); either gone is a miss
        if sha is not None and self.store.cache_get(f"{key}.object", now=now) is None:
            sha = None
        if sha is None:
            return None, None, None
        try:
            record = json.loads(self.store.get_bytes(sha))
            asset = ResolvedAsset.model_validate(record["asset"])
        except Exception as exc:  # a damaged record degrades to the next source, like any failing source
            return sha, None, f"cache record unreadable: {exc}"
        return sha, asset, licence_problem(asset.model_dump())  # the rules may have tightened since it was cached

    def _from_cache(self, need: AssetNeed, rejections: list) -> ResolvedAsset | None:
        sha, asset, problem = self._cache_entry(need)
        if sha is None:
            self._event(need, "cache", "cache_miss")
            return None
        if problem is not None or asset is None:
            self._reject(need, "cache", asset.uri if asset is not None else f"registry:{sha}", problem or "",
                         rejections)
            return None
        self._event(need, "cache", "cache_hit", asset.source)
        return asset

    # -- budget (§12.4) -----------------------------------------------------------------------

    @staticmethod
    def _paid(source: AssetSource) -> bool:
        return source.locality == "external" and source.cost_usd > 0

    def _over_budget(self, source: AssetSource, need: AssetNeed, rejections: list) -> bool:
        """True, with the stop recorded on the asset, when asking this paid source would exceed the budget."""
        if self.budget_usd is None or not self._paid(source):
            return False
        cost = usd(source.cost_usd)
        if usd(self.spent_usd + cost) <= usd(self.budget_usd):
            return False
        self.stops.append(BudgetStop(need.asset_id, source.name, cost, usd(self.spent_usd), usd(self.budget_usd)))
        reason = (f"{BUDGET_REASON}: {source.name} costs {cost:g} USD, which would take this run's external spend "
                  f"from {usd(self.spent_usd):g} to {usd(self.spent_usd + cost):g} USD, over its budget of "
                  f"{usd(self.budget_usd):g} USD (cost_policy.max_run_usd / max_episode_usd); not asked, the next "
                  f"source was tried")
        self._event(need, source.name, "budget", reason)
        rejections.append(AssetRejection(source=source.name, reason=reason))
        return True

    def estimate_external_spend(self, manifest: AssetManifest) -> SpendEstimate:
        """What resolving `manifest` would spend on paid external sources, without asking any source: for every need
        neither the library (a file with a valid licence) nor the cache answers, the price of the first paid external
        source covering its kind (search, then generative, in configured order). Budget-independent."""
        items = []
        for need in manifest.needs():
            _, _, fields, problem = self._library_entry(need)
            if fields is not None and problem is None:
                continue
            if self.store is not None:
                _, asset, problem = self._cache_entry(need)
                if asset is not None and problem is None:
                    continue
            paid = next((s for s in self._ordered_sources(need) if self._paid(s)), None)
            if paid is not None:
                items.append(SpendItem(need_id=need.asset_id, kind=need.kind, source=paid.name,
                                       cost_usd=usd(paid.cost_usd)))
        return SpendEstimate.of(items)

    # -- 3, 4. plugins ------------------------------------------------------------------------

    def _from_source(self, source: AssetSource, need: AssetNeed, rejections: list, tried: list,
                     cache: bool = True) -> ResolvedAsset | None:
        try:
            candidate = source.find(need)
        except Exception as exc:  # §17: provider unavailable -> degrade to the next source, never halt
            self._event(need, source.name, "error", str(exc))
            rejections.append(AssetRejection(source=source.name, reason=f"source error: {exc}"))
            return None
        if candidate is None:
            self._event(need, source.name, "miss")
            return None
        fields = licence_fields(candidate.licence)
        problem = licence_problem(fields) or _media_problem(need.kind, candidate.data)
        try:
            if problem is None and candidate.face is not None:
                fields["face"] = face_rig(candidate.face, f"{source.name}'s answer")
            if problem is None and candidate.floor is not None:
                fields["floor"] = floor_span(candidate.floor, f"{source.name}'s answer")
            if problem is None and need.kind == "background":
                fields["time_of_day"] = _light(candidate.licence, need, f"{source.name}'s answer", self.vocab)
        except AssetMetadataError as exc:
            problem = str(exc)
        if problem is not None:
            self._reject(need, source.name, candidate.uri, problem, rejections)
            tried.append(candidate.uri)
            return None
        cost = source.cost_usd if candidate.cost_usd is None else candidate.cost_usd
        if source.locality == "external":  # spend: only what a source actually supplied
            self.spent_usd = usd(self.spent_usd + cost)
            self.purchases.append((need.asset_id, source.name, cost))
        asset = ResolvedAsset(asset_id=need.asset_id, kind=need.kind, status="resolved", uri="", source=source.name,
                              cost_usd=cost, provenance=_provenance(fields) or source.name, **fields)
        assert self.store is not None  # __post_init__
        sha = self.store.put_bytes(candidate.data)
        asset = asset.model_copy(update={"uri": f"{REGISTRY_SCHEME}{sha}", "sha256": sha,
                                         "reason": f"not in the asset library ({need.library_path}); "
                                                   f"supplied by {source.name}"})
        expires = None
        if source.locality == "external":
            days = min(self.external_ttl_days, source.ttl_days or self.external_ttl_days)
            expires = self.now() + timedelta(days=days)
        if cache:
            record = {"asset": asset.model_dump(mode="json"), "media_type": candidate.media_type,
                      "source_uri": candidate.uri}
            record_sha = self.store.put_bytes(json.dumps(record, sort_keys=True).encode())
            now = self.now()
            self.store.cache_put(self.cache_key(need), record_sha, "resolved_asset", expires_at=expires, now=now)
            # the bytes get an entry of their own, so cache pruning counts and frees them with the record
            self.store.cache_put(f"{self.cache_key(need)}.object", sha, "resolved_asset/object", expires_at=expires,
                                 now=now)
        self._event(need, source.name, "resolved", candidate.uri)
        return asset

    # -- 5. placeholder -----------------------------------------------------------------------

    def _reject(self, need: AssetNeed, source: str, uri: str, reason: str, rejections: list) -> None:
        self._event(need, source, "rejected", reason)
        rejections.append(AssetRejection(source=source, uri=uri, reason=reason))

    def _placeholder(self, need: AssetNeed, rejections: list, tried: list) -> ResolvedAsset:
        # optional: a shot plays without its sound effect, and draws the portrait when an expression is missing
        optional = OPTIONAL_KINDS.get(need.kind)
        rel = PurePosixPath(*_relative_parts(need.library_path, need.asset_id)).as_posix()
        why = "rejected, see rejections" if rejections else "no source had it"
        return ResolvedAsset(
            asset_id=need.asset_id, kind=need.kind, status="placeholder", uri=placeholder_uri(need), sha256=None,
            source="placeholder", fallbacks=tried, flagged=optional is None,
            reason=f"{optional}: {rel}" if optional else f"not in asset library: {rel} ({why})",
            license_type=PLACEHOLDER_LICENSE, provider_or_model=PLACEHOLDER_PROVENANCE,
            provenance=PLACEHOLDER_PROVENANCE, rejections=rejections,
        )


def _media_problem(kind: str, data: bytes) -> str | None:
    """Bytes from outside the library are not trusted: an image need must get an image Pillow can read."""
    if kind not in IMAGE_KINDS:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception as exc:
        return f"not a readable image ({type(exc).__name__}: {exc})"
    return None


def _sidecar(library_root: Path, rel: str, asset_id: str) -> dict:
    """The mapping in `<file>.meta.yaml` beside the asset ({} when there is none: §25.4 then rejects it)."""
    sidecar, sidecar_rel = _checked(library_root, rel + SIDECAR_SUFFIX, asset_id)
    if not sidecar.is_file():
        return {}
    try:
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise AssetMetadataError(f"sidecar {sidecar_rel} is not valid YAML: {exc}") from None
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise AssetMetadataError(f"sidecar {sidecar_rel} must be a mapping of licence fields")
    return meta


def face_rig(data: object, where: str) -> FaceRig:
    """A face rig from a sidecar's or a source's `face:` mapping; AssetMetadataError names the field that is wrong."""
    if not isinstance(data, dict):
        raise AssetMetadataError(f"{where}: face must be a mapping (eyes, eye_r, mouth, mouth_w, skin)")
    for key in data:
        if key not in FaceRig.model_fields:
            close = difflib.get_close_matches(str(key), list(FaceRig.model_fields), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(FaceRig.model_fields)})"
            raise AssetMetadataError(f"{where}: face.{key} is not a face field{hint}")
    try:
        return FaceRig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise AssetMetadataError(f"{where}: face.{field}: {err['msg']}") from None


def _light(meta: dict, need: AssetNeed, where: str, vocab: Vocabulary | None = None) -> str:
    """A background's time of day: its metadata's `time_of_day`, else the words of its description (or the need's)."""
    said = meta.get("time_of_day")
    if said is not None:
        if said not in TIMES:
            raise AssetMetadataError(f"{where}: time_of_day must be one of {', '.join(TIMES)} (got {said!r})")
        return said
    return (vocab or vocabulary()).time_of_day(str(meta.get("description") or need.description))


def floor_span(data: object, where: str) -> tuple[float, float]:
    """A background's `floor: [from, to]` (fractions of its width people can stand on); AssetMetadataError if not."""
    ok = isinstance(data, list | tuple) and len(data) == 2 and all(isinstance(v, int | float) for v in data)
    if not ok or not 0 <= data[0] < data[1] <= 1:  # type: ignore[index]
        raise AssetMetadataError(f"{where}: floor must be [from, to], fractions of the image's width with "
                                 f"0 <= from < to <= 1 (got {data!r})")
    return (float(data[0]), float(data[1]))  # type: ignore[index]


def resolve_need(need: AssetNeed, library_root: Path, store: BlobStore | None = None,
                 sources: list[AssetSource] | None = None) -> ResolvedAsset:
    """Resolve one need (see Resolver): library, cache, plugins, placeholder."""
    return Resolver(Path(library_root), store=store, sources=list(sources or [])).resolve_need(need)


def resolve(manifest: AssetManifest, library_root: Path, store: BlobStore | None = None,
            sources: list[AssetSource] | None = None) -> list[ResolvedAsset]:
    """Resolve every need of the manifest, in manifest order. With no store and no sources: the library alone,
    missing files as flagged placeholders. A path escaping the library raises AssetPathError."""
    return Resolver(Path(library_root), store=store, sources=list(sources or [])).resolve(manifest)


def estimate_external_spend(manifest: AssetManifest, library_root: Path, store: BlobStore | None = None,
                            sources: list[AssetSource] | None = None,
                            now: Callable[[], datetime] | None = None) -> SpendEstimate:
    """Resolver.estimate_external_spend for a manifest, a library, a cache and the project's sources (no source is
    asked)."""
    resolver = Resolver(Path(library_root), store=store, sources=list(sources or []))
    if now is not None:
        resolver.now = now
    return resolver.estimate_external_spend(manifest)


def placeholders(resolved: list[ResolvedAsset]) -> list[str]:
    """Asset ids that resolved to flagged placeholders, in order (for RenderOutput.placeholders)."""
    return [a.asset_id for a in resolved if a.status == "placeholder" and a.flagged]
