"""Issue 16, point 2: the fleet's settings (worker concurrency, provider rate limits) and the
executor locks by which a worker knows another one is dead."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from assay.config import load_settings
from assay.errors import ConfigError
from assay.fleet.database import Database

pytest.importorskip("dbos")


def test_provider_limits_and_concurrency(tmp_path: Path) -> None:
    from assay.fleet.runtime import Worker, model_queue, system_database

    config = tmp_path / "assay.toml"
    config.write_text(
        '[fleet]\ndatabase = "state/fleet.sqlite"\nworker_concurrency = 3\n'
        "[fleet.providers.anthropic]\nrequests = 50\nperiod_s = 60\n"
    )
    settings = load_settings(config)
    assert settings.fleet.worker_concurrency == 3
    limit = settings.fleet.providers["anthropic"]
    assert (limit.requests, limit.period_s) == (50, 60.0)
    assert system_database(settings).path == tmp_path / "state" / "fleet.sqlite"
    assert model_queue("anthropic") == "assay-model-anthropic"
    worker = Worker(settings, executor_id="w", env={})
    # a request starts at most admit_window_s + one tick after its slot's stamp, and the
    # limiter's window is short by up to one tick
    tick = 1.0 if sys.version_info < (3, 12) else 0.001
    assert worker.tick_s == tick
    assert worker.limiter_period(60.0) == pytest.approx(60.0 + 1.0 + 2 * tick)


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        (
            "[fleet.providers.openai]\nrequests = 0\nperiod_s = 60\n",
            "fleet.providers.openai.requests",
        ),
        ("[fleet.providers.openai]\nrequests = 5\n", "fleet.providers.openai.period_s"),
        ("[fleet]\nworker_concurrency = 0\n", "fleet.worker_concurrency"),
        ('[fleet]\nsystem_schema = "a-b"\n', "fleet.system_schema"),
    ],
)
def test_bad_fleet_settings_name_the_key(tmp_path: Path, toml: str, key: str) -> None:
    config = tmp_path / "assay.toml"
    config.write_text(toml)
    with pytest.raises(ConfigError) as raised:
        load_settings(config)
    assert key in str(raised.value)


HOLD = """
import sys, time
from assay.fleet.database import Database
from assay.fleet.runtime import ExecutorLocks
locks = ExecutorLocks(Database.parse(sys.argv[1]), "dbos")
locks.hold(sys.argv[2])
print("held", flush=True)
time.sleep(600)
"""


def _holder(url: str, executor: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, url, executor], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_a_worker_is_dead_once_its_lock_is_free(
    tmp_path: Path, store: str, request: pytest.FixtureRequest
) -> None:
    from assay.fleet.runtime import ExecutorLocks

    url = (
        f"sqlite:///{tmp_path / 'fleet.sqlite'}"
        if store == "sqlite"
        else str(request.getfixturevalue("postgres_url"))
    )
    locks = ExecutorLocks(Database.parse(url), "dbos")
    proc = _holder(url, "w1")
    try:
        with locks.dead("w1") as dead:
            assert not dead  # alive: its process holds the lock
        with locks.dead("w2") as dead:
            assert dead  # no such worker: nothing holds its lock
    finally:
        proc.kill()
        proc.communicate()
    deadline = time.monotonic() + 30  # PostgreSQL notices the closed socket
    while True:
        with locks.dead("w1") as dead:
            if dead or time.monotonic() > deadline:
                break
        time.sleep(0.1)
    assert dead


class _Observer:
    """Records what the wrapper asks of it, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def prepare_request(self, role: str, model: str, messages: object) -> object:
        self.calls.append("prepare")
        return "prepared"

    def before_request(self, prepared: object) -> object:
        self.calls.append(f"record {prepared}")
        return "token"

    def after_response(self, role: str, model: str, token: object, response: object) -> None:
        self.calls.append(f"response {token}")


@pytest.mark.parametrize(("granted_ago", "sent"), [(0.0, True), (1.5, False)])
def test_a_request_recorded_past_its_slots_window_is_not_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, granted_ago: float, sent: bool
) -> None:
    """The prompt is stored before the wait for a slot; the request is recorded once the slot is
    granted, and sent only if that record landed within admit_window_s of the slot's stamp."""
    import asyncio

    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from assay.config import FleetConfig
    from assay.errors import RunError
    from assay.fleet import runtime
    from assay.fleet.spend import FleetSpend

    asked: list[int] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        asked.append(len(messages))
        return ModelResponse(parts=[TextPart("hi")])

    async def admit(provider: str) -> float:
        observer.calls.append(f"slot {provider}")
        return time.time() - granted_ago

    observer = _Observer()
    spend = FleetSpend(Database.parse(f"sqlite:///{tmp_path / 'fleet.sqlite'}"), "dbos", None)
    fleet = runtime._Fleet(client=None, fleet=FleetConfig(), env={}, tick_s=0.001, spend=spend)  # type: ignore[arg-type]
    monkeypatch.setattr(runtime, "_FLEET", fleet)
    monkeypatch.setattr(runtime, "_admit", admit)
    model = runtime.AdmittedRecordingModel(
        FunctionModel(answer), role="coder", label="scripted:x", observer=observer
    )
    request = model.request(
        [ModelRequest.user_text_prompt("hello")], None, ModelRequestParameters()
    )
    if sent:
        asyncio.run(request)
        assert observer.calls == ["prepare", "slot scripted", "record prepared", "response token"]
        assert asked == [1]
    else:
        with pytest.raises(RunError, match="past admit_window_s"):
            asyncio.run(request)
        assert observer.calls == ["prepare", "slot scripted", "record prepared"]
        assert asked == []


def test_the_judge_waits_for_its_providers_slot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fleet wraps the scenario judge's model so each of its requests first takes a slot of
    its provider's queue, as the roles' requests do."""
    import asyncio

    from pydantic_ai.messages import ModelMessage, ModelRequest, ModelResponse, TextPart
    from pydantic_ai.models import ModelRequestParameters
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    from assay.fleet import runtime

    order: list[str] = []

    def answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        order.append("sent")
        return ModelResponse(parts=[TextPart("pass")])

    async def admit(provider: str) -> float:
        order.append(f"slot {provider}")
        return time.time()

    monkeypatch.setattr(runtime, "_admit", admit)
    judge = runtime.PacedModel(FunctionModel(answer), "anthropic:claude-haiku-4-5")
    prompt: list[ModelMessage] = [ModelRequest.user_text_prompt("does the body say hello?")]
    for _ in range(2):
        asyncio.run(judge.request(prompt, None, ModelRequestParameters()))
    assert order == ["slot anthropic", "sent", "slot anthropic", "sent"]
