"""The clarity review: a pydantic-ai agent that scores a spec per aspect and asks questions.

Its instructions are ``prompts/preflight.md`` (self-contained: what a spec is for here, what each
aspect means, what a good question is); its user prompt is the spec and the deterministic
findings, so the model weighs them without asking them again. Its output is a typed
`PreflightReview`, checked by pydantic-ai (a score outside 0..1 goes back to the model).
Needs pydantic-ai (the ``factory`` extra).
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic_ai import Agent
from pydantic_ai.exceptions import AgentRunError, ModelAPIError, ModelRequestTimeout
from pydantic_ai.exceptions import UserError as PydanticAIUserError
from pydantic_ai.models import Model

from assay.agents.base import OUTPUT_RETRIES, load_prompt
from assay.errors import RunError
from assay.messages import PreflightFinding, PreflightReview, Spec

__all__ = [
    "PREFLIGHT_ROLE",
    "preflight_agent",
    "preflight_prompt",
    "review_alone",
    "review_spec",
]

PREFLIGHT_ROLE = "preflight"
"""The role's name: its prompt file, its model setting (``[tool.assay.models] preflight``) and
its scripted model in tests (``ASSAY_TESTING_MODELS``)."""


def preflight_agent(model: Model) -> Agent[None, PreflightReview]:
    """The reviewer's agent: no tools (the whole spec is in the prompt), typed output."""
    return Agent(
        model,
        output_type=PreflightReview,
        instructions=load_prompt(PREFLIGHT_ROLE),
        retries=OUTPUT_RETRIES,
        name=PREFLIGHT_ROLE,
    )


def preflight_prompt(
    spec: Spec, findings: Sequence[PreflightFinding], *, first_line: int = 1
) -> str:
    """The reviewer's user prompt: the spec with its file's line numbers (the body starts on
    `first_line`), and the findings, which use the same numbers."""
    listed = "\n".join(f"- line {f.line} [{f.rule_id}, {f.severity}] {f.message}" for f in findings)
    numbered = "\n".join(
        f"{i:4} | {line}" for i, line in enumerate(spec.body.splitlines(), first_line)
    )
    return (
        f"Review the clarity of this spec ({spec.name}); its lines are numbered as in its file."
        "\n\n"
        f"<spec>\n{numbered}\n</spec>\n\n<findings>\n{listed or '(none)'}\n</findings>\n"
    )


async def review_spec(
    model: Model, spec: Spec, findings: Sequence[PreflightFinding], *, first_line: int = 1
) -> PreflightReview:
    """Ask `model` for its review. A provider's failure propagates as pydantic-ai raised it, as
    every role's does inside a run (the loop says "continue with assay resume")."""
    prompt = preflight_prompt(spec, findings, first_line=first_line)
    return (await preflight_agent(model).run(prompt)).output


async def review_alone(
    model: Model,
    spec: Spec,
    findings: Sequence[PreflightFinding],
    *,
    first_line: int = 1,
    label: str = "",
) -> PreflightReview:
    """`review_spec` outside a run (``assay preflight``): a failure is a `RunError` naming the
    model."""
    name = label or f"{model.system}:{model.model_name}"
    try:
        return await review_spec(model, spec, findings, first_line=first_line)
    except ModelRequestTimeout as exc:
        raise RunError(
            f"the preflight model {name} failed: {exc} (the deadline is [tool.assay.models] "
            "timeout_s)"
        ) from exc
    except (AgentRunError, ModelAPIError, PydanticAIUserError) as exc:
        raise RunError(f"the preflight model {name} failed: {exc}") from exc
