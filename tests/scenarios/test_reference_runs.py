"""Runs against the reference services as real processes: pass, each mutant fails, exec steps."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.models.function import FunctionModel

from assay.agents.judge import Judge
from assay.scenarios.executor import SubprocessExecutor
from assay.scenarios.loader import load_dir
from assay.scenarios.results import ScenarioStatus, StepStatus, ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"
Starter = Callable[..., Any]


async def _run(
    reference: Starter,
    folder: str,
    service: str,
    mutant: str = "",
    judge: Judge | None = None,
    parallel: int = 1,
) -> ValidationReport:
    scenarios = load_dir(COMPAT / folder / "scenarios").scenarios
    async with reference(service, mutant) as svc:
        options = RunOptions(target=svc.url, judge=judge, parallel=parallel, diagnose=svc.diagnose)
        return await ScenarioRunner(options).run(scenarios)


async def test_hello_api_without_a_model(
    judge_model: Callable[..., FunctionModel], reference: Starter
) -> None:
    report = await _run(reference, "hello-api", "hello_api")
    steps = [s for sc in report.scenarios for s in sc.steps]
    deterministic = [s for s in steps if not s.left_for_judge]
    assert deterministic and all(s.status is StepStatus.PASSED for s in deterministic)
    assert all(s.decided_without_model for s in deterministic)
    unjudged = [s for s in steps if s.status is StepStatus.UNJUDGED]
    assert [s.where.rsplit("/", 1)[1] for s in unjudged] == [
        "validation.yaml:7",
        "validation.yaml:15",
    ]
    assert all(s.score is None for s in unjudged)
    assert not report.passed and "unjudged" in report.summary


async def test_hello_api_reference_passes_with_a_lenient_judge(
    judge_model: Callable[..., FunctionModel], reference: Starter
) -> None:
    model = judge_model()
    report = await _run(reference, "hello-api", "hello_api", judge=Judge(model, samples=2))
    assert report.passed and report.satisfaction == 100
    judged = [s for sc in report.scenarios for s in sc.steps if s.judge is not None]
    assert len(judged) == 2 and all(s.judge and s.judge.scores == [100, 100] for s in judged)
    assert len(model.seen) == 4  # type: ignore[attr-defined]  # only the two unreadable steps


@pytest.mark.parametrize(
    ("mutant", "scenario", "where"),
    [
        ("wrong-status", "crud", "crud.yaml:41"),
        ("missing-field", "crud", "crud.yaml:20"),
        ("broken-pagination", "pagination", "pagination.yaml:27"),
    ],
)
async def test_each_hello_api_mutant_fails_and_names_the_step(
    judge_model: Callable[..., FunctionModel],
    reference: Starter,
    mutant: str,
    scenario: str,
    where: str,
) -> None:
    report = await _run(
        reference, "hello-api", "hello_api", mutant, judge=Judge(judge_model(), samples=1)
    )
    assert report.satisfaction < report.threshold and not report.passed
    failed = {sc.id: sc for sc in report.scenarios if sc.status is ScenarioStatus.FAILED}
    assert scenario in failed and failed[scenario].score == 0
    assert where in failed[scenario].message


@pytest.mark.parametrize(
    ("mutant", "scenario", "expected"),
    [
        ("wrong-status", "basic-crud", "status 201, got status 200"),
        ("missing-field", "basic-crud", "$.expires_at is missing"),
        ("broken-pagination", "list-prefix", "'db-host'"),
        ("ttl-ignored", "ttl", "status 404, got status 200"),
    ],
)
async def test_each_kv_store_mutant_fails(
    judge_model: Callable[..., FunctionModel],
    reference: Starter,
    mutant: str,
    scenario: str,
    expected: str,
) -> None:
    report = await _run(
        reference, "kv-store", "kv_store", mutant, judge=Judge(judge_model(), samples=1), parallel=4
    )
    assert not report.passed and report.satisfaction < report.threshold
    by_id = {sc.id: sc for sc in report.scenarios}
    assert by_id[scenario].status is ScenarioStatus.FAILED
    assert expected in by_id[scenario].message


async def test_kv_store_reference_passes_in_parallel(
    judge_model: Callable[..., FunctionModel], reference: Starter
) -> None:
    report = await _run(
        reference, "kv-store", "kv_store", judge=Judge(judge_model(), samples=1), parallel=4
    )
    assert report.passed, report.summary
    ttl = next(sc for sc in report.scenarios if sc.id == "ttl")
    assert ttl.steps[1].attempts >= 1 and ttl.weight == 1.5


async def test_exec_steps_against_the_reference_cli(tmp_path: Path) -> None:
    scenarios = load_dir(COMPAT / "octopus-garden" / "scenarios" / "greet.yaml").scenarios
    executor = SubprocessExecutor(REFERENCE, extra_path=[REFERENCE])
    report = await ScenarioRunner(RunOptions(executor=executor)).run(scenarios)
    (greet,) = report.scenarios
    first, second, third = greet.steps
    assert first.status is StepStatus.PASSED and second.status is StepStatus.PASSED
    assert [c.check for c in first.checks] == [
        "exit code 0",
        "stdout contains 'Alice'",
        "stdout icontains 'garden'",
    ]
    assert third.status is StepStatus.UNJUDGED  # "Stderr contains a usage or error message."
    assert [c.passed for c in third.checks] == [True]
