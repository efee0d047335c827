"""The pytest gate: run the project's tests, read the JUnit XML, hold coverage to a threshold.

Each failed or errored test is a finding at the test's file and ``def`` line. Coverage (from
pytest-cov's JSON report) below ``coverage`` percent is one project-level finding.

When the project has test files but pytest collects no test (exit 5), the gate reports
``not-evaluated``: nothing was verified, so it must not pass, yet no test failed either. A project
without test files is ``not-applicable``.

The tests are the project's code, so they are untrusted. With ``sandbox = "auto"`` (or a backend
name) in ``[tool.assay.gates.pytest]`` they run in that `assay.sandbox` backend on the project
root, with the interpreter's folders mounted read-only; without it (the default of ``assay
gate``, usually run on trusted code in CI) they run as a host subprocess. ``assay run`` builds
the gate with ``untrusted=True``: generated tests always run in a sandbox.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field

from assay.config import Settings, find_config, load_settings
from assay.errors import UserError
from assay.gates._tool import ToolRun, run_tool, tool_version
from assay.gates.base import Finding, GateContext, Scan, SeverityName

if TYPE_CHECKING:
    from assay.plugins import AssayPluginManager
    from assay.sandbox import Sandbox

__all__ = ["PytestGate", "PytestOptions", "pytest_argv", "run_tests"]

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")


class PytestOptions(BaseModel):
    """Options for ``[tool.assay.gates.pytest]``."""

    model_config = ConfigDict(extra="forbid")

    coverage: float = Field(default=80.0, ge=0, le=100)
    """Lowest acceptable total line coverage, in percent; 0 turns the check off."""
    source: list[str] = ["."]
    """What coverage measures (``--cov`` values), relative to the project root."""
    python: str | None = None
    """Interpreter to run the tests with (needs pytest and pytest-cov); default: assay's own."""
    args: list[str] = []
    """Extra pytest arguments, e.g. ``["-m", "not slow"]``."""
    sandbox: str | None = None
    """Run the tests in this sandbox backend (``auto``, ``bwrap``, ``docker``, ``local`` or a
    plugin's), set up by ``[tool.assay.sandbox]``; None: as a host subprocess."""


def pytest_argv(
    ctx: GateContext, junit: Path, coverage: Path, *, python: str | None = None
) -> list[str]:
    """The pytest command line writing JUnit XML to `junit` and coverage JSON to `coverage`."""
    python = python or ctx.options["python"] or sys.executable
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    argv += ["-o", "junit_family=xunit1"]  # xunit1 records each test's file and line
    argv += [f"--cov={src}" for src in ctx.options["source"]]
    argv += [f"--cov-report=json:{coverage}", "--cov-report="]
    return [*argv, *ctx.options["args"]]


async def run_tests(
    ctx: GateContext,
    junit: Path,
    coverage: Path,
    *,
    timeout: float = 900.0,
    sandbox: Sandbox | None = None,
) -> ToolRun:
    """Build the pytest command line and run it in the project root, in `sandbox` when given.

    In a sandbox the report paths are passed relative to the root (the sandbox's working
    folder), so they land in the same host files whatever the backend mounts the root as.
    """
    if sandbox is None:
        env = {"COVERAGE_FILE": str(junit.parent / ".coverage"), "PYTHONDONTWRITEBYTECODE": "1"}
        argv = pytest_argv(ctx, junit, coverage)
        return await run_tool(argv, cwd=ctx.root, env=env, timeout=timeout)
    root = ctx.root.resolve()
    if not junit.resolve().is_relative_to(root) or not coverage.resolve().is_relative_to(root):
        raise UserError(f"the pytest report folder {junit.parent} is outside {root}")
    rel_junit, rel_cov = (p.resolve().relative_to(root) for p in (junit, coverage))
    python = ctx.options["python"] or ("python3" if sandbox.name == "docker" else sys.executable)
    argv = pytest_argv(ctx, rel_junit, rel_cov, python=python)
    result = await sandbox.run(argv, env={"COVERAGE_FILE": str(rel_junit.parent / ".coverage")})
    stderr = result.stderr
    if result.killed is not None:
        stderr += f"\n(killed by the {sandbox.name} sandbox: {result.killed} limit)"
    return ToolRun(tuple(argv), result.exit_code, result.stdout, stderr)


def _ro_paths(python: str | None) -> list[Path]:
    from assay.sandbox.select import interpreter_paths

    paths = interpreter_paths()
    if python:
        exe = Path(python)
        paths += [exe.parent.parent, exe.resolve().parents[1]]
    return [p for p in paths if not p.is_relative_to("/usr")]


