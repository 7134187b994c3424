"""Where a resolved asset's bytes are on this machine: the library for `library:` uris, the registry otherwise."""

from pathlib import Path

from engines.media import LIBRARY_SCHEME, REGISTRY_SCHEME, library_file, verify
from io_managers import Registry
from schemas import ResolvedAsset


def asset_path(asset: ResolvedAsset | None, library: Path, registry: Registry) -> Path | None:
    """A verified local file for a resolved asset (its bytes hash to the plan's sha256), or None for a placeholder."""
    if asset is None or asset.status != "resolved" or asset.sha256 is None:
        return None
    if asset.uri.startswith(LIBRARY_SCHEME):
        path = library_file(library, asset.uri)
        verify(path, asset.sha256)
        return path
    if asset.uri.startswith(REGISTRY_SCHEME):
        return registry.path(asset.sha256)  # verified against its address on the way
    raise ValueError(f"asset {asset.asset_id}: cannot read uri {asset.uri!r}")
