"""The tester: spec and design in, pytest `TestSuite` out, written before any code; and a revised
suite when the gates find fault with the tests themselves (only the tester may change them)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.messages import Design, Spec, TestSuite

__all__ = ["revision_prompt", "tester_agent", "tester_prompt"]


def tester_agent(model: Model) -> Agent[WorkspaceDeps, TestSuite]:
    """The tester agent; it may read the scaffolded workspace."""
    return make_agent("tester", model, TestSuite, tools=True)


def _head(world: World | None, house_style: str | None) -> str:
    """The stable opening: the environment, then the house style (both fixed for a run)."""
    parts = [world.render("tester")] if world is not None else []
    parts += [house_style] if house_style else []
    return "".join(f"{p}\n\n" for p in parts)


def tester_prompt(
    spec: Spec, design: Design, world: World | None = None, house_style: str | None = None
) -> str:
    """The tester's user prompt; its environment (`assay.agents.world`) and the team's house
    style first."""
    head = _head(world, house_style)
    return (
        f"{head}Write the pytest suite for {spec.name}.\n\n<spec>\n{spec.body}</spec>\n\n"
        f"<design>\n{design.model_dump_json(indent=1)}\n</design>\n"
    )


def revision_prompt(
    spec: Spec,
    design: Design,
    tests: Mapping[str, str],
    findings: str,
    iteration: int,
    world: World | None = None,
    house_style: str | None = None,
) -> str:
    """The tester's prompt when the gates report findings in its tests: its environment, the
    house style, its own files, the findings and the design (never the code: the tests stay a
    specification)."""
    files = "\n".join(f'<file path="{p}">\n{t}</file>' for p, t in tests.items())
    head = _head(world, house_style)
    return head + (
        f"Iteration {iteration} of building {spec.name}: the quality gates report findings in "
        "your tests, and only you may change them. Revise the tests so the findings go away while "
        "they test the same behaviour. Return every file you change in full (files you leave out "
        "stay as they are); if you change nothing, say why in the rationale.\n\n"
        f"<spec>\n{spec.body}</spec>\n\n<design>\n{design.model_dump_json(indent=1)}\n</design>"
        f"\n\n<findings>\n{findings}\n</findings>\n\n<tests>\n{files}\n</tests>\n"
    )
