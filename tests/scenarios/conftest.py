"""Fixtures for scenario tests: reference services as real processes, and scripted judges."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.scenarios.launch import RunningService, start_service

REFERENCE = Path(__file__).resolve().parents[1] / "reference"
COMPAT = Path(__file__).resolve().parents[1] / "compat" / "octopusgarden"


@asynccontextmanager
async def reference_service(
    name: str, mutant: str = "", exit_after: int = 0
) -> AsyncIterator[RunningService]:
    """Start tests/reference/<name>.py on a free port, with an optional mutant."""
    cmd = f"env MUTANT={mutant} EXIT_AFTER={exit_after} {sys.executable} {name}.py"
    async with start_service(cmd, cwd=REFERENCE, timeout=20) as svc:
        yield svc


def scripted_judge(scores: Iterator[float] | None = None) -> FunctionModel:
    """A FunctionModel judge answering `scores` in turn (100 forever when None)."""
    seen: list[AgentInfo] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append(info)
        score = next(scores) if scores is not None else 100.0
        failures = [] if score >= 95 else [f"scripted shortfall at {score}"]
        args = {"score": score, "reasoning": f"scripted {score}", "failures": failures}
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)])

    model = FunctionModel(answer, model_name="scripted-judge")
    model.seen = seen  # type: ignore[attr-defined]
    return model


@pytest.fixture
def judge_model() -> Callable[..., FunctionModel]:
    """Build a scripted judge model."""
    return scripted_judge


@pytest.fixture
def reference() -> Callable[..., Any]:
    """`reference(name, mutant="", exit_after=0)`: an async context manager starting a service."""
    return reference_service
