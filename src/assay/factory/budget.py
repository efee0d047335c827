"""The run's spending: tokens and dollars, with caps; exceeding one stops the run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from assay.errors import RunError

__all__ = ["Budget", "BudgetExceeded", "SharedBudget"]


class BudgetExceeded(RunError):
    """A model request would go over the run's token or dollar cap."""


class SharedBudget(Protocol):
    """Dollars shared by many runs (the fleet's budget): checked before each of their requests."""

    def exhausted(self) -> str | None:
        """Why no run may make another request, or None."""
        ...

    def charge(self, dollars: float) -> None:
        """Account for one response of this run."""
        ...


@dataclass(slots=True)
class Budget:
    """Caps (None: none) and what has been spent so far."""

    max_tokens: int | None = None
    max_dollars: float | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    dollars: float = 0.0
    unpriced_requests: int = 0
    """Requests to models with no known price (counted in tokens only)."""
    shared: SharedBudget | None = None
    """A budget this run shares with others (the fleet's), charged with each new response."""

    @property
    def tokens(self) -> int:
        """Input plus output tokens spent."""
        return self.tokens_in + self.tokens_out

    def exhausted(self) -> str | None:
        """Why no further request may be made, or None."""
        if self.max_tokens is not None and self.tokens >= self.max_tokens:
            return f"token budget spent: {self.tokens} of {self.max_tokens}"
        if self.max_dollars is not None and self.dollars >= self.max_dollars:
            return f"dollar budget spent: ${self.dollars:.4f} of ${self.max_dollars:.2f}"
        if self.shared is not None:
            return self.shared.exhausted()
        return None

    def check(self) -> None:
        """Raise `BudgetExceeded` when a cap has been reached."""
        reason = self.exhausted()
        if reason is not None:
            raise BudgetExceeded(reason)

    def add(self, tokens_in: int, tokens_out: int, dollars: float | None) -> None:
        """Account for one new response (charged to the shared budget too)."""
        self.restore(tokens_in, tokens_out, dollars)
        if self.shared is not None and dollars:
            self.shared.charge(dollars)

    def restore(self, tokens_in: int, tokens_out: int, dollars: float | None) -> None:
        """Account for a response recorded before (on resume): the shared budget had it."""
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        if dollars is None:
            self.unpriced_requests += 1
        else:
            self.dollars += dollars
