"""The typed messages the roles exchange, and the envelope that carries them.

Each message is a pydantic model with a literal ``kind`` so any of them can be told apart in one
discriminated union (`Message`, validated by `MESSAGE_ADAPTER`). ``SCHEMA_VERSION`` is bumped on
incompatible changes. `Finding`, `GateReport` and `Role` come from `assay.vocabulary`, re-exported
here so every message a role can see is importable from one place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from typing import Annotated, Literal

import rfc8785
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from assay.vocabulary import Finding, GateReport, Role, SeverityName

__all__ = [
    "MESSAGE_ADAPTER",
    "SCHEMA_VERSION",
    "Changeset",
    "Design",
    "Endpoint",
    "Envelope",
    "Feedback",
    "FeedbackItem",
    "FileChange",
    "Finding",
    "GateReport",
    "GateSummary",
    "Judgement",
    "Message",
    "ModuleSpec",
    "PinnedDependency",
    "PreflightFinding",
    "PreflightReport",
    "PreflightReview",
    "PreflightScores",
    "Role",
    "SecurityFinding",
    "SecurityReview",
    "Spec",
    "TestConflict",
    "TestFile",
    "TestSuite",
    "content_hash",
]

SCHEMA_VERSION = 2


class _Message(BaseModel):
    # the attribute docstrings become the JSON schema's descriptions, which the models read
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class Spec(_Message):
    """What to build: a Markdown spec with an optional front-matter header."""

    kind: Literal["spec"] = "spec"
    name: str
    """Short name of the service, e.g. ``hello-api`` (front matter ``name`` or the file's stem)."""
    title: str = ""
    """The first Markdown heading."""
    body: str
    """The Markdown text without the front matter."""
    meta: dict[str, str | int | float | bool | list[str]] = Field(default_factory=dict)
    """Front-matter keys beyond ``name`` (e.g. ``language``, ``framework``)."""
    source: str = ""
    """Where the spec was read from."""


class ModuleSpec(_Message):
    """One module of the design and the interface it offers."""

    path: str
    """Workspace-relative file, e.g. ``src/app/store.py``."""
    purpose: str
    """What the module is for, in one sentence."""
    interface: list[str] = Field(default_factory=list)
    """Public signatures, e.g. ``def get(key: str) -> str | None``."""


class Endpoint(_Message):
    """One HTTP endpoint the service exposes."""

    method: str
    """HTTP method, e.g. ``GET``."""
    path: str
    """URL path, e.g. ``/items/{id}``."""
    summary: str = ""
    """What the endpoint does."""
    responses: dict[str, str] = Field(default_factory=dict)
    """Status code -> what the body holds."""


class PinnedDependency(_Message):
    """A third-party distribution with a version range."""

    name: str
    """The distribution's name on PyPI."""
    spec: str = ""
    """A PEP 440 specifier such as ``>=0.115,<1``."""


class Design(_Message):
    """The architect's output: how the service is built, before any code exists."""

    kind: Literal["design"] = "design"
    summary: str
    """Two or three sentences a maintainer reads first."""
    package: str
    """Import name of the service's package, e.g. ``hello_api``."""
    modules: list[ModuleSpec] = Field(default_factory=list)
    """Every module of the package, with its public interface."""
    data_model: list[str] = Field(default_factory=list)
    """Entities and their fields, one per line."""
    endpoints: list[Endpoint] = Field(default_factory=list)
    """Every HTTP endpoint the service exposes."""
    file_plan: list[str] = Field(default_factory=list)
    """Every file the coder is expected to write."""
    dependencies: list[PinnedDependency] = Field(default_factory=list)
    """Third-party distributions the service needs (written into pyproject.toml)."""
    start_command: str = ""
    """How the service starts, reading ``$PORT``; e.g. ``python -m hello_api``."""
    threat_model: list[str] = Field(default_factory=list)
    """Threats and their mitigations, one per line."""
    test_strategy: str = ""
    """What the unit tests cover."""
    amendment: str = ""
    """Only in a design amended at the coder's request: what changed from the previous design and
    why. Empty in the first design."""
    unmet_requirements: list[str] = Field(default_factory=list)
    """Requirements of the spec this design cannot meet in the environment it is built in (a
    framework that is not installed, a port it must not choose), one per line, quoting the spec.
    Empty when the design meets the whole spec. A design with unmet requirements stops the run
    as blocked before anything is built, so that a person decides."""


def _content_or_diff(path: str, content: str | None, diff: str | None) -> None:
    if (content is None) == (diff is None):
        raise ValueError(f"{path}: give exactly one of 'content' or 'diff'")


class TestFile(_Message):
    """One pytest file the tester wrote: its full text, or a unified diff against it."""

    __test__ = False
    path: str
    """Workspace-relative, under ``tests/``."""
    content: str | None = None
    """The file's full text."""
    diff: str | None = None
    """A unified diff against the file's current text (to patch a file of yours in a revision)."""

    @model_validator(mode="after")
    def _one_of(self) -> TestFile:
        _content_or_diff(self.path, self.content, self.diff)
        return self


class TestSuite(_Message):
    """The tester's output: pytest files written from the spec and design, before the code."""

    __test__ = False
    kind: Literal["test-suite"] = "test-suite"
    files: list[TestFile] = Field(default_factory=list)
    """The pytest files: each in full, or (a file of yours, in a revision) as a diff."""
    rationale: str = ""
    """What the tests cover and why."""


class FileChange(_Message):
    """One file the coder wants written: its full content, or a unified diff against it."""

    path: str
    """Workspace-relative path with forward slashes. Absolute paths and ``..`` are rejected when
    the change is applied (see `assay.changeset`)."""
    content: str | None = None
    """The file's full new content."""
    diff: str | None = None
    """A unified diff against the file's current content."""

    @model_validator(mode="after")
    def _one_of(self) -> FileChange:
        _content_or_diff(self.path, self.content, self.diff)
        return self


class TestConflict(_Message):
    """A test the coder disputes."""

    __test__ = False
    file: str = Field(pattern=r"^tests/")
    """The test file, under ``tests/``."""
    reason: str
    """Which test, what it asserts, and why that cannot hold with the spec or the feedback."""


class Changeset(_Message):
    """The coder's output: files to write or patch, files to delete, and why."""

    kind: Literal["changeset"] = "changeset"
    files: list[FileChange] = Field(default_factory=list)
    """Files written in full or patched."""
    deletions: list[str] = Field(default_factory=list)
    """Workspace-relative paths to delete."""
    rationale: str = ""
    """What changed and why; becomes the iteration's commit message. When you change nothing,
    say here why not."""
    design_change: str | None = None
    """Set only when the design itself must change for the code to pass (its ``start_command``,
    dependencies, module layout or file plan, which you cannot edit): what must change and why.
    The architect answers with an amended design that later iterations use. Leave it unset
    otherwise."""
    test_conflict: TestConflict | None = None
    """Set only when a test cannot pass together with the spec or the feedback (it pins a choice
    the spec leaves open, or the opposite of what the feedback asks): which test and why. The
    tester, who owns the tests, revises it in this iteration. Leave it unset otherwise."""


class GateSummary(_Message):
    """A gate report as a message: the verdict plus the report itself."""

    kind: Literal["gate-report"] = "gate-report"
    report: GateReport


class SecurityFinding(_Message):
    """One weakness the security reviewer found."""

    cwe: str
    """A CWE id such as ``CWE-89``."""
    severity: SeverityName
    """How bad it is."""
    file: str = ""
    """Workspace-relative file the weakness is in."""
    line: int = 0
    """The line number, as numbered in the code you were sent (0: the whole file)."""
    message: str
    """The weakness and how to fix it."""


class SecurityReview(_Message):
    """The security reviewer's verdict over one changeset and its SAST findings."""

    kind: Literal["security-review"] = "security-review"
    verdict: Literal["approve", "reject"]
    """``approve`` when no weakness of medium severity or above remains, else ``reject``."""
    findings: list[SecurityFinding] = Field(default_factory=list)
    """Each real weakness found."""
    summary: str = ""
    """The verdict in a few sentences, with why analyser findings were dismissed."""


class FeedbackItem(_Message):
    """One thing the coder must fix."""

    source: str
    """Gate name, ``security-review`` or ``scenarios``."""
    severity: SeverityName
    file: str = ""
    line: int = 0
    rule_id: str = ""
    message: str
    count: int = 1
    """How many identical findings this item stands for."""


class Feedback(_Message):
    """What the feedback composer tells the coder after an iteration."""

    kind: Literal["feedback"] = "feedback"
    iteration: int
    items: list[FeedbackItem] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)
    """The workspace files the items involve (the only ones sent in patch mode)."""
    omitted: int = 0
    """Items left out to respect the size cap."""
    satisfaction: float | None = None
    """Holdout satisfaction (0-100), when scenarios ran."""


