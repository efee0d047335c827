"""Model prices (US dollars per million tokens) and the cost of a request.

The table covers common models as published by their vendors; a project adds or overrides prices in
``[tool.assay.models.prices]``. A model with no known price costs nothing in the dollar budget, is
marked ``unpriced`` in the ledger, and still counts against the token budget.
"""

from __future__ import annotations

from collections.abc import Mapping

from assay.config import ModelPrice

__all__ = ["PRICES", "cost_of", "price_of"]

PRICES: dict[str, ModelPrice] = {
    "anthropic:claude-opus-4-1": ModelPrice(input=15.0, output=75.0),
    "anthropic:claude-opus-4-5": ModelPrice(input=5.0, output=25.0),
    "anthropic:claude-sonnet-4-5": ModelPrice(input=3.0, output=15.0),
    "anthropic:claude-sonnet-4-0": ModelPrice(input=3.0, output=15.0),
    "anthropic:claude-haiku-4-5": ModelPrice(input=1.0, output=5.0),
    "anthropic:claude-3-5-haiku-latest": ModelPrice(input=0.8, output=4.0),
    "openai:gpt-4.1": ModelPrice(input=2.0, output=8.0),
    "openai:gpt-4.1-mini": ModelPrice(input=0.4, output=1.6),
    "openai:gpt-4.1-nano": ModelPrice(input=0.1, output=0.4),
    "openai:gpt-4o": ModelPrice(input=2.5, output=10.0),
    "openai:gpt-4o-mini": ModelPrice(input=0.15, output=0.6),
    "openai:gpt-5": ModelPrice(input=1.25, output=10.0),
    "openai:gpt-5-mini": ModelPrice(input=0.25, output=2.0),
    "openai:o4-mini": ModelPrice(input=1.1, output=4.4),
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
