"""Run scenarios against a service: setup, steps, captures, checks, the judge, and scores.

Scenarios are independent (each has its own variables, WebSocket connections and browser page)
and run concurrently up to ``parallel``. Deterministic checks come first; only what no rule could
read goes to the judge, and with no judge such a step is ``unjudged``: never silently passed.
``grpc`` and ``tui`` steps are not run: they are ``unjudged`` too.

Judging is deferred: no step waits on the judge. A step whose checks pass leaves its question,
rendered then (captured values included, so a later capture cannot change it), and the questions
of the whole validation are asked after every scenario's steps have run, up to
``judge_concurrency`` at once. Nothing a step does depends on a verdict (captures come from the
observation), so the verdicts, in scenario and step order, are those of asking one at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import httpx

from assay import tracing
from assay.agents.judge import Judge, JudgeRequest
from assay.scenarios.browser import Chromium
from assay.scenarios.checks import Check, Outcome, browser_checks, from_assertions
from assay.scenarios.executor import Executor, SubprocessExecutor
from assay.scenarios.expect import compile_expectation
from assay.scenarios.judge_context import judge_request
from assay.scenarios.model import Scenario, Step
from assay.scenarios.observation import Observation
from assay.scenarios.relay import TcpRelay
from assay.scenarios.results import (
    CheckRecord,
    JudgeRecord,
    ScenarioResult,
    StepResult,
    StepStatus,
    ValidationReport,
)
from assay.scenarios.scoring import DEFAULT_THRESHOLD, satisfaction, score_scenario
from assay.scenarios.steps import NOT_RUN, Live, StepError, capture_value, perform
from assay.scenarios.substitute import UndefinedVariable, substitute_text
from assay.scenarios.verdicts import VerdictCache

__all__ = ["DEFAULT_JUDGE_CONCURRENCY", "RunOptions", "ScenarioRunner", "step_checks"]

DEFAULT_JUDGE_CONCURRENCY = 4


@dataclass
class RunOptions:
    """How to reach the service and how to judge."""

    target: str | None = None
    """Base URL of the service, e.g. ``http://127.0.0.1:8080``."""
    transport: httpx.AsyncBaseTransport | None = None
    """Injected HTTP transport (a sandbox's Unix socket, or a test double)."""
    executor: Executor = field(default_factory=SubprocessExecutor)
    judge: Judge | None = None
    threshold: float = DEFAULT_THRESHOLD
    parallel: int = 1
    request_timeout: float = 10.0
    diagnose: Callable[[], str] | None = None
    """Explains a connection failure (e.g. the started service exited)."""
    on_scenario: Callable[[ScenarioResult], None] | None = None
    verdicts: VerdictCache | None = None
    """Judge verdicts to reuse and add to; None: a cache for this run only."""
    judge_concurrency: int = DEFAULT_JUDGE_CONCURRENCY
    """Steps judged at once, over the whole validation (each asks up to two samples at once)."""


@dataclass
class _Question:
    """A step left for the judge: its result, filled in once the verdict is in."""

    res: StepResult
    request: JudgeRequest


@dataclass
class _Ran:
    """A scenario whose steps have run; its judged steps wait in `questions`."""

    sc: Scenario
    setup: list[StepResult]
    steps: list[StepResult]
    questions: list[_Question]
    duration_s: float


@runtime_checkable
class _SocketTransport(Protocol):
    """A transport to a service that answers on a Unix socket (`assay.scenarios.launch`)."""

    @property
    def socket_path(self) -> str | None: ...


def step_checks(
    step: Step, variables: Mapping[str, Any] | None = None
) -> tuple[list[Check], list[str]]:
    """A step's deterministic checks (assert block, a browser assert's fields, then readable
    expect), and what is left. With `variables`, a browser assert's text is filled in."""
    compiled = compile_expectation(step.expect)
    checks = from_assertions(step.assertions) if step.assertions else []
    if step.browser is not None:
        spec = step.browser
        if variables is not None:
            with contextlib.suppress(UndefinedVariable):  # the step itself reports it
                spec = spec.model_copy(
                    update={
                        f: substitute_text(getattr(spec, f), variables, step.where)
                        for f in ("text", "text_absent")
                    }
                )
        checks += browser_checks(spec)
    return checks + compiled.checks, compiled.remainder


def _records(outcomes: Sequence[Outcome]) -> list[CheckRecord]:
    return [CheckRecord(check=o.check, passed=o.passed, detail=o.detail) for o in outcomes]


