"""Deferred, concurrent judging and the judge's early stop, with scripted judges only.

Steps run in order; the questions of the whole validation are asked afterwards, at most
``judge_concurrency`` at once, and the verdicts are those of asking one at a time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.judge import Judge, JudgeRequest
from assay.processes.runner import RunResult
from assay.scenarios.loader import load_dir
from assay.scenarios.model import Scenario
from assay.scenarios.results import StepStatus, ValidationReport
from assay.scenarios.runner import RunOptions, ScenarioRunner
from assay.testing import last_prompt


class EchoExecutor:
    """Runs nothing: a command's stdout is its arguments, at once (no process, no clock)."""

    async def run(
        self, argv: Sequence[str], *, env: Mapping[str, str], stdin: bytes | None, timeout: float
    ) -> RunResult:
        return RunResult(
            argv=tuple(argv), exit_code=0, stdout=" ".join(argv[1:]) + "\n", stderr="",
            stdout_truncated=False, stderr_truncated=False, duration_s=0.0, killed=None,
            backend="host",
        )  # fmt: skip


def _scenario(n: int) -> str:
    """A scenario whose judged steps name the score the scripted judge gives them; step 2 uses a
    value step 1 captured, and step 3 captures a new one under the same name after it."""
    return f"""\
id: s{n}
description: Scenario {n}
steps:
  - description: Pick a colour
    exec: {{command: "echo red{n}"}}
    capture: [{{name: colour, source: stdout}}]
    expect: "Exit code 0. The colour is warm; score={90 + n}."
  - description: Paint with it
    exec: {{command: "echo painted {{colour}}"}}
    expect: "Exit code 0. The paint matches the colour; score={80 + n}."
  - description: Pick another
    exec: {{command: "echo blue{n}"}}
    capture: [{{name: colour, source: stdout}}]
    expect: "Exit code 0. The colour is cold; score=100."
  - description: Expected to fail by rule
    exec: {{command: "echo nope"}}
    expect: "Exit code 3. The refusal is polite."
"""


def _scenarios(tmp_path: Path, count: int = 3) -> list[Scenario]:
    folder = tmp_path / "scenarios"
    folder.mkdir(exist_ok=True)
    for n in range(count):
        (folder / f"s{n}.yaml").write_text(_scenario(n))
    loaded = load_dir(folder)
    loaded.raise_for_errors()
    return loaded.scenarios


class CountingJudge:
    """A scripted judge model that scores what the expectation names (``score=NN``), sleeping a
    little in each call so calls overlap, and counts the calls in flight."""

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most = 0
        self.prompts: list[str] = []

    def model(self) -> FunctionModel:
        async def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            prompt = last_prompt(messages)
            self.prompts.append(prompt)
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            try:
                await asyncio.sleep(self.delay)
            finally:
                self.in_flight -= 1
            found = re.search(r"score=(\d+)", prompt.split("## Expectation to judge")[1])
            score = float(found.group(1)) if found else 50.0
            args = {"score": score, "reasoning": "scripted", "failures": []}
            return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

        return FunctionModel(answer, model_name="counting-judge")


async def _run(scenarios: list[Scenario], judge: Judge, concurrency: int) -> ValidationReport:
    options = RunOptions(executor=EchoExecutor(), judge=judge, judge_concurrency=concurrency)
    return await ScenarioRunner(options).run(scenarios)


def _verdicts(report: ValidationReport) -> list[tuple[Any, ...]]:
    return [
        (sc.id, sc.status, sc.score, st.index, st.status, st.score,
         st.judge.scores if st.judge else None)
        for sc in report.scenarios
        for st in sc.steps
    ]  # fmt: skip


async def test_judging_is_bounded_ordered_and_the_same_as_one_at_a_time(tmp_path: Path) -> None:
    scenarios = _scenarios(tmp_path)
    one_at_a_time, bounded = CountingJudge(), CountingJudge()
    sequential = await _run(scenarios, Judge(one_at_a_time.model(), samples=1), 1)
    concurrent = await _run(scenarios, Judge(bounded.model(), samples=1), 2)
    assert one_at_a_time.most == 1
    assert bounded.most == 2  # the bound, reached: 9 questions, never more than 2 at once
    assert _verdicts(concurrent) == _verdicts(sequential)
    assert [sc.id for sc in concurrent.scenarios] == ["s0", "s1", "s2"]
    s1 = concurrent.scenarios[1]
    assert [st.score for st in s1.steps] == [91.0, 81.0, 100.0, 0.0]
    assert concurrent.judge_calls == sequential.judge_calls == 9
    assert concurrent.judge_concurrency == 2 and sequential.judge_concurrency == 1


async def test_a_deferred_question_keeps_the_capture_of_its_time(tmp_path: Path) -> None:
    counting = CountingJudge(delay=0)
    await _run(_scenarios(tmp_path, 1), Judge(counting.model(), samples=1), 4)
    (paint,) = [p for p in counting.prompts if "Step: Paint with it" in p]
    # step 3 captured "blue0" under the same name before this question was asked
    assert "- colour = red0" in paint and "blue0" not in paint


async def test_a_step_failing_by_rule_costs_no_judge_call(tmp_path: Path) -> None:
    counting = CountingJudge(delay=0)
    report = await _run(_scenarios(tmp_path, 1), Judge(counting.model(), samples=1), 4)
    refused = report.scenarios[0].steps[3]
    assert refused.status is StepStatus.FAILED and refused.judge is None
    assert not [p for p in counting.prompts if "polite" in p]
    assert len(counting.prompts) == 3


def _scores(scores: Iterator[float]) -> tuple[FunctionModel, list[float]]:
    asked: list[float] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        score = next(scores)
        asked.append(score)
        args = {"score": score, "reasoning": "scripted", "failures": []}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    return FunctionModel(answer, model_name="scores"), asked


REQUEST = JudgeRequest(expectation="The colour is warm.", observation="$ echo red\nexit code 0")


@pytest.mark.parametrize(
    ("scores", "asked"),
    [
        ([96.0, 100.0, 0.0], 2),  # agree: within 10 points, both pass
        ([30.0, 38.0, 0.0], 2),  # agree: within 10 points, both fail
        ([60.0, 100.0, 80.0], 3),  # too far apart
        ([94.0, 96.0, 95.0], 3),  # close, but one fails and one passes
    ],
)
async def test_the_third_sample_is_asked_only_when_the_first_two_disagree(
    scores: list[float], asked: int
) -> None:
    model, seen = _scores(iter(scores))
    verdict = await Judge(model, samples=3).judge(REQUEST)
    assert seen == scores[:asked]
    assert (verdict.asked, verdict.k, verdict.stopped_early) == (asked, 3, asked < 3)


async def test_early_stop_off_asks_every_sample_and_the_runner_records_the_saving(
    tmp_path: Path,
) -> None:
    model, seen = _scores(iter([100.0] * 3))
    verdict = await Judge(model, samples=3, agree_within=None).judge(REQUEST)
    assert len(seen) == 3 and not verdict.stopped_early
    counting = CountingJudge(delay=0)
    report = await _run(_scenarios(tmp_path, 1), Judge(counting.model(), samples=3), 4)
    judged = [st.judge for st in report.scenarios[0].steps if st.judge is not None]
    assert [(j.asked, j.k) for j in judged] == [(2, 3)] * 3
    assert (report.judge_calls, report.judge_calls_saved) == (6, 3)
    assert "3 judge sample(s) not asked" in report.summary


def test_agree_within_is_checked() -> None:
    model, _ = _scores(iter([]))
    with pytest.raises(Exception, match="agree_within"):
        Judge(model, agree_within=-1)
