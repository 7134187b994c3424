"""Asset resolution from the local asset library (seed 004 §9, Phase 0: local library only).

Every need of an AssetManifest names a file inside the library (`need.library_path`). A present file
resolves to `library:<relative posix path>` with the sha256 of its bytes and the licence and
provenance of its sidecar `<file>.meta.yaml` (or the §19.0 default for local assets). An absent file
becomes a flagged placeholder and the run continues. A path that points outside the library is an
authoring error and raises AssetPathError.

Everything returned is deterministic: no timestamps, no absolute paths, only library-relative text.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path, PurePosixPath, PureWindowsPath

import yaml

from schemas.artifacts import AssetManifest, AssetNeed, ResolvedAsset

LIBRARY_SCHEME = "library:"
PLACEHOLDER_SCHEME = "placeholder:"
SIDECAR_SUFFIX = ".meta.yaml"
# §19.0: assets an author put into their own local library are treated as cleared for their use.
DEFAULT_LICENSE = "proprietary_cleared"
DEFAULT_PROVENANCE = "local asset library"
PLACEHOLDER_LICENSE = "generated_local"
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


# ---- licence sidecars --------------------------------------------------------------------------


def _licence(library_root: Path, rel: str, asset_id: str) -> tuple[str, str]:
    """(license_type, provenance) from `<file>.meta.yaml` beside the asset, or the local default."""
    sidecar, sidecar_rel = _checked(library_root, rel + SIDECAR_SUFFIX, asset_id)
    if not sidecar.is_file():
        return DEFAULT_LICENSE, DEFAULT_PROVENANCE
    try:
        meta = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise AssetMetadataError(f"asset {asset_id!r}: sidecar {sidecar_rel} is not valid YAML: {exc}") from None
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise AssetMetadataError(f"asset {asset_id!r}: sidecar {sidecar_rel} must be a mapping of licence fields")
    license_type = str(meta.get("license_type") or DEFAULT_LICENSE)
    provider = str(meta.get("provider_or_model") or "").strip()
    attribution = str(meta.get("attribution") or "").strip()
    provenance = "; ".join(p for p in (provider, f"attribution: {attribution}" if attribution else "") if p)
    return license_type, provenance or DEFAULT_PROVENANCE


# ---- resolution --------------------------------------------------------------------------------


def _bare_id(need: AssetNeed) -> str:
    prefix = f"{need.kind}:"
    return need.asset_id[len(prefix) :] if need.asset_id.startswith(prefix) else need.asset_id


def placeholder_uri(need: AssetNeed) -> str:
    """`placeholder:<kind>:<id>`; an asset id already written `<kind>:<id>` is not prefixed twice."""
    return f"{PLACEHOLDER_SCHEME}{need.kind}:{_bare_id(need)}"


def resolve_need(need: AssetNeed, library_root: Path) -> ResolvedAsset:
    """Resolve one need against the library: the file, or a flagged placeholder if it is absent."""
    library_root = Path(library_root)
    path, rel = _checked(library_root, need.library_path, need.asset_id)
    uri = LIBRARY_SCHEME + rel
    if path.is_file():
        license_type, provenance = _licence(library_root, rel, need.asset_id)
        return ResolvedAsset(
            asset_id=need.asset_id,
            kind=need.kind,
            status="resolved",
            uri=uri,
            sha256=file_sha256(path),
            license_type=license_type,
            provenance=provenance,
        )
    optional = need.kind == "sfx"  # a shot plays without its sound effect; nothing stands in for it
    return ResolvedAsset(
        asset_id=need.asset_id,
        kind=need.kind,
        status="placeholder",
        uri=placeholder_uri(need),
        sha256=None,
        fallbacks=[uri],
        flagged=not optional,
        reason=f"optional sound effect not in the asset library: {rel}" if optional else f"not in asset library: {rel}",
        license_type=PLACEHOLDER_LICENSE,
        provenance=PLACEHOLDER_PROVENANCE,
    )


def resolve(manifest: AssetManifest, library_root: Path) -> list[ResolvedAsset]:
    """Resolve every need of the manifest, in manifest order (backgrounds, character packs, props, sfx, music).

    Missing files become flagged placeholders; a path escaping the library raises AssetPathError.
    """
    return [resolve_need(need, library_root) for need in manifest.needs()]


def placeholders(resolved: list[ResolvedAsset]) -> list[str]:
    """Asset ids that resolved to flagged placeholders, in order (for RenderOutput.placeholders)."""
    return [a.asset_id for a in resolved if a.status == "placeholder" and a.flagged]
