"""Writing a `GateReport` for machines: JSON, SARIF 2.1.0 and JUnit XML.

SARIF has one run per gate, shaped for GitHub code scanning and sarif-tools: every rule is
described (name, short and full description, help as text and Markdown, helpUri, tags and
precision; security rules add ``security``, ``external/cwe/cwe-N`` and a ``security-severity``),
and file URIs are relative to ``%SRCROOT%``, the root of the git work tree holding the gated folder
(or that folder when it is in none), so ``assay gate src`` reports ``src/app.py``.

JUnit has a ``<testsuite>`` per gate inside ``<testsuites>``: a failed gate has one failing
``<testcase>`` per finding that decides the verdict, with ``file`` and ``line`` so GitLab and
Jenkins can point at the line; a passed gate is one passing case; an errored gate one error; a gate
not evaluated or not applicable one skipped case.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree as ET

from assay.gates.base import Finding, GateReport, GateResult, GateStatus, Severity

__all__ = [
    "ASSAY_URI",
    "SARIF_SCHEMA",
    "SKIPPED_FILE",
    "SourceRoot",
    "junit_suites",
    "junit_testsuites",
    "sarif_document",
    "sarif_level",
    "sarif_run",
    "security_severity",
    "source_root",
    "to_json",
    "to_junit",
    "to_sarif",
]

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
ASSAY_URI = "https://github.com/assay-dev/assay"
SRCROOT = "%SRCROOT%"
"""The uriBaseId of every artifact location (the name GitHub, CodeQL and semgrep use)."""
SKIPPED_FILE = "assay/skipped-file"
"""The notification descriptor of a file a gate did not scan."""

_LEVEL = {
    Severity.INFO: "note",
    Severity.LOW: "note",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "error",
}
# GitHub's security-severity bands: critical >= 9.0, high 7.0-8.9, medium 4.0-6.9, low below.
# The tool's severity picks the band and its confidence the place in it, so confidence orders
# alerts without ever moving one into another band.
_BAND_FLOOR = {
    Severity.INFO: 0.0,
    Severity.LOW: 1.0,
    Severity.MEDIUM: 4.0,
    Severity.HIGH: 7.0,
    Severity.CRITICAL: 9.0,
}
_CONFIDENCE_STEP = {"low": 0.0, "medium": 0.5, None: 0.5, "high": 0.9}
_CONFIDENCE_ORDER = {"low": 1, "medium": 2, "high": 3}
_CWE_URI = "https://cwe.mitre.org/data/definitions/{}.html"
# Characters XML 1.0 cannot carry (tools' error output sometimes holds terminal escapes).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def to_json(report: GateReport) -> str:
    """The report as indented JSON."""
    return report.model_dump_json(indent=2)


# -- paths ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRoot:
    """Where the paths of a report are anchored: `base` (None when unknown) and the gated
    folder's path inside it (`prefix`, empty when the folder is the base itself)."""

    base: Path | None
    prefix: str = ""

    def path(self, file: str) -> str:
        """`file` (relative to the gated folder) relative to `base`; the folder for ``""``."""
        if not file:
            return self.prefix or "."
        return f"{self.prefix}/{file}" if self.prefix else file

    def uri(self, file: str) -> str:
        """`path` as a relative URI reference (folders end in ``/``)."""
        if not file:
            return quote(self.prefix + "/") if self.prefix else "."
        return quote(self.path(file))


def source_root(root: str) -> SourceRoot:
    """The git work tree holding the gated folder `root`, or `root` itself when it is in none.

    A relative or missing `root` (a report read back from elsewhere) is anchored at itself, so
    nothing depends on the current directory or on a repository that happens to enclose it now.
    """
    path = Path(root)
    if not path.is_absolute():
        return SourceRoot(None)
    if path.is_dir():
        for candidate in (path, *path.parents):
            if (candidate / ".git").exists():
                inside = path.relative_to(candidate).as_posix()
                return SourceRoot(candidate, "" if inside == "." else inside)
    return SourceRoot(path)


def _base_uri(base: Path) -> str:
    return base.as_uri().rstrip("/") + "/"


# -- SARIF ------------------------------------------------------------------------------------


