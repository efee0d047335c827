"""The manifest of built-in gates, registered through the same hook a third-party plugin uses."""

from __future__ import annotations

from collections.abc import Sequence

from assay.gates.base import Gate
from assay.gates.ruff import RuffGate
from assay.plugins import hookimpl

__all__ = ["BUILTIN_GATES", "assay_gates"]

BUILTIN_GATES: tuple[type[Gate], ...] = (RuffGate,)


@hookimpl
def assay_gates() -> Sequence[Gate]:
    """Every built-in gate."""
    return [cls() for cls in BUILTIN_GATES]
