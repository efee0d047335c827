"""Issue 15, points 4 and 6: what the ledger records of prompt caching, and what the report sums.

A real `RecordingModel` over a `LedgerRecorder` and a real ledger; the model is a pydantic-ai
`FunctionModel` that answers with the usage a provider reports when it served part of the prompt
from its cache. Two coder requests share their opening (instructions, spec), so the second
records a stable prefix; the responses' cache reads are priced at Anthropic's 0.1x.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    UserPromptPart,
)
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

from assay.agents.base import cached_prompt
from assay.agents.prompt_text import prompt_text, shared_prefix
from assay.agents.recording import RecordingModel
from assay.evidence.summary import summarize
from assay.factory import events as ev
from assay.factory.budget import Budget
from assay.factory.recorder import LedgerRecorder
from assay.ledger import Ledger

STABLE = "<spec>\nA greeter.\n</spec>\n" * 50


def _answer(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    first = len(messages) == 1 and "iteration 1" in prompt_text(messages)
    usage = RequestUsage(
        input_tokens=10_000, output_tokens=1_000,
        cache_write_tokens=8_000 if first else 0, cache_read_tokens=0 if first else 8_000,
    )  # fmt: skip
    return ModelResponse(parts=[TextPart("ok")], usage=usage)


def _ask(model: RecordingModel, text: str) -> None:
    request = ModelRequest.user_text_prompt(text, instructions="You are the coder.")
    asyncio.run(model.request([request], None, ModelRequestParameters()))


def _coder(ledger: Ledger) -> RecordingModel:
    """The coder's model, recording into `ledger`."""
    return RecordingModel(
        FunctionModel(_answer), role="coder", label="anthropic:claude-sonnet-4-5",
        observer=LedgerRecorder(ledger, Budget()),
    )  # fmt: skip


def test_cache_reads_and_the_stable_prefix_are_recorded_and_summed(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "run") as ledger:
        model = _coder(ledger)
        _ask(model, STABLE + "iteration 1: write it")
        _ask(model, STABLE + "iteration 2: fix the lint")
        events = list(ledger.events())
    requests = list(ev.all_of(ev.ModelRequested, events))
    responses = list(ev.all_of(ev.ModelResponded, events))
    assert requests[0].stable_prefix_chars == 0
    second = prompt_text([ModelRequest.user_text_prompt(STABLE + "iteration 2", instructions="x")])
    assert requests[1].prompt_chars > len(STABLE)
    assert requests[1].stable_prefix_chars >= len(STABLE)
    assert requests[1].stable_prefix_chars < requests[1].prompt_chars
    assert shared_prefix(second, second) == len(second)
    # sonnet: $3 in, $15 out per Mtok; a cache write 1.25x, a cache read 0.1x of input
    first, then = responses
    assert first.cost_usd == pytest.approx((2_000 * 3 + 8_000 * 3.75 + 1_000 * 15) / 1e6)
    assert then.cost_usd == pytest.approx((2_000 * 3 + 8_000 * 0.3 + 1_000 * 15) / 1e6)
    assert then.uncached_cost_usd == pytest.approx((10_000 * 3 + 1_000 * 15) / 1e6)
    assert then.cached_share == pytest.approx(0.8)
    summary = summarize(events, run_id="run")
    (coder,) = summary.role_costs
    assert coder.model == "coder" and coder.requests == 2 and coder.cache_read_tokens == 8_000
    saved = (first.uncached_cost_usd or 0) - (first.cost_usd or 0)
    saved += (then.uncached_cost_usd or 0) - (then.cost_usd or 0)
    assert coder.saved_usd == pytest.approx(saved) and coder.saved_usd > 0
    assert 0.4 < coder.stable_share < 0.5  # the second prompt's opening, of both prompts
    assert summary.total_cost.saved_usd == pytest.approx(coder.saved_usd)


def test_the_ledger_records_where_the_cache_point_ends(tmp_path: Path) -> None:
    """A prompt built by `cached_prompt` records how much of it comes before its cache point:
    the instructions and the stable part, up to its last character; a plain one records 0."""
    with Ledger.open(tmp_path / "run") as ledger:
        model = _coder(ledger)
        marked = ModelRequest(
            parts=[UserPromptPart(cached_prompt(STABLE, "iteration 1: write it"))],
            instructions="You are the coder.",
        )
        asyncio.run(model.request([marked], None, ModelRequestParameters()))
        _ask(model, STABLE + "iteration 2: fix the lint")
        events = list(ledger.events())
    first, plain = ev.all_of(ev.ModelRequested, events)
    text = prompt_text([marked])
    assert first.cache_point_chars > len(STABLE)
    assert text[: first.cache_point_chars].endswith(STABLE)
    assert text[first.cache_point_chars :].startswith("iteration 1: write it")
    assert plain.cache_point_chars == 0
