"""The convergence loop.

    [preflight: the spec's checks and clarity review; below the threshold the run stops] ->
    architect -> scaffold -> tester -> tests committed -> per iteration:
        [tester revises its suite, when findings point into the tests]
        -> coder [-> architect amends the design, when the coder asks] -> guarded edits
        -> workspace commit -> (no change? oscillation?) -> gates -> security review
        -> holdout scenarios (validator callback) -> feedback -> decision

Each finding goes to the role that owns its file (`assay.factory.feedback.owner_of`); a role
that returns no change, or a finding that only an unasked role could fix, stops the run as
``blocked`` with the role's own explanation quoted.

Every step is a ledger event with an idempotency key (``architect``, ``iter-3/gates``, ...),
appended durably before the loop acts on its result. `Factory.run` on an existing run folder
therefore resumes: a completed step is read back from the ledger, never redone, and the workspace
is reset to the last committed step before anything touches it.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import pwd
import shutil
import tempfile
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from pydantic_ai.exceptions import AgentRunError, UnexpectedModelBehavior
from pydantic_ai.models import Model

import assay
from assay import tracing
from assay.agents.architect import architect_prompt, redesign_prompt
from assay.agents.base import cached_prompt
from assay.agents.coder import coder_prompt_parts, render_feedback
from assay.agents.preflight.review import PREFLIGHT_ROLE, review_spec
from assay.agents.preflight.rules import body_first_line, check_spec
from assay.agents.preflight.verdict import make_report, stop_reason
from assay.agents.recording import RecordingModel
from assay.agents.reviewer import reviewer_prompt_parts
from assay.agents.roles import RoleAgents, RoleFactory
from assay.agents.tester import revision_prompt_parts, tester_prompt_parts
from assay.agents.tools import WorkspaceDeps, workspace_files
from assay.agents.world import World
from assay.changeset import ChangesetRejected, apply_changeset, apply_unified_diff
from assay.config import Settings
from assay.deps.environment import LockedEnvironment
from assay.deps.prepare import DependencyGate
from assay.errors import RunError
from assay.factory import events as ev
from assay.factory.autofix import autofix
from assay.factory.budget import Budget, BudgetExceeded
from assay.factory.context import run_world, select_context, write_preview
from assay.factory.feedback import (
    Owner,
    Rejection,
    compose_feedback,
    describe,
    for_role,
    owner_of,
    stranded,
)
from assay.factory.git import Git
from assay.factory.guard import guard_changeset, path_problem
from assay.factory.recorder import LedgerRecorder
from assay.factory.review import REVIEW_GATE, merge_review, review_result
from assay.factory.scaffold import PROTECTED_SCAFFOLD, Checks, write_scaffold
from assay.factory.stop import Decision, IterationScore, StopTracker, score_iteration
from assay.factory.strata import PassHistory, RegressedScenario, next_tier
from assay.factory.validator import ValidationResult, Validator, sanitize
from assay.gates.base import Gate, GateReport
from assay.gates.runner import GateEvent, GateRunner
from assay.housestyle.model import HouseStyle
from assay.housestyle.render import brief
from assay.ledger import Ledger, Signer
from assay.ledger import kinds as k
from assay.messages import (
    Changeset,
    Design,
    Envelope,
    Feedback,
    FeedbackItem,
    FileChange,
    Message,
    Role,
    SecurityReview,
    Spec,
    TestConflict,
    TestSuite,
)
from assay.sandbox.ownership import reclaim
from assay.sandbox.session import sandbox_session

__all__ = ["ApplyFn", "Factory", "Progress", "RoleModels", "RunOutcome", "StepRunner"]

ApplyFn = Callable[[Path, Changeset, Collection[str]], object]
"""Writes a (guarded) changeset into the workspace; `assay.changeset.apply_changeset` by default."""


StepRunner = Callable[[str, Callable[[], Awaitable[dict[str, Any]]]], Awaitable[dict[str, Any]]]
"""Runs one keyed step: ``runner(key, once)`` awaits ``once()``, which returns the step's ledger
payload (read back when the step had completed, else produced and appended first). The default
awaits it inline; the fleet runs it as a DBOS step of the run's workflow (`assay.fleet`)."""