def sarif_level(f: Finding) -> str:
    """SARIF's ``level`` for `f`: its severity in assay's scale."""
    return _LEVEL[f.level]


def security_severity(f: Finding) -> str:
    """GitHub's ``security-severity`` for `f`, a number as a string (e.g. ``"7.5"``)."""
    return f"{_BAND_FLOOR[f.level] + _CONFIDENCE_STEP[f.confidence]:.1f}"


def _rule_tags(f: Finding) -> list[str]:
    tags = ["security"] if f.rule.security else []
    tags += [f"external/cwe/cwe-{n}" for n in f.rule.cwe]
    return list(dict.fromkeys([*tags, *f.rule.tags]))


def _help(rule_id: str, f: Finding) -> dict[str, str]:
    """The rule's help as plain text and Markdown: its description and the links it has."""
    info = f.rule
    body = info.description or info.summary or info.name or rule_id
    labelled = [(info.name or rule_id, info.help_uri)] if info.help_uri else []
    labelled += [(f"CWE-{n}", _CWE_URI.format(n)) for n in info.cwe]
    labelled += [(url, url) for url in info.references]
    unique: dict[str, str] = {}
    for label, url in labelled:
        unique.setdefault(url, label)  # the first label a link has wins
    links = [(label, url) for url, label in unique.items()]
    if not links:
        return {"text": body, "markdown": body}
    text = body + "\n\n" + "\n".join(f"{label}: {url}" for label, url in links)
    markdown = body + "\n\nReferences:\n" + "\n".join(f"- [{label}]({url})" for label, url in links)
    return {"text": text, "markdown": markdown}


def _rule_descriptor(rule_id: str, findings: Sequence[Finding]) -> dict[str, Any]:
    """The ``reportingDescriptor`` of `rule_id`, from what its findings' tool said about it."""
    first = findings[0]
    info = first.rule
    worst = max(findings, key=lambda f: f.level)
    summary = info.summary or info.name or rule_id
    descriptor: dict[str, Any] = {
        "id": rule_id,
        "name": info.name or rule_id,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": info.description or summary},
        "help": _help(rule_id, first),
        "defaultConfiguration": {"level": sarif_level(worst)},
    }
    if info.help_uri:
        descriptor["helpUri"] = info.help_uri
    properties: dict[str, Any] = {"tags": _rule_tags(first)}
    confidences = [f.confidence for f in findings if f.confidence is not None]
    if confidences:
        properties["precision"] = max(confidences, key=_CONFIDENCE_ORDER.__getitem__)
    if info.security:
        properties["security-severity"] = max((security_severity(f) for f in findings), key=float)
    descriptor["properties"] = properties
    return descriptor


def _location(f: Finding, where: SourceRoot) -> dict[str, Any]:
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": where.uri(f.file), "uriBaseId": SRCROOT}
    }
    if f.file:
        # GitHub places a result only with a startLine; a file-level finding points at line 1.
        region = {"startLine": max(f.line, 1)}
        if f.line > 0 and f.column > 0:
            region["startColumn"] = f.column
        physical["region"] = region
    return {"physicalLocation": physical}


def _sarif_result(f: Finding, where: SourceRoot, rule_index: int) -> dict[str, Any]:
    properties: dict[str, Any] = {"severity": f.severity}
    if f.confidence is not None:
        properties["confidence"] = f.confidence
    if f.rule.security:
        properties["security-severity"] = security_severity(f)
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": sarif_level(f),
        "message": {"text": f.message or f.rule_id},
        "locations": [_location(f, where)],
        "properties": properties,
    }
    if f.fingerprint:  # the runner gives every gate finding one; GitHub computes its own else
        result["partialFingerprints"] = {"assayFingerprint/v1": f.fingerprint}
    if f.waived_by is not None:
        result["suppressions"] = [{"kind": "external", "justification": f.waived_by}]
    return result


