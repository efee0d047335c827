"""What every role agent shares: instructions file, output retries, read-only workspace tools."""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import CachePoint, UserContent
from pydantic_ai.models import Model
from pydantic_ai.settings import ModelSettings

from assay.agents.tools import WorkspaceDeps, list_files, read_file, search_files

__all__ = ["OUTPUT_RETRIES", "cached_prompt", "load_prompt", "make_agent"]

OUTPUT_RETRIES = 3
"""How often malformed output is sent back to the model with the validation error."""

OutT = TypeVar("OutT", bound=BaseModel)

PROMPT_CACHE = ModelSettings(cache=True)
"""Every role asks for the provider's prompt cache (pydantic-ai places the cache points: the
instructions and tools, and the growing conversation). Each role's prompt puts what stays the
same first, and every agent run resends its prefix on each tool call and output retry, so the
cache is read far more often than written."""


def cached_prompt(stable: str, changing: str) -> Sequence[UserContent]:
    """A user prompt whose `stable` part (the same in the role's next prompt, a call or an
    iteration later) ends at a cache point of its own. Anthropic reads a cache only up to a
    content block's end, so without this the next iteration's prompt, which shares the stable
    part but not what follows, would find nothing to read. Providers without cache points drop
    the marker; the text is the same either way. An empty `stable` gets no block (Anthropic
    refuses an empty text block)."""
    return [stable, CachePoint(), changing] if stable else [changing]


def load_prompt(role: str) -> str:
    """The Markdown instructions for `role` shipped in ``assay/agents/prompts``."""
    return (resources.files("assay.agents") / "prompts" / f"{role}.md").read_text(encoding="utf-8")


def make_agent(
    role: str, model: Model, output_type: type[OutT], *, tools: bool
) -> Agent[WorkspaceDeps, OutT]:
    """An agent for `role` producing `output_type`, with workspace tools if `tools`."""
    toolset = [Tool(list_files), Tool(read_file), Tool(search_files)] if tools else []
    return Agent(
        model,
        output_type=output_type,
        deps_type=WorkspaceDeps,
        instructions=load_prompt(role),
        tools=toolset,
        retries=OUTPUT_RETRIES,
        name=role,
        model_settings=PROMPT_CACHE,
    )
