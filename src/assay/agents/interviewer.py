"""The interviewer: drafts a spec (and scenarios) by asking the user questions, round by round.

Each model turn returns either `Questions` (a few concrete questions, each saying why it matters)
or a `Draft` (the spec's Markdown and scenarios as structured objects, which the caller renders to
YAML, so they are always well-formed). `run_interview` drives the conversation: questions go to an
injected `ask` (the terminal, or a test's scripted answers), answers go back to the model, until a
draft comes or the round limit is reached (then the model is told to draft). A draft is checked by
an injected `check` (the spec parses, the scenarios lint clean); its problems are sent back for a
fix a bounded number of times, then the interview fails listing them.

The checks live with the caller: this layer never imports `assay.scenarios` (holdout contract).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from assay.agents.base import OUTPUT_RETRIES, load_prompt
from assay.errors import RunError

if TYPE_CHECKING:
    from pydantic_ai import Agent
    from pydantic_ai.messages import ModelMessage
    from pydantic_ai.models import Model

__all__ = [
    "FIX_ATTEMPTS",
    "AssertDraft",
    "BrowserDraft",
    "CaptureDraft",
    "Draft",
    "ExecDraft",
    "InterviewBrief",
    "JsonCheckDraft",
    "Question",
    "Questions",
    "RequestDraft",
    "ScenarioDraft",
    "StepDraft",
    "WsDraft",
    "make_interviewer",
    "run_interview",
]

FIX_ATTEMPTS = 2
"""How often a draft with problems is sent back to the model before the interview fails."""


# -- what the model returns ----------------------------------------------------------------


class Question(BaseModel):
    """One concrete question for the user."""

    question: str
    why: str = Field(description="What the spec gets wrong or leaves open without the answer.")


class Questions(BaseModel):
    """Ask the user before drafting: what the spec cannot be written without."""

    questions: list[Question] = Field(min_length=1, max_length=6)


class RequestDraft(BaseModel):
    """An HTTP request to the service; `path` starts with ``/`` (never a full URL)."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    path: str
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: Any = Field(default=None, description="The JSON body; null for none.")


class ExecDraft(BaseModel):
    """A command run without a shell (for a CLI, not an HTTP service)."""

    command: str
    stdin: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    timeout: str | None = Field(default=None, description='A duration such as "10s".')


class WsDraft(BaseModel):
    """A WebSocket step: connect to `url` (a path), send a text message, receive messages."""

    url: str = Field(default="", description="A path such as /ws/rooms/{room_id}; empty: reuse.")
    id: str = ""
    send: str = ""
    receive_count: int | None = Field(default=None, ge=1)
    receive_timeout: str | None = None


class BrowserDraft(BaseModel):
    """A headless-browser step on the service's web pages."""

    action: Literal["navigate", "click", "fill", "assert"]
    url: str = ""
    selector: str = ""
    value: str = ""
    text: str = ""
    text_absent: str = ""
    count: int | None = Field(default=None, ge=0)


class CaptureDraft(BaseModel):
    """Save a value for later steps as ``{name}``: from the JSON body (`jsonpath`, ``$.a.b``) or
    a `source` (request: body, header, status; exec: stdout, stderr, exitcode)."""

    name: str
    jsonpath: str | None = None
    source: str | None = None
    header: str | None = None


class JsonCheckDraft(BaseModel):
    """A check on one JSONPath of the body; set at least one check besides `path`."""

    path: str
    equals: Any = None
    contains: Any = None
    matches: str | None = None
    type: Literal["string", "number", "integer", "boolean", "array", "object", "null"] | None = None
    exists: bool | None = None
    length: int | None = Field(default=None, ge=0)
    min: float | None = None
    max: float | None = None


class AssertDraft(BaseModel):
    """Checks decided without a model (the YAML ``assert`` block)."""

    status: int | list[int] | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    json_checks: list[JsonCheckDraft] = Field(default_factory=list)
    body_contains: str | list[str] | None = None
    stdout_contains: str | list[str] | None = None
    exit_code: int | None = None


class StepDraft(BaseModel):
    """One step: exactly one of `request`, `exec`, `ws`, `browser`."""

    description: str
    request: RequestDraft | None = None
    exec: ExecDraft | None = None
    ws: WsDraft | None = None
    browser: BrowserDraft | None = None
    capture: list[CaptureDraft] = Field(default_factory=list)
    expect: str | None = Field(default=None, description="Plain words a judge checks.")
    assertions: AssertDraft | None = None


class ScenarioDraft(BaseModel):
    """One holdout scenario (one YAML file)."""

    id: str = Field(description="Lower-case letters, digits, - and _; unique.")
    description: str
    type: Literal["functional", "api"] = "functional"
    tier: int | None = Field(default=None, ge=1, le=3)
    weight: float | None = Field(default=None, gt=0)
    satisfaction_criteria: str = ""
    setup: list[StepDraft] = Field(default_factory=list)
    steps: list[StepDraft] = Field(min_length=1)


class Draft(BaseModel):
    """The drafted spec, and scenarios when they were asked for."""

    name: str = Field(description="The service's name: lower-case letters, digits and -.")
    spec: str = Field(description="The spec's Markdown, starting with '# Title'; no front matter.")
    scenarios: list[ScenarioDraft] = Field(default_factory=list)
    open_points: list[str] = Field(
        default_factory=list, description="Assumptions the user should review."
    )


