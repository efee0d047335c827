"""Each stop condition reached by a run built for it (scripted models, real ruff gate)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic_ai.messages import ModelMessage, ModelResponse, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, RoleModels, RunOutcome
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger
from assay.messages import Changeset, FileChange
from assay.testing import last_prompt
from tests.conftest import scripted_app

HERE = Path(__file__).parent
app = scripted_app()


def changeset_model(make: Any, name: str = "coder") -> FunctionModel:
    """A coder answering with ``make(prompt)`` (a Changeset) straight away."""

    def fn(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        args = make(last_prompt(messages)).model_dump(mode="json")
        args.pop("kind")
        return ModelResponse(parts=[ToolCallPart(info.output_tools[0].name, args)], model_name=name)

    return FunctionModel(fn, model_name=name)


async def run(
    tmp_path: Path, coder: Any, *, strong: Any = None, **cfg: Any
) -> tuple[RunOutcome, Path]:
    m = app.models()
    labels = {"architect": "a", "tester": "t", "coder": "frugal", "security-reviewer": "r",
              "strong": "strong"}  # fmt: skip
    models = RoleModels(
        architect=m["architect"], tester=m["tester"], coder=coder,
        reviewer=m["security-reviewer"], labels=labels, strong=strong,
    )  # fmt: skip
    run_dir = tmp_path / "run"
    factory = Factory(
        run_dir, spec=app.SPEC, settings=Settings(factory=FactoryConfig(**cfg)), models=models,
        gates=[RuffGate()],
    )  # fmt: skip
    return await factory.run(), run_dir


def payloads(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.payload for e in ledger.events(kind=kind)]


async def test_stall_escalates_then_stops(tmp_path: Path) -> None:
    stubborn = app.fixing_coder(note="attempt {n}", stubborn=True, name="frugal")
    outcome, run_dir = await run(
        tmp_path, stubborn, strong=app.fixing_coder(note="attempt {n}", stubborn=True),
        stall_iterations=2, max_iterations=10,
    )  # fmt: skip
    decisions = [p["decision"] for p in payloads(run_dir, "loop.decision")]
    assert decisions == ["continue", "continue", "escalate", "continue", "stalled"]
    assert outcome.outcome == "stalled"
    assert outcome.best_iteration == 1
    coder_models = [p["model"] for p in payloads(run_dir, "model.request") if p["role"] == "coder"]
    assert "frugal" in coder_models and coder_models[-1] == "strong"


async def test_escalation_to_a_strong_model_converges(tmp_path: Path) -> None:
    stubborn = app.fixing_coder(note="attempt {n}", stubborn=True, name="frugal")
    outcome, _ = await run(
        tmp_path, stubborn, strong=app.fixing_coder(), stall_iterations=1, max_iterations=6
    )
    # ruff alone: the strong coder fixes E741 (named), ruff's S324 (md5) stays unless bandit names
    # it, so this run improves after escalation and then stalls with the best result kept.
    assert outcome.best_iteration > 1


async def test_oscillation(tmp_path: Path) -> None:
    def flip(prompt: str) -> Changeset:
        odd = "Iteration 1" in prompt or "Iteration 3" in prompt
        body = "X = 1\n" if odd else "X = 2\n"
        return Changeset(files=[FileChange(path="src/app/core.py", content=body + "l = 1\n")])

    outcome, run_dir = await run(tmp_path, changeset_model(flip), max_iterations=8,
                                 stall_iterations=8)  # fmt: skip
    assert outcome.outcome == "oscillating"
    assert outcome.iterations == 3
    last = payloads(run_dir, "loop.decision")[-1]
    assert "iteration 1" in last["reason"]


async def test_budget(tmp_path: Path) -> None:
    outcome, run_dir = await run(
        tmp_path, app.fixing_coder(note="{n}", stubborn=True), max_tokens=1500, max_iterations=20,
        stall_iterations=20,
    )  # fmt: skip
    assert outcome.outcome == "budget"
    assert outcome.tokens >= 1500
    finished = payloads(run_dir, "run.finished")[-1]
    assert "token budget" in finished["reason"]


async def test_max_iterations(tmp_path: Path) -> None:
    outcome, _ = await run(
        tmp_path, app.fixing_coder(note="{n}", stubborn=True), max_iterations=2,
        stall_iterations=5,
    )  # fmt: skip
    assert outcome.outcome == "max-iterations"
    assert outcome.iterations == 2


async def test_guarded_edits_are_rejected_and_recorded(tmp_path: Path) -> None:
    def sneaky(prompt: str) -> Changeset:
        return Changeset(
            files=[
                FileChange(path="tests/test_core.py", content="def test_x() -> None:\n    pass\n"),
                FileChange(path="../escape.py", content="x = 1\n"),
                # an absolute path outside the workspace: the guard must reject it
                FileChange(path="/tmp/abs.py", content="x = 1\n"),  # nosec B108
                FileChange(path="pyproject.toml", content="[tool.ruff]\n"),
                FileChange(path="ruff.toml", content="[lint]\nselect = []\n"),
                FileChange(path="tests/conftest.py", content="collect_ignore = ['.']\n"),
                FileChange(path="src/app/core.py", content='"""Core."""\n'),
            ],
            deletions=["tests/test_core.py"],
        )

    outcome, run_dir = await run(tmp_path, changeset_model(sneaky), max_iterations=1)
    rejected = payloads(run_dir, "edit.rejected")
    paths = sorted({r["path"] for r in rejected if r["iteration"] == 1})
    assert paths == ["../escape.py", "/tmp/abs.py", "pyproject.toml", "ruff.toml",  # nosec B108
                     "tests/conftest.py", "tests/test_core.py"]  # fmt: skip
    ws = run_dir / "workspace"
    assert (ws / "tests/test_core.py").read_text() == app.TEST_CODE
    assert not (tmp_path / "escape.py").exists()
    assert (ws / "src/app/core.py").read_text() == '"""Core."""\n'
    assert outcome.iterations == 1
