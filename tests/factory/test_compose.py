"""One composition root: a run described from flags, the same description stored as JSON, and the
description `assay resume` reads back from the run's ledger all wire the same factory: the same
gates, models per role, judge, validator, sandbox backend, settings and run record.

No model is called: models are built (pydantic-ai clients make no request until asked), and the
scripted team's architect fails at once, after ``run.started`` is in the ledger.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.cli import main
from assay.commands._compose import (
    ModelPlan,
    RunDescription,
    compose,
    describe_run,
    recorded_run,
)
from assay.commands._holdout import ScenarioValidator
from assay.config import Settings, load_settings
from assay.factory.loop import Factory
from assay.sandbox.select import resolve_backend
from assay.spec import load_spec

CONFIG = """\
[factory]
gates = ["ruff", "pytest"]
max_iterations = 3
threshold = 80

[models]
timeout_s = 30
retries = 1

[sandbox]
backend = "bwrap"
memory_mb = 256
"""
# Placeholder keys (the providers are never reached): one value for both names.
KEYS = dict.fromkeys(("OPENAI_API_KEY", "ANTHROPIC_API_KEY"), "not-a-key")
FLAGS: dict[str, Any] = {
    "model": "openai:gpt-4.1",
    "per_role": {"coder": "openai:gpt-4.1-mini", "security-reviewer": "anthropic:claude-x"},
    "strong": "anthropic:claude-strong",
    "base_url": "http://127.0.0.1:9/v1",
    "judge_model": "openai:gpt-4.1-nano",
}


def _down(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    raise ModelHTTPError(503, "scripted-outage", "the provider is down")


def halting_team() -> dict[str, Model]:
    """``ASSAY_TESTING_MODELS`` target: every role's provider is down."""
    roles = ("architect", "tester", "coder", "security-reviewer")
    return {role: FunctionModel(_down, model_name=f"down-{role}") for role in roles}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a config, a spec and its holdout scenarios (``assay init``)."""
    for var in ("ASSAY_MODEL", "ASSAY_STRONG_MODEL", "ASSAY_JUDGE_MODEL", "ASSAY_JUDGE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("ASSAY_TESTING_MODELS", raising=False)
    (tmp_path / ".git").mkdir()  # config lookup stops here
    (tmp_path / "assay.toml").write_text(CONFIG)
    monkeypatch.chdir(tmp_path)
    assert main(["init", "demo"]) == 0
    return tmp_path


def _model(model: Model | None) -> tuple[Any, ...] | None:
    if model is None:
        return None
    return (type(model).__name__, model.model_name, model.base_url, model.settings)


def wiring(factory: Factory) -> dict[str, Any]:
    """What `compose` decided, in comparable form."""
    validator = factory.validator
    assert isinstance(validator, ScenarioValidator)
    judge = validator.judge
    assert judge is not None
    m = factory.models
    return {
        "run_dir": factory.run_dir,
        "spec": factory.spec.model_dump(),
        "settings": factory.settings.model_dump(),
        "config": factory.settings.source,
        "gates": [(type(g).__name__, g.name, getattr(g, "untrusted", None)) for g in factory.gates],
        "models": {
            "architect": _model(m.architect),
            "tester": _model(m.tester),
            "coder": _model(m.coder),
            "security-reviewer": _model(m.reviewer),
            "strong": _model(m.strong),
        },
        "labels": dict(factory.labels),
        "judge": (type(judge).__name__, judge.model_name, judge.samples, _model(judge.model)),
        "validator": (
            [s.id for s in validator.scenarios],
            validator.threshold,
            validator.sandbox.model_dump(),
            validator.regulated,
        ),
        "backend": resolve_backend(factory.settings.sandbox),
        "run_info": dict(factory.run_info),
        "signed": factory.signer is not None,
    }


def _composed(description: RunDescription, env: dict[str, str]) -> dict[str, Any]:
    factory = compose(description, env=env)
    try:
        return wiring(factory)
    finally:
        factory.ledger.close()


def test_a_description_stored_as_json_wires_what_the_flags_wire(project: Path) -> None:
    spec = load_spec(project / "demo" / "spec.md")
    settings = load_settings(project / "assay.toml")
    described = describe_run(
        spec, settings, run_dir=project / "runs" / "r1", scenarios=Path("demo/scenarios"),
        env=KEYS, **FLAGS,
    )  # fmt: skip
    stored = RunDescription.model_validate_json(described.model_dump_json())
    assert stored == described
    from_flags, from_store = _composed(described, KEYS), _composed(stored, KEYS)
    assert from_store == from_flags
    # and that wiring is the one the flags and config asked for
    assert from_flags["gates"] == [("RuffGate", "ruff", None), ("PytestGate", "pytest", True)]
    limits = {"request_timeout": 30.0, "max_retries": 1}
    expected_models = {
        "architect": ("OpenAIChatModel", "gpt-4.1", FLAGS["base_url"] + "/"),
        "tester": ("OpenAIChatModel", "gpt-4.1", FLAGS["base_url"] + "/"),
        "coder": ("OpenAIChatModel", "gpt-4.1-mini", FLAGS["base_url"] + "/"),
        "security-reviewer": ("AnthropicModel", "claude-x"),
        "strong": ("AnthropicModel", "claude-strong"),
    }
    for role, want in expected_models.items():
        got = from_flags["models"][role]
        assert got[: len(want)] == want, role
        assert {k: got[3][k] for k in limits} == limits, role
    assert from_flags["judge"][:2] == ("Judge", "openai:gpt-4.1-nano")
    assert from_flags["validator"][:2] == (["health"], 80.0)
    assert from_flags["backend"] == "bwrap" and from_flags["validator"][2]["memory_mb"] == 256
    assert from_flags["config"] == (project / "assay.toml").resolve()
    assert from_flags["run_info"]["scenarios_dir"] == str((project / "demo/scenarios").resolve())
    assert "sk-test" not in described.model_dump_json()  # keys come from the environment


def test_resume_reads_back_the_description_the_run_was_started_with(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:halting_team")
    argv = [
        "run", "demo/spec.md", "--scenarios", "demo/scenarios", "--runs-dir", "runs",
        "--judge-model", FLAGS["judge_model"], "--max-iterations", "2", "--gate", "ruff",
        "--no-live",
    ]  # fmt: skip
    assert main(argv) == 3  # a run error: the provider is down
    assert "assay resume" in capsys.readouterr().err
    (run_dir,) = (project / "runs").iterdir()

    env = dict(os.environ)
    settings = load_settings(project / "assay.toml")
    factory_cfg = settings.factory.model_copy(update={"max_iterations": 2, "gates": ["ruff"]})
    flags = describe_run(
        load_spec(Path("demo/spec.md")),  # as `assay run` was given it
        settings.model_copy(update={"factory": factory_cfg}),
        run_dir=run_dir, scenarios=Path("demo/scenarios"), env=env,
        judge_model=FLAGS["judge_model"],
    )  # fmt: skip
    recorded = recorded_run(run_dir, env=env)
    for field in RunDescription.model_fields:
        assert getattr(recorded, field) == getattr(flags, field), field
    assert recorded == flags
    assert recorded.models.scripted == f"{__name__}:halting_team"
    assert _composed(recorded, env) == _composed(flags, env)

    # the judge is the one the run recorded, whatever the environment says on the resume
    monkeypatch.setenv("ASSAY_JUDGE_MODEL", "openai:another-judge")
    assert recorded_run(run_dir, env=dict(os.environ)).models.judge_model == FLAGS["judge_model"]
    # `assay resume` composes the same run and continues it: the provider is still down
    assert main(["resume", str(run_dir), "--no-live"]) == 3


def test_a_plan_without_a_model_for_every_role_is_refused() -> None:
    with pytest.raises(ValidationError, match="no model for tester"):
        ModelPlan(roles={"architect": "a:b", "coder": "a:b", "security-reviewer": "a:b"})
    with pytest.raises(ValidationError):
        ModelPlan.model_validate({"roles": {"designer": "a:b"}, "scripted": "m:f"})
    assert Settings.model_validate(Settings().model_dump(mode="json")) == Settings()


def test_the_tier_and_regression_flags_are_part_of_the_run_description(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:halting_team")
    argv = [
        "run", "demo/spec.md", "--scenarios", "demo/scenarios", "--runs-dir", "runs",
        "--gate", "ruff", "--stratified", "--block-on-regression", "--no-live",
    ]  # fmt: skip
    assert main(argv) == 3  # the provider is down: the run stopped after run.started
    (run_dir,) = (project / "runs").iterdir()
    recorded = recorded_run(run_dir, env=dict(os.environ))
    assert recorded.settings.factory.stratified and recorded.settings.factory.block_on_regression
    stored = RunDescription.model_validate_json(recorded.model_dump_json())  # a fleet's queue
    factory = compose(stored, env=dict(os.environ))
    try:  # what `assay resume` and a fleet worker run with
        assert factory.cfg.stratified and factory.cfg.block_on_regression
    finally:
        factory.ledger.close()
    # off unless asked: the config's value stands when the flag is not given
    assert not load_settings(project / "assay.toml").factory.stratified


def test_a_fleet_run_on_postgres_keeps_its_ledger_there_and_resumes_on_it(
    project: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `assay fleet submit` describes for a PostgreSQL fleet: the ledger's database is in
    the description (the queue's JSON), the worker's factory writes there, and `assay resume`
    finds it again from the run folder alone."""
    import asyncio

    from assay.errors import RunError, UserError
    from assay.fleet.database import Database
    from assay.ledger import Ledger

    monkeypatch.setenv("ASSAY_TESTING_MODELS", f"{__name__}:halting_team")
    settings = load_settings(project / "assay.toml")
    factory_cfg = settings.factory.model_copy(update={"max_iterations": 2, "gates": ["ruff"]})
    settings = settings.model_copy(update={"factory": factory_cfg})
    spec = load_spec(Path("demo/spec.md"))
    run_dir = project / "runs" / "r-pg"
    env = dict(os.environ)
    with pytest.raises(UserError, match="never holds a password"):
        secret = postgres_url.replace("postgres@", "postgres:s3cret@")  # pragma: allowlist secret
        describe_run(spec, settings, run_dir=run_dir, scenarios=None, env=env,
                     ledger_database=Database.parse(secret))  # fmt: skip
    described = describe_run(
        spec, settings, run_dir=run_dir, scenarios=None, env=env,
        ledger_database=Database.parse(postgres_url),
    )  # fmt: skip
    stored = RunDescription.model_validate_json(described.model_dump_json())
    assert stored.ledger_database == postgres_url
    factory = compose(stored, env=env)
    try:
        with pytest.raises(RunError, match="model provider failed"):  # after run.started
            asyncio.run(factory.run())
    finally:
        factory.ledger.close()
    assert not (run_dir / "ledger.sqlite").exists()
    with Ledger.open(run_dir, create=False) as ledger:
        assert ledger.database is not None and ledger.database.url == postgres_url
        started = len(ledger)
    assert started >= 1
    recorded = recorded_run(run_dir, env=env)
    assert recorded.ledger_database == postgres_url
    assert recorded == stored
    assert main(["resume", str(run_dir), "--no-live"]) == 3  # the provider is still down
    assert not (run_dir / "ledger.sqlite").exists()
    with Ledger.open(run_dir, create=False, check=True) as ledger:
        assert len(ledger) > started  # the resume appended to the PostgreSQL ledger
