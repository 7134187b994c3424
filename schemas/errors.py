"""Input errors that name the file and the field, and the loader that produces them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class InputError(ValueError):
    """Bad user input: `naos` exits 2 and writes nothing to the registry."""

    def __init__(self, file: str | Path, field: str, message: str):
        self.file = str(file)
        self.field = field
        self.message = message
        super().__init__(f"{self.file}: {field}: {message}" if field else f"{self.file}: {message}")


def _field_path(loc: tuple) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in ("action", "dialogue") and parts:
            continue  # discriminator tags of a beat union are not fields the user wrote
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def validate_as(model: type[M], data: object, file: str | Path) -> M:
    """Validate `data` as `model`; the first error becomes an InputError naming file and field."""
    if not isinstance(data, dict):
        raise InputError(file, "", f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = _field_path(tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "required field is missing"
        raise InputError(file, field, msg) from None


def read_yaml(path: str | Path) -> object:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "", "file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise InputError(path, "", f"malformed YAML: {where}{getattr(exc, 'problem', exc)}") from None


def load_yaml_model(path: str | Path, model: type[M]) -> M:
    return validate_as(model, read_yaml(path), path)


def load_json_model(path: str | Path, model: type[M]) -> M:
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "", "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(path, "", f"malformed JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return validate_as(model, data, path)
