"""The architect: spec in, `Design` out."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.messages import Design, Spec

__all__ = ["architect_agent", "architect_prompt"]


def architect_agent(model: Model) -> Agent[WorkspaceDeps, Design]:
    """The architect agent (no tools: the workspace is still empty)."""
    return make_agent("architect", model, Design, tools=False)


def architect_prompt(spec: Spec) -> str:
    """The architect's user prompt."""
    return (
        f"Design the service described by this spec ({spec.name}).\n\n<spec>\n{spec.body}</spec>\n"
    )
