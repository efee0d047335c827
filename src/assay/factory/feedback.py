"""The feedback composer: findings, review and holdout results in, one ranked `Feedback` out.

Identical findings are merged (with a count), items are ranked by severity, the list is capped in
items and characters, and only the files the kept items name are listed (in patch mode those are
the only files sent to the coder in full).

Every item has an owner, the one role that may change what it is about (`owner_of`): findings in
the tests are the tester's, findings in the files rendered from the design are the architect's
(reached through the coder's ``design_change`` request), the rest of the scaffold's configuration
is assay's own (no role may change it), everything else is the coder's. `for_role` is the part of
a `Feedback` one role is sent.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from assay.factory.scaffold import PROTECTED_SCAFFOLD
from assay.factory.strata import RegressedScenario
from assay.factory.validator import ValidationResult
from assay.gates.base import GateReport, GateStatus, Severity, SeverityName
from assay.messages import Feedback, FeedbackItem

__all__ = [
    "DESIGN_FILES",
    "Owner",
    "Rejection",
    "compose_feedback",
    "describe",
    "finding_key",
    "for_role",
    "owner_of",
    "stranded",
]

Owner = Literal["coder", "tester", "architect", "assay"]

DESIGN_FILES = ("pyproject.toml", "README.md", "docs/design.md")
"""Scaffolded files rendered from the design: only an amended design changes them."""

_CODE_SOURCES = frozenset({"pytest", "scenarios", "guard"})
"""Sources whose findings the code answers for wherever they point: a failing test asks the code
to change (the tests are the specification), a scenario judges the service, a rejected edit was
the coder's."""

_DESIGN_HINT = (
    "; this file is rendered from the design, which you cannot edit: set `design_change` if the "
    "design must change"
)


@dataclass(frozen=True, slots=True)
class Rejection:
    """A file change the loop refused to apply."""

    path: str
    reason: str


def _gate_items(report: GateReport, also: Collection[str] = ()) -> list[FeedbackItem]:
    items = []
    for result in report.results:
        if not result.blocking and result.gate not in also:
            continue
        # only what fails the gate: a finding below its threshold is no one's to fix (bandit's
        # low B101 on every assert in the tests would otherwise send the tester back to work)
        live = result.blocking_findings
        for f in live:
            items.append(
                FeedbackItem(
                    source=f.gate, severity=f.severity, file=f.file, line=f.line,
                    rule_id=f.rule_id, message=f.message,
                )
            )  # fmt: skip
        if not live and result.blocking:
            severity: SeverityName = "high" if result.status is GateStatus.ERROR else "medium"
            items.append(
                FeedbackItem(
                    source=result.gate, severity=severity,
                    message=f"{result.status}: {result.message}",
                )
            )  # fmt: skip
    return items


def _scenario_items(validation: ValidationResult) -> list[FeedbackItem]:
    items = []
    if validation.error:
        items.append(
            FeedbackItem(source="scenarios", severity="critical", message=validation.error)
        )
    for s in validation.scenarios:
        if s.passed:
            continue
        text = s.title or "a holdout scenario failed"
        if s.observed:
            text += f" (observed: {s.observed})"
        if s.reasons:
            text += f": {s.reasons}"
        items.append(FeedbackItem(source="scenarios", severity="high", message=text))
    if not items and validation.satisfaction < 100:
        items.append(
            FeedbackItem(
                source="scenarios", severity="high",
                message=f"holdout satisfaction is {validation.satisfaction:.1f}/100",
            )
        )  # fmt: skip
    return items


def _regression_items(
    regressions: Sequence[RegressedScenario], validation: ValidationResult | None
) -> list[FeedbackItem]:
    """One item per regressed scenario, named by the title the leak level already shows; at
    leak ``none`` (no scenario is shown) one item that counts them."""
    shown = {s.id: s.title for s in validation.scenarios} if validation is not None else {}
    items, unnamed = [], []
    for r in regressions:
        title = shown.get(r.id)
        if title is None:
            unnamed.append(r)
            continue
        items.append(
            FeedbackItem(
                source="scenarios", severity="critical",
                message=f"regression: {title or 'a holdout scenario'} passed in iteration "
                f"{r.passed_in} and fails now; the run cannot converge until it passes again",
            )
        )  # fmt: skip
    if unnamed:
        items.append(
            FeedbackItem(
                source="scenarios", severity="critical",
                message=f"regression: {len(unnamed)} holdout scenario(s) that passed in earlier "
                "iterations fail now; the run cannot converge until they pass again",
            )
        )  # fmt: skip
    return items


