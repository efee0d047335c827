"""What every role agent shares: instructions file, output retries, read-only workspace tools."""

from __future__ import annotations

from importlib import resources
from typing import TypeVar

from pydantic import BaseModel
from pydantic_ai import Agent, Tool
from pydantic_ai.models import Model

from assay.agents.tools import WorkspaceDeps, list_files, read_file, search_files

__all__ = ["OUTPUT_RETRIES", "load_prompt", "make_agent"]

OUTPUT_RETRIES = 3
"""How often malformed output is sent back to the model with the validation error."""

OutT = TypeVar("OutT", bound=BaseModel)


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
    )
