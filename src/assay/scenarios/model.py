"""The scenario model: a superset of OctopusGarden's YAML, plus structured assertions.

Instances are built by `assay.scenarios.loader` after the linter found no errors, so fields are
already known to be well-formed; ``file`` and ``line`` say where each piece came from.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "STEP_KINDS",
    "Assertions",
    "BrowserSpec",
    "Capture",
    "ExecSpec",
    "JsonAssertion",
    "JsonType",
    "RequestSpec",
    "RetrySpec",
    "Scenario",
    "Step",
    "WsReceive",
    "WsSpec",
]

#: Every step type OctopusGarden knows; assay runs all but ``grpc`` and ``tui`` (unjudged).
STEP_KINDS = ("request", "exec", "browser", "grpc", "ws", "tui")

JsonType = Literal["string", "number", "integer", "boolean", "array", "object", "null"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class JsonAssertion(_Strict):
    """One check on the JSON body (or, for exec steps, on stdout parsed as JSON)."""

    path: str
    """A JSONPath such as ``$.items`` or ``$.items[0].name``."""
    equals: Any = None
    contains: Any = None
    """For strings: a substring; for arrays: an element; for objects: a key."""
    not_contains: Any = None
    matches: str | None = None
    """A regular expression searched in the value (as text)."""
    type: JsonType | None = None
    exists: bool | None = None
    length: int | None = Field(default=None, ge=0)
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=0)
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _some_check(self) -> JsonAssertion:
        checks = self.model_fields_set - {"path"}
        if not checks:
            raise ValueError(f"json assertion on {self.path} checks nothing")
        return self


class Assertions(_Strict):
    """The structured ``assert`` block: every check here runs without a model."""

    status: int | list[int] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    """Header name (any case) to a substring its value must contain."""
    json_: list[JsonAssertion] = Field(default_factory=list, alias="json")
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    """A JSON Schema the body must satisfy."""
    body_contains: str | list[str] | None = None
    stdout_contains: str | list[str] | None = None
    stdout_matches: str | None = None
    stderr_contains: str | list[str] | None = None
    stderr_matches: str | None = None
    exit_code: int | None = None
    max_latency_ms: float | None = Field(default=None, gt=0)


class Capture(_Strict):
    """Save a value from a step's result under ``name`` for ``{name}`` substitution."""

    name: str
    jsonpath: str | None = None
    source: (
        Literal[
            "body", "header", "status", "stdout", "stderr", "exitcode",
            "text", "html", "count", "location", "value",
        ]
        | None
    ) = None  # fmt: skip
    header: str | None = None
    """With ``source: header``: which header."""


class RequestSpec(_Strict):
    """An HTTP request."""

    method: str
    path: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    has_body: bool = False
    """True when the YAML gave a ``body`` key (even ``null``)."""


class ExecSpec(_Strict):
    """A command run without a shell."""

    command: str
    stdin: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: float = 30.0
    """Seconds before the command is killed."""


class WsReceive(_Strict):
    """Collect messages that arrived on the connection (OctopusGarden's ``ws.receive``)."""

    timeout: float = 5.0
    """Seconds to wait for `count` messages; fewer is not an error (the observation says so)."""
    count: int = Field(default=1, ge=1)


class WsSpec(_Strict):
    """A WebSocket step: connect (with `url`), send, and/or receive, as OctopusGarden does.

    A connection lives for the whole scenario under its `id`; a later step without `url` reuses
    it, and messages arriving in between are buffered (up to 1000).
    """

    url: str = ""
    """A path on the service (``/ws/auctions/{id}``); http(s) becomes ws(s). Empty: reuse."""
    id: str = ""
    """Which connection (several per scenario); empty means ``default``."""
    send: str = ""
    """A text message to send after connecting."""
    receive: WsReceive | None = None
    """None: a connect- or send-only step."""


BrowserAction = Literal["navigate", "click", "fill", "assert"]


class BrowserSpec(_Strict):
    """A browser step in headless Chromium (OctopusGarden's ``browser``); one page per scenario,
    so navigation state and cookies carry over from step to step."""

    action: BrowserAction
    url: str = ""
    """For navigate: a path on the service."""
    selector: str = ""
    """A CSS selector for click, fill and assert (the first match is clicked or filled)."""
    value: str = ""
    """For fill: the text typed into the field."""
    text: str = ""
    """For assert: the first match's text contains this."""
    text_absent: str = ""
    """For assert: the first match's text does not contain this."""
    count: int | None = Field(default=None, ge=0)
    """For assert: exactly this many elements match."""
    timeout: float = 10.0
    """Seconds the action may wait (for the element, the page load)."""


class RetrySpec(_Strict):
    """Repeat a failing step."""

    attempts: int = Field(default=1, ge=1)
    interval: float = 1.0


class Step(_Strict):
    """One setup or judged step."""

    kind: Literal["request", "exec", "browser", "grpc", "ws", "tui"]
    description: str = ""
    request: RequestSpec | None = None
    exec_: ExecSpec | None = Field(default=None, alias="exec")
    ws: WsSpec | None = None
    browser: BrowserSpec | None = None
    capture: list[Capture] = Field(default_factory=list)
    expect: str | None = None
    assertions: Assertions | None = None
    retry: RetrySpec | None = None
    delay: float = 0.0
    timeout: float | None = None
    """Per-step HTTP timeout in seconds (the run's default when None)."""
    file: str = ""
    line: int = 0

    @property
    def where(self) -> str:
        """``file:line`` of the step."""
        return f"{self.file}:{self.line}"


class Scenario(_Strict):
    """One holdout scenario file."""

    id: str
    description: str = ""
    type: str = "functional"
    weight: float = 1.0
    tier: int | None = None
    satisfaction_criteria: str = ""
    setup: list[Step] = Field(default_factory=list)
    steps: list[Step]
    file: str = ""
    line: int = 1

    @property
    def level(self) -> int:
        """The scenario's tier for ``--stratified``: one without a tier is tier 1."""
        return 1 if self.tier is None else self.tier
