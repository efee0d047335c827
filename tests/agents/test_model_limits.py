"""Every built-in provider's model has a request deadline and bounded retries, from settings.

Over real HTTP to local servers only (as `test_openai_compatible.py` does): one that takes the
request and never answers, one that always answers 500. A provider that hangs fails the role or
judge call naming the timeout; a provider that keeps failing is tried ``1 + retries`` times.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pydantic_ai.models
import pytest
from pydantic_ai import Agent
from pydantic_ai.exceptions import ModelHTTPError, ModelRequestTimeout

from assay.agents.judge import Judge, JudgeRequest, judge_model_from_env
from assay.agents.models import build_model
from assay.cli import main
from assay.config import ModelsConfig
from assay.errors import RunError
from assay.plugins import AssayPluginManager, make_plugin_manager


class NeverAnswers(BaseHTTPRequestHandler):
    """Reads the request, then holds the connection open without a byte of response."""

    release: ClassVar[threading.Event] = threading.Event()
    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        NeverAnswers.seen.append(self.path)
        NeverAnswers.release.wait()

    def log_message(self, *args: Any) -> None:
        pass


class AlwaysFails(BaseHTTPRequestHandler):
    """Answers every request with a 500, which the provider's client retries."""

    seen: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        AlwaysFails.seen.append(self.path)
        data = b'{"error": {"message": "overloaded", "type": "server_error"}}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def _serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        NeverAnswers.release.set()  # let a held handler finish, so shutdown does not wait
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def hanging(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # local server only
    NeverAnswers.release = threading.Event()
    NeverAnswers.seen = []
    yield from _serve(NeverAnswers)


@pytest.fixture
def failing(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # local server only
    AlwaysFails.seen = []
    yield from _serve(AlwaysFails)


@pytest.fixture(scope="module")
def pm() -> AssayPluginManager:
    return make_plugin_manager(autoload=False)


def test_settings_default_to_a_deadline_and_two_retries(pm: AssayPluginManager) -> None:
    config = ModelsConfig()
    assert (config.timeout_s, config.retries) == (300.0, 2)
    model = build_model("openai:llama3", env={}, base_url="http://127.0.0.1:1/v1", plugins=pm)
    assert model.settings == {"request_timeout": 300.0, "max_retries": 2}
    anthropic = build_model(
        "anthropic:claude-haiku-4-5", env={"ANTHROPIC_API_KEY": "k"}, plugins=pm, timeout_s=12.5,
        retries=0,
    )  # fmt: skip
    assert anthropic.settings == {"request_timeout": 12.5, "max_retries": 0}


def test_a_role_call_to_a_provider_that_never_answers_ends_naming_the_timeout(
    hanging: str, pm: AssayPluginManager
) -> None:
    model = build_model("openai:llama3", env={}, base_url=hanging, plugins=pm, timeout_s=0.5)
    agent: Agent[None, str] = Agent(model, name="architect")
    with pytest.raises(ModelRequestTimeout, match=r"timed out after 0\.5 seconds"):
        asyncio.run(agent.run("design a greeter"))
    assert NeverAnswers.seen == ["/v1/chat/completions"]  # it did reach the server


def test_the_judge_on_a_provider_that_never_answers_fails_with_a_run_error(
    hanging: str, pm: AssayPluginManager
) -> None:
    model = judge_model_from_env(
        "openai:judge", env={}, plugins=pm, models=ModelsConfig(timeout_s=0.5), base_url=hanging
    )
    assert model is not None
    judge = Judge(model, samples=1)
    request = JudgeRequest(expectation="greets Ada", observation="200 OK: Hello, Ada")
    with pytest.raises(RunError) as caught:
        asyncio.run(judge.judge(request))
    message = str(caught.value)
    assert "the judge model openai:judge failed" in message
    assert "timed out after 0.5 seconds" in message
    assert "[tool.assay.models] timeout_s" in message


def test_retries_are_bounded_by_settings(failing: str, pm: AssayPluginManager) -> None:
    model = build_model("openai:llama3", env={}, base_url=failing, plugins=pm, retries=1)
    agent: Agent[None, str] = Agent(model)
    with pytest.raises(ModelHTTPError) as caught:
        asyncio.run(agent.run("hello"))
    assert caught.value.status_code == 500
    assert len(AlwaysFails.seen) == 2  # one attempt and the one retry configured


def test_assay_run_against_a_hanging_provider_stops_with_the_timeout(
    hanging: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ASSAY_TESTING_MODELS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSAY_MODEL", "openai:llama3.2")
    monkeypatch.setenv("OPENAI_BASE_URL", hanging)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)  # the project's assay.toml, not the one above the test
    (tmp_path / ".git").mkdir()
    (tmp_path / "assay.toml").write_text(
        '[factory]\ngates = ["ruff"]\n\n[models]\ntimeout_s = 0.5\nretries = 0\n'
    )
    spec = tmp_path / "spec.md"
    spec.write_text("# Greeter\n\nGreets people.\n")
    code = main(["run", str(spec), "--runs-dir", str(tmp_path / "runs"), "--no-live"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == RunError.exit_code, err
    assert "model provider failed" in err
    assert "Request to model 'llama3.2' timed out after 0.5 seconds" in err
    assert "assay resume" in err
