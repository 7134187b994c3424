"""Input errors that name the file and the field, and the loader that produces them."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Annotated, TypeVar, Union, get_args, get_origin

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


class FieldValueError(ValueError):
    """Raised by a model-level validator to name the field at fault (a path below the model, e.g. characters[2].id)."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _strip(tp):
    """The type behind Annotated[...] and Optional[...] (pydantic puts no union tag in a loc for `X | None`)."""
    while True:
        if get_origin(tp) is Annotated:
            tp = get_args(tp)[0]
        elif get_origin(tp) in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) != 1:
                return tp
            tp = members[0]
        else:
            return tp


def _union_member(tp, tag):
    """The member of a union that pydantic names `tag` in a loc: a Tag's name or the member type's name."""
    for member in get_args(tp):
        tags = [m.tag for m in getattr(member, "__metadata__", ()) if hasattr(m, "tag")]
        name = getattr(_strip(member), "__name__", None)
        if tag in tags or tag == name:
            return member
    return None


def _union_tags(model: type, loc: tuple) -> list[bool]:
    """For each item of a pydantic error loc: is it a union member tag rather than a field, index or key?"""
    flags: list[bool] = []
    tp = model
    for item in loc:
        tp = _strip(tp)
        if get_origin(tp) in (Union, types.UnionType):
            flags.append(True)
            tp = _union_member(tp, item)
            continue
        flags.append(False)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = next((f for n, f in tp.model_fields.items() if item in (n, f.alias)), None)
            tp = info.annotation if info else None
        elif get_origin(tp) in (list, tuple, set, frozenset):
            tp = get_args(tp)[0] if get_args(tp) else None
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            tp = None
    return flags


def _field_path(model: type, loc: tuple) -> str:
    parts: list[str] = []
    for item, is_tag in zip(loc, _union_tags(model, loc), strict=True):
        if is_tag:
            continue  # which union member pydantic tried is not a field the user wrote
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _first_error(model: type, errors: list) -> dict:
    """The first error; where it comes from a union member that rejected the value's type outright (`str` for an
    inline ShotList), the first error of a member that accepted the type instead, e.g. its missing field."""
    err = errors[0]
    loc = tuple(err["loc"])
    flags = _union_tags(model, loc)
    if True not in flags:
        return err
    at = flags.index(True)
    deeper = [e for e in errors if tuple(e["loc"])[:at] == loc[:at] and len(e["loc"]) > at + 1]
    return deeper[0] if deeper else err


def validate_as(model: type[M], data: object, file: str | Path) -> M:
    """Validate `data` as `model`; the first error becomes an InputError naming file and field."""
    if not isinstance(data, dict):
        raise InputError(file, "", f"expected a mapping at the top level, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = _first_error(model, exc.errors())
        field = _field_path(model, tuple(err["loc"]))
        msg = err["msg"].removeprefix("Value error, ")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldValueError):
            field = ".".join(p for p in (field, cause.field) if p).replace(".[", "[")
            msg = str(cause)
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
