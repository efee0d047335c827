"""The CLI's side of the holdout seam: the scenario runner wrapped as a factory `Validator`.

Only the CLI imports both `assay.scenarios` and `assay.factory`; the loop sees what this returns,
cut down to the run's leak level.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from assay.agents.judge import Judge
from assay.errors import RunError
from assay.factory.validator import ScenarioOutcome, ValidationResult
from assay.messages import Design
from assay.scenarios.executor import SubprocessExecutor
from assay.scenarios.model import Scenario
from assay.scenarios.results import ScenarioResult, ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner
from assay.scenarios.service import start_service

__all__ = ["ScenarioValidator"]


def _outcome(result: ScenarioResult) -> ScenarioOutcome:
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
    )


class ScenarioValidator:
    """Starts the generated service from its design and runs the holdout scenarios against it."""

    def __init__(
        self,
        scenarios: list[Scenario],
        *,
        judge: Judge | None,
        threshold: float,
        start_timeout: float = 30.0,
    ) -> None:
        self.scenarios = scenarios
        self.judge = judge
        self.threshold = threshold
        self.start_timeout = start_timeout

    async def __call__(self, workspace: Path, design: Design, iteration: int) -> ValidationResult:
        """Run every scenario; a service that never starts scores 0 with the reason."""
        argv = shlex.split(design.start_command or f"python -m {design.package}")
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the interpreter assay runs on, not whatever PATH holds
        command = shlex.join(["env", "PYTHONPATH=src", *argv])
        options = RunOptions(
            executor=SubprocessExecutor(workspace, extra_path=[workspace]),
            judge=self.judge,
            threshold=self.threshold,
        )
        try:
            async with start_service(command, cwd=workspace, timeout=self.start_timeout) as svc:
                options.target = svc.url
                options.diagnose = svc.diagnose
                report: ValidationReport = await ScenarioRunner(options).run(self.scenarios)
        except RunError as exc:
            return ValidationResult(satisfaction=0.0, error=f"service failed: {exc}"[:2000])
        return ValidationResult(
            satisfaction=max(0.0, min(100.0, report.satisfaction)),
            scenarios=[_outcome(s) for s in report.scenarios],
        )
