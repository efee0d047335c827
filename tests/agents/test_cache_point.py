"""Issue 15, point 4: an Anthropic request marks the cache point at the end of the coder's stable
part, so the next iteration's prompt, which shares that part and nothing after it, can read it.

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

from assay.agents.base import cached_prompt
from assay.agents.coder import coder_agent, coder_prompt_parts
from assay.agents.tools import WorkspaceDeps
from assay.messages import Design, Feedback, FeedbackItem, Spec

SPEC = Spec(name="greeter", title="Greeter", body="# Greeter\n\nSays hello.\n")
DESIGN = Design(summary="A greeter.", package="greeter")
ANSWER = {"files": [], "rationale": "nothing to do", "design_change": "the port"}


@pytest.fixture
def messages_api() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A local stand-in for Anthropic's Messages API: every body it is sent, in order."""
    bodies: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            # the SDK streams a request this large: answer as server-sent events
            events = b"".join(
                f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in _events()
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


def _events() -> list[dict[str, Any]]:
    """A Messages API stream whose one block calls the output tool with `ANSWER`."""
    message: dict[str, Any] = {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
        "content": [], "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 100, "output_tokens": 1},
    }  # fmt: skip
    block = {"type": "tool_use", "id": "tu_1", "name": "final_result", "input": {}}
    delta = {"type": "input_json_delta", "partial_json": json.dumps(ANSWER)}
    return [
        {"type": "message_start", "message": message},
        {"type": "content_block_start", "index": 0, "content_block": block},
        {"type": "content_block_delta", "index": 0, "delta": delta},
        {"type": "content_block_stop", "index": 0},
        {"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": None},
         "usage": {"output_tokens": 10}},
        {"type": "message_stop"},
    ]  # fmt: skip


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
            key = secrets.token_hex(8)  # the local server checks no key
            provider = AnthropicProvider(api_key=key, base_url=url, http_client=client)
            model = AnthropicModel("claude-sonnet-4-5", provider=provider)
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
