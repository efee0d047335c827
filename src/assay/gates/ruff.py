"""The ruff gate: lint (read from ruff's JSON output) plus a format check.

A finding's weight comes from ruff's own category of the rule (``ruff rule --all``): likely bugs
and security smells (``correctness``, ``suspicious``, ``security``) are ``medium``, everything else
(style, formatting, complexity, pedantry...) ``low``. Either fails the gate under its default
``fail_on = "low"``; the weight only says how loud the finding is in SARIF (warning or note). The
same catalogue gives each rule's summary and explanation; ruff's JSON gives its name and URL.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.gates._tool import PythonToolGate, find_tool, run_tool, rust_threads
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName

__all__ = ["RuffGate"]


class RuffOptions(BaseModel):
    """Options for ``[tool.assay.gates.ruff]``."""

    model_config = ConfigDict(extra="forbid")

    format: bool = True
    """Also fail on files ``ruff format --check`` would change."""
    select: list[str] = []
    """Rule codes to select instead of the project's own ruff config."""


# ruff's categories of rules whose findings are likely bugs or security smells rather than style.
_MEDIUM_CATEGORIES = frozenset({"correctness", "suspicious", "security"})
# The same, by code prefix, for a ruff that does not categorise its rules.
_MEDIUM_PREFIXES = ("F", "E9", "S", "B")
_FORMAT_RULE = RuleInfo(
    name="format",
    summary="The file is not formatted as `ruff format` would format it.",
    help_uri="https://docs.astral.sh/ruff/formatter/",
    tags=("formatting",),
)
# Rule catalogues (``ruff rule --all``) by ruff executable, read once per process.
_CATALOGUES: dict[str, dict[str, dict[str, Any]]] = {}


class RuffGate(PythonToolGate):
    """ruff check + ruff format --check."""

    name = "ruff"
    tool = "ruff"
    executable = "ruff"
    distribution = "ruff"
    cost = 1
    per_file = True
    parallel = True
    """ruff runs a thread per core: it is lent worker slots, never split into batches."""
    default_fail_on: SeverityName = "low"
    options_model = RuffOptions

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Lint, then check formatting, of `files`."""
        ruff = find_tool("ruff")
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.report_dir / "ruff.json"
        argv = [ruff, "check", "--output-format=json", "--no-cache", "--exit-zero"]
        if ctx.options["select"]:
            argv += ["--isolated", "--select", ",".join(ctx.options["select"])]
        threads = rust_threads(ctx)
        proc = await run_tool([*argv, "--", *files], cwd=ctx.root, env=threads)
        if proc.exit_code != 0:
            return Scan(error=proc.describe_failure())
        report.write_text(proc.stdout, encoding="utf-8")
        items = json.loads(proc.stdout or "[]")
        catalogue = await _catalogue(ruff, ctx.root) if items else {}
        findings = [_lint_finding(ctx.root, item, catalogue) for item in items]
        if ctx.options["format"]:
            fmt = await run_tool(
                [ruff, "format", "--check", "--no-cache", "--", *files], cwd=ctx.root, env=threads
            )
            if fmt.exit_code not in (0, 1):
                return Scan(error=fmt.describe_failure())
            findings += _format_findings(fmt.stdout)
        return Scan(findings=findings, raw_report=report)


async def _catalogue(ruff: str, cwd: Path) -> dict[str, dict[str, Any]]:
    """What ruff says about each of its rules, by code; empty when this ruff cannot say."""
    if ruff not in _CATALOGUES:
        proc = await run_tool([ruff, "rule", "--all", "--output-format=json"], cwd=cwd)
        try:
            rules = json.loads(proc.stdout) if proc.exit_code == 0 else []
        except ValueError:
            rules = []
        _CATALOGUES[ruff] = {
            str(r["code"]): r for r in rules if isinstance(r, dict) and r.get("code")
        }
    return _CATALOGUES[ruff]


def _severity(code: str, category: str | None) -> SeverityName:
    if code == "syntax-error":
        return "medium"
    if category is not None:
        return "medium" if category in _MEDIUM_CATEGORIES else "low"
    return "medium" if code.startswith(_MEDIUM_PREFIXES) else "low"


def _explanation(text: str) -> tuple[str, str]:
    """The first paragraph of "What it does", and the sections up to the examples."""
    sections = [s.strip() for s in re.split(r"^## ", text, flags=re.MULTILINE) if s.strip()]
    opening = [s for s in sections if s.startswith(("What it does", "Why is this bad"))]
    what = opening[0].split("\n", 1)[1].strip() if opening and "\n" in opening[0] else ""
    summary = " ".join(what.split("\n\n", 1)[0].split())
    return summary, "\n\n".join(f"## {s}" for s in opening)


def _rule(code: str, item: dict[str, Any], known: dict[str, Any]) -> RuleInfo:
    summary, description = _explanation(str(known.get("explanation") or ""))
    category = known.get("category")
    return RuleInfo(
        name=str(item.get("name") or known.get("name") or code),
        summary=summary or str(known.get("summary") or ""),
        description=description,
        help_uri=str(item.get("url") or ""),
        tags=tuple(str(t) for t in (known.get("linter"), category) if t),
        security=(category == "security") if category else code.startswith("S"),
    )


def _lint_finding(
    root: Path, item: dict[str, Any], catalogue: dict[str, dict[str, Any]]
) -> Finding:
    code = item.get("code") or "syntax-error"
    location = item.get("location") or {}
    known = catalogue.get(code, {})
    return Finding(
        gate="ruff",
        rule_id=code,
        severity=_severity(code, known.get("category")),
        file=Path(item["filename"]).resolve().relative_to(root).as_posix(),
        line=int(location.get("row") or 0),
        column=int(location.get("column") or 0),
        message=item.get("message", ""),
        rule=_rule(code, item, known),
    )


def _format_findings(stdout: str) -> list[Finding]:
    prefix = "Would reformat: "
    return [
        Finding(
            gate="ruff",
            rule_id="format",
            severity="low",
            file=line.removeprefix(prefix).strip(),
            message="file is not formatted (run `ruff format`)",
            rule=_FORMAT_RULE,
        )
        for line in stdout.splitlines()
        if line.startswith(prefix)
    ]
