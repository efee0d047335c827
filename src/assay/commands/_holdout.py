"""The CLI's side of the holdout seam: the scenario runner wrapped as a factory `Validator`.

Only the CLI imports both `assay.scenarios` and `assay.factory`; the loop sees what this returns,
cut down to the run's leak level. The generated service is untrusted: it is served from a sandbox
on the workspace (``[tool.assay.sandbox]``, ``auto`` by default) and exec steps run there too.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from assay.agents.judge import Judge
from assay.config import SandboxConfig
from assay.errors import RunError
from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.messages import Design
from assay.scenarios.executor import SandboxExecutor
from assay.scenarios.launch import start_service
from assay.scenarios.model import Scenario
from assay.scenarios.report import weakest_step
from assay.scenarios.results import ScenarioResult, ValidationReport
from assay.scenarios.runner import DEFAULT_JUDGE_CONCURRENCY, RunOptions, ScenarioRunner
from assay.scenarios.verdicts import CACHE_FILE, VerdictCache

if TYPE_CHECKING:
    from assay.plugins import AssayPluginManager
    from assay.sandbox import Sandbox

__all__ = ["ScenarioValidator", "service_argv", "up_to_tier"]


def up_to_tier(scenarios: list[Scenario], tier: int) -> tuple[list[Scenario], int]:
    """The scenarios of tiers <= `tier`, and the tier they reach: when no scenario is that low
    (tiers 2 and 3 only, say), the lowest tier present is run instead of nothing."""
    lowest = min((s.level for s in scenarios), default=tier)
    reach = max(tier, lowest)
    return [s for s in scenarios if s.level <= reach], reach


def _outcome(result: ScenarioResult, tier: int | None = None) -> ScenarioOutcome:
    failing = next((s for s in [*result.setup, *result.steps] if str(s.status) != "passed"), None)
    observed = failing.observed[:300] if failing is not None else ""
    reasons = [result.message]
    if failing is not None:
        reasons.append(failing.message)
        if failing.judge is not None:
            reasons += failing.judge.failures
    return ScenarioOutcome(
        id=result.id,
        title=result.id,
        passed=str(result.status) == "passed",
        score=max(0.0, min(100.0, result.score)),
        observed=observed,
        reasons=" ".join(r for r in reasons if r)[:1000],
        tier=tier,
    )


def service_argv(design: Design, backend: str) -> list[str]:
    """The service's command line: `python` is assay's own interpreter (mounted read-only), or
    the image's ``python3`` under docker, never whatever a PATH holds."""
    try:
        argv = shlex.split(design.start_command or f"python -m {design.package}")
    except ValueError as exc:
        raise RunError(f"the design's start command cannot be parsed: {exc}") from None
    if argv and argv[0] in ("python", "python3"):
        argv[0] = "python3" if backend == "docker" else sys.executable
    return argv


class ScenarioValidator:
    """Starts the generated service from its design in a sandbox and runs the holdout scenarios.

    It holds the run's judge verdicts across iterations (`VerdictCache`), kept in the run folder
    beside the gate cache (``<run>/cache/judge-verdicts.json``: the workspace's parent is the run
    folder), so a resumed run reuses them too.
    """

    def __init__(
        self,
        scenarios: list[Scenario],
        *,
        judge: Judge | None,
        threshold: float,
        start_timeout: float = 30.0,
        sandbox: SandboxConfig | None = None,
        backend: str | None = None,
        regulated: bool = False,
        plugins: AssayPluginManager | None = None,
        judge_concurrency: int = DEFAULT_JUDGE_CONCURRENCY,
    ) -> None:
        self.scenarios = scenarios
        self.judge_concurrency = judge_concurrency
        """Steps judged at once, after every scenario's steps ran (``[tool.assay.scenarios]``)."""
        self.judge = judge
        self.threshold = threshold
        self.start_timeout = start_timeout
        self.sandbox = sandbox or SandboxConfig()
        """Limits, environment allow-list and image of the sandbox the service runs in."""
        self.backend = backend
        """Overrides ``sandbox.backend`` (e.g. ``local`` in tests); None: as configured."""
        self.regulated = regulated
        self.plugins = plugins
        self.verdicts: VerdictCache | None = None
        """Opened on the first validation, from the run folder the workspace is in."""

    def verdict_cache(self, workspace: Path) -> VerdictCache:
        """The run's verdict cache (``<run>/cache/judge-verdicts.json``)."""
        path = workspace.resolve().parent / "cache" / CACHE_FILE
        if self.verdicts is None or self.verdicts.path != path:
            self.verdicts = VerdictCache(path)
        return self.verdicts

    def open(self, workspace: Path) -> Sandbox:
        """The sandbox the service and exec steps run in: assay's Python mounted read-only, and
        the dependencies the run installed for this workspace's lock (`assay.deps`)."""
        from assay.deps.environment import installed_for
        from assay.sandbox import open_sandbox
        from assay.sandbox.select import interpreter_paths

        return open_sandbox(
            workspace,
            self.sandbox,
            regulated=self.regulated,
            backend=self.backend,
            ro_paths=interpreter_paths(),
            plugins=self.plugins,
            dependencies=installed_for(workspace),
        )

    async def __call__(
        self, workspace: Path, design: Design, iteration: int, *, tier: int | None = None
    ) -> ValidationResult:
        """Run every scenario, or with `tier` those of tiers <= it (a stratified run: the others
        are not run at all); a service that never starts scores 0 with the reason."""
        tiers = sorted({s.level for s in self.scenarios})
        chosen, reach = (
            up_to_tier(self.scenarios, tier) if tier is not None else (self.scenarios, None)
        )
        levels = {s.id: s.level for s in chosen}
        box = self.open(workspace)
        verdicts = self.verdict_cache(workspace)
        verdicts.origin = f"iteration {iteration}"
        options = RunOptions(
            executor=SandboxExecutor(box), judge=self.judge, threshold=self.threshold,
            verdicts=verdicts, judge_concurrency=self.judge_concurrency,
        )  # fmt: skip
        try:
            argv = service_argv(design, box.name)
            async with start_service(
                argv, sandbox=box, timeout=self.start_timeout, env={"PYTHONPATH": "src"}
            ) as svc:
                options.target = svc.url
                options.transport = svc.transport
                options.diagnose = svc.diagnose
                report: ValidationReport = await ScenarioRunner(options).run(chosen)
        except RunError as exc:
            return ValidationResult(
                satisfaction=0.0, error=f"service failed: {exc}"[:2000], tier=reach, tiers=tiers
            )
        finally:
            box.close()
        return ValidationResult(
            satisfaction=max(0.0, min(100.0, report.satisfaction)),
            scenarios=[_outcome(s, levels.get(s.id)) for s in report.scenarios],
            weakest=weakest_step(report),
            judge_calls=report.judge_calls,
            judge_reused=report.judge_reused,
            tier=reach,
            tiers=tiers,
            judge_calls_saved=report.judge_calls_saved,
        )
