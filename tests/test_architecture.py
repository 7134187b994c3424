"""The layering DEVELOPERS.md asks for, checked on the import graph: engines never import Dagster, the Canon Gate
never reads the recall layer (§6.2: recall is never authoritative), schemas import nothing of ours."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imports(folder: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
        found[path.relative_to(ROOT).as_posix()] = names
    return found


@pytest.mark.parametrize("folder", ["engines", "schemas"])
def test_no_dagster_below_the_dagster_layer(folder):
    offenders = {f: n for f, n in imports(folder).items() if any(m.split(".")[0] == "dagster" for m in n)}
    assert not offenders


def test_schemas_import_nothing_of_ours():
    ours = ("engines", "naos_assets", "io_managers", "resources", "sensors")
    offenders = {f: n for f, n in imports("schemas").items() if any(m.split(".")[0] in ours for m in n)}
    assert not offenders


def test_canon_engine_never_reads_recall():
    offenders = {f: n for f, n in imports("engines/canon").items() if any(m.startswith("engines.recall") for m in n)}
    assert not offenders
    assert imports("engines/canon"), "the canon engine's files were found"
