"""The OpenAI-compatible path over real HTTP: `assay run` against a local chat-completions server
that plays a script (as Ollama, vLLM or llama.cpp would answer), plus model selection errors.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pydantic_ai.models
import pytest

from assay.agents.models import build_model, resolve_models
from assay.cli import main
from assay.config import ModelsConfig
from assay.errors import UserError
from assay.ledger import Ledger
from assay.messages import Changeset, FileChange, SecurityReview
from assay.plugins import make_plugin_manager
from tests.conftest import scripted_app
from tests.factory.preflight_team import review

FACTORY = Path(__file__).resolve().parents[1] / "factory"
app = scripted_app()


def _answer(system: str) -> dict[str, Any]:
    if "You are the architect" in system:
        out: Any = app.DESIGN
    elif "You are the tester" in system:
        out = app.SUITE
    elif "You are the spec preflight reviewer" in system:
        out = review(0.9)  # clear enough: the run goes on to the architect
    elif "You are the coder" in system:
        core = app.render_core(lint=True, types=True, bandit=True, scenario=True)
        out = Changeset(
            files=[FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
                   FileChange(path="src/app/core.py", content=core)],
            rationale="first version",
        )  # fmt: skip
    else:
        out = SecurityReview(verdict="approve", summary="ok")
    args: dict[str, Any] = out.model_dump(mode="json")
    args.pop("kind")
    return args


class ChatServer(BaseHTTPRequestHandler):
    """Speaks POST /v1/chat/completions; answers with a call to the output tool."""

    requests: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        ChatServer.requests.append(body)
        system = "\n".join(
            m["content"] if isinstance(m["content"], str) else json.dumps(m["content"])
            for m in body["messages"] if m["role"] in ("system", "developer")
        )  # fmt: skip
        tool = next(t["function"]["name"] for t in body["tools"]
                    if t["function"]["name"].startswith("final_result"))  # fmt: skip
        reply = {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{
                "index": 0, "finish_reason": "tool_calls",
                "message": {"role": "assistant", "content": None, "tool_calls": [{
                    "id": f"call_{len(ChatServer.requests)}", "type": "function",
                    "function": {"name": tool, "arguments": json.dumps(_answer(system))},
                }]},
            }],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }  # fmt: skip
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), ChatServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    ChatServer.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def test_run_against_openai_compatible_server(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # local server only
    for var in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "ASSAY_TESTING_MODELS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ASSAY_MODEL", "openai:llama3.2")
    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    (tmp_path / ".git").mkdir()
    (tmp_path / "assay.toml").write_text('[factory]\ngates = ["ruff"]\n')
    spec = tmp_path / "spec.md"
    spec.write_text("# Greeter\n\nGreets people.\n")
    runs = tmp_path / "runs"
    code = main(["run", str(spec), "--runs-dir", str(runs), "--no-live"])
    assert code == 0
    roles = [r["messages"][0]["content"][:30] for r in ChatServer.requests]
    assert len(ChatServer.requests) == 5, roles  # preflight, architect, tester, coder, review
    assert roles[0].startswith("You are the spec preflight")
    assert all(r["model"] == "llama3.2" for r in ChatServer.requests)
    run_dir = next(runs.iterdir())
    with Ledger.open(run_dir, create=False) as ledger:
        responses = [e.payload for e in ledger.events(kind="model.response")]
        started = next(ledger.events(kind="run.started")).payload
    assert started["models"]["coder"] == "openai:llama3.2"
    assert [r["tokens_in"] for r in responses] == [100] * 5
    assert all(r["unpriced"] for r in responses)  # a local model has no price
    assert main(["runs", "--runs-dir", str(runs)]) == 0


def test_no_model_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for var in ("ASSAY_MODEL", "ASSAY_CODER_MODEL", "ASSAY_TESTING_MODELS"):
        monkeypatch.delenv(var, raising=False)
    (tmp_path / ".git").mkdir()
    spec = tmp_path / "spec.md"
    spec.write_text("# Greeter\n\nGreets people.\n")
    assert main(["run", str(spec), "--runs-dir", str(tmp_path / "runs")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    for needle in ("ASSAY_MODEL", "ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL",
                   "--model", "ASSAY_<ROLE>_MODEL", "never fakes"):  # fmt: skip
        assert needle in err, needle
    assert not (tmp_path / "runs").exists()


def test_model_precedence_and_key_errors() -> None:
    config = ModelsConfig(default="anthropic:claude-haiku-4-5", coder="openai:gpt-4.1")
    env = {"ASSAY_TESTER_MODEL": "openai:gpt-4.1-mini"}
    chosen = resolve_models(config, env=env, per_role={"security-reviewer": "openai:o4-mini"})
    assert chosen["architect"].model == "anthropic:claude-haiku-4-5"
    assert chosen["tester"].source == "ASSAY_TESTER_MODEL"
    assert chosen["coder"].model == "openai:gpt-4.1"
    assert chosen["security-reviewer"].source == "--security-reviewer-model"
    pm = make_plugin_manager(autoload=False)
    with pytest.raises(UserError, match="ANTHROPIC_API_KEY"):
        build_model("anthropic:claude-haiku-4-5", env={}, plugins=pm)
    with pytest.raises(UserError, match="OPENAI_BASE_URL"):
        build_model("openai:gpt-4.1", env={}, plugins=pm)
    with pytest.raises(UserError, match="unknown model provider"):
        build_model("gemini:x", env={}, plugins=pm)
    url = "http://127.0.0.1:1/v1"
    assert build_model("openai:llama3", env={}, base_url=url, plugins=pm).model_name == "llama3"