def _observed(obs: Observation | None) -> str:
    if obs is None:
        return ""
    if obs.kind == "request":
        return f"{obs.status} in {obs.latency_ms:.0f} ms"
    if obs.kind in ("ws", "browser"):
        first = obs.account.splitlines()[0] if obs.account else obs.action
        return f"{first} in {obs.latency_ms:.0f} ms"
    return f"exit {obs.exit_code} in {obs.latency_ms:.0f} ms"


def _live_kinds(scenarios: Sequence[Scenario]) -> bool:
    return any(s.kind in ("ws", "browser") for sc in scenarios for s in (*sc.setup, *sc.steps))


class ScenarioRunner:
    """Runs scenarios with the given options and builds the `ValidationReport`."""

    def __init__(self, options: RunOptions) -> None:
        self.options = options
        self.verdicts = options.verdicts if options.verdicts is not None else VerdictCache()
        self.chromium = Chromium()
        self.live_url: str | None = options.target
        """Where ws and browser steps reach the service over TCP."""

    @contextlib.asynccontextmanager
    async def _reachable(self, scenarios: Sequence[Scenario]) -> AsyncIterator[None]:
        """While ws or browser steps may run: a TCP relay to a service behind a Unix socket,
        and the run's Chromium, closed at the end."""
        transport = self.options.transport
        socket_path = transport.socket_path if isinstance(transport, _SocketTransport) else None
        try:
            if socket_path and _live_kinds(scenarios):
                async with TcpRelay(socket_path) as relay:
                    self.live_url = relay.url
                    yield
            else:
                yield
        finally:
            await self.chromium.close()

    async def run(self, scenarios: Sequence[Scenario]) -> ValidationReport:
        """Run every scenario (up to ``parallel`` at once) and score the run."""
        start = time.perf_counter()
        opts = self.options
        client = (
            httpx.AsyncClient(
                base_url=opts.target,
                transport=opts.transport,
                follow_redirects=False,
                timeout=opts.request_timeout,
            )
            if opts.target
            else None
        )
        gate = asyncio.Semaphore(max(1, opts.parallel))

        executed: list[_Ran] = []
        all_executed, judged = asyncio.Event(), asyncio.Event()
        timing: dict[str, float] = {}

        async def one(sc: Scenario) -> ScenarioResult:
            # The scenario's span stays open (in its own task) until its steps are judged and
            # it is scored; the judging itself waits for every scenario's execution.
            with tracing.span(f"scenario {sc.id}", {"scenario.id": sc.id}) as span:
                async with gate:
                    ran = await self._execute(sc, client)
                executed.append(ran)
                if len(executed) == len(scenarios):
                    all_executed.set()
                await judged.wait()
                result = self._scored(ran)
                tracing.annotate(span, {
                    "scenario.score": result.score, "scenario.status": str(result.status),
                    "scenario.weight": sc.weight,
                })  # fmt: skip
            return result

        async def judge_all() -> None:
            try:
                await all_executed.wait()
                judged_at = time.perf_counter()
                await self._judge_all([q for r in executed for q in r.questions])
                timing["judging"] = time.perf_counter() - judged_at
            finally:
                judged.set()

        try:
            async with self._reachable(scenarios):
                judging_task = asyncio.ensure_future(judge_all())
                try:
                    results = list(await asyncio.gather(*(one(sc) for sc in scenarios)))
                finally:
                    all_executed.set()  # an execution that raised: let the judging end
                    await judging_task
        finally:
            if client is not None:
                await client.aclose()
        for result in results:
            if opts.on_scenario:
                opts.on_scenario(result)
        judging = timing.get("judging", 0.0)
        return self._report(results, time.perf_counter() - start, judging)

    async def run_scenario(self, sc: Scenario, client: httpx.AsyncClient | None) -> ScenarioResult:
        """Run one scenario's setup and steps, judge what is left, and score it."""
        ran = await self._execute(sc, client)
        await self._judge_all(ran.questions)
        return self._scored(ran)

    async def _judge_all(self, questions: Sequence[_Question]) -> None:
        """Ask every question, up to ``judge_concurrency`` at once; each verdict goes to its own
        step, so the order they arrive in changes nothing."""
        gate = asyncio.Semaphore(max(1, self.options.judge_concurrency))

        async def one(q: _Question) -> None:
            async with gate:
                await self._judge(q)

        await asyncio.gather(*(one(q) for q in questions))

    def _report(
        self, results: list[ScenarioResult], duration: float, judging: float = 0.0
    ) -> ValidationReport:
        opts = self.options
        sat = satisfaction(results)
        steps = [s for r in results for s in r.steps]
        unjudged = sum(1 for s in steps if s.status is StepStatus.UNJUDGED)
        calls, reused, saved = _judge_use(steps)
        passed = sat >= opts.threshold and unjudged == 0 and bool(results)
        summary = f"satisfaction {sat:.1f} (threshold {opts.threshold:g})"
        summary += f"; {sum(r.status == 'passed' for r in results)}/{len(results)} scenarios passed"
        if unjudged:
            summary += f"; {unjudged} step(s) unjudged: no judge model (--judge-model)"
        if reused:
            summary += f"; {reused} judge verdict(s) reused"
        if saved:
            summary += f"; {saved} judge sample(s) not asked (the first two agreed)"
        return ValidationReport(
            target=opts.target or "",
            satisfaction=round(sat, 2),
            threshold=opts.threshold,
            passed=passed,
            summary=summary,
            scenarios=results,
            judge_model=opts.judge.model_name if opts.judge else None,
            judge_samples=opts.judge.samples if opts.judge else 0,
            steps_total=len(steps),
            steps_without_model=sum(1 for s in steps if s.decided_without_model),
            judge_calls=calls,
            judge_reused=reused,
            judge_calls_saved=saved,
            judge_concurrency=max(1, opts.judge_concurrency),
            judge_duration_s=round(judging, 3),
            duration_s=round(duration, 3),
        )

    async def _execute(self, sc: Scenario, client: httpx.AsyncClient | None) -> _Ran:
        """Run one scenario's setup and steps with its own variables; judge nothing yet."""
        start = time.perf_counter()
        variables: dict[str, Any] = {}
        history: list[Observation] = []
        ran = _Ran(sc, [], [], [], 0.0)
        live = Live(self.live_url, self.chromium)
        try:
            for i, step in enumerate(sc.setup):
                res = await self._step(ran, step, i, "setup", variables, history, client, live)
                ran.setup.append(res)
                if res.status is not StepStatus.PASSED:
                    break
            if all(s.status is StepStatus.PASSED for s in ran.setup):
                for i, step in enumerate(sc.steps):
                    res = await self._step(ran, step, i, "step", variables, history, client, live)
                    ran.steps.append(res)
        finally:
            await live.close()
        ran.duration_s = time.perf_counter() - start
        return ran

    def _scored(self, ran: _Ran) -> ScenarioResult:
        """The scenario's result once its steps are judged; its duration is its steps' run."""
        sc, setup, steps = ran.sc, ran.setup, ran.steps
        status, score, message = score_scenario(setup, steps, threshold=self.options.threshold)
        return ScenarioResult(
            id=sc.id,
            file=sc.file,
            description=sc.description,
            weight=sc.weight,
            status=status,
            score=round(score, 2),
            setup=setup,
            steps=steps,
            message=message,
            duration_s=round(ran.duration_s, 3),
        )

    async def _attempts(
        self,
        step: Step,
        checks: list[Check],
        variables: dict[str, Any],
        history: list[Observation],
        client: httpx.AsyncClient | None,
        live: Live,
    ) -> tuple[Observation | None, list[Outcome], str, int]:
        """Perform the step, retrying while a check fails or it errors."""
        if step.delay:
            await asyncio.sleep(step.delay)
        attempts = step.retry.attempts if step.retry else 1
        obs: Observation | None = None
        outcomes: list[Outcome] = []
        error = ""
        for attempt in range(1, attempts + 1):
            try:
                obs = await perform(
                    step,
                    variables,
                    client=client,
                    executor=self.options.executor,
                    timeout=self.options.request_timeout,
                    diagnose=self.options.diagnose,
                    live=live,
                )
                error = ""
                outcomes = [c.evaluate(obs, history) for c in checks]
            except StepError as exc:
                obs, outcomes, error = None, [], str(exc)
            if not error and all(o.passed for o in outcomes):
                return obs, outcomes, error, attempt
            if attempt < attempts and step.retry:
                await asyncio.sleep(step.retry.interval)
        return obs, outcomes, error, attempts

    async def _step(
        self,
        ran: _Ran,
        step: Step,
        index: int,
        phase: str,
        variables: dict[str, Any],
        history: list[Observation],
        client: httpx.AsyncClient | None,
        live: Live,
    ) -> StepResult:
        if step.kind in NOT_RUN:
            return StepResult(
                phase=phase, index=index, description=step.description, where=step.where,
                status=StepStatus.UNJUDGED, score=None, decided_without_model=False,
                message=f"assay does not run {step.kind} steps: this step is unjudged",
            )  # fmt: skip
        start = time.perf_counter()
        checks, remainder = step_checks(step, variables)
        obs, outcomes, error, attempts = await self._attempts(
            step, checks, variables, history, client, live
        )
        res = StepResult(
            phase=phase,
            index=index,
            description=step.description,
            where=step.where,
            action=obs.action if obs else "",
            status=StepStatus.PASSED,
            checks=_records(outcomes),
            left_for_judge=remainder,
            observed=_observed(obs),
            attempts=attempts,
        )
        self._decide(res, step, obs, outcomes, error, phase, variables)
        if obs is not None:
            history.append(obs)
        if res.status is StepStatus.PASSED and remainder and phase == "step":
            if self.options.judge is None:
                res.status, res.score = StepStatus.UNJUDGED, None
                res.decided_without_model = False
                res.message = "needs a judge model: " + " ".join(remainder)
            else:
                assert obs is not None
                # rendered now: a later step's capture must not change what this one is asked
                request = judge_request(ran.sc, step, obs, outcomes, remainder, variables)
                ran.questions.append(_Question(res, request))
        res.duration_s = round(time.perf_counter() - start, 3)
        return res

    def _decide(
        self,
        res: StepResult,
        step: Step,
        obs: Observation | None,
        outcomes: list[Outcome],
        error: str,
        phase: str,
        variables: dict[str, Any],
    ) -> None:
        """Set status and score from the deterministic part alone."""
        res.decided_without_model = True
        if error or obs is None:
            res.status, res.score, res.message = StepStatus.ERROR, 0.0, error
            return
        failed = [o for o in outcomes if not o.passed]
        if failed:
            res.status, res.score = StepStatus.FAILED, 0.0
            res.message = "; ".join(f"expected {o.check}, {o.detail}" for o in failed)
            return
        if phase == "setup" and not outcomes and not _setup_ok(obs):
            res.status, res.score = StepStatus.FAILED, 0.0
            res.message = f"setup {obs.action} gave {_observed(obs)}"
            return
        try:
            for cap in step.capture:
                variables[cap.name] = capture_value(cap, obs)
        except StepError as exc:
            res.status, res.score, res.message = StepStatus.FAILED, 0.0, str(exc)
            return
        if phase == "step" and not outcomes and not step.expect:
            res.status, res.score = StepStatus.UNJUDGED, None
            res.decided_without_model = False
            res.message = "nothing decides this step: it has no expect and no assert"
            return
        res.status, res.score = StepStatus.PASSED, 100.0

    async def _judge(self, question: _Question) -> None:
        judge = self.options.judge
        assert judge is not None
        res = question.res
        verdict, key, reused_from = await self.verdicts.verdict(judge, question.request)
        res.status = StepStatus.JUDGED
        res.decided_without_model = False
        res.score = round(verdict.mean, 2)
        res.judge = JudgeRecord(
            model=verdict.model,
            temperature=verdict.temperature,
            scores=[s.score for s in verdict.samples],
            asked=verdict.asked,
            k=verdict.k or verdict.asked,
            mean=round(verdict.mean, 2),
            spread=round(verdict.spread, 2),
            failures=list(verdict.failures),
            reasoning=[s.reasoning for s in verdict.samples],
            key=key,
            reused_from=reused_from,
        )
        if verdict.failures:
            res.message = "; ".join(verdict.failures)


def _judge_use(steps: Sequence[StepResult]) -> tuple[int, int, int]:
    """The judge's model calls (samples of the steps asked), the verdicts reused, and the samples
    early stop saved on the steps asked."""
    judged = [s.judge for s in steps if s.judge is not None]
    asked = [j for j in judged if j.reused_from is None]
    calls = sum(len(j.scores) for j in asked)
    saved = sum(max(0, j.k - len(j.scores)) for j in asked)
    return calls, len(judged) - len(asked), saved


def _setup_ok(obs: Observation) -> bool:
    """Without explicit checks a setup step must succeed: HTTP < 400, or exit code 0."""
    if obs.kind == "request":
        return obs.status is not None and obs.status < 400
    if obs.kind == "exec":
        return obs.exit_code == 0
    return obs.status is None or obs.status < 400  # ws and browser: it ran (a page loaded)
