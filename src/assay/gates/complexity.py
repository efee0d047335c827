"""The complexity gate: no function or method of the source code above a maximum cyclomatic
complexity, measured as mccabe measures it: ruff's C901, the ecosystem's convention.

Each ``if``/``elif``, loop, ``except`` clause and ``match`` case adds a path; boolean operators,
comprehensions and ``assert`` statements do not. A function nested in another counts toward the
one that holds it, as in mccabe. Each function above ``max`` is one finding at its ``def`` line; a
file ruff cannot parse is a finding (``parse-error``). Without a ``max`` in assay's policy the
limit is the project's own ``lint.mccabe.max-complexity`` (its ruff configuration, as ``ruff
check`` applies it), else mccabe's and ruff's default, 10.

Tests are not measured unless ``include_tests`` is set (`assay.gates.scope` says which files are
tests): a test is a list of asserts, and what matters is that the code under test is simple.

ruff runs with the project's own configuration, ``--select C901`` and the gate's ``max`` when
set, so a ``# noqa: C901`` and the project's ``per-file-ignores`` apply, as they do to the
project's own ``ruff check --select C901`` (the generated project's CI runs exactly that; see
`assay.factory.scaffold`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from assay.gates._tool import PythonToolGate, find_tool, relative, run_tool, rust_threads
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName
from assay.gates.scope import is_test_file

__all__ = ["DEFAULT_MAX", "ComplexityGate", "ComplexityOptions"]

DEFAULT_MAX = 10
"""mccabe's classic limit, ruff's default ``lint.mccabe.max-complexity``."""

_COMPLEXITY_RULE = RuleInfo(
    name="complex-structure",
    summary="A function or method is above the maximum cyclomatic complexity.",
    description=(
        "mccabe's cyclomatic complexity counts the independent paths through a function "
        "(branches, loops, except clauses, match cases); above the policy's maximum the function "
        "is hard to test and review. Split it into smaller functions."
    ),
    help_uri="https://docs.astral.sh/ruff/rules/complex-structure/",
    tags=("mccabe", "maintainability"),
)
_PARSE_ERROR = RuleInfo(name="parse-error", summary="ruff could not parse the file.")
# ruff's message for C901, e.g. "`route` is too complex (12 > 10)".
_MESSAGE = re.compile(r"^`(?P<name>.+)` is too complex \((?P<value>\d+) > (?P<max>\d+)\)$")


class ComplexityOptions(BaseModel):
    """Options for ``[tool.assay.gates.complexity]``."""

    model_config = ConfigDict(extra="forbid")

    max: int | None = Field(default=None, ge=1)
    """Highest cyclomatic complexity (mccabe's count, ruff's C901) a function may have; None:
    the project's ruff setting ``lint.mccabe.max-complexity``, else 10 (`DEFAULT_MAX`)."""
    include_tests: bool = False
    """Measure test files too (by default only source code is measured)."""


class ComplexityGate(PythonToolGate):
    """``ruff check --select C901`` over each Python file of the source code."""

    name = "complexity"
    tool = "ruff"
    executable = "ruff"
    distribution = "ruff"
    cost = 1
    per_file = True
    parallel = True
    """ruff runs a thread per core: it is lent worker slots, never split into batches."""
    default_fail_on: SeverityName = "low"
    options_model = ComplexityOptions

    def applies(self, ctx: GateContext) -> bool:
        """Any Python file in scope."""
        return bool(self.inputs(ctx))

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every Python file, tests left out unless ``include_tests``."""
        files = [f for f in ctx.files if f.endswith((".py", ".pyi"))]
        if ctx.options.get("include_tests"):
            return files
        return [f for f in files if not is_test_file(f)]

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The ruff command line for `files` (never fixing, whatever the project's config)."""
        argv = [find_tool(self.executable), "check", "--select", "C901"]
        if ctx.options.get("max") is not None:
            argv += ["--config", f"lint.mccabe.max-complexity={int(ctx.options['max'])}"]
        argv += ["--output-format=json", "--no-cache", "--no-fix", "--exit-zero"]
        return [*argv, "--", *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Measure every function in `files` and report those above ``max``."""
        proc = await run_tool(self.argv(ctx, files), cwd=ctx.root, env=rust_threads(ctx))
        try:
            items = json.loads(proc.stdout) if proc.exit_code == 0 else None
        except ValueError:
            items = None
        if not isinstance(items, list):
            return Scan(error=proc.describe_failure())
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.report_dir / "ruff-c901.json"
        report.write_text(proc.stdout, encoding="utf-8")
        findings: list[Finding] = []
        unparsable: set[str] = set()
        for item in items:
            file = relative(ctx.root, str(item.get("filename", "")))
            if item.get("code") == "C901":
                findings.append(_finding(file, item))
            elif file not in unparsable:  # a syntax error (ruff: no code, or invalid-syntax)
                unparsable.add(file)
                findings.append(_parse_error(file, item))
        return Scan(findings=findings, raw_report=report)


def _location(item: dict[str, Any]) -> tuple[int, int]:
    location = item.get("location") or {}
    return int(location.get("row") or 0), int(location.get("column") or 0)


def _finding(file: str, item: dict[str, Any]) -> Finding:
    said = str(item.get("message", ""))
    match = _MESSAGE.match(said)
    message = (
        f"{match['name']} has cyclomatic complexity {match['value']} (max {match['max']})"
        if match
        else said
    )
    line, column = _location(item)
    return Finding(
        gate="complexity",
        rule_id="cyclomatic-complexity",
        severity="medium",
        file=file,
        line=line,
        column=column,
        message=message,
        rule=_COMPLEXITY_RULE,
    )


def _parse_error(file: str, item: dict[str, Any]) -> Finding:
    line, column = _location(item)
    return Finding(
        gate="complexity",
        rule_id="parse-error",
        severity="medium",
        file=file,
        line=line,
        column=column,
        message=f"ruff could not parse this file: {item.get('message', 'unknown error')}",
        rule=_PARSE_ERROR,
    )