class Judgement(_Message):
    """The judge's verdict on one observed behaviour against a natural-language expectation."""

    kind: Literal["judgement"] = "judgement"
    score: float = Field(ge=0, le=100)
    """How well the observation meets the expectation, 0-100."""
    reasoning: str = ""
    """Why this score, briefly."""
    failures: list[str] = Field(default_factory=list)
    """Each way the observation falls short of the expectation; empty when it meets it."""


class PreflightFinding(_Message):
    """One thing a deterministic preflight rule found in a spec (`assay.agents.preflight.rules`)."""

    rule_id: str
    """The rule, e.g. ``fixed-port``."""
    severity: Literal["error", "warning"]
    """``error`` stops a run whatever the scores; ``warning`` is reported and shown to the
    reviewer."""
    line: int
    """The spec file's line, 1-based (front matter counted)."""
    message: str
    """What the rule found."""
    fix: str
    """What to change in the spec."""


class PreflightScores(_Message):
    """How clear a spec is, per aspect, each from 0 (unusable) to 1 (nothing to ask)."""

    completeness: float = Field(ge=0, le=1)
    """Every behaviour a client relies on is stated: inputs, outputs, errors, limits, defaults."""
    ambiguity: float = Field(ge=0, le=1)
    """1 when each statement has one reading; lower for each that two builders would read
    differently."""
    testability: float = Field(ge=0, le=1)
    """Every requirement can be checked by a black-box test from outside the service."""
    consistency: float = Field(ge=0, le=1)
    """No two statements contradict each other (status codes, field names, limits)."""


