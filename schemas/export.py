"""JSON Schema export (`naos schemas`); tests compare schemas/json/ against the models."""

from __future__ import annotations

import json
from pathlib import Path

from . import CONTRACTS


def json_schemas() -> dict[str, bytes]:
    out = {}
    for name, model in CONTRACTS.items():
        schema = model.model_json_schema(mode="validation")
        schema["$id"] = f"https://naos.local/schemas/{name}-{model.SCHEMA_VERSION}.schema.json"
        schema["x-schema-version"] = model.SCHEMA_VERSION
        out[f"{name}.schema.json"] = (json.dumps(schema, indent=2, sort_keys=True) + "\n").encode()
    return out


def export_json_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, data in json_schemas().items():
        path = folder / filename
        path.write_bytes(data)
        written.append(path)
    return written


if __name__ == "__main__":
    export_json_schemas(Path(__file__).parent / "json")
