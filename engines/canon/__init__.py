"""Canon engine (seed 004 §5.2, §5.3, §6, §7): canon from a project, CanonDiffs proposed, applied and folded, the
Canon Gate, and the Canon Store. Plain Python, no Dagster; the same inputs give byte-identical artifacts."""

from .errors import CanonDiffError
from .fold import CANON_VERSION, INITIAL_CANON_FIELDS, apply_diff, fold, initial_canon, is_multi_valued
from .gate import (
    ERROR_KINDS,
    GATE_VERSION,
    WARNING_KINDS,
    GateResult,
    check_episode,
    describe_contradiction,
    gate_report,
    normalise_time,
)
from .proposer import PROPOSER_VERSION, propose_diff
from .store import CanonStore, DuckDBCanonStore, StatusRecord

__all__ = [
    "CANON_VERSION",
    "ERROR_KINDS",
    "GATE_VERSION",
    "INITIAL_CANON_FIELDS",
    "PROPOSER_VERSION",
    "WARNING_KINDS",
    "CanonDiffError",
    "CanonStore",
    "DuckDBCanonStore",
    "GateResult",
    "StatusRecord",
    "apply_diff",
    "check_episode",
    "describe_contradiction",
    "fold",
    "gate_report",
    "initial_canon",
    "is_multi_valued",
    "normalise_time",
    "propose_diff",
]