# -- the conversation ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterviewBrief:
    """What the interview starts from."""

    about: str
    """The user's own words on what to build (may be empty with a seed)."""
    seed: str | None = None
    """An existing spec's text to improve."""
    scenarios: bool = False
    """Whether holdout scenarios are drafted too."""
    max_rounds: int = 3
    """Question rounds the user answers before the model must draft."""


AskFn = Callable[[Questions], Sequence[str]]
"""Shows the questions and returns one answer each (empty: the user has no answer)."""
CheckFn = Callable[[Draft], Sequence[str]]
"""The draft's problems, one line each; empty when it is good to write."""


def make_interviewer(model: Model) -> Agent[None, Questions | Draft]:
    """The interviewer agent on `model`: each turn returns `Questions` or a `Draft`."""
    from pydantic_ai import Agent

    return Agent(
        model,
        output_type=[Questions, Draft],
        instructions=load_prompt("interviewer"),
        retries=OUTPUT_RETRIES,
        name="interviewer",
    )


def _opening(brief: InterviewBrief) -> str:
    parts = [f"<task>Draft a spec{' and holdout scenarios' if brief.scenarios else ''}.</task>"]
    if brief.about.strip():
        parts.append(f"<about>\n{brief.about.strip()}\n</about>")
    if brief.seed is not None:
        parts.append(
            "<seed>\nImprove this existing spec; keep what is right, ask about what is "
            f"unclear or missing:\n\n{brief.seed.strip()}\n</seed>"
        )
    if not brief.scenarios:
        parts.append("<scenarios>Not wanted: leave `scenarios` empty.</scenarios>")
    parts.append(_rounds_left(brief.max_rounds))
    return "\n\n".join(parts)


def _rounds_left(left: int) -> str:
    if left <= 0:
        return "<rounds>No questions left: return the Draft now, noting assumptions.</rounds>"
    return f"<rounds>You may ask at most {left} more round(s) of questions.</rounds>"


def _answers(questions: Questions, answers: Sequence[str], left: int) -> str:
    lines = ["<answers>"]
    for n, (q, a) in enumerate(zip(questions.questions, answers, strict=True), start=1):
        given = a.strip() or "(no answer: decide sensibly and list it in open_points)"
        lines.append(f"{n}. Q: {q.question}\n   A: {given}")
    lines.append("</answers>")
    return "\n".join(lines) + "\n\n" + _rounds_left(left)


def _problems(problems: Sequence[str], attempt: int) -> str:
    listed = "\n".join(f"- {p}" for p in problems)
    return (
        f"<problems>\nThe draft cannot be written (fix {attempt} of {FIX_ATTEMPTS}); return the "
        f"whole corrected Draft:\n{listed}\n</problems>"
    )


class _Conversation:
    """One agent conversation: each turn continues the message history."""

    def __init__(self, agent: Agent[None, Questions | Draft], label: str) -> None:
        self._agent = agent
        self._label = label
        self._history: list[ModelMessage] = []

    def turn(self, prompt: str) -> Questions | Draft:
        from pydantic_ai.exceptions import AgentRunError, ModelAPIError
        from pydantic_ai.exceptions import UserError as PydanticAIUserError

        try:
            # asyncio.run, not run_sync: run_sync leaves its event loop open behind it
            result = asyncio.run(self._agent.run(prompt, message_history=self._history))
        except (AgentRunError, ModelAPIError, PydanticAIUserError) as exc:
            raise RunError(f"the interview model {self._label} failed: {exc}") from exc
        self._history = result.all_messages()
        return result.output


def run_interview(
    agent: Agent[None, Questions | Draft],
    brief: InterviewBrief,
    *,
    ask: AskFn,
    check: CheckFn,
    label: str = "interviewer",
) -> Draft:
    """Interview the user through `ask` until the model drafts; return a draft `check` accepts.

    Raises `RunError` when the model keeps asking past the round limit, or when a draft still has
    problems after `FIX_ATTEMPTS` fixes (the message lists them). Nothing is written here.
    """
    talk = _Conversation(agent, label)
    out = talk.turn(_opening(brief))
    rounds = 0
    while isinstance(out, Questions):
        if rounds >= brief.max_rounds:
            raise RunError(
                f"the interview model {label} asked questions again after {rounds} round(s) "
                f"(the limit, --max-rounds {brief.max_rounds}) instead of drafting; nothing was "
                "written"
            )
        answers = list(ask(out))
        if len(answers) != len(out.questions):
            raise RunError(f"{len(out.questions)} question(s) but {len(answers)} answer(s)")
        rounds += 1
        out = talk.turn(_answers(out, answers, brief.max_rounds - rounds))
    draft = out
    for attempt in range(1, FIX_ATTEMPTS + 2):
        problems = list(check(draft))
        if not problems:
            return draft
        if attempt > FIX_ATTEMPTS:
            break
        fixed = talk.turn(_problems(problems, attempt))
        if isinstance(fixed, Questions):
            raise RunError(
                f"the interview model {label} asked questions instead of fixing its draft; "
                "nothing was written. The draft's problems:\n" + "\n".join(problems)
            )
        draft = fixed
    raise RunError(
        f"the draft still has {len(problems)} problem(s) after {FIX_ATTEMPTS} fix(es); nothing "
        "was written:\n" + "\n".join(f"  {p}" for p in problems)
    )
