"""What a step observed: an HTTP response, a command's result, WebSocket messages or a browser
page, in one shape."""

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

VOLATILE_HEADERS = frozenset(
    {
        "age", "connection", "content-length", "date", "etag", "expires", "keep-alive",
        "last-modified", "server", "server-timing", "transfer-encoding", "via", "x-request-id",
        "request-id", "x-correlation-id", "x-trace-id", "traceparent", "tracestate",
        "x-amzn-trace-id", "cf-ray", "x-response-time", "x-runtime",
    }
)  # fmt: skip
"""Response headers whose value changes from one identical response to the next (clock, server
build, connection, tracing ids). The judge is shown that they are present, not their value: a
verdict then depends on what the service did, and an unchanged response is the same prompt, so a
cached verdict is reused (`assay.scenarios.verdicts`)."""


def _judged_header(name: str, value: str) -> str:
    """One response header as the judge sees it: volatile values and cookie values hidden."""
    if name in VOLATILE_HEADERS:
        return f"{name}: (present; its value varies and is not shown)"
    if name == "set-cookie":
        # the cookie's name and attributes (HttpOnly, Secure, Path) matter; its value and expiry
        # date change on every response
        cookie, _, attributes = value.partition(";")
        kept = [a.strip() for a in attributes.split(";") if a.strip()]
        kept = [a for a in kept if not a.lower().startswith("expires=")]
        name_only = cookie.partition("=")[0].strip()
        return "; ".join([f"set-cookie: {name_only}=(value not shown)", *kept])
    return f"{name}: {value}"


@dataclass
class Observation:
    """The result of running one step once."""

    kind: Literal["request", "exec", "ws", "browser"]
    action: str
    """``GET /items/1``, the command line, ``ws default /ws/x`` or ``browser click SELECTOR``."""
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    """Response headers, names lower-cased."""
    body: str = ""
    """The HTTP body; for ws steps the messages received (one as is, several as a JSON array,
    none as ``[]``, a connect- or send-only step ``null``); for browser steps the page's (or, for
    assert, the first match's) text. JSON checks and ``jsonpath`` captures read it."""
    stdout: str = ""
    stderr: str = ""
    exit_code: int | None = None
    latency_ms: float = 0.0
    sent: str = ""
    """What was sent, after variable substitution (request line, headers, body; or the command's
    environment and stdin), for the judge."""
    account: str = ""
    """ws and browser steps: the observation as the judge reads it (OctopusGarden's wording)."""
    sources: dict[str, str] = field(default_factory=dict)
    """browser steps: the ``capture`` sources (text, html, count, location, value)."""
    _json: Any = field(default=None, repr=False)
    _parsed: bool = field(default=False, repr=False)

    def json(self) -> Any:
        """The body (for exec steps: stdout) parsed as JSON, or `NOT_JSON`."""
        if not self._parsed:
            text = self.stdout if self.kind == "exec" else self.body
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
            heads = "\n".join(_judged_header(k, v) for k, v in sorted(self.headers.items()))
            return f"HTTP status {self.status}\n{heads}\n\n{cut(self.body)}"
        if self.kind in ("ws", "browser"):
            return self.account if len(self.account) <= 3 * _JUDGE_BODY_LIMIT else cut(self.account)
        return (
            f"exit code {self.exit_code}\n"
            f"--- stdout ---\n{cut(self.stdout)}\n--- stderr ---\n{cut(self.stderr)}"
        )
