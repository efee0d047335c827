"""The feedback composer: findings, review and holdout results in, one ranked `Feedback` out.

Identical findings are merged (with a count), items are ranked by severity, the list is capped in
items and characters, and only the files the kept items name are listed (in patch mode those are
the only files sent to the coder in full).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from assay.factory.validator import ValidationResult
from assay.gates.base import GateReport, GateStatus, Severity, SeverityName
from assay.messages import Feedback, FeedbackItem

__all__ = ["Rejection", "compose_feedback"]


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
        live = [f for f in result.findings if f.waived_by is None]
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
) -> Feedback:
    """Merge, rank and cap everything the coder must fix after `iteration`.

    Findings of gates that block are sent; those of the gates in `also` even when they pass
    (``review_feedback = "all"``: an approving security review's findings)."""
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
