"""End to end with scripted models and the real ruff, mypy and bandit gates."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from assay.config import FactoryConfig, Settings
from assay.factory.loop import Factory, RoleModels, RunOutcome
from assay.gates.bandit import BanditGate
from assay.gates.base import Gate
from assay.gates.mypy import MypyGate
from assay.gates.ruff import RuffGate
from assay.ledger import Ledger, verify_run
from assay.ledger.keys import Signer
from assay.sandbox.session import Session, current

HERE = Path(__file__).parent
_spec = importlib.util.spec_from_file_location("scripted_app", HERE / "scripted_app.py")
assert _spec and _spec.loader
app = importlib.util.module_from_spec(_spec)
sys.modules["scripted_app"] = app
_spec.loader.exec_module(app)


def team(**over: Any) -> RoleModels:
    m = app.models()
    labels = {r: f"test:{r}" for r in ("architect", "tester", "coder", "security-reviewer")}
    labels["strong"] = "test:strong"
    return RoleModels(
        architect=m["architect"], tester=m["tester"], coder=over.get("coder", m["coder"]),
        reviewer=m["security-reviewer"], labels=labels, strong=over.get("strong"),
    )  # fmt: skip


async def run_factory(
    run_dir: Path, *, gates: list[Gate] | None = None, validator: Any = None, **cfg: Any
) -> RunOutcome:
    models = team(coder=cfg.pop("coder", None) or app.models()["coder"])
    settings = Settings(factory=FactoryConfig(**cfg))
    factory = Factory(
        run_dir, spec=app.SPEC, settings=settings, models=models,
        gates=gates if gates is not None else [RuffGate()],
        validator=validator, signer=Signer.generate(),
    )  # fmt: skip
    return await factory.run()


def events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    with Ledger.open(run_dir, create=False) as ledger:
        return [e.payload for e in ledger.events(kind=kind)]


async def test_converges_after_feedback_names_each_defect(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "r1"
    outcome = await run_factory(
        run_dir, gates=[RuffGate(), MypyGate(), BanditGate()], validator=app.validator
    )
    assert outcome.outcome == "converged"
    assert outcome.iterations == 2
    feedback = [p["message"] for p in events(run_dir, "message") if p["sender"] == "factory"]
    first = json.dumps(feedback[0])
    for named in ("E741", "mypy", "B324", app.SCENARIO_TITLE, "security-review"):
        assert named in first, named
    decisions = [p["decision"] for p in events(run_dir, "loop.decision")]
    assert decisions == ["continue", "converged"]
    ws = run_dir / "workspace"
    core = (ws / "src/app/core.py").read_text()
    assert "sha256" in core and app.LINT_DEFECT not in core and "Hello" in core
    for f in ("README.md", "docs/design.md", "pyproject.toml", ".github/workflows/ci.yml",
              ".pre-commit-config.yaml", "tests/test_core.py"):  # fmt: skip
        assert (ws / f).is_file(), f
    assert verify_run(run_dir).ok


async def test_canary_never_reaches_a_prompt(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "canary"
    await run_factory(run_dir, validator=app.validator, leak="titles", max_iterations=2)
    with Ledger.open(run_dir, create=False) as ledger:
        prompts = [
            ledger.get_blob(e.payload["prompt_blob"]) for e in ledger.events(kind="model.request")
        ]
        scenario_events = list(ledger.events(kind="scenario.result"))
    assert prompts and scenario_events
    assert not any(app.CANARY.encode() in p for p in prompts)
    assert any(app.SCENARIO_TITLE.encode() in p for p in prompts)  # titles do leak, by setting


async def test_leak_level_none_hides_titles(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "none"
    await run_factory(run_dir, validator=app.validator, leak="none", max_iterations=2)
    with Ledger.open(run_dir, create=False) as ledger:
        prompts = b"".join(
            ledger.get_blob(e.payload["prompt_blob"]) for e in ledger.events(kind="model.request")
        )
        started = next(ledger.events(kind="run.started")).payload
    assert started["leak_level"] == "none"
    assert app.SCENARIO_TITLE.encode() not in prompts
    assert b"holdout satisfaction is 0.0/100" in prompts


@pytest.mark.parametrize("mode", [True, False])
async def test_patch_mode_sends_fewer_files(tmp_path: Path, mode: bool) -> None:
    run_dir = tmp_path / "runs" / f"p{mode}"
    await run_factory(run_dir, patch_mode=mode, max_iterations=2)
    with Ledger.open(run_dir, create=False) as ledger:
        coder = [
            e.payload for e in ledger.events(kind="model.request") if e.payload["role"] == "coder"
        ]
        second = next(p for p in coder if p["iteration"] == 2)
        blob = ledger.get_blob(second["prompt_blob"]).decode()
    assert ('<file path=\\"README.md\\">' in blob) is (not mode)


async def test_each_iterations_checks_run_in_a_sandbox_session_of_their_own(
    tmp_path: Path,
) -> None:
    """The docker backend keeps one container per iteration because the loop opens a session
    around the checks; it is closed (its containers removed) before the next iteration."""
    seen: list[Session | None] = []

    async def recording(workspace: Path, design: Any, iteration: int) -> Any:
        seen.append(current())
        return await app.validator(workspace, design, iteration)

    outcome = await run_factory(tmp_path / "runs" / "r1", validator=recording, max_iterations=2)
    assert len(seen) == outcome.iterations > 0
    sessions = [s for s in seen if s is not None]
    assert len({id(s) for s in sessions}) == len(seen)
    for session in sessions:
        with pytest.raises(RuntimeError, match="closed"):
            session.resource("late", lambda: pytest.fail("started after the iteration"))
    assert current() is None