class PreflightReview(_Message):
    """The clarity reviewer's verdict on one spec."""

    kind: Literal["preflight-review"] = "preflight-review"
    scores: PreflightScores
    overall: float = Field(ge=0, le=1)
    """The spec's clarity as a whole, 0..1: how likely two independent builders are to build
    services that pass the same black-box tests."""
    questions: list[str] = Field(default_factory=list)
    """Each question the spec's author must answer, one per entry, most important first."""
    summary: str = ""
    """The verdict in two or three sentences."""


class PreflightReport(_Message):
    """`assay preflight`: the deterministic findings, the model's review (when one ran) and the
    verdict against the threshold."""

    kind: Literal["preflight-report"] = "preflight-report"
    spec: str
    """The spec's name."""
    source: str = ""
    """Where the spec was read from."""
    findings: list[PreflightFinding] = Field(default_factory=list)
    review: PreflightReview | None = None
    """None when no model reviewed the spec (``--no-model``, or no preflight model scripted)."""
    model: str = ""
    """The reviewing model's label ("" when none reviewed)."""
    threshold: float = Field(ge=0, le=1)
    passed: bool
    """No error finding, and the overall score (when reviewed) at or above `threshold`."""

    @property
    def score(self) -> float | None:
        """The overall clarity score, or None without a review."""
        return self.review.overall if self.review is not None else None


Message = Annotated[
    Spec | Design | TestSuite | Changeset | GateSummary | SecurityReview | Feedback | Judgement,
    Field(discriminator="kind"),
]

MESSAGE_ADAPTER: TypeAdapter[Message] = TypeAdapter(Message)


def content_hash(message: BaseModel) -> str:
    """SHA-256 of the RFC 8785 canonical JSON of a message."""
    return hashlib.sha256(rfc8785.dumps(message.model_dump(mode="json"))).hexdigest()


class Envelope(_Message):
    """Carries one message: who sent it, in which run and iteration, from which inputs."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    schema_version: int = SCHEMA_VERSION
    run_id: str
    iteration: int = 0
    """0 for the steps before the first coder iteration."""
    sender: Role
    model: str = ""
    """The model that produced the message (empty for the factory or a human)."""
    parent_ids: list[str] = Field(default_factory=list)
    """Ids of the envelopes this message was produced from."""
    content_hash: str = ""
    time: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    message: Message

    @model_validator(mode="after")
    def _hash(self) -> Envelope:
        digest = content_hash(self.message)
        if self.content_hash and self.content_hash != digest:
            raise ValueError("content_hash does not match the message")
        self.content_hash = digest
        return self
