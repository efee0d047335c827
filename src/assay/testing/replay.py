"""Replay a recorded model conversation over real HTTP, through assay's OpenAI-compatible path.

A conversation is what ``llm-bridge.py`` (../shared/tools) recorded while a person or an LLM played
the model: per model name (``gen`` for the generating roles, ``judge`` for the judge) each
``req-N.json`` and its answer ``resp-N.json``. `import_bridge` turns such a folder into a compact
fixture, one JSON line per answered request (``conversation.jsonl``)::

    python -m assay.testing.replay import BRIDGE_DIR tests/replays/NAME

`ReplayServer` serves a fixture on ``127.0.0.1`` as an OpenAI chat-completions endpoint: each
model name's answers in recorded order, each checked against the request's *kind* (the role's
first system-prompt line and the tool names). A request the recording does not hold is answered
with HTTP 400 and recorded in `ReplayServer.mismatches`, naming the index, so a replay catches a
changed loop instead of passing silently. A request identical to one already served (a client
retry, or k identical judge samples) gets the same answer again, as the bridge gave it.
`replay_run` runs the real ``assay run`` CLI in a subprocess against such a server, with an
environment built from scratch: no provider key and no provider URL but the replay's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import assay
from assay.terminal import console, literal, print_table

__all__ = [
    "CONVERSATION_FILE",
    "ReplayRun",
    "ReplayServer",
    "Turn",
    "import_bridge",
    "load_conversation",
    "replay_run",
    "request_kind",
]

CONVERSATION_FILE = "conversation.jsonl"
REPLAY_KEY = "<replay>"
"""The subprocess's OPENAI_API_KEY: visibly no key (the OpenAI client wants one set)."""


@dataclass(frozen=True, slots=True)
class Turn:
    """One recorded request and the answer the player gave to it."""

    model: str
    """The model name the request was for (``gen``, ``judge``)."""
    n: int
    """Its slot in the bridge's folder for that model (``req-N.json``), 1-based."""
    kind: dict[str, Any]
    """What kind of request it was: the role (first system-prompt line) and the tool names."""
    request_hash: str
    """``sha256:<hex>`` of the raw request body: a replayed request with another hash drifted."""
    usage: dict[str, int]
    """The token counts the bridge reported, replayed as they were so budgets come out the same."""
    answer: dict[str, Any]
    """The bridge's answer file: ``{"calls": [...]}``, ``{"text": ...}`` or ``{"error": "503"}``."""

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "n": self.n,
            "kind": self.kind,
            "request_hash": self.request_hash,
            "usage": self.usage,
            "answer": self.answer,
        }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def request_kind(request: Mapping[str, Any]) -> dict[str, Any]:
    """The cheap identity of a chat-completions request: its role and its tools.

    The role is the first line of the first system message ("You are the coder. ..."): stable
    while prompts are reworded below it, different for every role.
    """
    system = next(
        (_text(m.get("content")) for m in request.get("messages", []) if m.get("role") == "system"),
        "",
    )
    tools = sorted(str(t.get("function", {}).get("name")) for t in request.get("tools") or [])
    return {"role": system.strip().split("\n", 1)[0], "tools": tools}


