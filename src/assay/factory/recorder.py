"""Writes every model request and response to the ledger, durably, and enforces the budget.

The full prompt (the message history sent) and the response are stored as content-addressed blobs;
the events carry their digests, the token counts and the cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_ai.messages import ModelMessage, ModelMessagesTypeAdapter, ModelResponse

from assay.agents.pricing import request_cost
from assay.agents.prompt_text import layout, shared_prefix
from assay.config import ModelPrice
from assay.factory import events as ev
from assay.factory.budget import Budget
from assay.ledger import Ledger
from assay.ledger.kinds import MODEL_RESPONSE

__all__ = ["LedgerRecorder"]


class LedgerRecorder:
    """A `ModelObserver` that records to a ledger and charges a budget."""

    def __init__(
        self, ledger: Ledger, budget: Budget, *, prices: Mapping[str, ModelPrice] | None = None
    ) -> None:
        self.ledger = ledger
        self.budget = budget
        self.prices = dict(prices or {})
        self.iteration = 0
        """Set by the loop so each event names its iteration."""
        self._last_prompt: dict[str, str] = {}
        """Each role's previous prompt text, for the stable prefix of its next one."""

    def replay(self) -> None:
        """Charge the budget with every response already in the ledger (on resume)."""
        for event in self.ledger.events(kind=MODEL_RESPONSE):
            p = ev.ModelResponded.model_validate(event.payload)
            self.budget.restore(p.tokens_in, p.tokens_out, p.cost_usd)

    def prepare_request(self, role: str, model: str, messages: list[ModelMessage]) -> object:
        """Refuse when over budget; otherwise store the prompt."""
        self.budget.check()
        digest = self.ledger.put_blob(ModelMessagesTypeAdapter.dump_json(messages))
        text, marked = layout(messages)
        stable = shared_prefix(self._last_prompt.get(role, ""), text)
        self._last_prompt[role] = text
        return ev.ModelRequested(
            role=role, model=model, iteration=self.iteration, prompt_digest=digest,
            prompt_blob=digest, messages=len(messages), prompt_chars=len(text),
            stable_prefix_chars=stable, cache_point_chars=marked,
        )  # fmt: skip

    def before_request(self, prepared: object) -> object:
        """Record the request `prepare_request` made."""
        assert isinstance(prepared, ev.ModelRequested)
        self.ledger.append(prepared.kind, ev.dump(prepared))
        return prepared.prompt_digest

    def after_response(self, role: str, model: str, token: object, response: ModelResponse) -> None:
        """Store the response, record tokens and cost, and charge the budget."""
        usage = response.usage
        cost = request_cost(
            model, usage.input_tokens, usage.output_tokens, self.prices,
            cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
        )  # fmt: skip
        blob = self.ledger.put_blob(ModelMessagesTypeAdapter.dump_json([response]))
        answer = ev.ModelResponded(
            role=role, model=model, iteration=self.iteration, prompt_digest=str(token),
            tokens_in=usage.input_tokens, tokens_out=usage.output_tokens,
            cost_usd=cost.usd if cost else None, unpriced=cost is None, response_blob=blob,
            cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens,
            uncached_cost_usd=cost.uncached_usd if cost else None,
        )  # fmt: skip
        self.ledger.append(answer.kind, ev.dump(answer))
        self.budget.add(usage.input_tokens, usage.output_tokens, answer.cost_usd)
