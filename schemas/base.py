"""Shared base for every NAOS contract: semver'd, tolerant of unknown fields, canonical bytes for hashing."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class NaosModel(BaseModel):
    # §30.2: readers ignore unknown fields (MINOR upgrades), but never a missing required one.
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


def canonical_json(data: Any) -> bytes:
    """The one byte form NAOS hashes and stores: sorted keys, 2-space indent, UTF-8, trailing newline."""
    return (json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _major(version: object) -> str | None:
    match = SEMVER.match(version) if isinstance(version, str) else None
    return match.group(1) if match else None


class Artifact(NaosModel):
    """A versioned artifact (§30.1). Subclasses set SCHEMA_VERSION; readers accept the same MAJOR, and the earlier
    MAJORs the class says how to upgrade (UPGRADES)."""

    SCHEMA_VERSION: ClassVar[str] = "1.0.0"
    # Earlier MAJOR -> the fields it had that this version dropped. A machine-written artifact of that MAJOR loads
    # as this version without them (docs/SCHEMAS.md, "Reading older artifacts"); authored inputs declare none.
    UPGRADES: ClassVar[dict[str, tuple[str, ...]]] = {}
    schema_version: str

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        if isinstance(data, dict):
            major = _major(data.get("schema_version"))
            if major != _major(cls.SCHEMA_VERSION) and major in cls.UPGRADES:
                upgraded = cls.upgrade(major, {k: v for k, v in data.items() if k not in cls.UPGRADES[major]})
                if upgraded is not None:
                    data = {**upgraded, "schema_version": cls.SCHEMA_VERSION}
        return data

    @classmethod
    def upgrade(cls, major: str, data: dict) -> dict | None:
        """The fields of a MAJOR `major` artifact (its dropped fields already gone) as this version has them; None
        when they cannot be (the MAJOR check then refuses the file with its migration hint)."""
        return data

    @field_validator("schema_version")
    @classmethod
    def _same_major(cls, value: str) -> str:
        match = SEMVER.match(value)
        if not match:
            raise ValueError(f"schema_version must be MAJOR.MINOR.PATCH (semver), got {value!r}")
        ours = SEMVER.match(cls.SCHEMA_VERSION)
        assert ours is not None
        if match.group(1) != ours.group(1):
            raise ValueError(
                f"{cls.__name__} schema_version {value} has MAJOR {match.group(1)}, this NAOS reads "
                f"{ours.group(1)}.x ({cls.SCHEMA_VERSION}); migrate the file first (docs/SCHEMAS.md, "
                f"'Migrating between MAJOR versions')"
            )
        return value

    @classmethod
    def new(cls, **fields: Any):
        return cls(schema_version=cls.SCHEMA_VERSION, **fields)

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.model_dump(mode="json"))

    def sha256(self) -> str:
        return sha256_bytes(self.canonical_bytes())
