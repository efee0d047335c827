"""The bundle's machine-readable findings: merged SARIF 2.1.0 and JUnit XML.

Both reuse the gate report writers of `assay.gates.output`, so the bundle's SARIF and JUnit have
the shape ``assay gate`` writes (rules described, paths anchored at the repository root, a JUnit
suite per gate), plus the last security review.
"""

from __future__ import annotations

import json
import re
from typing import Any
from xml.etree import ElementTree as ET

from assay.evidence.summary import RunSummary, SecurityReviewRow
from assay.gates.base import (
    Finding,
    GateResult,
    GateStatus,
    RuleInfo,
    Severity,
    SeverityName,
    fingerprint,
)
from assay.gates.output import (
    SARIF_SCHEMA,
    SourceRoot,
    junit_suites,
    junit_testsuites,
    sarif_document,
    sarif_run,
    source_root,
)

__all__ = ["merged_junit", "merged_sarif"]

_CWE = re.compile(r"CWE-(\d+)", re.IGNORECASE)
_REVIEW_TOOL = "assay security review"


def _severity(value: object) -> SeverityName:
    try:
        return Severity.parse(str(value)).label
    except ValueError:
        return "medium"


def _review_finding(f: dict[str, Any]) -> Finding:
    """A reviewer's finding (a CWE, a severity, a place) in the gates' common shape."""
    rule_id = str(f.get("cwe") or f.get("rule_id") or "security-review")
    match = _CWE.fullmatch(rule_id)
    line = f.get("line")
    file, message = str(f.get("file") or ""), str(f.get("message") or "security review finding")
    return Finding(
        gate="security-review",
        rule_id=rule_id,
        severity=_severity(f.get("severity", "medium")),
        file=file,
        line=line if isinstance(line, int) and line > 0 else 0,
        message=message,
        fingerprint=fingerprint(rule_id, file, message),  # as the review gate computes it
        rule=RuleInfo(
            name=rule_id,
            summary=f"Weakness {rule_id} found by the security review",
            security=True,
            cwe=(int(match.group(1)),) if match else (),
        ),
    )


def _security_run(review: SecurityReviewRow, where: SourceRoot) -> dict[str, Any]:
    result = GateResult(
        gate="security-review",
        tool=_REVIEW_TOOL,
        tool_version="",
        status=GateStatus.PASSED if review.verdict == "approve" else GateStatus.FAILED,
        required=True,
        duration_s=0.0,
        findings=[_review_finding(f) for f in review.findings],
        message=review.summary,
    )
    run = sarif_run(result, where)
    run["properties"] = {"verdict": review.verdict, "iteration": review.iteration}
    return run


def merged_sarif(s: RunSummary) -> str:
    """One SARIF log: a run per gate of the last iteration, plus the last security review."""
    if s.gate_report is not None:
        doc = sarif_document(s.gate_report)
        where = source_root(s.gate_report.root)
    else:
        doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": []}
        where = SourceRoot(None)
    for review in s.security_reviews[-1:]:
        doc["runs"].append(_security_run(review, where))
    return json.dumps(doc, indent=2)


def merged_junit(s: RunSummary) -> str:
    """``<testsuites>`` with a suite per gate of the last iteration, the holdout scenarios and
    the last security review."""
    suites = junit_suites(s.gate_report) if s.gate_report is not None else []
    if s.scenarios:
        failed = [x for x in s.scenarios if not x.passed]
        suite = ET.Element(
            "testsuite", name="assay.scenarios", tests=str(len(s.scenarios)),
            failures=str(len(failed)), errors="0", skipped="0",
        )  # fmt: skip
        for x in s.scenarios:
            case = ET.SubElement(suite, "testcase", classname="assay.scenarios", name=x.id)
            if not x.passed:
                ET.SubElement(case, "failure", message=f"score {x.score}").text = x.detail
        suites.append(suite)
    for review in s.security_reviews[-1:]:
        suite = ET.Element(
            "testsuite", name="assay.security-review", tests="1",
            failures=str(int(review.verdict != "approve")), errors="0", skipped="0",
        )  # fmt: skip
        case = ET.SubElement(suite, "testcase", classname="assay.security", name="review")
        if review.verdict != "approve":
            worst = max(
                (Severity.parse(_severity(f.get("severity", "info"))) for f in review.findings),
                default=Severity.INFO,
            )
            ET.SubElement(case, "failure", message=f"verdict {review.verdict}, worst {worst.label}")
        suites.append(suite)
    duration = s.gate_report.duration_s if s.gate_report is not None else 0.0
    root = junit_testsuites(f"assay run {s.run_id}", suites, time=duration)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
