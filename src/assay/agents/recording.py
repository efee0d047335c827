"""A model wrapper that reports every request and response before the agent sees the answer.

The factory passes an observer that writes both to the ledger (durably) and enforces the budget;
the wrapper itself knows nothing of either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

__all__ = ["ModelObserver", "RecordingModel"]

T = TypeVar("T")


class ModelObserver(Protocol):
    """Told about each request before it is sent and each response before it is used."""

    def prepare_request(self, role: str, model: str, messages: list[ModelMessage]) -> object:
        """Store the prompt (the slow part, done before any wait for admission); may raise to
        refuse the request (e.g. over budget)."""
        ...

    def before_request(self, prepared: object) -> object:
        """Record the request just before it is sent (quick); `prepared` is what
        `prepare_request` returned."""
        ...

    def after_response(self, role: str, model: str, token: object, response: ModelResponse) -> None:
        """Record the response; `token` is what `before_request` returned."""
        ...


class RecordingModel(WrapperModel):
    """Wraps a model so an observer sees every request and response of one role."""

    def __init__(self, wrapped: Model, *, role: str, label: str, observer: ModelObserver) -> None:
        super().__init__(wrapped)
        self.role = role
        self.model_label = label
        """The configured model string, e.g. ``anthropic:claude-sonnet-4-5``."""
        self.observer = observer

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        """Prepare, record once admitted, forward, report."""
        prepared = self.observer.prepare_request(self.role, self.model_label, messages)
        token = await self.admit(lambda: self.observer.before_request(prepared))
        response = await self.wrapped.request(messages, model_settings, model_request_parameters)
        self.observer.after_response(self.role, self.model_label, token, response)
        return response

    async def admit(self, record: Callable[[], T]) -> T:
        """Record the request once it may be sent: here at once; the fleet's wrapper first waits
        for a slot of its provider's rate limit."""
        return record()
