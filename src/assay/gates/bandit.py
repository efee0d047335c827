"""The bandit gate: Python security lint, per file, read from bandit's JSON report.

bandit's own severity maps one to one onto assay's (LOW, MEDIUM, HIGH), with one exception: bandit
rates its hard-coded password checks (CWE-259, B105-B107) LOW, while assay's semgrep rule and the
secrets gate rate a credential in the source high; such findings are at least ``medium``, so the
same line is not a note in one gate and an error in another. The default threshold is ``medium``
so that low-severity notices such as "consider the security implications of importing subprocess"
are reported but do not fail every project. bandit's confidence, CWE, test name and documentation
link go with each finding. A file bandit cannot parse is a finding (``parse-error``), never a
silent pass. B101 ("assert used") is not reported in tests (`assay.gates.scope`): a test is made of
asserts, and a hundred identical lines would bury what matters; the generated project's bandit
configuration skips it there the same way (``[tool.bandit.assert_used]``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict

from assay.gates._tool import PythonToolGate, find_tool, relative, run_json_report
from assay.gates.base import Confidence, Finding, GateContext, RuleInfo, Scan, SeverityName
from assay.gates.scope import is_test_file

__all__ = ["BanditGate", "BanditOptions"]


class BanditOptions(BaseModel):
    """Options for ``[tool.assay.gates.bandit]``."""

    model_config = ConfigDict(extra="forbid")

    confidence: Literal["low", "medium", "high"] = "low"
    """Drop findings bandit is less confident about than this."""
    skip: list[str] = []
    """bandit test ids to skip, e.g. ``["B101"]``."""


_SEVERITY: dict[str, SeverityName] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_CONFIDENCE = {"low": 1, "medium": 2, "high": 3, "undefined": 0}
# Hard-coded credentials (password, credentials): rated at least medium (see the module doc).
_CREDENTIAL_CWES = frozenset({259, 798})
_PARSE_ERROR = RuleInfo(name="parse-error", summary="bandit could not parse the file.")


class BanditGate(PythonToolGate):
    """bandit over each Python file."""

    name = "bandit"
    tool = "bandit"
    executable = "bandit"
    distribution = "bandit"
    cost = 3
    per_file = True
    default_fail_on: SeverityName = "medium"
    options_model = BanditOptions

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The bandit command line for `files`; a ``[tool.bandit]`` table in pyproject is used."""
        argv = [find_tool(self.executable), "-f", "json", "-q"]
        pyproject = ctx.root / "pyproject.toml"
        if _has_bandit_table(pyproject):
            argv += ["-c", str(pyproject)]
        if ctx.options["skip"]:
            argv += ["--skip", ",".join(ctx.options["skip"])]
        return [*argv, "--", *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run bandit over `files`; exit 1 only means it found something."""
        out = await run_json_report(self.argv(ctx, files), ctx, "bandit.json", ok_codes=(0, 1))
        if out.error is not None:
            return Scan(error=out.error)
        data, report = out.data, out.path
        least = _CONFIDENCE[ctx.options["confidence"]]
        findings = [
            _finding(ctx.root, item)
            for item in data.get("results", [])
            if _CONFIDENCE.get(str(item.get("issue_confidence", "")).lower(), 0) >= least
        ]
        findings = [f for f in findings if not _assert_in_test(f)]
        findings += [
            Finding(
                gate="bandit",
                rule_id="parse-error",
                severity="medium",
                file=relative(ctx.root, str(err.get("filename", ""))),
                message=f"bandit could not scan this file: {err.get('reason', 'unknown error')}",
                rule=_PARSE_ERROR,
            )
            for err in data.get("errors", [])
        ]
        return Scan(findings=findings, raw_report=report)


def _assert_in_test(finding: Finding) -> bool:
    return finding.rule_id == "B101" and is_test_file(finding.file)


def _has_bandit_table(pyproject: Path) -> bool:
    try:
        with pyproject.open("rb") as fh:
            return "bandit" in tomllib.load(fh).get("tool", {})
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _cwe(item: dict[str, Any]) -> tuple[int, ...]:
    cwe = item.get("issue_cwe")
    number = cwe.get("id") if isinstance(cwe, dict) else None
    return (number,) if isinstance(number, int) and number > 0 else ()


def _rule(item: dict[str, Any]) -> RuleInfo:
    """bandit's test name, documentation link and CWE for the finding's test.

    The checks of bandit's blacklists all share the test name ``blacklist``; their issue text is
    the blacklist entry's fixed message, so it stands as the summary.
    """
    name = str(item.get("test_name", ""))
    summary = name.replace("_", " ").capitalize()
    if name == "blacklist" or not summary:
        summary = str(item.get("issue_text", ""))
    return RuleInfo(
        name=name,
        summary=summary,
        help_uri=str(item.get("more_info") or ""),
        security=True,
        cwe=_cwe(item),
    )


def _severity(item: dict[str, Any]) -> SeverityName:
    severity = _SEVERITY.get(str(item.get("issue_severity", "")).upper(), "medium")
    if severity == "low" and _CREDENTIAL_CWES.intersection(_cwe(item)):
        return "medium"
    return severity


def _confidence(item: dict[str, Any]) -> Confidence | None:
    value = str(item.get("issue_confidence", "")).lower()
    return cast("Confidence", value) if value in ("low", "medium", "high") else None


def _finding(root: Path, item: dict[str, Any]) -> Finding:
    return Finding(
        gate="bandit",
        rule_id=str(item.get("test_id", "bandit")),
        severity=_severity(item),
        file=relative(root, str(item.get("filename", ""))),
        line=int(item.get("line_number") or 0),
        column=int(item.get("col_offset") or 0) + 1,
        message=f"{item.get('issue_text', '')} ({item.get('test_name', '')})",
        confidence=_confidence(item),
        rule=_rule(item),
    )
