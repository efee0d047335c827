"""Model prices (US dollars per million tokens) and the cost of a request.

The table covers common models as published by their vendors; a project adds or overrides prices in
``[tool.assay.models.prices]``. A model with no known price costs nothing in the dollar budget, is
marked ``unpriced`` in the ledger, and still counts against the token budget.

Prompt caching: a response's input tokens include those the provider read from its cache and those
it wrote to it (pydantic-ai's ``cache_read_tokens`` / ``cache_write_tokens``), priced at the
model's ``cache_read`` / ``cache_write`` (Anthropic by default 0.1x and 1.25x of input; OpenAI's
cached input as published). `Cost.uncached_usd` is what the same tokens would have cost with no
cache, so the ledger can say what caching saved.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from assay.config import ModelPrice

__all__ = ["PRICES", "Cost", "cost_of", "price_of", "request_cost"]

PRICES: dict[str, ModelPrice] = {
    "anthropic:claude-opus-4-1": ModelPrice(input=15.0, output=75.0),
    "anthropic:claude-opus-4-5": ModelPrice(input=5.0, output=25.0),
    "anthropic:claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0),
    "anthropic:claude-sonnet-4-0": ModelPrice(input=3.0, output=15.0),
    "anthropic:claude-haiku-4-5": ModelPrice(input=1.0, output=5.0),
    "anthropic:claude-3-5-haiku-latest": ModelPrice(input=0.8, output=4.0),
    "openai:gpt-4.1": ModelPrice(input=2.0, output=8.0, cache_read=0.5),
    "openai:gpt-4.1-mini": ModelPrice(input=0.4, output=1.6, cache_read=0.1),
    "openai:gpt-4.1-nano": ModelPrice(input=0.1, output=0.4, cache_read=0.025),
    "openai:gpt-4o": ModelPrice(input=2.5, output=10.0, cache_read=1.25),
    "openai:gpt-4o-mini": ModelPrice(input=0.15, output=0.6, cache_read=0.075),
    "openai:gpt-5": ModelPrice(input=1.25, output=10.0, cache_read=0.125),
    "openai:gpt-5-mini": ModelPrice(input=0.25, output=2.0, cache_read=0.025),
    "openai:o4-mini": ModelPrice(input=1.1, output=4.4, cache_read=0.275),
}


def price_of(model: str, extra: Mapping[str, ModelPrice] | None = None) -> ModelPrice | None:
    """The price of `model`, project prices first; None when unknown."""
    if extra and model in extra:
        return extra[model]
    return PRICES.get(model)


def cost_of(
    model: str, input_tokens: int, output_tokens: int, extra: Mapping[str, ModelPrice] | None = None
) -> float | None:
    """Dollars for one request, or None when the model has no known price."""
    price = price_of(model, extra)
    if price is None:
        return None
    return (input_tokens * price.input + output_tokens * price.output) / 1_000_000


@dataclass(frozen=True, slots=True)
class Cost:
    """One request's dollars, with and without the provider's prompt cache."""

    usd: float
    uncached_usd: float

    @property
    def saved_usd(self) -> float:
        """What the cache saved (negative when writes cost more than reads saved)."""
        return self.uncached_usd - self.usd


def _cache_prices(model: str, price: ModelPrice) -> tuple[float, float]:
    anthropic = model.startswith("anthropic:")
    read = (
        price.cache_read
        if price.cache_read is not None
        else price.input * (0.1 if anthropic else 1)
    )
    write = (
        price.cache_write
        if price.cache_write is not None
        else price.input * (1.25 if anthropic else 1)
    )
    return read, write


def request_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    extra: Mapping[str, ModelPrice] | None = None,
    *,
    cache_read_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> Cost | None:
    """Dollars for one request whose `input_tokens` include the cached ones; None when the model
    has no known price."""
    price = price_of(model, extra)
    if price is None:
        return None
    read, write = _cache_prices(model, price)
    plain = max(0, input_tokens - cache_read_tokens - cache_write_tokens)
    usd = plain * price.input + cache_read_tokens * read + cache_write_tokens * write
    usd += output_tokens * price.output
    uncached = input_tokens * price.input + output_tokens * price.output
    return Cost(usd=usd / 1_000_000, uncached_usd=uncached / 1_000_000)