def _tokens(text: str) -> int:
    # llm-bridge.py's estimate (4 characters a token); kept so imported usage matches the record
    return max(1, len(text) // 4)


def _message(answer: Mapping[str, Any], n: int) -> tuple[dict[str, Any], str]:
    if "text" in answer:
        return {"role": "assistant", "content": answer["text"]}, "stop"
    calls = [
        {
            "id": f"call_{n}_{i}",
            "type": "function",
            "function": {
                "name": c["name"],
                "arguments": c["arguments"]
                if isinstance(c["arguments"], str)
                else json.dumps(c["arguments"]),
            },
        }
        for i, c in enumerate(answer["calls"])
    ]
    return {"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls"


def _bridge_usage(request: Mapping[str, Any], answer: Mapping[str, Any], n: int) -> dict[str, int]:
    if "error" in answer:
        return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    prompt = _tokens(json.dumps(request.get("messages", [])))
    completion = _tokens(json.dumps(_message(answer, n)[0]))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def import_bridge(bridge: Path, dest: Path) -> list[Turn]:
    """Copy the answered requests of an llm-bridge folder into ``dest/conversation.jsonl``.

    Turns are written in the order they were asked (the request files' times), each model's in
    slot order; unanswered requests (the run was stopped while they waited) are left out.
    """
    turns: list[tuple[float, Turn]] = []
    for box in sorted(p for p in bridge.iterdir() if (p / "index.json").is_file()):
        index: dict[str, int] = json.loads((box / "index.json").read_text())
        for sha, n in sorted(index.items(), key=lambda kv: kv[1]):
            req_file, resp_file = box / f"req-{n}.json", box / f"resp-{n}.json"
            if not resp_file.is_file():
                continue
            request = json.loads(req_file.read_text())
            answer = json.loads(resp_file.read_text())
            turn = Turn(
                model=box.name,
                n=n,
                kind=request_kind(request),
                request_hash=f"sha256:{sha}",
                usage=_bridge_usage(request, answer, n),
                answer=answer,
            )
            turns.append((req_file.stat().st_mtime, turn))
    if not turns:
        raise ValueError(
            f"{bridge}: no answered request (expected <model>/req-N.json, resp-N.json)"
        )
    ordered = [t for _, t in sorted(turns, key=lambda mt: (mt[0], mt[1].model, mt[1].n))]
    dest.mkdir(parents=True, exist_ok=True)
    lines = (json.dumps(t.to_json(), ensure_ascii=False, sort_keys=False) for t in ordered)
    (dest / CONVERSATION_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ordered


def load_conversation(path: Path) -> list[Turn]:
    """The turns of a fixture (a folder holding ``conversation.jsonl``, or the file itself)."""
    file = path / CONVERSATION_FILE if path.is_dir() else path
    turns = []
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            turns.append(Turn(**json.loads(line)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{file}:{number}: not a recorded turn ({exc})") from None
    return turns


@dataclass(slots=True)
class _Model:
    """One model name's recorded turns and how far the replay has got through them."""

    turns: list[Turn]
    served: set[int] = field(default_factory=set)
    by_request: dict[str, Turn] = field(default_factory=dict)
    asked: int = 0


class ReplayServer:
    """An OpenAI-compatible chat-completions server answering from a recorded conversation."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self._models: dict[str, _Model] = {}
        for turn in turns:
            self._models.setdefault(turn.model, _Model([])).turns.append(turn)
        self._lock = threading.Lock()
        self.mismatches: list[str] = []
        """Every request the recording could not answer, with the reason (empty: all held)."""
        self.drifted: list[str] = []
        """Served requests whose body differs from the recorded one (same kind, new content)."""
        self._server: ThreadingHTTPServer | None = None

    # -- matching ------------------------------------------------------------------------

    def answer(self, body: bytes) -> tuple[int, dict[str, Any]]:
        """The HTTP status and JSON body replying to one raw chat-completions request."""
        request = json.loads(body)
        model = str(request.get("model", ""))
        sha = f"sha256:{hashlib.sha256(body).hexdigest()}"
        with self._lock:
            turn, problem = self._match(model, sha, request)
            if turn is None:
                self.mismatches.append(problem)
                return 400, {"error": {"message": f"replay: {problem}", "type": "replay_mismatch"}}
        if "error" in turn.answer:
            return int(turn.answer["error"]), {
                "error": {"message": "recorded error", "type": "server_error"}
            }
        message, finish = _message(turn.answer, turn.n)
        return 200, {
            "id": f"chatcmpl-replay-{turn.model}-{turn.n}",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": turn.usage,
        }

    def _match(self, model: str, sha: str, request: Mapping[str, Any]) -> tuple[Turn | None, str]:
        state = self._models.get(model)
        if state is None:
            return None, f"request for model {model!r}, which the recording never served"
        if sha in state.by_request:  # a retry, or one of k identical samples: same slot
            return state.by_request[sha], ""
        state.asked += 1
        unserved = [t for t in state.turns if t.n not in state.served]
        # The same body as a recorded request takes that slot even out of order (concurrent
        # requests reach a server in any order); anything else takes the next slot in order.
        turn = next((t for t in unserved if t.request_hash == sha), None)
        if turn is None:
            if not unserved:
                return None, (
                    f"{model} request #{state.asked} ({request_kind(request)['role']!r}): the "
                    f"recording holds only {len(state.turns)} {model} answer(s)"
                )
            turn = unserved[0]
            kind = request_kind(request)
            if kind != turn.kind:
                return None, (
                    f"{model} request #{state.asked} is {kind}, but the recording's "
                    f"{model} req-{turn.n} was {turn.kind}"
                )
            self.drifted.append(f"{model} req-{turn.n}")
        state.served.add(turn.n)
        state.by_request[sha] = turn
        return turn, ""

    def unserved(self) -> list[str]:
        """Recorded turns no request asked for (the loop stopped earlier than it did)."""
        with self._lock:
            return [
                f"{name} req-{t.n}"
                for name, state in self._models.items()
                for t in state.turns
                if t.n not in state.served
            ]

    def served_counts(self) -> dict[str, int]:
        """How many distinct recorded answers each model name served."""
        with self._lock:
            return {name: len(state.served) for name, state in self._models.items()}

    # -- serving -------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                return  # quiet: a test's output holds the run's lines, not the server's

            def _send(self, status: int, body: Mapping[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    models = [{"id": m, "object": "model"} for m in replay._models]
                    self._send(200, {"object": "list", "data": models})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                self._send(*replay.answer(raw))

        return Handler

    def start(self) -> str:
        """Serve on an ephemeral port of 127.0.0.1 in a daemon thread; returns the base URL."""
        server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="assay-replay", daemon=True).start()
        self._server = server
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @contextmanager
    def running(self) -> Iterator[str]:
        """``with server.running() as base_url:`` serve for the block's duration."""
        url = self.start()
        try:
            yield url
        finally:
            self.stop()


@dataclass(frozen=True, slots=True)
class ReplayRun:
    """What a replayed ``assay run`` did."""

    exit_code: int
    lines: list[str]
    """The run's output (stdout, then stderr), line by line."""
    run_dir: Path | None
    """The run's folder under the runs dir (None when the run never created one)."""
    served: dict[str, int]
    """Distinct recorded answers served, per model name."""
    mismatches: list[str]
    """Requests the recording could not answer (see `ReplayServer.mismatches`)."""
    unserved: list[str]
    """Recorded answers nobody asked for."""
    drifted: list[str]
    """Answers served to a request of the same kind whose body differs from the recording."""

    def check(self, *, strict: bool = False) -> None:
        """Raise AssertionError naming what went off script (a mismatch or an unused answer).

        `strict` also refuses drift: any request whose body is not byte for byte the recorded one.
        """
        problems = [*self.mismatches]
        if strict and self.drifted:
            problems.append(f"requests changed since the recording: {', '.join(self.drifted)}")
        if self.unserved:
            problems.append(f"recorded answers never asked for: {', '.join(self.unserved)}")
        if problems:
            output = "\n".join(self.lines[-40:])
            raise AssertionError(
                "replay went off the recording:\n- " + "\n- ".join(problems) + f"\n{output}"
            )


def replay_env(
    base_url: str, *, home: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The subprocess's whole environment: the replay's URL and nothing of a real provider."""
    env = {
        # the subprocess runs the same assay as this process, wherever it was imported from
        "PYTHONPATH": str(Path(assay.__file__).resolve().parents[1]),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "TMPDIR": tempfile.gettempdir(),
        "NO_PROXY": "127.0.0.1",
        "OPENAI_BASE_URL": base_url,
        "OPENAI_API_KEY": REPLAY_KEY,
        "ASSAY_MODEL": "openai:gen",
        "ASSAY_JUDGE_MODEL": "openai:judge",
    }
    # How this machine reaches the package index (its CA bundle, proxy, pip's index): the run
    # resolves and downloads a design's dependencies (`assay.deps`). No provider setting passes.
    env.update(
        {
            k: v
            for k, v in os.environ.items()
            if k in _INDEX_ACCESS or (k.startswith("PIP_") and "KEY" not in k)
        }
    )
    env.update(extra or {})
    return env


_INDEX_ACCESS = frozenset(
    {
        "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
        "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "XDG_CACHE_HOME",
    }
)  # fmt: skip


def replay_run(
    conversation: Path | Sequence[Turn],
    spec: Path,
    *,
    scenarios: Path | None,
    runs_dir: Path,
    args: Sequence[str] = (),
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    preflight: bool = False,
) -> ReplayRun:
    """Run ``assay run SPEC --scenarios DIR --no-live`` for real against a replayed model.

    The CLI runs in a subprocess (real HTTP, gates and sandbox) with `replay_env`; `env` adds
    to it. The replay server lives in this process on 127.0.0.1 for the run's duration. The run
    skips the spec's preflight (``--skip-preflight``) unless `preflight`: a conversation
    recorded before preflight existed holds no answer for its reviewer.
    """
    turns = load_conversation(conversation) if isinstance(conversation, Path) else conversation
    server = ReplayServer(turns)
    runs_dir.mkdir(parents=True, exist_ok=True)
    home = runs_dir.parent / "replay-home"
    home.mkdir(exist_ok=True)
    command = [sys.executable, "-m", "assay.cli", "run", str(spec), "--no-live"]
    if scenarios is not None:
        command += ["--scenarios", str(scenarios)]
    command += ["--runs-dir", str(runs_dir), *args]
    if not preflight:
        command.append("--skip-preflight")
    with server.running() as url:
        done = subprocess.run(
            command,
            cwd=cwd,
            env=replay_env(url, home=home, extra=env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    return ReplayRun(
        exit_code=done.returncode,
        lines=done.stdout.splitlines() + done.stderr.splitlines(),
        run_dir=runs[-1] if runs else None,
        served=server.served_counts(),
        mismatches=list(server.mismatches),
        unserved=server.unserved(),
        drifted=list(server.drifted),
    )


def _answer_summary(answer: Mapping[str, Any]) -> str:
    if "error" in answer:
        return f"HTTP {answer['error']}"
    if "text" in answer:
        return f"text, {len(answer['text'])} chars"
    return ", ".join(str(c["name"]) for c in answer["calls"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assay.testing.replay")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="turn an llm-bridge folder into a replay fixture")
    imp.add_argument("bridge", type=Path, help="the bridge's folder (holding gen/, judge/)")
    imp.add_argument("dest", type=Path, help="the fixture folder (conversation.jsonl goes there)")
    show = sub.add_parser("show", help="one line per recorded turn: model, slot, role, tokens")
    show.add_argument("fixture", type=Path, help="a fixture folder or its conversation.jsonl")
    ns = parser.parse_args(argv)
    out = console()
    if ns.command == "show":
        rows = [
            [
                f"{t.model} req-{t.n}",
                t.kind["role"],
                str(t.usage.get("prompt_tokens", 0)),
                str(t.usage.get("completion_tokens", 0)),
                _answer_summary(t.answer),
            ]
            for t in load_conversation(ns.fixture)
        ]
        columns = ["turn", "role", "tokens in", "tokens out", "answer"]
        print_table(out, str(ns.fixture), columns, rows)
        return 0
    turns = import_bridge(ns.bridge, ns.dest)
    counts: dict[str, int] = {}
    for turn in turns:
        counts[turn.model] = counts.get(turn.model, 0) + 1
    summary = ", ".join(f"{m} {c}" for m, c in sorted(counts.items()))
    out.print(literal(f"{ns.dest / CONVERSATION_FILE}: {len(turns)} turn(s) ({summary})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
