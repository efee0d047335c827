"""The architect: spec in, `Design` out."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.messages import Design, Spec

__all__ = ["architect_agent", "architect_prompt"]


def architect_agent(model: Model) -> Agent[WorkspaceDeps, Design]:
    """The architect agent. Its read-only tools see the scaffold it will get
    (`assay.factory.context.write_preview`)."""
    return make_agent("architect", model, Design, tools=True)


def architect_prompt(spec: Spec, world: World | None = None) -> str:
    """The architect's user prompt; its environment first (`assay.agents.world`)."""
    head = f"{world.render('architect')}\n\n" if world is not None else ""
    return (
        f"{head}Design the service described by this spec ({spec.name}).\n\n"
        f"<spec>\n{spec.body}</spec>\n"
    )
