"""The complexity gate: no function or method above a maximum cyclomatic complexity (radon).

radon counts every branch, loop, ``except``, boolean operator and comprehension ``if`` as a
decision, so its numbers run a little higher than mccabe's (ruff's C901). Each function or method
above ``max`` is one finding; nested functions are measured on their own, as radon does. A file
radon cannot parse is a finding (``parse-error``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.gates._tool import PythonToolGate, find_tool, relative, run_json_report
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName

__all__ = ["ComplexityGate", "ComplexityOptions"]


_COMPLEXITY_RULE = RuleInfo(
    name="cyclomatic-complexity",
    summary="A function or method is above the maximum cyclomatic complexity.",
    description=(
        "radon counts the decisions in a function (branches, loops, except clauses, boolean "
        "operators, comprehension conditions); above the policy's maximum the function is hard "
        "to test and review. Split it into smaller functions."
    ),
    help_uri="https://radon.readthedocs.io/en/latest/intro.html#cyclomatic-complexity",
    tags=("maintainability",),
)
_PARSE_ERROR = RuleInfo(name="parse-error", summary="radon could not parse the file.")


class ComplexityOptions(BaseModel):
    """Options for ``[tool.assay.gates.complexity]``."""

    model_config = ConfigDict(extra="forbid")

    max: int = Field(default=15, ge=1)
    """Highest cyclomatic complexity (radon's count, which includes boolean operators) a function
    may have. 15 is the upper half of radon's "moderate" band: stricter than most projects live
    with, looser than mccabe's classic 10, which radon's counting makes noisy."""


class ComplexityGate(PythonToolGate):
    """``radon cc -j`` over each Python file."""

    name = "complexity"
    tool = "radon"
    executable = "radon"
    cost = 1
    per_file = True
    default_fail_on: SeverityName = "low"
    options_model = ComplexityOptions

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every Python file (radon reads only ``.py``)."""
        return [f for f in ctx.files if f.endswith(".py")]

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The radon command line for `files`."""
        return [find_tool(self.executable), "cc", "-j", "--", *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Measure every block in `files` and report those above ``max``."""
        out = await run_json_report(self.argv(ctx, files), ctx, "radon-cc.json")
        if out.error is not None:
            return Scan(error=out.error)
        data, report = out.data, out.path
        limit = int(ctx.options["max"])
        findings: list[Finding] = []
        for name, blocks in data.items():
            file = relative(ctx.root, name)
            if isinstance(blocks, dict):
                findings.append(_parse_error(file, str(blocks.get("error", "unknown error"))))
                continue
            findings += [
                _finding(file, block, limit)
                for block in _functions(blocks)
                if int(block.get("complexity", 0)) > limit
            ]
        return Scan(findings=findings, raw_report=report)


def _functions(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Functions and methods, each once (radon lists methods both in their class and on top)."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "class":
            continue
        out.append(block)
        out += _functions(block.get("closures", []))
    return out


def _title(block: dict[str, Any]) -> str:
    name = str(block.get("name", "?"))
    return f"{block['classname']}.{name}" if block.get("classname") else name


def _finding(file: str, block: dict[str, Any], limit: int) -> Finding:
    complexity = int(block.get("complexity", 0))
    return Finding(
        gate="complexity",
        rule_id="cyclomatic-complexity",
        severity="medium",
        file=file,
        line=int(block.get("lineno") or 0),
        column=int(block.get("col_offset") or 0) + 1,
        message=f"{_title(block)} has cyclomatic complexity {complexity} (max {limit})",
        rule=_COMPLEXITY_RULE,
    )


def _parse_error(file: str, reason: str) -> Finding:
    return Finding(
        gate="complexity",
        rule_id="parse-error",
        severity="medium",
        file=file,
        message=f"radon could not parse this file: {reason}",
        rule=_PARSE_ERROR,
    )
