"""The tester: spec and design in, pytest `TestSuite` out, written before any code; and a revised
suite when the gates find fault with the tests themselves (only the tester may change them).

A revision is asked with the findings and the tester's own files, not the spec and design again:
lint and type findings need neither, and both are in the tester's read-only view (`README.md`
holds the spec, `docs/design.md` the design) for the rare finding that does. A test the coder
disputes is settled against the spec, so that revision carries the spec's text."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic_ai import Agent, ModelRetry, RunContext
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.design_brief import design_brief
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import DIFF_FORMAT, World
from assay.changeset import ChangesetRejected, apply_unified_diff, safe_parts
from assay.messages import Design, Spec, TestSuite

__all__ = ["check_diffs", "revision_prompt_parts", "tester_agent", "tester_prompt_parts"]


async def check_diffs(ctx: RunContext[WorkspaceDeps], suite: TestSuite) -> TestSuite:
    """pydantic-ai output validator: a `diff` that does not apply to the file the tester sees
    (its view holds its own tests) goes back with the reason, so the tester fixes it in the
    same call instead of the revision being lost. The loop checks every path again."""
    for f in suite.files:
        if f.diff is None:
            continue
        try:
            target = ctx.deps.root.joinpath(*safe_parts(f.path))
            current = target.read_text(encoding="utf-8") if target.is_file() else ""
            apply_unified_diff(current, f.diff, f.path)
        except ChangesetRejected as exc:
            raise ModelRetry(
                f"{exc.path}: {exc.reason}. Send that file's diff again against its text as it "
                "is (the context and removed lines exactly), or its content in full."
            ) from None
    return suite


def tester_agent(model: Model) -> Agent[WorkspaceDeps, TestSuite]:
    """The tester agent; it may read the scaffolded workspace, and its diffs must apply."""
    agent = make_agent("tester", model, TestSuite, tools=True)
    agent.output_validator(check_diffs)
    return agent


def _head(world: World | None, house_style: str | None) -> str:
    """The stable opening: the environment, then the house style (both fixed for a run)."""
    parts = [world.render("tester")] if world is not None else []
    parts += [house_style] if house_style else []
    return "".join(f"{p}\n\n" for p in parts)


def tester_prompt_parts(
    spec: Spec, design: Design, world: World | None = None, house_style: str | None = None
) -> tuple[str, str]:
    """The tester's user prompt as (stable, changing) for `assay.agents.base.cached_prompt`:
    its environment (`assay.agents.world`) and the team's house style, which its revisions
    begin with too, then the spec and the design."""
    return _head(world, house_style), (
        f"Write the pytest suite for {spec.name}.\n\n<spec>\n{spec.body}</spec>\n\n"
        f"<design>\n{design_brief(design)}\n</design>\n"
    )


def revision_prompt_parts(
    spec: Spec,
    tests: Mapping[str, str],
    findings: str,
    iteration: int,
    world: World | None = None,
    house_style: str | None = None,
    *,
    dispute: bool = False,
) -> tuple[str, str]:
    """The tester's prompt when the gates report findings in its tests, as (stable, changing):
    its environment and the house style, then the findings and its own files (never the code:
    the tests stay a specification). `dispute`: the finding is the coder's dispute of a test,
    which the spec settles, so the spec's text comes too."""
    files = "\n".join(f'<file path="{p}">\n{t}</file>' for p, t in tests.items())
    where = (
        f"<spec>\n{spec.body}</spec>\n\n"
        if dispute
        else "The spec is in README.md and the design in docs/design.md (read them with your "
        "tools only if a finding needs them).\n\n"
    )
    return _head(world, house_style), (
        f"Iteration {iteration} of building {spec.name}: the quality gates report findings in "
        "your tests, and only you may change them. Revise the tests so the findings go away while "
        "they test the same behaviour. Patch each file you change with a `diff` against it as "
        "shown in <tests> (give its `content` in full only when most of it changes); files you "
        "leave out stay as they are. If you change nothing, say why in the rationale. "
        f"{DIFF_FORMAT} A diff that does not apply comes back to you with the reason.\n\n"
        f"{where}<findings>\n{findings}\n</findings>\n\n<tests>\n{files}\n</tests>\n"
    )
