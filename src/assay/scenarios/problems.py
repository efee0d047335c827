"""A lint problem: a rule id, a severity and the exact place in a scenario file."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from assay.terminal import plain

__all__ = ["Problem", "ProblemSeverity"]

ProblemSeverity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding of the scenario linter; ``line`` and ``col`` are 1-based."""

    rule: str
    severity: ProblemSeverity
    file: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        """``file:line:col: RULE severity: message`` on one line, control characters escaped."""
        where = f"{plain(self.file)}:{self.line}:{self.col}"
        return f"{where}: {self.rule} {self.severity}: {plain(self.message)}"