class PytestGate:
    """pytest + pytest-cov over the project's tests, on the host or in a sandbox."""

    name = "pytest"
    tool = "pytest"
    executable = "pytest"
    cost = 9
    per_file = False
    default_fail_on: SeverityName = "low"
    options_model = PytestOptions

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        untrusted: bool = False,
        plugins: AssayPluginManager | None = None,
    ) -> None:
        self.settings = settings
        """Where the sandbox section comes from; None: the project's config at the gated root."""
        self.untrusted = untrusted
        """Always use a sandbox: without a ``sandbox`` option, the configured backend."""
        self.plugins = plugins

    def backend(self, ctx: GateContext) -> str | None:
        """The sandbox backend the tests run in, None for a host subprocess."""
        named: str | None = ctx.options.get("sandbox")
        if named or not self.untrusted:
            return named
        return self._settings(ctx).sandbox.backend

    def _settings(self, ctx: GateContext) -> Settings:
        if self.settings is None:
            self.settings = load_settings(find_config(ctx.root))
        return self.settings

    def open_sandbox(self, ctx: GateContext, backend: str) -> Sandbox:
        """A sandbox on the project root with the test interpreter mounted read-only."""
        from assay.sandbox import open_sandbox

        settings = self._settings(ctx)
        return open_sandbox(
            ctx.root,
            settings.sandbox,
            regulated=settings.regulated,
            backend=backend,
            ro_paths=_ro_paths(ctx.options.get("python")),
            plugins=self.plugins,
        )

    async def _run_sandboxed(
        self, ctx: GateContext, backend: str, junit: Path, coverage: Path
    ) -> ToolRun:
        box = self.open_sandbox(ctx, backend)
        try:
            return await run_tests(ctx, junit, coverage, sandbox=box)
        finally:
            box.close()

    def applies(self, ctx: GateContext) -> bool:
        """Only when the project has test files (``test_*.py`` or ``*_test.py``)."""
        return any(_TEST_FILE.search(f) for f in ctx.files)

    def version(self) -> str:
        """pytest's version."""
        return tool_version(self.executable)

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every non-excluded file: tests may read data files as well as code."""
        return ctx.all_files or ctx.files

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run the tests once and judge failures and coverage."""
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        junit, coverage = ctx.report_dir / "junit.xml", ctx.report_dir / "coverage.json"
        for stale in (junit, coverage):
            stale.unlink(missing_ok=True)
        backend = self.backend(ctx)
        if backend is None:
            proc = await run_tests(ctx, junit, coverage)
        else:
            try:
                proc = await self._run_sandboxed(ctx, backend, junit, coverage)
            except UserError as exc:
                return Scan(error=f"cannot run the tests in a sandbox: {exc}")
        if proc.returncode == 5:
            return Scan(not_evaluated="pytest collected no tests")
        if proc.returncode not in (0, 1, 2) or not junit.is_file():
            return Scan(error=proc.describe_failure())
        return _judge(ctx, proc, junit, coverage)


def _judge(ctx: GateContext, proc: ToolRun, junit: Path, coverage: Path) -> Scan:
    """Findings from the JUnit XML and the coverage report of a pytest run that finished."""
    try:
        findings, metrics = _junit_findings(ctx.root, junit)
    except ET.ParseError as exc:
        return Scan(error=f"cannot read pytest's JUnit XML {junit}: {exc}")
    if proc.returncode == 2 and not findings:
        return Scan(error=proc.describe_failure())
    threshold = float(ctx.options["coverage"])
    percent = _coverage(coverage)
    if percent is None and threshold > 0:
        return Scan(error="pytest-cov wrote no coverage report: " + proc.describe_failure())
    if percent is not None:
        metrics["coverage"] = round(percent, 2)
        if percent < threshold:
            findings.append(_coverage_finding(percent, threshold))
    return Scan(findings=findings, raw_report=junit, metrics=metrics)


def _junit_findings(root: Path, junit: Path) -> tuple[list[Finding], dict[str, float]]:
    # pytest wrote this file into our report folder; expat refuses external entities.
    tree = ET.parse(junit)  # noqa: S314  # nosec B314
    findings = []
    counts = {"tests": 0.0, "failures": 0.0, "errors": 0.0, "skipped": 0.0}
    for case in tree.iter("testcase"):
        counts["tests"] += 1
        for kind in ("failure", "error", "skipped"):
            node = case.find(kind)
            if node is None:
                continue
            counts["skipped" if kind == "skipped" else f"{kind}s"] += 1
            if kind != "skipped":
                findings.append(_case_finding(root, case, node, kind))
    return findings, counts


def _case_finding(root: Path, case: ET.Element, node: ET.Element, kind: str) -> Finding:
    file = case.get("file") or _file_of(case.get("classname", ""))
    line = int(case.get("line") or -1) + 1
    name = case.get("name", "?")
    detail = (node.get("message") or node.text or "").strip().splitlines()
    return Finding(
        gate="pytest",
        rule_id="test-failed" if kind == "failure" else "test-error",
        severity="high",
        file=file.replace("\\", "/"),
        line=line if (root / file).is_file() else 0,
        message=f"{case.get('classname', '')}::{name} {kind}: {detail[0] if detail else ''}"[:500],
    )


def _file_of(classname: str) -> str:
    """Best guess of a test's file from its dotted class name when JUnit gives no file."""
    return classname.replace(".", "/") + ".py" if classname else ""


def _coverage(path: Path) -> float | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return float(data["totals"]["percent_covered"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _coverage_finding(percent: float, threshold: float) -> Finding:
    return Finding(
        gate="pytest",
        rule_id="coverage",
        severity="high",
        file="",
        message=f"line coverage {percent:.1f}% is below the required {threshold:g}%",
        fingerprint="coverage-below-threshold",
    )
