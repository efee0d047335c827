"""Writing a `GateReport` for machines: JSON, SARIF 2.1.0 and JUnit XML."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from assay.gates.base import Finding, GateReport, GateStatus, Severity

__all__ = ["junit_suite", "sarif_document", "to_json", "to_junit", "to_sarif"]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

_SARIF_LEVEL = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}


def to_json(report: GateReport) -> str:
    """The report as indented JSON."""
    return report.model_dump_json(indent=2)


def _sarif_result(f: Finding) -> dict[str, Any]:
    region: dict[str, int] = {}
    if f.line > 0:
        region["startLine"] = f.line
        if f.column > 0:
            region["startColumn"] = f.column
    location: dict[str, Any] = {"artifactLocation": {"uri": f.file or ".", "uriBaseId": "ROOT"}}
    if region:
        location["region"] = region
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "level": _SARIF_LEVEL[f.level],
        "message": {"text": f.message or f.rule_id},
        "locations": [{"physicalLocation": location}],
        "partialFingerprints": {"assayFingerprint/v1": f.fingerprint},
        "properties": {"severity": f.severity},
    }
    if f.waived_by is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.waived_by}]
    return result


def sarif_document(report: GateReport) -> dict[str, Any]:
    """One SARIF run per gate that produced a result, as a dict."""
    runs = []
    for r in report.results:
        if r.status is GateStatus.NOT_APPLICABLE:
            continue
        rules = sorted({f.rule_id for f in r.findings})
        runs.append(
            {
                "tool": {
                    "driver": {
                        "name": r.tool,
                        "version": r.tool_version or "unknown",
                        "informationUri": "https://github.com/assay-dev/assay",
                        "rules": [{"id": rule} for rule in rules],
                    }
                },
                "originalUriBaseIds": {"ROOT": {"uri": _file_uri(report.root)}},
                "invocations": [
                    {
                        "executionSuccessful": r.status is not GateStatus.ERROR,
                        "toolExecutionNotifications": (
                            [{"message": {"text": r.message}, "level": "error"}]
                            if r.status is GateStatus.ERROR
                            else []
                        ),
                    }
                ],
                "results": [_sarif_result(f) for f in r.findings],
                "properties": {"assayGate": r.gate, "status": str(r.status)},
            }
        )
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def to_sarif(report: GateReport) -> str:
    """The report as SARIF 2.1.0 JSON."""
    return json.dumps(sarif_document(report), indent=2)


def _file_uri(path: str) -> str:
    return "file://" + path.rstrip("/") + "/"


def to_junit(report: GateReport) -> str:
    """One test case per gate; a failed or errored gate lists its blocking findings."""
    suite = junit_suite(report)
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def junit_suite(report: GateReport) -> ET.Element:
    """The ``<testsuite>`` element of `to_junit`, for documents that embed it."""
    suite = ET.Element(
        "testsuite",
        name="assay.gates",
        tests=str(len(report.results)),
        failures=str(sum(r.status is GateStatus.FAILED for r in report.results)),
        errors=str(sum(r.status is GateStatus.ERROR for r in report.results)),
        skipped=str(
            sum(
                r.status in (GateStatus.NOT_APPLICABLE, GateStatus.NOT_EVALUATED)
                for r in report.results
            )
        ),
        time=f"{report.duration_s:.3f}",
    )
    for r in report.results:
        case = ET.SubElement(
            suite, "testcase", classname="assay.gates", name=r.gate, time=f"{r.duration_s:.3f}"
        )
        body = "\n".join(
            f"{f.file}:{f.line}:{f.column}: {f.rule_id} [{f.severity}] {f.message}"
            for f in r.findings
            if f.waived_by is None
        )
        if r.status is GateStatus.FAILED:
            ET.SubElement(case, "failure", message=r.message).text = body
        elif r.status is GateStatus.ERROR:
            ET.SubElement(case, "error", message=r.message).text = r.message
        elif r.status in (GateStatus.NOT_APPLICABLE, GateStatus.NOT_EVALUATED):
            ET.SubElement(case, "skipped", message=f"{r.status}: {r.message}")
    return suite
