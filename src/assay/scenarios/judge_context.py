"""What the judge is shown about one step: the question, built from the scenario and the run.

The judge sees the request that was sent (after substitution), the captured values the step and
its expectation refer to, and the observation without its volatile headers: enough to tell an
empty name from a missing one, or to check "the category created earlier" against its id, and
nothing that changes between identical answers, so a repeated question is a cache hit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from assay.agents.judge import JudgeRequest
from assay.scenarios.checks import Outcome
from assay.scenarios.model import Scenario, Step
from assay.scenarios.observation import Observation
from assay.scenarios.steps import CREDENTIAL_HEADERS
from assay.scenarios.substitute import references, render

__all__ = ["judge_request", "referenced_variables"]

_VALUE_LIMIT = 300


def _step_references(step: Step) -> Iterator[str]:
    """Variables the step's request or command uses; credential headers excepted (the judge sees
    them as written, so their values are not its business)."""
    if step.request is not None:
        req = step.request
        yield from references(req.path)
        yield from references(req.query)
        yield from references(req.body)
        for name, value in req.headers.items():
            if name.lower() not in CREDENTIAL_HEADERS:
                yield from references(value)
    if step.exec_ is not None:
        yield from references(step.exec_.command)
        yield from references(step.exec_.env)
        yield from references(step.exec_.stdin or "")
    if step.ws is not None:
        yield from references([step.ws.url, step.ws.id, step.ws.send])
    if step.browser is not None:
        b = step.browser
        yield from references([b.url, b.selector, b.value, b.text, b.text_absent])


def _named_in(text: str, name: str) -> bool:
    """`name` (``category_id``) appears in `text` as a word, as ``{category_id}``, or with its
    underscores read as spaces ("category id")."""
    words = {name, name.replace("_", " ")}
    return any(re.search(rf"(?<![\w]){re.escape(w)}(?![\w])", text, re.IGNORECASE) for w in words)


def referenced_variables(
    step: Step, expectation: str, variables: Mapping[str, Any]
) -> tuple[tuple[str, str], ...]:
    """The captured values (name, rendered value) the step uses or its expectation names, in the
    order they were captured; a long value is cut."""
    used = set(_step_references(step))
    out = []
    for name, value in variables.items():
        if name in used or _named_in(expectation, name):
            text = render(value)
            if len(text) > _VALUE_LIMIT:
                text = text[:_VALUE_LIMIT] + "..."
            out.append((name, text))
    return tuple(out)


def judge_request(
    sc: Scenario,
    step: Step,
    obs: Observation,
    outcomes: Sequence[Outcome],
    remainder: Sequence[str],
    variables: Mapping[str, Any],
) -> JudgeRequest:
    """The judge's question for `step`: its unread sentences against what was sent and seen."""
    expectation = " ".join(remainder)
    return JudgeRequest(
        expectation=expectation,
        observation=obs.describe(),
        step=step.description,
        scenario=sc.description,
        verified=tuple(o.check for o in outcomes),
        request=obs.sent or (f"$ {obs.action}" if obs.kind == "exec" else obs.action),
        variables=referenced_variables(step, " ".join([step.expect or "", expectation]), variables),
    )