def _notifications(r: GateResult, where: SourceRoot) -> list[dict[str, Any]]:
    """Why a gate reached no verdict, so a viewer shows it instead of an empty run, and each
    file it did not scan (SARIF's place for "this artifact was not analysed")."""
    notes: list[dict[str, Any]] = []
    if r.status is GateStatus.ERROR:
        notes.append({"message": {"text": r.message}, "level": "error"})
    elif r.status is GateStatus.NOT_EVALUATED:
        notes.append({"message": {"text": f"not evaluated: {r.message}"}, "level": "warning"})
    for s in r.skipped:
        location = {"artifactLocation": {"uri": where.uri(s.path), "uriBaseId": SRCROOT}}
        notes.append(
            {
                "descriptor": {"id": SKIPPED_FILE},
                "message": {"text": f"not scanned: {s.reason}"},
                "level": "warning",
                "locations": [{"physicalLocation": location}],
            }
        )
    return notes


def _result_notes(r: GateResult) -> list[dict[str, Any]]:
    """How the result came about: a cache entry ignored, a file that changed during the scan."""
    return [{"message": {"text": note}, "level": "note"} for note in r.notes]


@functools.cache
def _information_uri(tool: str) -> str:
    """The tool's home page from its package metadata; assay's own for anything else."""
    try:
        meta = importlib.metadata.metadata(tool)
    except (importlib.metadata.PackageNotFoundError, ValueError):  # not a distribution's name
        return ASSAY_URI
    urls = {
        label.strip().lower(): url.strip()
        for label, _, url in (entry.partition(",") for entry in meta.get_all("Project-URL") or [])
    }
    home = (meta.get_all("Home-page") or [""])[0]
    return home or urls.get("homepage") or urls.get("documentation") or ASSAY_URI


def sarif_run(r: GateResult, where: SourceRoot) -> dict[str, Any]:
    """The SARIF ``run`` of one gate result, its paths anchored at `where`."""
    by_rule: dict[str, list[Finding]] = {}
    for f in r.findings:
        by_rule.setdefault(f.rule_id, []).append(f)
    rule_ids = sorted(by_rule)
    index = {rule_id: n for n, rule_id in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": r.tool,
                "version": r.tool_version or "unknown",
                "informationUri": _information_uri(r.tool),
                "rules": [_rule_descriptor(rule_id, by_rule[rule_id]) for rule_id in rule_ids],
            }
        },
        "automationDetails": {"id": f"assay/{r.gate}/"},
        "invocations": [
            {
                "executionSuccessful": r.status is not GateStatus.ERROR,
                "toolExecutionNotifications": _notifications(r, where) + _result_notes(r),
            }
        ],
        "results": [_sarif_result(f, where, index[f.rule_id]) for f in r.findings],
        "properties": {"assayGate": r.gate, "status": str(r.status)},
    }
    if where.base is not None:
        run["originalUriBaseIds"] = {SRCROOT: {"uri": _base_uri(where.base)}}
    return run


def sarif_document(report: GateReport) -> dict[str, Any]:
    """One SARIF run per gate that produced a result, as a dict."""
    where = source_root(report.root)
    runs = [
        sarif_run(r, where) for r in report.results if r.status is not GateStatus.NOT_APPLICABLE
    ]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": runs}


def to_sarif(report: GateReport) -> str:
    """The report as SARIF 2.1.0 JSON."""
    return json.dumps(sarif_document(report), indent=2)


# -- JUnit ------------------------------------------------------------------------------------


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _where(f: Finding, where: SourceRoot) -> str:
    place = where.path(f.file)
    if f.line > 0:
        place += f":{f.line}" + (f":{f.column}" if f.column > 0 else "")
    return place


def _finding_case(suite: ET.Element, r: GateResult, f: Finding, where: SourceRoot) -> None:
    """A failing test case at the finding's file and line."""
    attrs = {
        "classname": f"assay.gates.{r.gate}",
        "name": _xml(f"{f.rule_id} at {_where(f, where)}"),
        "file": where.path(f.file),
        "time": "0.000",
    }
    if f.file:
        attrs["line"] = str(max(f.line, 1))
    case = ET.SubElement(suite, "testcase", attrs)
    detail = f"{_where(f, where)}: {f.rule_id} [{f.severity}] {f.message}"
    if f.rule.help_uri:
        detail += f"\n{f.rule.name or f.rule_id}: {f.rule.help_uri}"
    failure = ET.SubElement(case, "failure", message=_xml(f.message or f.rule_id), type=f.rule_id)
    failure.text = _xml(detail)


