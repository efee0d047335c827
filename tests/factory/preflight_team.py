"""The scripted team of `scripted_app` with a scripted preflight reviewer, for
``ASSAY_TESTING_MODELS=tests.factory.preflight_team:<attr>``: `clear` scores the spec 0.9,
`unclear` 0.6 (below the default threshold 0.8) with two questions. The reviewer's function
also keeps the prompts it was sent, so a test can check what the model saw."""

from __future__ import annotations

from pydantic_ai.models import Model

from assay.messages import PreflightReview, PreflightScores
from assay.testing import scripted
from tests.conftest import scripted_app

QUESTIONS = [
    'GET /greet: which status and body answer a missing name, 400 with {"error": ...} or 422?',
    "Greeting: is the text exactly 'Hello, <name>!' or may it vary?",
]
PROMPTS: list[str] = []
"""Every prompt the scripted reviewer was sent, in order."""


def review(overall: float) -> PreflightReview:
    """A review with every aspect at `overall`, and `QUESTIONS` when it is below 0.8."""
    return PreflightReview(
        scores=PreflightScores(
            completeness=overall, ambiguity=overall, testability=overall, consistency=overall
        ),
        overall=overall,
        questions=QUESTIONS if overall < 0.8 else [],
        summary=f"scripted review at {overall}",
    )


def reviewer(overall: float) -> Model:
    """A scripted reviewer that always scores `overall` and records its prompts."""

    def answer(prompt: str) -> PreflightReview:
        PROMPTS.append(prompt)
        return review(overall)

    return scripted(answer, name="preflight")


def clear() -> dict[str, Model]:
    """The team, and a reviewer that passes the spec."""
    return {**scripted_app().models(), "preflight": reviewer(0.9)}


def unclear() -> dict[str, Model]:
    """The team, and a reviewer that scores the spec below the threshold."""
    return {**scripted_app().models(), "preflight": reviewer(0.6)}
