"""The preflight verdict: findings and review in, one `PreflightReport` out, and what to fix.

A spec passes when no deterministic finding is an error and, when a model reviewed it, its
overall score is at or above the threshold. Without a review (``--no-model``) only the findings
decide. `what_to_fix` is the list both ``assay preflight`` and a stopped ``assay run`` print.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.messages import PreflightFinding, PreflightReport, PreflightReview, Spec

__all__ = ["make_report", "stop_reason", "what_to_fix"]


def make_report(
    spec: Spec,
    findings: Sequence[PreflightFinding],
    review: PreflightReview | None,
    *,
    threshold: float,
    model: str = "",
) -> PreflightReport:
    """The report on `spec` and whether it passes `threshold`."""
    errors = any(f.severity == "error" for f in findings)
    clear = review is None or review.overall >= threshold
    return PreflightReport(
        spec=spec.name, source=spec.source, findings=list(findings), review=review,
        model=model if review is not None else "", threshold=threshold,
        passed=not errors and clear,
    )  # fmt: skip


def what_to_fix(report: PreflightReport) -> list[str]:
    """One line per thing to change: each finding's fix (errors first), then each question."""
    ordered = sorted(report.findings, key=lambda f: (f.severity != "error", f.line))
    lines = [f"line {f.line} [{f.rule_id}]: {f.fix}" for f in ordered]
    if report.review is not None:
        lines += [f"answer: {q}" for q in report.review.questions]
    return lines


def stop_reason(report: PreflightReport) -> str:
    """Why a run stops on `report` (a failing one), in one sentence and the first fixes."""
    errors = [f for f in report.findings if f.severity == "error"]
    why = []
    if report.score is not None and report.score < report.threshold:
        why.append(
            f"the spec scored {report.score:.2f}, below the threshold {report.threshold:.2f}"
        )
    if errors:
        why.append(f"{len(errors)} preflight error(s): " + "; ".join(f.message for f in errors))
    fixes = what_to_fix(report)
    shown = "; ".join(fixes[:5]) + (f"; and {len(fixes) - 5} more" if len(fixes) > 5 else "")
    return (
        f"preflight stopped the run before the architect: {' and '.join(why)}. "
        f"Fix the spec and run again (`assay preflight {report.source or report.spec}` shows "
        f"everything): {shown}"
    )