def _dedupe(items: Sequence[FeedbackItem]) -> list[FeedbackItem]:
    merged: dict[tuple[str, str, str, str], FeedbackItem] = {}
    for item in items:
        key = (item.source, item.rule_id, item.file, item.message)
        if key in merged:
            prev = merged[key]
            line = min(prev.line, item.line) if prev.line and item.line else prev.line or item.line
            merged[key] = prev.model_copy(update={"count": prev.count + 1, "line": line})
        else:
            merged[key] = item
    return list(merged.values())


def _size(item: FeedbackItem) -> int:
    return len(item.source) + len(item.rule_id) + len(item.file) + len(item.message) + 24


def compose_feedback(
    iteration: int,
    *,
    report: GateReport | None,
    validation: ValidationResult | None,
    rejections: Sequence[Rejection] = (),
    max_items: int = 25,
    max_chars: int = 8000,
    also: Collection[str] = (),
    regressions: Sequence[RegressedScenario] = (),
) -> Feedback:
    """Merge, rank and cap everything the coder must fix after `iteration`.

    Findings of gates that block are sent; those of the gates in `also` even when they pass
    (``review_feedback = "all"``: an approving security review's findings). `regressions` (they
    block convergence) come first, named only as far as `validation` names its scenarios."""
    items = [
        FeedbackItem(
            source="guard", severity="high", file=r.path,
            message=f"change rejected: {r.reason}; do not modify this file",
        )
        for r in rejections
    ]  # fmt: skip
    if report is not None:
        items += _gate_items(report, also)
    if validation is not None:
        items += _scenario_items(validation)
    items += _regression_items(regressions, validation)
    ranked = sorted(
        _dedupe(items),
        key=lambda i: (-Severity.parse(i.severity), i.source, i.file, i.line, i.rule_id),
    )
    kept: list[FeedbackItem] = []
    used = 0
    for item in ranked:
        if len(kept) >= max_items or used + _size(item) > max_chars:
            break
        kept.append(item)
        used += _size(item)
    files = sorted({i.file for i in kept if i.file and i.source != "guard"})
    return Feedback(
        iteration=iteration,
        items=kept,
        files=files,
        omitted=len(ranked) - len(kept),
        satisfaction=validation.satisfaction if validation is not None else None,
    )


def owner_of(item: FeedbackItem) -> Owner:
    """The role that may change what `item` is about (see the module docstring)."""
    path = posixpath.normpath(item.file) if item.file else ""
    if not path or item.source in _CODE_SOURCES:
        return "coder"
    if path.startswith("tests/") or posixpath.basename(path) == "conftest.py":
        return "tester"
    if path in DESIGN_FILES:
        return "architect"
    if any(fnmatch.fnmatch(path, p) for p in PROTECTED_SCAFFOLD):
        return "assay"
    return "coder"


def for_role(feedback: Feedback, role: Owner) -> Feedback:
    """The part of `feedback` sent to `role`. The coder also gets the architect's items (it is
    the one who can ask for a design change), marked as such."""
    owners: set[Owner] = {"coder", "architect"} if role == "coder" else {role}
    items = []
    for item in feedback.items:
        owner = owner_of(item)
        if owner not in owners:
            continue
        if owner == "architect" and role == "coder":
            item = item.model_copy(update={"message": item.message + _DESIGN_HINT})
        items.append(item)
    files = sorted({i.file for i in items if i.file and i.source != "guard"})
    return feedback.model_copy(
        update={
            "items": items,
            "files": files,
            "satisfaction": feedback.satisfaction if role == "coder" else None,
        }
    )


def finding_key(item: FeedbackItem) -> tuple[str, str, str, str]:
    """What makes two items the same finding across iterations (the line may move)."""
    return (item.source, item.rule_id, item.file, item.message)


def describe(item: FeedbackItem) -> str:
    """`item`'s name, short: source, rule and place (``ruff E741 tests/test_a.py:5``), or the
    start of its message when it has no rule and no file (a scenario, a gate's status)."""
    where = f"{item.file}:{item.line}" if item.file and item.line else item.file
    name = " ".join(x for x in (item.source, item.rule_id, where) if x)
    if item.rule_id or item.file:
        return name
    text = item.message if len(item.message) <= 60 else item.message[:57] + "..."
    return f"{name} ({text})"


def stranded(
    previous: Feedback | None, current: Feedback, asked: Collection[Owner]
) -> FeedbackItem | None:
    """The first finding of `current` that `previous` held too and whose owner was not asked in
    between: no role that may fix it will ever be asked, so the run cannot get past it."""
    if previous is None:
        return None
    before = {finding_key(i) for i in previous.items}
    for item in current.items:
        if finding_key(item) in before and owner_of(item) not in asked:
            return item
    return None
