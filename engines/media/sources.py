"""Asset sources beyond the library (seed 004 §9): one interface for external search and generative plugins.

A source declares its role (search or generative), whether it runs locally or calls out (external), what one asset
costs, and how long a fetched copy may be kept (licence terms). External sources run only when a project lists them
(`assets.sources`); the one built-in source, `generative_local`, draws stand-ins offline with Pillow.

Plugins are found by name under the `naos.asset_sources` entry point group, or given as `package.module:Class`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar, Literal, Protocol

from schemas.artifacts import AssetNeed

from . import generate
from .settings import Vocabulary, vocabulary

ENTRY_POINT_GROUP = "naos.asset_sources"


class SourceError(RuntimeError):
    """A source that cannot answer (network down, quota, bad response): the resolver degrades to the next source."""


class PluginError(ValueError):
    """A configured source that cannot be loaded or constructed (an authoring error in the project's assets.sources)."""


@dataclass(frozen=True)
class Candidate:
    """What a source offers for a need: the bytes, where they came from, and the §25.2 licence metadata."""

    data: bytes
    uri: str = ""  # the source's own reference (a search result URL, a model prompt id); provenance only
    media_type: str = "application/octet-stream"
    licence: dict[str, Any] = field(default_factory=dict)
    cost_usd: float | None = None  # None: the source's declared cost per asset
    face: dict[str, Any] | None = None  # characters: where the face is (schemas.FaceRig fields), for blinks and lips
    floor: tuple[float, float] | None = None  # backgrounds: the part of the bottom edge people can stand on


class AssetSource(ABC):
    """One resolver plugin. Subclasses set the class attributes and implement find()."""

    name: ClassVar[str]
    role: ClassVar[Literal["search", "generative"]]
    locality: ClassVar[Literal["local", "external"]]
    version: ClassVar[str] = "1"  # part of the cache key: bump when the same need would get different bytes
    cost_usd: ClassVar[float] = 0.0  # per asset supplied
    ttl_days: ClassVar[int | None] = None  # licence terms: a fetched copy may be reused this long (None: no limit)
    kinds: ClassVar[frozenset[str]] = frozenset({"background", "character", "prop", "music", "sfx"})

    def __init__(self, **options: Any):
        self.options = options

    @abstractmethod
    def find(self, need: AssetNeed) -> Candidate | None:
        """The best candidate for `need`, or None. Raise SourceError when the source cannot answer."""


class GenerativeLocal(AssetSource):
    """Stand-ins drawn offline and deterministically from the need's description (Pillow): colour-graded backgrounds,
    character silhouette plates, prop plates. Licence generated_local, not cleared for redistribution (§25.3)."""

    name = "generative_local"
    role = "generative"
    locality = "local"
    version = generate.GENERATOR_VERSION
    kinds = frozenset({"background", "character", "prop"})

    def __init__(self, vocab: Vocabulary | None = None, **options: Any):
        super().__init__(**options)
        self.vocab, base = vocab or vocabulary(), vocabulary()
        if (self.vocab.kinds, self.vocab.times) != (base.kinds, base.times):  # other pictures: another cache key
            words = json.dumps([self.vocab.kinds, self.vocab.times], sort_keys=True).encode()
            self.version = f"{generate.GENERATOR_VERSION}+words.{hashlib.sha256(words).hexdigest()[:12]}"

    def find(self, need: AssetNeed) -> Candidate | None:
        bare = need.asset_id.split(":", 1)[-1]
        data, media_type = generate.generate(need.kind, need.asset_id, need.name or bare, need.description, self.vocab)
        face = generate.character_face(need.asset_id, need.name or bare, need.description) \
            if need.kind == "character" else None
        floor = generate.background_floor(need.asset_id, need.name or bare, need.description, self.vocab) \
            if need.kind == "background" else None
        return Candidate(data=data, uri=f"generated:{need.kind}:{bare}", media_type=media_type, licence={
            "license_type": "generated_local", "attribution": "", "provider_or_model": generate.GENERATOR_VERSION,
            "redistributable": False}, face=face, floor=floor)


BUILTIN: dict[str, type[AssetSource]] = {GenerativeLocal.name: GenerativeLocal}


def plugin_class(spec: str) -> type[AssetSource]:
    """A source class by built-in name, entry point name, or `package.module:Class`."""
    if spec in BUILTIN:
        return BUILTIN[spec]
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise PluginError(f"asset source {spec!r} cannot be imported: {exc}") from None
    else:
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == spec]
        if not found:
            raise PluginError(f"asset source {spec!r} is not installed (no {ENTRY_POINT_GROUP} entry point of that "
                              f"name; built-in: {', '.join(BUILTIN)}); or give it as package.module:Class")
        cls = found[0].load()
    if not (isinstance(cls, type) and issubclass(cls, AssetSource)):
        raise PluginError(f"asset source {spec!r} is not an AssetSource subclass")
    for attr in ("name", "role", "locality"):
        if not hasattr(cls, attr):
            raise PluginError(f"asset source {spec!r} does not declare {attr}")
    if cls.role not in ("search", "generative") or cls.locality not in ("local", "external"):
        raise PluginError(f"asset source {spec!r}: role must be search or generative, locality local or external")
    return cls


def load_sources(configs: list[Any], *, generate_missing: bool = True,
                 vocab: Vocabulary | None = None) -> list[AssetSource]:
    """The project's plugins (AssetSourceConfig-like: .source, .options) plus, last, the local generator (drawing
    with `vocab`, the project's setting vocabulary)."""
    sources: list[AssetSource] = []
    for i, cfg in enumerate(configs):
        try:
            cls = plugin_class(cfg.source)
        except PluginError as exc:
            raise PluginError(f"assets.sources[{i}].source: {exc}") from None
        try:
            sources.append(cls(**cfg.options))
        except TypeError as exc:
            raise PluginError(f"assets.sources[{i}] ({cfg.source}): bad options: {exc}") from None
    if generate_missing and not any(isinstance(s, GenerativeLocal) for s in sources):
        sources.append(GenerativeLocal(vocab))
    return sources


class BlobStore(Protocol):
    """Where fetched and generated assets are kept by content hash, with a key -> object cache (the registry)."""

    def put_bytes(self, data: bytes) -> str: ...

    def get_bytes(self, sha: str) -> bytes: ...

    def cache_get(self, key: str, *, now: Any = None) -> str | None: ...

    def cache_put(self, key: str, sha: str, stage: str, **kwargs: Any) -> None: ...
