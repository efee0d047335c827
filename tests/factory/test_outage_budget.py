"""Provider outage -> RunError and a clean resume; dollar budget; live progress rendering."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic_ai.exceptions import ModelServerError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models.function import AgentInfo, FunctionModel
from rich.console import Console

from assay.agents.pricing import cost_of
from assay.commands._factory import _view
from assay.config import FactoryConfig, ModelPrice, ModelsConfig, Settings
from assay.errors import RunError
from assay.factory.budget import Budget, BudgetExceeded
from assay.factory.loop import Factory, Progress, RoleModels
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()


def down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelServerError("coder-model", "503 Service Unavailable")


def factory(run_dir: Path, coder: Any, **cfg: Any) -> Factory:
    m = app.models()
    labels = {"architect": "openai:gpt-4.1-mini", "tester": "openai:gpt-4.1-mini",
              "coder": "openai:gpt-4.1", "security-reviewer": "openai:gpt-4.1-mini"}  # fmt: skip
    models = RoleModels(architect=m["architect"], tester=m["tester"], coder=coder,
                        reviewer=m["security-reviewer"], labels=labels)  # fmt: skip
    settings = Settings(factory=FactoryConfig(**cfg))
    return Factory(run_dir, spec=app.SPEC, settings=settings, models=models, gates=[RuffGate()])


def steps(run_dir: Path) -> list[str]:
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.step for e in ledger.events() if e.step]


def calls(run_dir: Path, role: str) -> int:
    with Ledger.open(run_dir, create=False) as ledger:
        return sum(1 for e in ledger.events(kind="model.request") if e.payload["role"] == role)


async def test_outage_then_resume_redoes_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(RunError, match="assay resume"):
        await factory(run_dir, FunctionModel(down), max_iterations=2).run()
    before = steps(run_dir)
    assert before[-1] == "tests/autofix" and calls(run_dir, "architect") == 1
    outcome = await factory(run_dir, app.fixing_coder(), max_iterations=2).run()
    after = steps(run_dir)
    assert after[: len(before)] == before
    assert calls(run_dir, "architect") == 1 and calls(run_dir, "tester") == 1
    assert outcome.iterations == 2


async def test_dollar_budget_stops_the_run(tmp_path: Path) -> None:
    outcome = await factory(
        tmp_path / "run", app.fixing_coder(note="{n}", stubborn=True), max_dollars=0.004,
        max_tokens=None, max_iterations=30, stall_iterations=30,
    ).run()  # fmt: skip
    assert outcome.outcome == "budget"
    assert outcome.dollars >= 0.004


def test_pricing_and_budget() -> None:
    assert cost_of("openai:gpt-4.1", 1_000_000, 1_000_000) == pytest.approx(10.0)
    assert cost_of("ollama:local", 10, 10) is None
    extra = {"ollama:local": ModelPrice(input=1, output=1)}
    assert cost_of("ollama:local", 500_000, 500_000, extra) == pytest.approx(1.0)
    budget = Budget(max_tokens=100)
    budget.add(60, 50, None)
    assert budget.unpriced_requests == 1
    with pytest.raises(BudgetExceeded, match="token budget"):
        budget.check()
    assert ModelsConfig(prices=extra).prices["ollama:local"].input == 1


def test_live_view_shows_iteration_gates_score_tokens_dollars() -> None:
    console = Console(record=True, width=160)
    progress = Progress(
        phase="gates", iteration=3, gates={"ruff": "passed", "mypy": "failed"}, score=71.5,
        best=80.0, satisfaction=50.0, tokens=12345, dollars=0.25,
    )  # fmt: skip
    console.print(_view("run-1", progress))
    text = console.export_text()
    for needle in ("iteration 3", "ruff:passed", "mypy:failed", "score 71.5", "best 80.0",
                   "scenarios 50%", "12,345 tokens", "$0.2500"):  # fmt: skip
        assert needle in text, needle
