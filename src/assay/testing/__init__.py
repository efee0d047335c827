"""Scripted models for assay's own tests and for plugin authors. They never reach a provider.

A scripted role is a pydantic-ai `FunctionModel` whose function turns the latest user prompt into
the role's message::

    from assay.testing import scripted
    architect = scripted(lambda prompt: Design(summary="...", package="app"))

`ASSAY_TESTING_MODELS=package.module:attr` makes ``assay run`` / ``assay resume`` take their models
from ``attr()`` (a mapping of role -> `Model`, optionally with ``strong``) instead of from config:
the hook the crash/resume test uses to run the real CLI in a subprocess.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ToolCallPart,
    UserPromptPart,
)
from pydantic_ai.models import Model
from pydantic_ai.models.function import AgentInfo, FunctionModel

from assay.errors import UserError

__all__ = ["TESTING_MODELS_ENV", "last_prompt", "models_from_env", "scripted"]

TESTING_MODELS_ENV = "ASSAY_TESTING_MODELS"


def last_prompt(messages: list[ModelMessage]) -> str:
    """The text of the most recent user prompt in `messages`."""
    for message in reversed(messages):
        if isinstance(message, ModelRequest):
            for part in message.parts:
                if isinstance(part, UserPromptPart):
                    if isinstance(part.content, str):
                        return part.content
                    # a prompt in parts (a cache point between them): its text
                    return "".join(c for c in part.content if isinstance(c, str))
    return ""


def scripted(
    respond: Callable[[str], BaseModel | Mapping[str, Any]], *, name: str = "scripted"
) -> FunctionModel:
    """A model that answers every request with ``respond(latest user prompt)`` as its output."""

    def function(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        out = respond(last_prompt(messages))
        args = out.model_dump(mode="json") if isinstance(out, BaseModel) else dict(out)
        args.pop("kind", None)
        tool = info.output_tools[0].name if info.output_tools else "final_result"
        return ModelResponse(parts=[ToolCallPart(tool, args)], model_name=name)

    return FunctionModel(function, model_name=name)


def models_from_env(env: Mapping[str, str] | None = None) -> dict[str, Model] | None:
    """The scripted models named by ``$ASSAY_TESTING_MODELS``, or None when it is unset."""
    target = (env if env is not None else os.environ).get(TESTING_MODELS_ENV)
    if not target:
        return None
    module_name, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "models")
    except (ImportError, AttributeError) as exc:
        raise UserError(f"{TESTING_MODELS_ENV}={target}: cannot load ({exc})") from None
    models = factory()
    if not isinstance(models, Mapping):
        raise UserError(f"{TESTING_MODELS_ENV}={target}: must return a mapping of role -> model")
    return dict(models)
