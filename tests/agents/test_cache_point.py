"""Issue 15, point 4: an Anthropic request marks the cache point at the end of a role's stable
part, so its next prompt, which shares that part and nothing after it, can read it: the coder's
next iteration, the tester's revision, the reviewer's next review.

The real coder agent, through pydantic-ai's real Anthropic model and the Anthropic SDK, over
HTTP to a local server that records each request body and answers like the Messages API.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2
import pydantic_ai.models
import pytest
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.providers.anthropic import AnthropicProvider

from assay.agents import tester  # not its names: pytest would collect "test*" functions
from assay.agents.base import cached_prompt
from assay.agents.coder import coder_agent, coder_prompt_parts
from assay.agents.reviewer import reviewer_agent, reviewer_prompt_parts
from assay.agents.tools import WorkspaceDeps
from assay.config import Settings
from assay.factory.context import run_world
from assay.gates.base import GateReport
from assay.gates.builtin import assay_gates
from assay.messages import Changeset, Design, Feedback, FeedbackItem, FileChange, Spec

SPEC = Spec(name="greeter", title="Greeter", body="# Greeter\n\nSays hello.\n")
DESIGN = Design(summary="A greeter.", package="greeter")
ANSWER = {"files": [], "rationale": "nothing to do", "design_change": "the port"}
ANSWERS: dict[str, dict[str, Any]] = {
    "coder": ANSWER,
    "tester": {"files": [], "rationale": "nothing to change"},
    "security-reviewer": {"verdict": "approve", "summary": "nothing found"},
}


@pytest.fixture
def messages_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for Anthropic's Messages API: every body it is sent, in order. It
    answers each role (named in its instructions) with that role's output in `ANSWERS`."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            bodies.append(body)
            system = json.dumps(body.get("system", ""))
            roles = [r for r in ("tester", "security reviewer") if f"You are the {r}" in system]
            role = roles[0].replace(" ", "-") if roles else "coder"
            # the SDK streams a request this large: answer as server-sent events
            events = b"".join(
                f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode()
                for e in _events(ANSWERS[role])
            )
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(events)))
            self.end_headers()
            self.wfile.write(events)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()


def _events(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """A Messages API stream whose one block calls the output tool with `answer`."""
    message: dict[str, Any] = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }  # fmt: skip
    block = {"type": "tool_use", "id": "tu_1", "name": "final_result", "input": {}}
    delta = {"type": "input_json_delta", "partial_json": json.dumps(answer)}
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 10}},
        {"type": "message_stop"},
    ]  # fmt: skip


def _model(url: str, client: httpx2.AsyncClient) -> AnthropicModel:
    key = secrets.token_hex(8)  # the local server checks no key
    provider = AnthropicProvider(api_key=key, base_url=url, http_client=client)
    return AnthropicModel("claude-sonnet-4-5", provider=provider)


def _parts(iteration: int, feedback: Feedback | None) -> tuple[str, str]:
    return coder_prompt_parts(
        spec=SPEC, design=DESIGN, iteration=iteration, listing=["src/greeter/__init__.py"],
        context={}, protected=["tests/test_greeter.py"], feedback=feedback,
    )  # fmt: skip


def test_the_coders_stable_part_ends_at_a_cache_point_in_the_anthropic_request(
    messages_api: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # local server only
    url, bodies = messages_api
    lint = Feedback(
        iteration=1, items=[FeedbackItem(source="ruff", severity="low", message="E501")]
    )

    async def two_iterations() -> None:
        async with httpx2.AsyncClient() as client:  # closed here, not left to the collector
            model = _model(url, client)
            for iteration, feedback in ((1, None), (2, lint)):
                prompt = cached_prompt(*_parts(iteration, feedback))
                await coder_agent(model).run(prompt, deps=WorkspaceDeps(tmp_path))

    asyncio.run(two_iterations())
    first, second = (body["messages"][0]["content"] for body in bodies)
    stable, _ = _parts(1, None)
    for content, iteration in ((first, 1), (second, 2)):
        opening, rest = content
        # the stable part is a block of its own, marked; what changes follows it, unmarked
        assert opening["text"] == stable and opening["cache_control"]["type"] == "ephemeral"
        assert rest["text"].startswith(f"Iteration {iteration} of building greeter.")
        assert "cache_control" not in rest
    assert "<feedback>" in second[1]["text"] and "<feedback>" not in stable


def test_the_testers_and_the_reviewers_stable_parts_end_at_cache_points(
    messages_api: tuple[str, list[dict[str, Any]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tester's first prompt and its revision begin with the same environment, and so do
    the reviewer's reviews of two iterations: that part is a marked block of its own."""
    monkeypatch.setattr(pydantic_ai.models, "ALLOW_MODEL_REQUESTS", True)  # local server only
    url, bodies = messages_api
    world = run_world(Settings(), assay_gates(), SPEC, DESIGN)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_greeter.py").write_text("import greeter\n")
    report = GateReport(root=".", passed=True, summary="", results=[], duration_s=0.0)
    tester_parts = [
        tester.tester_prompt_parts(SPEC, DESIGN, world),
        tester.revision_prompt_parts(SPEC, {"tests/test_greeter.py": "x\n"}, "F401", 2, world),
    ]  # fmt: skip
    reviewer_parts = [
        reviewer_prompt_parts(DESIGN, Changeset(files=[FileChange(path=path, content="x = 1\n")]),
                              report, root=tmp_path, world=world)
        for path in ("tests/test_greeter.py", "src/greeter/__init__.py")
    ]  # fmt: skip

    async def calls() -> None:
        async with httpx2.AsyncClient() as client:
            model = _model(url, client)
            for stable, changing in tester_parts:
                await tester.tester_agent(model).run(cached_prompt(stable, changing),
                                              deps=WorkspaceDeps(tmp_path))  # fmt: skip
            for stable, changing in reviewer_parts:
                await reviewer_agent(model).run(cached_prompt(stable, changing),
                                                deps=WorkspaceDeps(tmp_path))  # fmt: skip

    asyncio.run(calls())
    sent = [body["messages"][0]["content"] for body in bodies]
    assert len(sent) == 4
    for content, (stable, changing) in zip(sent, tester_parts + reviewer_parts, strict=True):
        opening, rest = content
        assert opening["text"] == stable and opening["cache_control"]["type"] == "ephemeral"
        assert rest["text"] == changing and "cache_control" not in rest
    assert tester_parts[0][0] == tester_parts[1][0]
    assert reviewer_parts[0][0] == reviewer_parts[1][0]
    assert tester_parts[0][0].startswith("<environment>")
    assert "<threat-model>" in reviewer_parts[0][0]


def test_an_empty_stable_part_gets_no_block() -> None:
    assert cached_prompt("", "all of it") == ["all of it"]
