"""The bundle's machine-readable findings: merged SARIF 2.1.0 and JUnit XML."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from assay.evidence.summary import RunSummary
from assay.gates.base import Severity
from assay.gates.output import SARIF_SCHEMA, junit_suite, sarif_document

__all__ = ["merged_junit", "merged_sarif"]

_LEVEL = {"info": "note", "low": "note", "medium": "warning", "high": "error", "critical": "error"}


def _security_run(s: RunSummary) -> dict[str, Any] | None:
    if not s.security_reviews:
        return None
    review = s.security_reviews[-1]
    results = []
    for f in review.findings:
        severity = str(f.get("severity", "medium")).lower()
        location: dict[str, Any] = {
            "artifactLocation": {"uri": str(f.get("file") or "."), "uriBaseId": "ROOT"}
        }
        line = f.get("line")
        if isinstance(line, int) and line > 0:
            location["region"] = {"startLine": line}
        results.append(
            {
                "ruleId": str(f.get("cwe") or f.get("rule_id") or "security-review"),
                "level": _LEVEL.get(severity, "warning"),
                "message": {"text": str(f.get("message") or "security review finding")},
                "locations": [{"physicalLocation": location}],
                "properties": {"severity": severity},
            }
        )
    return {
        "tool": {"driver": {"name": "assay security review", "rules": []}},
        "originalUriBaseIds": {"ROOT": {"uri": "workspace/"}},
        "results": results,
        "properties": {"verdict": review.verdict, "iteration": review.iteration},
    }


def merged_sarif(s: RunSummary) -> str:
    """One SARIF log: a run per gate of the last iteration, plus the last security review."""
    doc: dict[str, Any] = (
        sarif_document(s.gate_report)
        if s.gate_report is not None
        else {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": []}
    )
    security = _security_run(s)
    if security is not None:
        doc["runs"].append(security)
    return json.dumps(doc, indent=2)


def merged_junit(s: RunSummary) -> str:
    """``<testsuites>`` with the last iteration's gates and the holdout scenarios."""
    root = ET.Element("testsuites", name=f"assay run {s.run_id}")
    if s.gate_report is not None:
        root.append(junit_suite(s.gate_report))
    if s.scenarios:
        failed = [x for x in s.scenarios if not x.passed]
        suite = ET.SubElement(
            root, "testsuite", name="assay.scenarios", tests=str(len(s.scenarios)),
            failures=str(len(failed)), errors="0", skipped="0",
        )  # fmt: skip
        for x in s.scenarios:
            case = ET.SubElement(suite, "testcase", classname="assay.scenarios", name=x.id)
            if not x.passed:
                ET.SubElement(case, "failure", message=f"score {x.score}").text = x.detail
    for review in s.security_reviews[-1:]:
        suite = ET.SubElement(
            root, "testsuite", name="assay.security-review", tests="1",
            failures=str(int(review.verdict != "approve")), errors="0", skipped="0",
        )  # fmt: skip
        case = ET.SubElement(suite, "testcase", classname="assay.security", name="review")
        if review.verdict != "approve":
            worst = max(
                (Severity.parse(str(f.get("severity", "info"))) for f in review.findings),
                default=Severity.INFO,
            )
            ET.SubElement(case, "failure", message=f"verdict {review.verdict}, worst {worst.label}")
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
