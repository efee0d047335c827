"""The mypy gate: type-check the whole project, read from mypy's ``-O json`` output.

Strict by default. ``--ignore-missing-imports`` is on by default because an arbitrary project's
third-party dependencies are often not installed where assay runs, and "cannot find module" is
a fact about the environment, not about the code. mypy keeps its incremental cache under
``.assay/cache/mypy`` so a rerun after a small change is quick.

In a run that installed the design's locked dependencies (`assay.deps`), mypy reads their types
from that folder: ``--python-executable`` names a two-line wrapper (in the gate's cache) that runs
this interpreter with ``-S`` and the folder on ``PYTHONPATH``, which is how mypy learns where a
project's packages are (PEP 561). Without it, a typed framework such as FastAPI is missing, its
decorators are ``Any``, and ``--strict`` reports every decorated function as untyped, which a
model-played run showed a coder "fixing" by rewriting idiomatic code. ``-S``: nothing of the
folder runs (no ``sitecustomize``); mypy itself still runs with its own environment only.

Type errors are ``medium`` (a SARIF warning), syntax errors included: they fail the gate under its
default ``fail_on = "low"`` like any other. Each error code is described by mypy's own table of
codes and linked to the page mypy itself points at ("See https://mypy.rtfd.io/... for more info").
"""

from __future__ import annotations

import functools
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from assay.gates._tool import PythonToolGate, find_tool, relative, run_tool
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName

__all__ = ["MypyGate", "MypyOptions"]


# mypy's own link to an error code's documentation (mypy.errors.BASE_RTD_URL, which mypy prints).
_CODE_URI = "https://mypy.rtfd.io/en/stable/_refs.html#code-{}"


class MypyOptions(BaseModel):
    """Options for ``[tool.assay.gates.mypy]``."""

    model_config = ConfigDict(extra="forbid")

    strict: bool = True
    """Pass ``--strict`` (on top of the project's own mypy configuration)."""
    ignore_missing_imports: bool = True
    """Do not report imports of packages that are not installed where assay runs."""
    args: list[str] = []
    """Extra command-line flags for mypy, e.g. ``["--python-version", "3.12"]``."""


def _with_dependencies(ctx: GateContext) -> Path | None:
    """A wrapper interpreter whose ``sys.path`` holds the dependencies a run installed for the
    project (None: none installed, or no cache folder to keep the wrapper in)."""
    from assay.deps.environment import installed_for

    site = installed_for(ctx.root)
    if site is None or ctx.tool_cache is None:
        return None
    wrapper = ctx.tool_cache / f"python-{site.name}"
    text = (
        f"#!/bin/sh\nPYTHONPATH={shlex.quote(str(site.resolve()))} "
        f'exec {shlex.quote(sys.executable)} -S "$@"\n'
    )
    if not wrapper.is_file() or wrapper.read_text(encoding="utf-8") != text:
        wrapper.parent.mkdir(parents=True, exist_ok=True)
        wrapper.write_text(text, encoding="utf-8")
        wrapper.chmod(0o755)
    return wrapper


class MypyGate(PythonToolGate):
    """mypy over every Python file, as one whole-project run."""

    name = "mypy"
    tool = "mypy"
    executable = "mypy"
    distribution = "mypy"
    cost = 5
    per_file = False
    checks_selection = True  # on staged files: mypy checks them with the project's config
    default_fail_on: SeverityName = "low"
    options_model = MypyOptions

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The mypy command line for `files`."""
        cache = str(ctx.tool_cache) if ctx.tool_cache else "/dev/null"
        argv = [find_tool(self.executable), "-O", "json", "--cache-dir", cache]
        argv += ["--no-error-summary", "--show-absolute-path", "--hide-error-context"]
        if ctx.options["strict"]:
            argv.append("--strict")
        if ctx.options["ignore_missing_imports"]:
            argv.append("--ignore-missing-imports")
        python = _with_dependencies(ctx)
        if python is not None:
            argv += ["--python-executable", str(python)]
        return [*argv, *ctx.options["args"], "--", *files]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run mypy once over `files` and parse one JSON object per line."""
        argv = self.argv(ctx, files)
        if ctx.tool_cache:
            ctx.tool_cache.mkdir(parents=True, exist_ok=True)
        proc = await run_tool(argv, cwd=ctx.root)
        items = _json_lines(proc.stdout)
        # 0: clean, 1: type errors, 2: blocking errors (syntax errors still come as JSON).
        if proc.exit_code not in (0, 1) and not items:
            return Scan(error=proc.describe_failure())
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.report_dir / "mypy.jsonl"
        report.write_text(proc.stdout, encoding="utf-8")
        findings = [_finding(ctx.root, item) for item in items if item.get("severity") == "error"]
        return Scan(findings=findings, raw_report=report)


def _json_lines(stdout: str) -> list[dict[str, Any]]:
    items = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                items.append(json.loads(line))
            except ValueError:
                continue
    return items


@functools.cache
def _code_descriptions() -> dict[str, str]:
    """mypy's one-line description of each error code, when this interpreter has mypy."""
    try:
        from mypy.errorcodes import error_codes
    except ImportError:
        return {}
    return {code: info.description for code, info in error_codes.items()}


def _rule(code: str | None) -> RuleInfo:
    if not code:
        return RuleInfo(name="error", summary="A mypy error without an error code.")
    return RuleInfo(
        name=code,
        summary=_code_descriptions().get(code, ""),
        help_uri=_CODE_URI.format(code),
        tags=("typing",),
    )


def _finding(root: Path, item: dict[str, Any]) -> Finding:
    column = int(item.get("column") or 0)
    code = str(item["code"]) if item.get("code") else None
    return Finding(
        gate="mypy",
        rule_id=code or "error",
        severity="medium",
        file=relative(root, str(item.get("file", ""))),
        line=max(int(item.get("line") or 0), 0),
        column=column + 1 if column >= 0 else 0,
        message=str(item.get("message", "")) + (f" ({item['hint']})" if item.get("hint") else ""),
        rule=_rule(code),
    )