def _gate_case(suite: ET.Element, r: GateResult) -> None:
    """The gate as a single test case: passed, errored, skipped, or failed without findings."""
    case = ET.SubElement(
        suite, "testcase", classname=f"assay.gates.{r.gate}", name=r.gate,
        time=f"{r.duration_s:.3f}",
    )  # fmt: skip
    message = _xml(r.message)
    if r.status is GateStatus.FAILED:
        ET.SubElement(case, "failure", message=message, type="gate").text = message
    elif r.status is GateStatus.ERROR:
        ET.SubElement(case, "error", message=message.splitlines()[0] if message else "error",
                      type="gate").text = message  # fmt: skip
    elif r.status in (GateStatus.NOT_APPLICABLE, GateStatus.NOT_EVALUATED):
        ET.SubElement(case, "skipped", message=f"{r.status}: {message}")


def _properties(suite: ET.Element, r: GateResult) -> None:
    props = ET.SubElement(suite, "properties")
    values = {
        "tool": r.tool,
        "tool_version": r.tool_version,
        "status": str(r.status),
        "required": str(r.required).lower(),
        "fail_on": r.fail_on,
        "cached": str(r.cached).lower(),
    }
    for name, value in values.items():
        ET.SubElement(props, "property", name=name, value=_xml(value))


def _not_blocking(r: GateResult, blocking: Sequence[Finding], where: SourceRoot) -> str:
    """Findings that do not decide the verdict (waived, or below ``fail_on``), as text."""
    decided = {id(f) for f in blocking}
    lines = []
    for f in r.findings:
        if id(f) in decided:
            continue
        why = f"waived: {f.waived_by}" if f.waived_by is not None else f"below {r.fail_on}"
        lines.append(f"{_where(f, where)}: {f.rule_id} [{f.severity}] {f.message} ({why})")
    return _xml("\n".join(lines))


def _not_scanned(r: GateResult, where: SourceRoot) -> str:
    """The files the gate did not scan, one line each, as text."""
    return _xml("\n".join(f"{where.path(s.path)}: not scanned: {s.reason}" for s in r.skipped))


def _count(suite: ET.Element, kind: str) -> int:
    return sum(case.find(kind) is not None for case in suite.iter("testcase"))


def _suite(r: GateResult, where: SourceRoot) -> ET.Element:
    suite = ET.Element("testsuite", name=f"assay.gates.{r.gate}")
    _properties(suite, r)
    blocking = r.blocking_findings if r.status is GateStatus.FAILED else []
    for f in blocking:
        _finding_case(suite, r, f, where)
    if not blocking:
        _gate_case(suite, r)
    rest = "\n".join(filter(None, [_not_blocking(r, blocking, where), _not_scanned(r, where)]))
    if rest:
        ET.SubElement(suite, "system-out").text = rest
    _set_totals(suite, [suite], time=r.duration_s)
    return suite


def _set_totals(element: ET.Element, suites: Iterable[ET.Element], *, time: float) -> None:
    suites = list(suites)
    element.set("tests", str(sum(len(list(s.iter("testcase"))) for s in suites)))
    for kind, attr in (("failure", "failures"), ("error", "errors"), ("skipped", "skipped")):
        element.set(attr, str(sum(_count(s, kind) for s in suites)))
    element.set("time", f"{time:.3f}")


def junit_suites(report: GateReport) -> list[ET.Element]:
    """A ``<testsuite>`` per gate, for `to_junit` and for documents that embed them."""
    where = source_root(report.root)
    return [_suite(r, where) for r in report.results]


def junit_testsuites(name: str, suites: Sequence[ET.Element], *, time: float) -> ET.Element:
    """``<testsuites>`` holding `suites`, with their totals."""
    root = ET.Element("testsuites", name=name)
    root.extend(suites)
    _set_totals(root, suites, time=time)
    return root


def to_junit(report: GateReport) -> str:
    """The report as JUnit XML: ``<testsuites>`` with a suite per gate."""
    root = junit_testsuites("assay gate", junit_suites(report), time=report.duration_s)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
