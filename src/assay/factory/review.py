"""The security review's verdict as a gate result, merged into the iteration's gate report."""

from __future__ import annotations

from assay.gates.base import Finding, GateReport, GateResult, GateStatus, fingerprint
from assay.messages import SecurityReview

__all__ = ["REVIEW_GATE", "merge_review", "review_result"]

REVIEW_GATE = "security-review"


def review_result(
    review: SecurityReview, *, model: str, required: bool, duration_s: float
) -> GateResult:
    """The reviewer's verdict as a gate: passed on ``approve``."""
    findings = [
        Finding(
            gate=REVIEW_GATE, rule_id=f.cwe, severity=f.severity, file=f.file, line=f.line,
            message=f.message, fingerprint=fingerprint(f.cwe, f.file, f.message),
        )
        for f in review.findings
    ]  # fmt: skip
    approved = review.verdict == "approve"
    return GateResult(
        gate=REVIEW_GATE,
        tool="assay security reviewer",
        tool_version=model,
        status=GateStatus.PASSED if approved else GateStatus.FAILED,
        required=required,
        duration_s=round(duration_s, 4),
        findings=findings,
        message=review.summary or review.verdict,
    )


def merge_review(report: GateReport, result: GateResult) -> GateReport:
    """`report` with the review gate added and the verdict recomputed."""
    results = [r for r in report.results if r.gate != REVIEW_GATE] + [result]
    blocking = [r for r in results if r.blocking]
    applicable = [r for r in results if r.status is not GateStatus.NOT_APPLICABLE]
    summary = (
        "failed: " + ", ".join(f"{r.gate} ({r.status})" for r in blocking)
        if blocking
        else f"passed: {len(applicable)} gate(s) evaluated"
    )
    return report.model_copy(
        update={"results": results, "passed": not blocking and bool(applicable), "summary": summary}
    )
