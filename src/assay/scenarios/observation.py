"""What a step observed: an HTTP response or a command's result, in one shape."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["NOT_JSON", "Observation"]


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


NOT_JSON: Any = _NotJson()
_JUDGE_BODY_LIMIT = 4000


@dataclass
class Observation:
    """The result of running one step once."""

    kind: Literal["request", "exec"]
    action: str
    """``GET /items/1`` or the command line, for reports and the judge."""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, names lower-cased."""
    body: str = ""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    latency_ms: float = 0.0
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    def json(self) -> Any:
        """The body (for exec steps: stdout) parsed as JSON, or `NOT_JSON`."""
        if not self._parsed:
            text = self.body if self.kind == "request" else self.stdout
            try:
                self._json = json.loads(text) if text.strip() else NOT_JSON
            except ValueError:
                self._json = NOT_JSON
            self._parsed = True
        return self._json

    def text(self, stream: Literal["body", "stdout", "stderr"]) -> str:
        """One of the textual outputs."""
        return {"body": self.body, "stdout": self.stdout, "stderr": self.stderr}[stream]

    def describe(self) -> str:
        """A bounded, human-readable account of the observation, as the judge sees it."""

        def cut(s: str) -> str:
            return s if len(s) <= _JUDGE_BODY_LIMIT else s[:_JUDGE_BODY_LIMIT] + "\n[... truncated]"

        if self.kind == "request":
            heads = "\n".join(f"{k}: {v}" for k, v in sorted(self.headers.items()))
            return f"{self.action}\nHTTP status {self.status}\n{heads}\n\n{cut(self.body)}"
        return (
            f"$ {self.action}\nexit code {self.exit_code}\n"
            f"--- stdout ---\n{cut(self.stdout)}\n--- stderr ---\n{cut(self.stderr)}"
        )
