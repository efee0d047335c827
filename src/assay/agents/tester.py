"""The tester: spec and design in, pytest `TestSuite` out, written before any code; and a revised
suite when the gates find fault with the tests themselves (only the tester may change them).

A revision is asked with the findings and the tester's own files, not the spec and design again:
lint and type findings need neither, and both are in the tester's read-only view (`README.md`
holds the spec, `docs/design.md` the design) for the rare finding that does. A test the coder
disputes is settled against the spec, so that revision carries the spec's text."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.design_brief import design_brief
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
        f"<design>\n{design_brief(design)}\n</design>\n"
    )


def revision_prompt(
    spec: Spec,
    tests: Mapping[str, str],
    findings: str,
    iteration: int,
    world: World | None = None,
    house_style: str | None = None,
    *,
    dispute: bool = False,
) -> str:
    """The tester's prompt when the gates report findings in its tests: its environment, the
    house style, the findings and its own files (never the code: the tests stay a
    specification). `dispute`: the finding is the coder's dispute of a test, which the spec
    settles, so the spec's text comes too."""
    files = "\n".join(f'<file path="{p}">\n{t}</file>' for p, t in tests.items())
    head = _head(world, house_style)
    where = (
        f"<spec>\n{spec.body}</spec>\n\n"
        if dispute
        else "The spec is in README.md and the design in docs/design.md (read them with your "
        "tools only if a finding needs them).\n\n"
    )
    return head + (
        f"Iteration {iteration} of building {spec.name}: the quality gates report findings in "
        "your tests, and only you may change them. Revise the tests so the findings go away while "
        "they test the same behaviour. Return every file you change in full (files you leave out "
        "stay as they are); if you change nothing, say why in the rationale.\n\n"
        f"{where}<findings>\n{findings}\n</findings>\n\n<tests>\n{files}\n</tests>\n"
    )
