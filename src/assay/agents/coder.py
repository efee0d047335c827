"""The coder: design, tests and feedback in, a `Changeset` out. It reads more through its tools."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic_ai import Agent
from pydantic_ai.models import Model

from assay.agents.base import make_agent
from assay.agents.design_brief import design_brief
from assay.agents.tools import WorkspaceDeps
from assay.agents.world import World
from assay.messages import Changeset, Design, Feedback, Spec

__all__ = ["coder_agent", "coder_prompt_parts", "render_feedback"]


def coder_agent(model: Model) -> Agent[WorkspaceDeps, Changeset]:
    """The coder agent with list/read/search tools over the workspace."""
    return make_agent("coder", model, Changeset, tools=True)


def render_feedback(feedback: Feedback) -> str:
    """Feedback as the lines the coder reads."""
    lines = []
    for item in feedback.items:
        where = f"{item.file}:{item.line}" if item.file else "(project)"
        rule = f" {item.rule_id}" if item.rule_id else ""
        times = f" (x{item.count})" if item.count > 1 else ""
        lines.append(f"- [{item.severity}] {item.source}{rule} {where}: {item.message}{times}")
    if feedback.omitted:
        lines.append(f"- ... {feedback.omitted} more item(s) not shown; fix the above first")
    if feedback.satisfaction is not None:
        lines.append(f"Holdout satisfaction: {feedback.satisfaction:.1f}/100")
    return "\n".join(lines)


def coder_prompt_parts(
    *,
    spec: Spec,
    design: Design,
    iteration: int,
    listing: Sequence[str],
    context: Mapping[str, str],
    protected: Sequence[str],
    feedback: Feedback | None,
    world: World | None = None,
    house_style: str | None = None,
) -> tuple[str, str]:
    """The coder's user prompt as (stable, changing): only `context` files are sent in full,
    the rest is a listing.

    What stays the same across iterations (environment, house style, spec, design, protected
    files) is the stable part, so consecutive prompts share a prefix a provider can cache (and
    the loop marks its end as a cache point, `assay.agents.base.cached_prompt`)."""
    files = "\n".join(f'<file path="{p}">\n{t}</file>' for p, t in context.items())
    stable = [world.render("coder")] if world is not None else []
    stable += [house_style] if house_style else []
    stable += [
        f"<spec>\n{spec.body}</spec>",
        f"<design>\n{design_brief(design, test_strategy=False)}\n</design>",
        "<protected-files>\n" + "\n".join(protected) + "\n</protected-files>",
    ]
    changing = [
        f"Iteration {iteration} of building {spec.name}.",
        "<workspace-files>\n" + ("\n".join(listing) or "(empty)") + "\n</workspace-files>",
    ]
    if feedback is not None:
        changing.append(f"<feedback>\n{render_feedback(feedback)}\n</feedback>")
    if files:
        changing.append(f"<files>\n{files}\n</files>")
    return "\n\n".join(stable) + "\n\n", "\n\n".join(changing) + "\n"
