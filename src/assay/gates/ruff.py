"""The ruff gate: lint (read from ruff's JSON output) plus a format check."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.gates._tool import PythonToolGate, find_tool, run_tool
from assay.gates.base import Finding, GateContext, Scan, SeverityName

__all__ = ["RuffGate"]


class RuffOptions(BaseModel):
    """Options for ``[tool.assay.gates.ruff]``."""

    model_config = ConfigDict(extra="forbid")

    format: bool = True
    """Also fail on files ``ruff format --check`` would change."""
    select: list[str] = []
    """Rule codes to select instead of the project's own ruff config."""


# Rules whose findings are real bugs rather than style.
_HIGH_PREFIXES = ("F", "E9", "S", "B")


class RuffGate(PythonToolGate):
    """ruff check + ruff format --check."""

    name = "ruff"
    tool = "ruff"
    executable = "ruff"
    cost = 1
    per_file = True
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
        proc = await run_tool([*argv, "--", *files], cwd=ctx.root)
        if proc.returncode != 0:
            return Scan(error=proc.describe_failure())
        report.write_text(proc.stdout, encoding="utf-8")
        findings = [_lint_finding(ctx.root, item) for item in json.loads(proc.stdout or "[]")]
        if ctx.options["format"]:
            fmt = await run_tool(
                [ruff, "format", "--check", "--no-cache", "--", *files], cwd=ctx.root
            )
            if fmt.returncode not in (0, 1):
                return Scan(error=fmt.describe_failure())
            findings += _format_findings(fmt.stdout)
        return Scan(findings=findings, raw_report=report)


def _lint_finding(root: Path, item: dict[str, Any]) -> Finding:
    code = item.get("code") or "syntax-error"
    location = item.get("location") or {}
    severity: SeverityName = "high" if code.startswith(_HIGH_PREFIXES) else "low"
    return Finding(
        gate="ruff",
        rule_id=code,
        severity=severity,
        file=Path(item["filename"]).resolve().relative_to(root).as_posix(),
        line=int(location.get("row") or 0),
        column=int(location.get("column") or 0),
        message=item.get("message", ""),
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
        )
        for line in stdout.splitlines()
        if line.startswith(prefix)
    ]