async def _inline(key: str, once: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    return await once()


def _default_apply(root: Path, changeset: Changeset, protected: Collection[str]) -> object:
    """Protected paths are already filtered out by `guard_changeset`."""
    return apply_changeset(root, changeset)


@dataclass(slots=True)
class RoleModels:
    """The model for each role, their configured names, and the coder's escalation model."""

    architect: Model
    tester: Model
    coder: Model
    reviewer: Model
    labels: dict[str, str]
    """Role (and ``strong``, ``preflight``) -> model string, for the record."""
    strong: Model | None = None
    preflight: Model | None = None
    """The spec's clarity reviewer (None: the preflight runs its deterministic checks only)."""


@dataclass(slots=True)
class _Artifacts:
    """What the iterations build on; an amended design or a revised suite replaces its entry."""

    design_env: Envelope
    suite_env: Envelope
    """The suite as last written or revised (a revision holds only the files it changed)."""
    tests: list[str]
    """Every test file the tester has written."""

    @property
    def design(self) -> Design:
        design = self.design_env.message
        assert isinstance(design, Design)
        return design


@dataclass(slots=True)
class Progress:
    """A snapshot for live display."""

    phase: str = "starting"
    iteration: int = 0
    gates: dict[str, str] = field(default_factory=dict)
    score: float | None = None
    best: float | None = None
    satisfaction: float | None = None
    tokens: int = 0
    dollars: float = 0.0
    decision: str = ""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """How a run ended."""

    run_id: str
    outcome: str
    iterations: int
    best_iteration: int
    best_score: float
    workspace_commit: str
    tokens: int
    dollars: float


class Factory:
    """Runs (or resumes) one run in `run_dir` from `spec` under `settings`."""

    def __init__(
        self,
        run_dir: Path,
        *,
        spec: Spec,
        settings: Settings,
        models: RoleModels,
        gates: Sequence[Gate],
        validator: Validator | None = None,
        apply: ApplyFn = _default_apply,
        signer: Signer | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        run_info: dict[str, Any] | None = None,
        roles: Mapping[str, RoleFactory] | None = None,
        dependencies: DependencyGate | None = None,
        house_style: HouseStyle | None = None,
        ledger_database: str | None = None,
        preflight: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.workspace = run_dir / "workspace"
        self.spec = spec
        self.settings = settings
        self.cfg = settings.factory
        self.gates = gates
        self.validator = validator
        self.apply = apply
        self.signer = signer
        self.on_progress = on_progress
        self.run_info = dict(run_info or {})
        """Extra keys for ``run.started`` (e.g. the scenarios folder, for resume)."""
        self.house_style = house_style
        """The team's conventions (``assay extract``), recorded in ``run.started``."""
        self.house_brief = brief(house_style) if house_style is not None else None
        """Their text in the architect's, tester's and coder's prompts: fixed for the run, it
        sits in each prompt's stable opening, before anything an iteration changes."""
        self.agents = RoleAgents(roles)
        """Each role's agent: a plugin's (``assay.plugins.roles``) or the built-in one."""
        self.progress = Progress()
        self.step_runner: StepRunner = _inline
        """How each keyed step runs (`StepRunner`)."""
        self.recording: type[RecordingModel] = RecordingModel
        """The wrapper that records each model request (the fleet's admits it first)."""
        # Never resume on a tampered chain. `ledger_database` None: ledger.sqlite, or the
        # database a run folder's ledger.json names; a URL: that PostgreSQL database (a fleet's).
        self.ledger = Ledger.open(run_dir, check=True, database=ledger_database)
        self.budget = Budget(max_tokens=self.cfg.max_tokens, max_dollars=self.cfg.max_dollars)
        self.recorder = LedgerRecorder(self.ledger, self.budget, prices=settings.models.prices)
        self.recorder.replay()
        self.labels = models.labels
        self.models = models
        self.git = Git(self.workspace)
        self.head = ""
        self.review_base = ""
        """The commit the current iteration's changes were made on (the reviewer's diffs)."""
        self.dependencies = dependencies or DependencyGate(settings, run_dir / "deps")
        """Checks each design's dependencies before it is accepted (`assay.deps`)."""
        self.dependencies.on_refused = self._dependencies_refused
        self.locked: LockedEnvironment | None = None
        """The accepted design's lock and its installed folder (None: no dependencies)."""
        self.prepare_block: str | None = None
        self.tier = 1
        """A stratified run's tier: scenarios of tiers <= it are run and counted."""
        self.advanced_in = 0
        """The last iteration in which the tier advanced (its score starts a new baseline)."""
        self.passes = PassHistory()
        """When each held-out scenario first passed (``block_on_regression``)."""
        self.preflight = preflight
        """Check the spec before the architect (``preflight``); a failing check stops the run."""

    # -- plumbing -------------------------------------------------------------------------------

    def _model(self, role: str, model: Model, label_key: str) -> RecordingModel:
        label = self.labels.get(label_key, label_key)
        return self.recording(model, role=role, label=label, observer=self.recorder)

    def _emit(self, **changes: Any) -> None:
        for key, value in changes.items():
            setattr(self.progress, key, value)
        self.progress.tokens = self.budget.tokens
        self.progress.dollars = self.budget.dollars
        if self.on_progress is not None:
            self.on_progress(self.progress)

    async def _step(self, key: str, model: type[P], produce: Callable[[], Awaitable[P]]) -> P:
        """`produce` the step's payload and record it under `key`, unless a resumed run already
        completed that step: then its recorded payload, read back as `model`."""
        produced: list[P] = []

        async def once() -> dict[str, Any]:
            done = self.ledger.completed(key)
            if done is not None:
                return done.payload
            payload = await produce()
            produced.append(payload)
            return self.ledger.append(ev.kind_of(model), ev.dump(payload), step=key).payload

        recorded = await self.step_runner(key, once)
        return produced[0] if produced else model.model_validate(recorded)

    async def _message(
        self,
        key: str,
        *,
        sender: Role,
        model: str,
        iteration: int,
        parents: Sequence[str],
        produce: Callable[[], Awaitable[Message]],
    ) -> Envelope:
        ran: list[bool] = []

        async def make() -> Envelope:
            ran.append(True)
            message = await produce()
            return Envelope(
                run_id=self.ledger.run_id, iteration=iteration, sender=sender, model=model,
                parent_ids=list(parents), message=message,
            )  # fmt: skip

        if sender in ("human", "factory"):  # no role answers: nothing worth a span
            return await self._step(key, Envelope, make)
        attributes = {"role": sender, "model": model, "iteration": iteration, "step": key}
        with tracing.span(f"role {sender}", attributes) as span:
            envelope = await self._step(key, Envelope, make)
            # a resumed run reads a completed step back: no model was called
            tracing.annotate(span, {"replayed": not ran})
            return envelope

    def _sync_workspace(self) -> None:
        """Make the workspace exactly the last committed step (after a crash, mid-step writes)."""
        if self.head and (
            self.git.head() != self.head or self.git.run("status", "--porcelain", "-uall")
        ):
            self.git.reset_to(self.head)

    # -- the run --------------------------------------------------------------------------------

    async def run(self) -> RunOutcome:
        """Run to a stop condition, or resume from the last completed step."""
        attributes = {"run.id": self.ledger.run_id, "spec.name": self.spec.name}
        try:
            with tracing.span("assay run", attributes) as span:
                outcome = await self._run(span)
                tracing.annotate(span, _outcome_attributes(outcome))
                return outcome
        except UnexpectedModelBehavior as exc:
            # The provider answered, but never with output that passed its checks (a design
            # whose start command is shell, a schema violation): not an outage.
            raise RunError(
                f"the model's answers never passed their checks ({exc}); each attempt is in the "
                f"ledger; try again with `assay resume {self.run_dir}`, or a stronger model"
            ) from None
        except AgentRunError as exc:
            raise RunError(
                f"model provider failed: {exc}; continue with `assay resume {self.run_dir}`"
            ) from None
        finally:
            self.ledger.close()

    async def _run(self, span: tracing.Span | None) -> RunOutcome:
        reclaim(self.workspace)  # a root run killed mid-container left it lent to the sandbox
        finished = self.ledger.completed("finished")
        if finished is not None:
            self._seal()
            return self._outcome(ev.RunFinished.model_validate(finished.payload))
        await self._start()
        self._traced(span)
        try:
            checked = await self._preflight() if self.preflight else None
            if checked is not None and not checked.report.passed:
                reason = stop_reason(checked.report)
                return await self._finish("preflight", reason, 0, StopTracker(1, 1, False))
            design_env, suite_env = await self._prepare()
        except BudgetExceeded as exc:
            return await self._finish("budget", str(exc), 0, StopTracker(1, 1, False))
        if suite_env is None:
            assert isinstance(design_env.message, Design)
            reason = self.prepare_block or _unmet_reason(design_env.message)
            await self._decide(0, "blocked", reason, None, StopTracker(1, 1, False))
            return await self._finish("blocked", reason, 0, StopTracker(1, 1, False))
        the_suite = suite_env.message
        assert isinstance(design_env.message, Design) and isinstance(the_suite, TestSuite)
        art = _Artifacts(design_env, suite_env, [f.path for f in the_suite.files])
        protected = [*PROTECTED_SCAFFOLD, *art.tests]
        tracker = StopTracker(
            max_iterations=self.cfg.max_iterations,
            stall_iterations=self.cfg.stall_iterations,
            can_escalate=self.models.strong is not None,
        )
        fb_env: Envelope | None = None
        decision: Decision = "max-iterations"
        reason = ""
        iteration = 0
        for iteration in range(1, self.cfg.max_iterations + 1):
            self.recorder.iteration = iteration
            try:
                exhausted = self.budget.exhausted()
                if exhausted is not None:
                    raise BudgetExceeded(exhausted)
                with tracing.span("iteration", {"iteration": iteration}) as it_span:
                    decision, reason, fb_env = await self._iteration(
                        iteration, art, protected, fb_env, tracker
                    )
                    tracing.annotate(it_span, {"decision": decision})
            except BudgetExceeded as exc:
                decision, reason = "budget", str(exc)
                await self._decide(iteration, decision, reason, None, tracker)
                break
            if decision not in ("continue", "escalate"):
                break
        return await self._finish(decision, reason, iteration, tracker)

    async def _start(self) -> None:
        spec_bytes = self.spec.model_dump_json().encode()

        async def started() -> ev.RunStarted:
            return ev.RunStarted(
                spec_digest=hashlib.sha256(spec_bytes).hexdigest(),
                spec_blob=self.ledger.put_blob(spec_bytes),
                spec_title=self.spec.title,
                spec_name=self.spec.name,
                settings=self.settings.model_dump(mode="json"),
                leak_level=self.cfg.leak,
                models=dict(self.labels),
                user=_user(),
                # Who started it, and the key that seals it: an approver must be neither.
                uid=os.getuid(),
                signing_key=self.signer.key_id if self.signer else None,
                assay_version=assay.__version__,
                **self.run_info,
                **self._house_style_record(),
            )

        await self._step("run.started", ev.RunStarted, started)
        self._emit(phase="starting")

    def _traced(self, span: tracing.Span | None) -> None:
        """Link this execution's trace to the ledger (each resume is a trace of its own)."""
        trace_id, span_id = tracing.trace_id(span), tracing.span_id(span)
        if trace_id is not None and span_id is not None:
            traced = ev.RunTraced(trace_id=trace_id, span_id=span_id)
            self.ledger.append(traced.kind, ev.dump(traced))

    def _house_style_record(self) -> dict[str, Any]:
        """``run.started``'s house-style keys: its digest, and the document as a blob (what a
        resume gives the roles again)."""
        if self.house_style is None:
            return {}
        blob = self.ledger.put_blob(self.house_style.model_dump_json().encode())
        return {"house_style_sha256": self.house_style.digest(), "house_style_blob": blob}

    async def _preflight(self) -> ev.PreflightChecked:
        """The spec's deterministic checks, then (with a reviewer model) its clarity review."""
        self._emit(phase="preflight")
        model = self.models.preflight
        reviewer = self._model(PREFLIGHT_ROLE, model, "preflight") if model else None

        async def check() -> ev.PreflightChecked:
            first = body_first_line(self.spec)
            findings = check_spec(
                self.spec, dependencies=self.settings.dependencies,
                regulated=self.settings.regulated, first_line=first,
            )  # fmt: skip
            review = None
            if reviewer is not None:
                review = await review_spec(reviewer, self.spec, findings, first_line=first)
            report = make_report(
                self.spec, findings, review, threshold=self.settings.preflight.threshold,
                model=reviewer.model_label if reviewer else "",
            )  # fmt: skip
            return ev.PreflightChecked(report=report)

        return await self._step("preflight", ev.PreflightChecked, check)

    async def _prepare(self) -> tuple[Envelope, Envelope | None]:
        """The design, then (unless it cannot meet the spec here) the scaffold and the tests."""
        spec_env = await self._message(
            "spec", sender="human", model="", iteration=0, parents=[], produce=self._spec
        )
        self._emit(phase="architect")
        arch = self._model("architect", self.models.architect, "architect")

        async def design() -> Message:
            write_preview(self.workspace, self.spec)  # its tools read it; the scaffold replaces it
            prompt = architect_prompt(self.spec, self._world(None), self.house_brief)
            deps = WorkspaceDeps(self.workspace, self.dependencies.check)
            return (await self.agents.architect(arch).run(prompt, deps=deps)).output

        design_env = await self._message(
            "architect", sender="architect", model=arch.model_label, iteration=0,
            parents=[spec_env.id], produce=design,
        )  # fmt: skip
        the_design = design_env.message
        assert isinstance(the_design, Design)
        if the_design.unmet_requirements:  # nothing built here could be accepted: stop now
            return design_env, None
        self.prepare_block = await self._lock_dependencies("dependencies", 0, the_design)
        if self.prepare_block is not None:
            return design_env, None
        lock = self.locked.text if self.locked else None

        async def scaffold() -> ev.WorkspaceCommitted:
            # A kill mid-step can leave a partial scaffold, even its commit: start it over.
            if self.workspace.exists():
                shutil.rmtree(self.workspace)
            self.git.init()
            # the project's CI and hooks run the checks the gates run, as the gates run them
            write_scaffold(
                self.workspace, self.spec, the_design, Checks.of(self.settings), lock=lock
            )
            return self._commit(0, f"scaffold {self.spec.name} from its design\n\n"
                                   f"{the_design.summary}")  # fmt: skip

        self.head = (await self._step("scaffold", ev.WorkspaceCommitted, scaffold)).commit
        self._emit(phase="tester")
        tester = self._model("tester", self.models.tester, "tester")

        async def suite() -> Message:
            self._sync_workspace()
            prompt = cached_prompt(*tester_prompt_parts(
                self.spec, the_design, self._world(the_design), self.house_brief
            ))  # fmt: skip
            deps = WorkspaceDeps(self.workspace)
            return (await self.agents.tester(tester).run(prompt, deps=deps)).output

        suite_env = await self._message(
            "tester", sender="tester", model=tester.model_label, iteration=0,
            parents=[spec_env.id, design_env.id], produce=suite,
        )  # fmt: skip
        the_suite = suite_env.message
        assert isinstance(the_suite, TestSuite)

        async def tests() -> ev.WorkspaceCommitted:
            self._sync_workspace()
            self._write_tests(0, the_suite, step="iter-0/rejected")
            return self._commit(0, f"tests written before the code\n\n{the_suite.rationale}")

        self.head = (await self._step("tests", ev.WorkspaceCommitted, tests)).commit
        written = [f.path for f in the_suite.files if f.path.startswith("tests/")]
        await self._autofix("tests/autofix", 0, "tester", written)
        return design_env, suite_env

    async def _spec(self) -> Message:
        return self.spec

    async def _lock_dependencies(self, key: str, iteration: int, design: Design) -> str | None:
        """Lock and install the design's dependencies as a recorded step (on resume: rebuilt
        offline from the recorded lock). Returns why the run is blocked, or None. A design with
        no dependencies records nothing, unless it drops ones an earlier design had."""
        if not design.dependencies and self.locked is None:
            return None

        async def lock() -> ev.DependenciesLocked:
            if not design.dependencies:
                return ev.DependenciesLocked(iteration=iteration)
            problem = await self.dependencies.check(design.dependencies)
            prepared = self.dependencies.accepted
            if problem is not None or prepared is None:
                return ev.DependenciesLocked(iteration=iteration, refused=problem or "not checked")
            blob = self.ledger.put_blob(prepared.lock.text.encode())
            return ev.DependenciesLocked(iteration=iteration, lock_blob=blob, **prepared.record())

        payload = await self._step(key, ev.DependenciesLocked, lock)
        if payload.refused:
            return f"the design's dependencies cannot be used: {payload.refused}"
        if not payload.lock_blob:
            self.locked = None
            return None
        text = self.ledger.get_blob(payload.lock_blob).decode()
        self.locked = await asyncio.to_thread(
            LockedEnvironment.build,
            text,
            python=payload.python,
            platform=payload.platform,
            folder=self.run_dir / "deps",
            wheelhouse=self.dependencies.wheelhouse,
            index=self.settings.dependencies.index,
        )
        return None

    def _dependencies_refused(self, requested: Sequence[str], reasons: list[str]) -> None:
        """A design's dependencies went back to the architect: the ledger says what and why."""
        refused = ev.DependenciesRefused(requested=list(requested), reasons=reasons)
        self.ledger.append(refused.kind, ev.dump(refused))

    def _world(self, design: Design | None) -> World:
        """What the roles are told of their environment (`assay.agents.world`)."""
        installed = self.locked.components() if self.locked and design is not None else ()
        return run_world(self.settings, self.gates, self.spec, design, installed)

    def _commit(self, iteration: int, message: str, **extra: Any) -> ev.WorkspaceCommitted:
        commit = self.git.commit_all(message)
        return ev.WorkspaceCommitted(
            iteration=iteration, commit=commit, tree=self.git.tree(commit), message=message,
            **extra,
        )  # fmt: skip

    async def _autofix(self, key: str, iteration: int, role: str, paths: list[str]) -> None:
        """ruff's safe fixes and ruff format on the Python files `role` wrote, as their own
        recorded step: a commit only when they changed something (see `assay.factory.autofix`)."""

        async def fix() -> ev.WorkspaceCommitted:
            self._sync_workspace()
            done = await autofix(self.workspace, paths)
            record = ev.AutofixRecord.model_validate(done.record())
            if not done.changed:  # recorded all the same, with no empty commit
                return ev.WorkspaceCommitted(
                    iteration=iteration, commit=self.head, tree=self.git.tree(self.head),
                    message="autofix: nothing to fix", role=role, autofix=record,
                )  # fmt: skip
            message = f"autofix: ruff fixes and formatting of {role}'s files\n\n"
            return self._commit(
                iteration, message + "\n".join(done.changed), role=role, autofix=record
            )

        self.head = (await self._step(key, ev.WorkspaceCommitted, fix)).commit

    def _reject(
        self, iteration: int, index: int, role: str, r: Rejection, *, step: str | None = None
    ) -> None:
        rejected = ev.EditRejected(iteration=iteration, role=role, path=r.path, reason=r.reason)
        self.ledger.append(
            rejected.kind, ev.dump(rejected), step=f"{step or f'iter-{iteration}/rejected'}-{index}"
        )

    async def _iteration(
        self,
        n: int,
        art: _Artifacts,
        protected: list[str],
        last: Envelope | None,
        tracker: StopTracker,
    ) -> tuple[Decision, str, Envelope | None]:
        """One iteration. The last feedback goes to the owners of its items: the tester revises
        its suite first when findings point into the tests, then the coder (who may ask the
        architect for a design change) when any item is the coder's."""
        feedback = last.message if last is not None else None
        assert feedback is None or isinstance(feedback, Feedback)
        tester_fb = for_role(feedback, "tester") if feedback is not None else None
        coder_fb = for_role(feedback, "coder") if feedback is not None else None
        tests_due = tester_fb is not None and bool(tester_fb.items)
        code_due = coder_fb is None or bool(coder_fb.items)
        if feedback is not None and feedback.items and not (tests_due or code_due):
            return await self._blocked(
                n, f"no role may fix {describe(feedback.items[0])} (a file of assay's scaffold)"
                f"{_finding(feedback.items[0])}",
                tracker,
            )  # fmt: skip
        asked: set[Owner] = set()
        reviewed: tuple[Changeset, str] | None = None
        if tester_fb is not None and tests_due and last is not None:
            asked.add("tester")
            revised = await self._revise_tests(n, art, protected, tester_fb, last.id)
            if isinstance(revised, str):
                return await self._blocked(n, revised, tracker)
            reviewed = revised
        rejections: list[Rejection] = []
        if code_due or not tests_due:
            asked.add("coder")
            coded = await self._code(n, art, protected, coder_fb, last, tracker)
            if isinstance(coded, str):
                return await self._blocked(n, coded, tracker)
            (changeset, cs_id), rejections = coded
            reviewed = (changeset, cs_id)
            if changeset.design_change:
                asked.add("architect")
            disputed = await self._settle_test_conflict(n, art, protected, changeset, cs_id, asked)
            if disputed is not None:
                return await self._blocked(n, disputed, tracker)
        earlier = tracker.repeated(n, self.git.tree(self.head))
        if earlier is not None:
            reason = f"after changes, the workspace is identical to iteration {earlier}'s"
            await self._decide(n, "oscillating", reason, None, tracker)
            return "oscillating", reason, None
        assert reviewed is not None
        changeset, parent = reviewed

        report, review_env, validation = await self._check(n, art.design, changeset, parent)
        regressed = await self._regressions(n, validation)
        self._emit(phase="feedback")

        async def compose() -> Message:
            return compose_feedback(
                n, report=report, validation=validation, rejections=rejections,
                max_items=self.cfg.feedback_max_items, max_chars=self.cfg.feedback_max_chars,
                also=[REVIEW_GATE] if self.cfg.review_feedback == "all" else [],
                regressions=regressed,
            )  # fmt: skip

        fb_env = await self._message(
            f"iter-{n}/feedback", sender="factory", model="", iteration=n,
            parents=[parent, review_env.id], produce=compose,
        )  # fmt: skip
        satisfaction = validation.satisfaction if validation is not None else None
        scored, decision, reason = self._judge(n, report, satisfaction, regressed, tracker)
        if decision == "converged" and art.design.unmet_requirements:
            # An amended design says the spec is not met: no role can fix that.
            decision, reason = "blocked", _unmet_reason(art.design)
        fresh = fb_env.message
        assert isinstance(fresh, Feedback)
        stuck = stranded(feedback, fresh, asked)
        if decision != "converged" and stuck is not None:
            decision, reason = "blocked", _stranded_reason(stuck, changeset, asked)
        await self._decide(n, decision, reason, scored, tracker)
        return decision, reason, fb_env

    def _judge(
        self,
        n: int,
        report: GateReport,
        satisfaction: float | None,
        regressed: Sequence[RegressedScenario],
        tracker: StopTracker,
    ) -> tuple[IterationScore, Decision, str]:
        """The iteration's score and the tracker's decision. A tier advanced in this iteration
        starts a new baseline; regressions (counted only when they block) refuse convergence."""
        scored = score_iteration(
            report, satisfaction, self.cfg.threshold, regressions=len(regressed)
        )
        if self.advanced_in == n:
            tracker.rebase()
        decision, reason = tracker.decide(n, scored, self.head)
        return scored, decision, reason + self._strata_note(regressed)

    async def _check(
        self, n: int, design: Design, changeset: Changeset, parent: str
    ) -> tuple[GateReport, Envelope, ValidationResult | None]:
        """The iteration's checks: the gates then the security review (it reads their SAST
        findings), and the held-out scenarios, at once unless ``overlap`` is off."""

        async def checked() -> tuple[GateReport, Envelope]:
            gated = await self._gates(n)
            return gated, await self._review(n, design, changeset, gated, parent)

        # one sandbox session: the docker backend keeps one container per workspace for the
        # iteration (the gates' workspace: pytest; the holdout checkout: the service and exec
        # steps), removed when the checks end
        async with sandbox_session():
            if self.cfg.overlap:  # the scenarios need neither the gates nor the review
                (report, review_env), validation = await _both(checked(), self._validate(n, design))
            else:
                report, review_env = await checked()
                validation = await self._validate(n, design)
        review = review_env.message
        assert isinstance(review, SecurityReview)
        result = review_result(
            review, model=review_env.model, required=self.cfg.require_review, duration_s=0.0
        )
        self._emit(gates={**self.progress.gates, result.gate: str(result.status)})
        return merge_review(report, result), review_env, validation

    async def _blocked(
        self, n: int, reason: str, tracker: StopTracker
    ) -> tuple[Decision, str, Envelope | None]:
        await self._decide(n, "blocked", reason, None, tracker)
        return "blocked", reason, None

    async def _code(
        self,
        n: int,
        art: _Artifacts,
        protected: list[str],
        feedback: Feedback | None,
        last: Envelope | None,
        tracker: StopTracker,
    ) -> tuple[tuple[Changeset, str], list[Rejection]] | str:
        """The coder's step: its changeset (and the envelope id), a design change when it asks
        for one, the guarded write and its commit. A string: why the run is blocked."""
        strong = tracker.escalated and self.models.strong is not None
        coder_model = self.models.strong if strong and self.models.strong else self.models.coder
        coder = self._model("coder", coder_model, "strong" if strong else "coder")
        self._emit(phase="coder", iteration=n, gates={}, decision="")
        design = art.design

        async def code() -> Message:
            self._sync_workspace()
            listing, context = select_context(
                self.workspace, patch_mode=self.cfg.patch_mode, feedback=feedback,
                design=design, tests=art.tests,
            )  # fmt: skip
            prompt = cached_prompt(*coder_prompt_parts(
                spec=self.spec, design=design, iteration=n, listing=listing, context=context,
                protected=protected, feedback=feedback, world=self._world(design),
                house_style=self.house_brief,
            ))  # fmt: skip
            deps = WorkspaceDeps(self.workspace)
            return (await self.agents.coder(coder).run(prompt, deps=deps)).output

        parents = [art.design_env.id, art.suite_env.id, *([last.id] if last else [])]
        cs_env = await self._message(
            f"iter-{n}/coder", sender="coder", model=coder.model_label, iteration=n,
            parents=parents, produce=code,
        )  # fmt: skip
        changeset = cs_env.message
        assert isinstance(changeset, Changeset)
        first = feedback.items[0] if feedback and feedback.items else None
        asked_for = f" for {describe(first)}" if first else ""
        finding = _finding(first) if first else ""
        if not (
            changeset.files
            or changeset.deletions
            or changeset.design_change
            or changeset.test_conflict
        ):
            return (
                f"the coder returned no change{asked_for}: {_quote(changeset.rationale)}{finding}"
            )
        before = self.git.tree(self.head)
        if changeset.design_change:
            problem = await self._redesign(n, art, changeset.design_change, cs_env.id, feedback)
            if problem is not None:
                return problem
        kept, rejections = guard_changeset(self.workspace, changeset, protected)
        self.review_base = self.head  # what the reviewer's diffs are taken against

        async def commit() -> ev.WorkspaceCommitted:
            self._sync_workspace()
            for i, r in enumerate(rejections):
                self._reject(n, i, "coder", r)
            try:
                self.apply(self.workspace, kept, protected)
            except ChangesetRejected as exc:  # nothing was written
                self._reject(n, len(rejections), "coder", Rejection(exc.path, exc.reason))
                rejections.append(Rejection(exc.path, exc.reason))
            message = f"iteration {n}: {changeset.rationale or 'coder changes'}"
            if rejections:
                message += "\n\nRejected: " + ", ".join(r.path for r in rejections)
            rejected = [ev.RejectedEdit(path=r.path, reason=r.reason) for r in rejections]
            return self._commit(n, message, rejected=rejected)

        committed = await self._step(f"iter-{n}/commit", ev.WorkspaceCommitted, commit)
        rejections = [Rejection(r.path, r.reason) for r in committed.rejected or []]
        self.head = committed.commit
        await self._autofix(f"iter-{n}/autofix", n, "coder", [f.path for f in kept.files])
        if self.git.tree(self.head) == before and changeset.test_conflict is None:
            refused = "; ".join(f"{r.path}: {r.reason}" for r in rejections)
            why = f" (rejected: {refused})" if refused else ""
            return (
                f"the coder's changes{asked_for} left the workspace as it was{why}: "
                f"{_quote(changeset.rationale)}{finding}"
            )
        return (changeset, cs_env.id), rejections

    async def _settle_test_conflict(
        self,
        n: int,
        art: _Artifacts,
        protected: list[str],
        changeset: Changeset,
        parent: str,
        asked: set[Owner],
    ) -> str | None:
        """When the coder disputes a test (it pins what the spec leaves open, or contradicts the
        feedback), its owner, the tester, revises it now, before the gates. Returns why the run
        is blocked, or None."""
        if changeset.test_conflict is None:
            return None
        asked.add("tester")
        disputed = _conflict_feedback(n, changeset.test_conflict)
        revised = await self._revise_tests(
            n, art, protected, disputed, parent, key="tester-conflict"
        )
        return revised if isinstance(revised, str) else None

    async def _revise_tests(
        self,
        n: int,
        art: _Artifacts,
        protected: list[str],
        feedback: Feedback,
        parent: str,
        *,
        key: str = "tester",
    ) -> tuple[Changeset, str] | str:
        """The tester revises its suite for the findings in it, seeing its own files and the
        findings (the spec too for a disputed test), but not the code. Returns the revision as a
        changeset for the review (and its envelope id), or why the run is blocked. `key` names
        the steps (a second revision in one iteration, for a disputed test, has its own)."""
        self._emit(phase="tester", iteration=n, gates={}, decision="")
        tester = self._model("tester", self.models.tester, "tester")
        design, findings = art.design, render_feedback(feedback)

        async def revise() -> Message:
            self._sync_workspace()
            mine = {p: (self.workspace / p).read_text(encoding="utf-8") for p in art.tests
                    if (self.workspace / p).is_file()}  # fmt: skip
            prompt = cached_prompt(*revision_prompt_parts(
                self.spec, mine, findings, n, self._world(design), self.house_brief,
                dispute=key == "tester-conflict",
            ))  # fmt: skip
            with tempfile.TemporaryDirectory(prefix="assay-tester-") as view:
                _tester_view(self.workspace, Path(view))
                deps = WorkspaceDeps(Path(view))
                return (await self.agents.tester(tester).run(prompt, deps=deps)).output

        env = await self._message(
            f"iter-{n}/{key}", sender="tester", model=tester.model_label, iteration=n,
            parents=[art.design_env.id, art.suite_env.id, parent], produce=revise,
        )  # fmt: skip
        suite = env.message
        assert isinstance(suite, TestSuite)

        async def write() -> ev.WorkspaceCommitted:
            self._sync_workspace()
            changed = self._write_tests(n, suite, step=f"iter-{n}/{key}-rejected")
            if not changed:  # recorded, with no empty commit
                return ev.WorkspaceCommitted(
                    iteration=n, commit=self.head, tree=self.git.tree(self.head),
                    message="tests unchanged", changed=[],
                )  # fmt: skip
            message = f"iteration {n}: tests revised by the tester\n\n{suite.rationale}"
            return self._commit(n, message, changed=changed)

        written = await self._step(
            f"iter-{n}/tests" if key == "tester" else f"iter-{n}/{key}-tests",
            ev.WorkspaceCommitted, write,
        )  # fmt: skip
        self.head = written.commit
        changed: list[str] = written.changed or []
        if not changed:
            return (
                f"the tester returned no change for {describe(feedback.items[0])}: "
                f"{_quote(suite.rationale)}{_finding(feedback.items[0])}"
            )
        await self._autofix(
            f"iter-{n}/tests-autofix" if key == "tester" else f"iter-{n}/{key}-autofix", n,
            "tester", changed,
        )  # fmt: skip
        art.suite_env = env
        for path in changed:
            if path not in art.tests:
                art.tests.append(path)
                protected.append(path)
        revision = Changeset(  # the files as written (a diff applied), for the review
            files=[FileChange(path=p, content=(self.workspace / p).read_text(encoding="utf-8"))
                   for p in changed],
            rationale=suite.rationale,
        )  # fmt: skip
        return revision, env.id

    def _write_tests(self, iteration: int, suite: TestSuite, *, step: str) -> list[str]:
        """Write the tester's files (in full, or a diff applied) that may be written and differ
        from what is there; the others, and a diff that does not apply, are rejected and
        recorded. Returns the paths written."""
        changed = []
        for i, f in enumerate(suite.files):
            problem = path_problem(self.workspace, f.path)
            if problem is None and not f.path.startswith("tests/"):
                problem = "tests live under tests/"
            if problem is not None:
                self._reject(iteration, i, "tester", Rejection(f.path, problem), step=step)
                continue
            target = self.workspace / f.path
            current = target.read_text(encoding="utf-8") if target.is_file() else None
            if f.content is not None:
                text = f.content
            else:
                assert f.diff is not None
                try:
                    text = apply_unified_diff(current or "", f.diff, f.path)
                except ChangesetRejected as exc:
                    self._reject(iteration, i, "tester", Rejection(f.path, exc.reason), step=step)
                    continue
            if text == current:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            changed.append(f.path)
        return changed

    async def _redesign(
        self, n: int, art: _Artifacts, request: str, parent: str, feedback: Feedback | None
    ) -> str | None:
        """The architect answers the coder's design-change request with an amended design (checked
        like the first), and the files rendered from the design are written anew. Returns why
        the run is blocked, or None."""
        self._emit(phase="architect")
        arch = self._model("architect", self.models.architect, "architect")
        current = art.design
        findings = render_feedback(feedback) if feedback is not None else ""

        async def amend() -> Message:
            prompt = redesign_prompt(
                self.spec, current, request, findings, self._world(current), self.house_brief
            )
            deps = WorkspaceDeps(self.workspace, self.dependencies.check)
            return (await self.agents.architect(arch).run(prompt, deps=deps)).output

        try:
            env = await self._message(
                f"iter-{n}/architect", sender="architect", model=arch.model_label, iteration=n,
                parents=[art.design_env.id, parent], produce=amend,
            )  # fmt: skip
        except UnexpectedModelBehavior as exc:  # its output failed the design check every time
            return f"the architect gave no valid amended design for {_quote(request)}: {exc}"
        amended = env.message
        assert isinstance(amended, Design)
        if amended.model_copy(update={"amendment": ""}) == current.model_copy(
            update={"amendment": ""}
        ):
            return (
                f"the architect returned the design unchanged for the coder's request "
                f"{_quote(request)}: {_quote(amended.amendment)}"
            )

        if amended.dependencies != current.dependencies:
            blocked = await self._lock_dependencies(f"iter-{n}/dependencies", n, amended)
            if blocked is not None:
                return blocked
        lock = self.locked.text if self.locked else None

        async def rescaffold() -> ev.WorkspaceCommitted:
            self._sync_workspace()
            write_scaffold(self.workspace, self.spec, amended, Checks.of(self.settings), lock=lock)
            message = f"iteration {n}: design amended at the coder's request\n\n{amended.amendment}"
            return self._commit(n, message)

        self.head = (await self._step(f"iter-{n}/design", ev.WorkspaceCommitted, rescaffold)).commit
        art.design_env = env
        return None

    async def _gates(self, n: int) -> GateReport:
        self._emit(phase="gates")

        ran: list[bool] = []

        async def run() -> ev.GatesRan:
            ran.append(True)
            self._sync_workspace()
            states: dict[str, str] = {}

            def on_event(event: GateEvent) -> None:
                states[event.gate] = str(event.result.status) if event.result else event.state
                # the phase again: the scenarios, running meanwhile, set their own
                self._emit(phase="gates", gates=dict(states))

            gate_settings = self.settings.model_copy(update={"source": None, "exclude": []})
            runner = GateRunner(
                self.workspace, gate_settings, self.gates, cache_dir=self.run_dir / "cache",
                fail_fast=self.cfg.fail_fast, on_event=on_event,
            )  # fmt: skip
            return ev.GatesRan(iteration=n, report=await runner.run())

        with tracing.span("gates", {"iteration": n}) as span:
            report = (await self._step(f"iter-{n}/gates", ev.GatesRan, run)).report
            tracing.annotate(span, {
                "gates.verdict": "passed" if report.passed else "failed",
                "gates.findings": len(report.findings), "replayed": not ran,
            })  # fmt: skip
        self._emit(phase="gates", gates={r.gate: str(r.status) for r in report.results})
        return report

    def _files_at(self, commit: str, paths: Sequence[str]) -> dict[str, str]:
        """The text of each of `paths` that existed in `commit` ("": no commit to compare)."""
        if not commit:
            return {}
        found = {p: self.git.file_at(commit, p) for p in dict.fromkeys(paths)}
        return {p: text for p, text in found.items() if text is not None}

    async def _review(
        self, n: int, design: Design, changeset: Changeset, report: GateReport, parent: str
    ) -> Envelope:
        self._emit(phase="security review")
        reviewer = self._model("security-reviewer", self.models.reviewer, "security-reviewer")

        async def review() -> Message:
            self._sync_workspace()
            prompt = cached_prompt(*reviewer_prompt_parts(
                design, changeset, report, root=self.workspace, world=self._world(design),
                before=self._files_at(self.review_base, [f.path for f in changeset.files]),
            ))  # fmt: skip
            deps = WorkspaceDeps(self.workspace)
            return (await self.agents.reviewer(reviewer).run(prompt, deps=deps)).output

        env = await self._message(
            f"iter-{n}/review.message", sender="security-reviewer", model=reviewer.model_label,
            iteration=n, parents=[parent], produce=review,
        )  # fmt: skip
        verdict = env.message
        assert isinstance(verdict, SecurityReview)

        async def record() -> ev.SecurityReviewed:
            return ev.SecurityReviewed(
                iteration=n, verdict=verdict.verdict, summary=verdict.summary,
                findings=verdict.findings, model=env.model, envelope_id=env.id,
            )  # fmt: skip

        await self._step(f"iter-{n}/review", ev.SecurityReviewed, record)
        return env

    async def _validate(self, n: int, design: Design) -> ValidationResult | None:
        """The held-out scenarios on the iteration's commit. A stratified run validates tiers
        <= its tier, and again with the next tier each time those pass (`assay.factory.strata`),
        so the validation returned is the one the iteration is judged by."""
        if self.validator is None:
            return None
        self._emit(phase="scenarios")
        if not self.cfg.stratified:
            return await self._validate_at(n, design, f"iter-{n}/scenarios", None)
        key = f"iter-{n}/scenarios"
        while True:
            result = await self._validate_at(n, design, key, self.tier)
            self.tier = result.tier if result.tier is not None else self.tier
            above = next_tier(result.tiers, self.tier)
            if result.error or result.satisfaction < self.cfg.threshold or above is None:
                return result
            advanced = ev.TierAdvanced(
                iteration=n, from_tier=self.tier, to_tier=above, satisfaction=result.satisfaction
            )

            async def advance(made: ev.TierAdvanced = advanced) -> ev.TierAdvanced:
                return made

            await self._step(f"iter-{n}/tier-{above}", ev.TierAdvanced, advance)
            self.tier, self.advanced_in = above, n
            key = f"iter-{n}/scenarios-tier-{above}"

    async def _validate_at(
        self, n: int, design: Design, key: str, tier: int | None
    ) -> ValidationResult:
        validator = self.validator
        assert validator is not None

        ran: list[bool] = []

        async def run() -> ev.ScenariosRan:
            ran.append(True)
            # A checkout of its own: the service may write files, and the gates and the review
            # (which reset the workspace to the commit) run meanwhile.
            holdout = self.run_dir / "holdout"
            await asyncio.to_thread(reclaim, holdout)
            await asyncio.to_thread(self.git.export, self.head, holdout)
            verdict = await (
                validator(holdout, design, n) if tier is None
                else validator(holdout, design, n, tier=tier)
            )  # fmt: skip
            result = sanitize(verdict, self.cfg.leak)
            return ev.ScenariosRan(
                iteration=n, score=result.satisfaction, leak_level=self.cfg.leak,
                error=result.error, result=result, tier=result.tier,
                scenarios=[
                    ev.ScenarioLine(
                        id=s.id, passed=s.passed, score=s.score, tier=s.tier,
                        detail=" ".join(x for x in (s.title, s.observed, s.reasons) if x),
                    )
                    for s in result.scenarios
                ],
            )  # fmt: skip

        with tracing.span("scenarios", {"iteration": n}) as span:
            recorded = await self._step(key, ev.ScenariosRan, run)
            tracing.annotate(span, {
                "satisfaction": recorded.score, "error": recorded.error or None,
                "replayed": not ran,
            })  # fmt: skip
        result = recorded.result or ValidationResult(satisfaction=recorded.score)
        self._emit(satisfaction=result.satisfaction)
        return result

    async def _regressions(
        self, n: int, validation: ValidationResult | None
    ) -> list[RegressedScenario]:
        """With ``block_on_regression``: the scenarios that passed in an earlier iteration and
        fail in this one, recorded when there are any."""
        if not self.cfg.block_on_regression or validation is None:
            return []
        regressed = self.passes.check(n, validation.verdicts)
        if not regressed:
            return []
        found = ev.RegressionsFound(iteration=n, scenarios=regressed)

        async def record() -> ev.RegressionsFound:
            return found

        return (await self._step(f"iter-{n}/regressions", ev.RegressionsFound, record)).scenarios

    def _strata_note(self, regressed: Sequence[RegressedScenario]) -> str:
        """What the decision's reason adds for a stratified run or regressions (operator-side:
        the ledger and the progress lines, never a role's prompt)."""
        note = ""
        if self.cfg.stratified and self.validator is not None:
            note += f"; tier {self.tier}"
        if regressed:
            names = ", ".join(f"{r.id} (passed in iteration {r.passed_in})" for r in regressed)
            note += f"; convergence refused, regressed: {names}"
        return note

    async def _decide(
        self,
        n: int,
        decision: Decision,
        reason: str,
        scored: IterationScore | None,
        tracker: StopTracker,
    ) -> None:
        async def record() -> ev.LoopDecided:
            return ev.LoopDecided(
                iteration=n, decision=decision, reason=reason, scores=scored,
                best_iteration=tracker.best_iteration, best_score=tracker.best_score,
                escalated=tracker.escalated, tokens=self.budget.tokens,
                cost_usd=round(self.budget.dollars, 6),
                tier=self.tier if self.cfg.stratified and self.validator is not None else None,
            )  # fmt: skip

        await self._step(f"iter-{n}/decision", ev.LoopDecided, record)
        self._emit(
            decision=decision,
            score=scored.score if scored else self.progress.score,
            best=tracker.best_score if tracker.best_score >= 0 else None,
        )

    async def _finish(
        self, outcome: str, reason: str, iterations: int, tracker: StopTracker
    ) -> RunOutcome:
        async def record() -> ev.RunFinished:
            commit = self.head
            if tracker.best_commit and tracker.best_commit != self.head:
                self.git.branch("assay/last-attempt", self.head)
                self.git.reset_to(tracker.best_commit)
                commit = tracker.best_commit
            return ev.RunFinished(
                outcome=outcome, reason=reason, iterations=iterations,
                best_iteration=tracker.best_iteration, best_score=max(tracker.best_score, 0.0),
                workspace_commit=commit, tokens=self.budget.tokens,
                cost_usd=round(self.budget.dollars, 6),
                unpriced_requests=self.budget.unpriced_requests,
            )  # fmt: skip

        payload = await self._step("finished", ev.RunFinished, record)
        self._seal()
        self._emit(phase="finished", decision=outcome)
        return self._outcome(payload)

    def _seal(self) -> None:
        """Sign the ledger's head once the run has finished (idempotent)."""
        head = self.ledger.head()
        if self.signer is not None and head is not None and head.kind != k.CHECKPOINT:
            self.ledger.checkpoint(self.signer)

    def _outcome(self, p: ev.RunFinished) -> RunOutcome:
        return RunOutcome(
            run_id=self.ledger.run_id, outcome=p.outcome, iterations=p.iterations,
            best_iteration=p.best_iteration, best_score=p.best_score,
            workspace_commit=p.workspace_commit, tokens=p.tokens, dollars=p.cost_usd,
        )  # fmt: skip


def _outcome_attributes(outcome: RunOutcome) -> dict[str, Any]:
    return {
        "outcome": outcome.outcome, "iterations": outcome.iterations,
        "best.iteration": outcome.best_iteration, "best.score": outcome.best_score,
        "tokens": outcome.tokens, "cost.usd": outcome.dollars,
    }  # fmt: skip


def _quote(text: str, limit: int = 400) -> str:
    """A role's explanation, quoted on one line (the full text is in its message)."""
    flat = " ".join(text.split())
    if not flat:
        return "(it gave no explanation)"
    return f'"{flat if len(flat) <= limit else flat[: limit - 3] + "..."}"'


def _conflict_feedback(n: int, conflict: TestConflict) -> Feedback:
    """The coder's dispute of a test, as the one item the tester is asked to settle."""
    item = FeedbackItem(
        source="coder", severity="medium", file=conflict.file,
        message=f"the coder disputes this test: {conflict.reason}",
    )  # fmt: skip
    return Feedback(iteration=n, items=[item], files=[conflict.file])


def _unmet_reason(design: Design) -> str:
    unmet = "; ".join(design.unmet_requirements)
    return (
        f"the architect's design cannot meet the spec here: {_quote(unmet)}; a person must "
        "change the environment or the spec"
    )


def _stranded_reason(item: FeedbackItem, changeset: Changeset, asked: Collection[str]) -> str:
    owner = owner_of(item)
    who = {
        "assay": "no role may change it (assay's scaffold)",
        "architect": "only the architect may fix it, and the coder asked for no design change",
    }.get(owner, f"only the {owner} may fix it and was not asked")
    said = f"; the coder said: {_quote(changeset.rationale)}" if "coder" in asked else ""
    return f"{describe(item)} came back and {who}{said}{_finding(item)}"


def _finding(item: FeedbackItem) -> str:
    """The finding's own words, after the role's (the progress line is cut at its end)."""
    text = " ".join(item.message.split())
    return f"; the finding: {text if len(text) <= 200 else text[:197] + '...'}"


def _tester_view(workspace: Path, view: Path) -> None:
    """Copy what the revising tester may read: its tests and the scaffold, not the code."""
    for rel in workspace_files(workspace):
        if rel.startswith("src/") or (rel.endswith(".py") and not rel.startswith("tests/")):
            continue
        target = view / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(workspace / rel, target)


P = TypeVar("P", bound=BaseModel)
A = TypeVar("A")
B = TypeVar("B")


async def _both(first: Coroutine[Any, Any, A], second: Coroutine[Any, Any, B]) -> tuple[A, B]:
    """Await two branches at once. If one fails, the other is cancelled (its sandbox cleans up)
    and the failure is raised as it is (a budget stop, a provider outage), not as a group."""
    try:
        async with asyncio.TaskGroup() as group:
            one = group.create_task(first)
            two = group.create_task(second)
    except BaseExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return one.result(), two.result()


def _user() -> str:
    """The real uid's account name ($USER and $LOGNAME can be set to anything)."""
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return "unknown"
