"""The clarity review with scripted pydantic-ai models (never a provider): its typed output, the
prompt it is sent, the verdict above and below the threshold, and what a failing spec is told
to fix."""

from __future__ import annotations

import asyncio

import pytest
from pydantic_ai.exceptions import UnexpectedModelBehavior
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.agents.base import load_prompt
from assay.agents.preflight.review import (
    preflight_agent,
    preflight_prompt,
    review_alone,
    review_spec,
)
from assay.agents.preflight.rules import check_spec
from assay.agents.preflight.verdict import make_report, stop_reason, what_to_fix
from assay.config import DependencyConfig
from assay.errors import RunError
from assay.messages import PreflightFinding, PreflightReview
from assay.spec import parse_spec
from assay.testing import last_prompt, scripted
from tests.factory.preflight_team import QUESTIONS, review

SPEC = parse_spec(
    "# Greeter\n\n## Endpoints\n\n- `GET /greet?name=N` answers `200` with a greeting.\n"
    "- Listen on port 8080.\n"
)
FINDINGS = check_spec(SPEC, dependencies=DependencyConfig())


def test_the_spec_findings_and_numbered_lines_are_in_the_prompt() -> None:
    seen: list[str] = []

    def answer(prompt: str) -> PreflightReview:
        seen.append(prompt)
        return review(0.9)

    got = asyncio.run(review_spec(scripted(answer), SPEC, FINDINGS, first_line=4))
    assert got == review(0.9)
    (prompt,) = seen
    assert "   9 | - Listen on port 8080." in prompt  # the file's numbering, as findings use
    assert [f.rule_id for f in FINDINGS] == ["error-format", "fixed-port"]
    assert "[fixed-port, warning]" in prompt and "[error-format, warning]" in prompt


def test_the_instructions_are_the_prompt_file_and_say_what_each_aspect_means() -> None:
    agent = preflight_agent(scripted(lambda _: review(1.0)))
    text = load_prompt("preflight")
    assert text.splitlines()[0].startswith("You are the spec preflight reviewer")
    for word in ("completeness", "ambiguity", "testability", "consistency", "overall", "0.8"):
        assert f"`{word}`" in text or word in text
    assert agent.output_type is PreflightReview and agent.name == "preflight"


def test_a_score_outside_0_to_1_goes_back_to_the_model() -> None:
    calls: list[str] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        calls.append(last_prompt(messages))
        args = review(0.85).model_dump(mode="json")
        args.pop("kind")
        if len(calls) == 1:
            args["overall"] = 85  # a percentage, not 0..1: refused by the output type
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    got = asyncio.run(review_spec(FunctionModel(model), SPEC, []))
    assert got.overall == 0.85 and len(calls) == 2


def test_a_model_that_never_answers_well_is_a_run_error_naming_it() -> None:
    def broken(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, {"overall": 3})])

    with pytest.raises(RunError, match="the preflight model m:x failed"):
        asyncio.run(review_alone(FunctionModel(broken), SPEC, [], label="m:x"))
    # inside a run it propagates as pydantic-ai raised it, as every role's failure does
    with pytest.raises(UnexpectedModelBehavior):
        asyncio.run(review_spec(FunctionModel(broken), SPEC, []))


def test_above_the_threshold_passes_and_below_it_fails_with_the_questions() -> None:
    passing = make_report(SPEC, FINDINGS, review(0.8), threshold=0.8, model="scripted")
    assert passing.passed and passing.score == 0.8  # at the threshold is enough
    failing = make_report(SPEC, FINDINGS, review(0.6), threshold=0.8, model="scripted")
    assert not failing.passed
    fixes = what_to_fix(failing)
    assert fixes[:2] == [f"line {f.line} [{f.rule_id}]: {f.fix}" for f in FINDINGS]
    assert fixes[2:] == [f"answer: {q}" for q in QUESTIONS]
    reason = stop_reason(failing)
    assert "scored 0.60, below the threshold 0.80" in reason and QUESTIONS[0] in reason


def test_an_error_finding_fails_whatever_the_score_and_without_a_model() -> None:
    error = PreflightFinding(
        rule_id="framework-policy", severity="error", line=3, message="Express.js", fix="drop it"
    )
    assert not make_report(SPEC, [error], review(1.0), threshold=0.8).passed
    assert not make_report(SPEC, [error], None, threshold=0.8).passed
    warned = make_report(SPEC, FINDINGS, None, threshold=0.8, model="ignored")
    assert warned.passed and warned.score is None and warned.model == ""
    assert "1 preflight error(s): Express.js" in stop_reason(
        make_report(SPEC, [error], None, threshold=0.8)
    )


def test_the_prompt_without_findings_says_so() -> None:
    assert "<findings>\n(none)\n</findings>" in preflight_prompt(SPEC, [])
