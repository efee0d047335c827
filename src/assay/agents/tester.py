"""The tester: spec and design in, pytest `TestSuite` out, written before any code."""

from __future__ import annotations

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.messages import Design, Spec, TestSuite

__all__ = ["tester_agent", "tester_prompt"]


def tester_agent(model: Model) -> Agent[WorkspaceDeps, TestSuite]:
    """The tester agent; it may read the scaffolded workspace."""
    return make_agent("tester", model, TestSuite, tools=True)


def tester_prompt(spec: Spec, design: Design, world: World | None = None) -> str:
    """The tester's user prompt; its environment first (`assay.agents.world`)."""
    head = f"{world.render('tester')}\n\n" if world is not None else ""
    return (
        f"{head}Write the pytest suite for {spec.name}.\n\n<spec>\n{spec.body}</spec>\n\n"
        f"<design>\n{design.model_dump_json(indent=1)}\n</design>\n"
    )
