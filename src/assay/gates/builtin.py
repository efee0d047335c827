"""The manifest of built-in gates, registered through the same hook a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Sequence

from assay.gates.bandit import BanditGate
from assay.gates.base import Gate
from assay.gates.complexity import ComplexityGate
from assay.gates.depaudit import DepAuditGate
from assay.gates.mypy import MypyGate
from assay.gates.pytest_gate import PytestGate
from assay.gates.ruff import RuffGate
from assay.gates.secrets import SecretsGate
from assay.gates.semgrep import SemgrepGate
from assay.plugins import hookimpl

__all__ = ["BUILTIN_GATES", "assay_gates"]

BUILTIN_GATES: tuple[type[Gate], ...] = (
    RuffGate,
    ComplexityGate,
    SecretsGate,
    BanditGate,
    MypyGate,
    DepAuditGate,
    PytestGate,
    SemgrepGate,
)


@hookimpl
def assay_gates() -> Sequence[Gate]:
    """Every built-in gate."""
    return [cls() for cls in BUILTIN_GATES]
