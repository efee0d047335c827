"""`assay models` (issue 17, point 6) over real HTTP: a local server speaks OpenAI's ``/v1/models``
and Anthropic's paged ``/v1/models``; no test reaches a real provider. Also: a provider with no key,
a refused connection, an empty list, a plugin provider, and bad settings."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest

from assay.cli import main

OPENAI_KEY = "sk-openai-test-key"  # a placeholder, not a credential
ANTHROPIC_KEY = "sk-ant-test-key"  # a placeholder, not a credential
ENV = (
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL",
    "ASSAY_MODEL", "ASSAY_ARCHITECT_MODEL", "ASSAY_TESTER_MODEL", "ASSAY_CODER_MODEL",
    "ASSAY_SECURITY_REVIEWER_MODEL", "ASSAY_STRONG_MODEL", "ASSAY_JUDGE_MODEL", "ASSAY_PLUGINS",
)  # fmt: skip


class Provider(BaseHTTPRequestHandler):
    """``/openai/v1/models`` (OpenAI's shape, Bearer key) and ``/anthropic/v1/models``
    (Anthropic's shape, ``x-api-key`` and ``anthropic-version``, two pages); ``/empty/v1/models``
    lists nothing. A wrong key gets the provider's 401 with its error message."""

    seen: ClassVar[list[tuple[str, dict[str, str]]]] = []

    def log_message(self, format: str, *args: Any) -> None:  # quiet in the test output
        pass

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        Provider.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        if url.path in ("/openai/v1/models", "/empty/v1/models"):
            if self.headers.get("Authorization") != f"Bearer {OPENAI_KEY}":
                self._send(401, {"error": {"message": "Incorrect API key provided"}})
                return
            names = [] if url.path.startswith("/empty") else ["gpt-4.1", "gpt-4o-mini", "zz-own"]
            data = [{"id": n, "object": "model", "created": 0, "owned_by": "t"} for n in names]
            self._send(200, {"object": "list", "data": data})
        elif url.path == "/anthropic/v1/models":
            if self.headers.get("x-api-key") != ANTHROPIC_KEY or not self.headers.get(
                "anthropic-version"
            ):
                self._send(401, {"type": "error", "error": {"message": "invalid x-api-key"}})
                return
            first = "after_id" not in query
            names = ["claude-sonnet-4-5"] if first else ["claude-haiku-4-5", "claude-new-9"]
            data = [{"type": "model", "id": n, "display_name": n, "created_at": "2025-01-01"}
                    for n in names]  # fmt: skip
            self._send(200, {"data": data, "has_more": first, "first_id": names[0],
                             "last_id": names[-1]})  # fmt: skip
        else:
            self._send(404, {"error": {"message": "no such route"}})


@pytest.fixture
def server() -> Iterator[str]:
    Provider.seen.clear()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Provider)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ASSAY_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the plugins a test names


def _config(tmp_path: Path, body: str) -> str:
    path = tmp_path / "assay.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def _table(out: str) -> tuple[list[list[str]], list[str]]:
    """The piped table's rows (header checked) and the provider lines after it."""
    lines = out.splitlines()
    assert lines[0] == "provider\tmodel\tconfigured-as\tinput $/Mtok\toutput $/Mtok\tsource"
    rows = [line.split("\t") for line in lines[1:] if "\t" in line]
    return rows, [line for line in lines[1:] if "\t" not in line]


SETTINGS = """
    [models]
    default = "openai:gpt-4.1"
    coder = "anthropic:claude-sonnet-4-5"
    strong = "anthropic:claude-opus-4-1"
    timeout_s = 10

    [models.prices]
    "openai:zz-own" = { input = 0.075, output = 0.3 }
"""


def test_both_providers_listed_joined_with_roles_and_prices(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server}/openai/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{server}/anthropic")
    monkeypatch.setenv("ASSAY_JUDGE_MODEL", "openai:gpt-4o-mini")
    config = _config(tmp_path, SETTINGS)
    assert main(["models", "--config", config]) == 0
    out = capsys.readouterr().out
    rows, status = _table(out)
    assert rows == [
        ["anthropic", "claude-haiku-4-5", "-", "1.00", "5.00", "listed"],
        ["anthropic", "claude-new-9", "-", "unpriced", "unpriced", "listed"],
        ["anthropic", "claude-opus-4-1", "strong", "15.00", "75.00", "configured"],
        ["anthropic", "claude-sonnet-4-5", "coder", "3.00", "15.00", "listed"],
        ["openai", "gpt-4.1", "architect, tester, security-reviewer", "2.00", "8.00", "listed"],
        ["openai", "gpt-4o-mini", "judge", "0.15", "0.60", "listed"],
        ["openai", "zz-own", "-", "0.075", "0.30", "listed"],
    ]
    assert status == [
        f"anthropic [built-in]: listed 3 models ({server}/anthropic/v1/models)",
        f"openai [built-in]: listed 3 models ({server}/openai/v1/models)",
    ]
    assert OPENAI_KEY not in out and ANTHROPIC_KEY not in out
    # Anthropic's pages were followed, with its headers; the key went only where it belongs
    paths = [p for p, _ in Provider.seen]
    assert "/anthropic/v1/models?limit=1000" in paths
    assert "/anthropic/v1/models?limit=1000&after_id=claude-sonnet-4-5" in paths
    anthropic_headers = [h for p, h in Provider.seen if p.startswith("/anthropic")]
    assert all(h["anthropic-version"] == "2023-06-01" for h in anthropic_headers)
    assert all("authorization" not in h for h in anthropic_headers)

    assert main(["models", "--config", config, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert [(p["provider"], p["listed"], p["models"], p["problem"]) for p in payload["providers"]] \
        == [("anthropic", True, 3, None), ("openai", True, 3, None)]  # fmt: skip
    by_name = {(m["provider"], m["model"]): m for m in payload["models"]}
    assert by_name["openai", "zz-own"] == {
        "provider": "openai", "model": "zz-own", "configured_as": [],
        "input_usd_per_mtok": 0.075, "output_usd_per_mtok": 0.3, "price_from": "settings",
        "source": "listed",
    }  # fmt: skip
    assert by_name["anthropic", "claude-opus-4-1"]["source"] == "configured"
    assert by_name["anthropic", "claude-opus-4-1"]["price_from"] == "assay"
    assert by_name["anthropic", "claude-new-9"]["input_usd_per_mtok"] is None
    assert list(by_name) == sorted(by_name)


def test_no_key_and_a_refused_connection_still_show_the_configured_models(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as sock:  # a port nothing listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
    config = _config(tmp_path, SETTINGS)
    assert main(["models", "--config", config]) == 0  # informational: still 0
    rows, status = _table(capsys.readouterr().out)
    assert [(r[0], r[1], r[2], r[5]) for r in rows] == [
        ("anthropic", "claude-opus-4-1", "strong", "configured"),
        ("anthropic", "claude-sonnet-4-5", "coder", "configured"),
        ("openai", "gpt-4.1", "architect, tester, security-reviewer", "configured"),
    ]
    assert status == [
        "anthropic [built-in]: could not list: no ANTHROPIC_API_KEY",
        f"openai [built-in]: could not list: connection refused (http://127.0.0.1:{port}/v1/models)",
    ]
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert main(["models", "--config", config, "--json"]) == 0
    providers = json.loads(capsys.readouterr().out)["providers"]
    assert providers[1] == {
        "provider": "openai", "origin": "built-in", "listed": False, "models": None,
        "problem": "no OPENAI_API_KEY (nor OPENAI_BASE_URL)", "endpoint": None,
    }  # fmt: skip


def test_no_models_is_not_could_not_list_and_a_refused_key_says_why(
    tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server}/empty/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-wrong")  # a placeholder, not a credential
    monkeypatch.setenv("ANTHROPIC_BASE_URL", f"{server}/anthropic")
    assert main(["models", "--config", _config(tmp_path, "[models]\n")]) == 0
    rows, status = _table(capsys.readouterr().out)
    assert rows == []
    assert status == [
        f"anthropic [built-in]: could not list: HTTP 401: invalid x-api-key "
        f"({server}/anthropic/v1/models)",
        f"openai [built-in]: listed: no models ({server}/empty/v1/models)",
    ]


PLUGIN = """
    from assay.plugins import hookimpl

    ASSAY_PLUGIN_API = 1

    def local(name):
        raise AssertionError("assay models never builds a model")

    local.list_models = lambda: ["small", "big", "small"]

    def silent(name):
        raise AssertionError("assay models never builds a model")

    def flaky(name):
        raise AssertionError("assay models never builds a model")

    def _down():
        raise ConnectionError("the farm is down")

    flaky.list_models = _down

    @hookimpl
    def assay_model_providers():
        return {"local": local, "silent": silent, "flaky": flaky}
"""


def test_a_plugin_provider_is_listed_and_its_failures_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = f"models_plugin_{tmp_path.name[-8:].replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = _config(
        tmp_path,
        f"""
        [plugins]
        load = ["{module}"]

        [models]
        default = "local:big"
        architect = "silent:tiny"
        tester = "nowhere:x"

        [models.prices]
        "local:small" = {{ input = 0, output = 0 }}
        """,
    )
    assert main(["models", "--config", config]) == 0
    rows, status = _table(capsys.readouterr().out)
    assert rows == [
        ["local", "big", "coder, security-reviewer", "unpriced", "unpriced", "listed"],
        ["local", "small", "-", "0.00", "0.00", "listed"],
        ["nowhere", "x", "tester", "unpriced", "unpriced", "configured"],
        ["silent", "tiny", "architect", "unpriced", "unpriced", "configured"],
    ]
    assert status == [
        "anthropic [built-in]: could not list: no ANTHROPIC_API_KEY",
        f"flaky [plugin '{module}']: could not list: the plugin raised ConnectionError: "
        "the farm is down",
        f"local [plugin '{module}']: listed 2 models",
        "nowhere [unknown]: could not list: no built-in provider or plugin offers it",
        "openai [built-in]: could not list: no OPENAI_API_KEY (nor OPENAI_BASE_URL)",
        f"silent [plugin '{module}']: could not list: the plugin offers no model list "
        "(list_models)",
    ]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ("[models]\ndefualt = 'openai:gpt-4.1'\n", "models.defualt"),
        ("[models]\ndefault = 'gpt-4.1'\n", "[tool.assay.models] default names the model"),
        ("[models]\ntimeout_s = 0\n", "models.timeout_s"),
    ],
)
def test_bad_settings_exit_2_naming_the_key(
    tmp_path: Path, body: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "--config", _config(tmp_path, body)]) == 2
    captured = capsys.readouterr()
    assert said in captured.err and captured.out == ""


def test_a_provider_that_never_answers_is_given_up_after_the_deadline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{port}/v1")
        config = _config(tmp_path, "[models]\ntimeout_s = 0.3\n")
        assert main(["models", "--config", config, "--json"]) == 0
    openai = json.loads(capsys.readouterr().out)["providers"][1]
    assert openai["problem"] == "no answer within 0.3s" and openai["listed"] is False
