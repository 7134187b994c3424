"""What every stage asset shares: registry reuse, the content hash as data version, input errors as exit 2."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from time import perf_counter
from typing import Any, TypeVar

from dagster import DataVersion, Failure, MetadataValue, Output

from io_managers import cache_key
from resources import NaosHome
from schemas import Artifact, InputError

A = TypeVar("A", bound=Artifact)

EXIT_BAD_INPUT = 2
EXIT_GATE_BLOCKED = 3
EXIT_PIPELINE_FAILED = 4
# A checkpoint's asset check: ERROR while an episode waits for a person, so the red mark is what an operator sees.
# An approval, not a quality gate: run summaries list it under the checkpoints, not the quality checks.
APPROVED_CHECK = "approved"


@contextlib.contextmanager
def bad_input() -> Iterator[None]:
    """An InputError fails the step with the file and field as metadata; `naos render` maps it to exit 2."""
    try:
        yield
    except InputError as exc:
        raise Failure(
            description=str(exc),
            metadata={"naos/exit_code": EXIT_BAD_INPUT, "file": exc.file, "field": exc.field},
            allow_retries=False,
        ) from None


def stage_output(stage: str, naos: NaosHome, contract: type[A], inputs: dict[str, str], params: dict[str, Any],
                 code_version: str, compute: Callable[[], A],
                 describe: Callable[[A], dict[str, Any]] | None = None) -> Output[A]:
    """Reuse the registry's artifact when inputs' hashes, params and code_version match; else compute it."""
    registry = naos.registry()
    key = cache_key(stage, inputs, params, code_version)
    started = perf_counter()
    sha = registry.cache_get(key)
    value = None if sha is None else contract.model_validate_json(registry.get_bytes(sha))
    if value is not None and value.sha256() != sha:
        value = None  # an artifact of an earlier MAJOR, read upgraded: its bytes are not this version's, make them
    hit = value is not None
    if value is None:
        value = compute()
        sha = value.sha256()
    return Output(
        value,
        data_version=DataVersion(sha),
        metadata={
            "naos/sha256": sha,
            "naos/cache_hit": hit,
            "naos/cache_key": key,
            "naos/parents": MetadataValue.json(inputs),
            "naos/params": MetadataValue.json(params),
            "naos/code_version": code_version,
            "naos/seconds": round(perf_counter() - started, 3),
            **(describe(value) if describe else {}),
        },
    )
