"""The pytest gate: run the project's tests, read the JUnit XML, hold coverage to a threshold.

Each failed or errored test is a finding at the test's file and ``def`` line. Coverage (from
pytest-cov's Cobertura XML report) below ``coverage`` percent is one project-level finding.

When the project has test files but pytest collects no test (exit 5), the gate reports
``not-evaluated``: nothing was verified, so it must not pass, yet no test failed either. A project
without test files is ``not-applicable``.

The tests run with the project's interpreter, so they can import the project's dependencies: the
configured ``python``, else the project's ``.venv``, else the virtualenv in ``$VIRTUAL_ENV``,
else assay's own interpreter (`choose_interpreter`). That interpreter must have pytest (and
pytest-cov unless ``coverage = 0``); when it lacks them the gate is ``error`` saying so, never a
silent switch to another interpreter. The gate's ``tool_version`` names the interpreter and a
digest of its installed distributions, so installing a package there invalidates the cache.

The tests are the project's code, so they are untrusted. With ``sandbox = "auto"`` (or a backend
name) in ``[tool.assay.gates.pytest]`` they run in that `assay.sandbox` backend on the project
root, with the interpreter's folders mounted read-only; without it (the default of ``assay
gate``, usually run on trusted code in CI) they run as a host subprocess. ``assay run`` builds
the gate with ``untrusted=True``: generated tests always run in a sandbox. In a sandbox the
interpreter is the configured ``python`` or assay's own (``python3`` of the image under docker):
a ``.venv`` in the workspace is never picked up, nor run on the host to inspect it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from pydantic import BaseModel, ConfigDict, Field

from assay.config import Settings, find_config, load_settings
from assay.errors import ToolMissingError, UserError
from assay.gates._tool import run_tool
from assay.gates.base import Finding, GateContext, Scan, SeverityName
from assay.processes import Command, RunResult, build_env, run_blocking

if TYPE_CHECKING:
    from assay.plugins import AssayPluginManager
    from assay.sandbox import Sandbox

__all__ = [
    "Interpreter",
    "PytestGate",
    "PytestOptions",
    "PythonEnvironment",
    "choose_interpreter",
    "configured_executables",
    "inspect_interpreter",
    "pytest_argv",
    "run_tests",
]

_TEST_FILE = re.compile(r"(^|/)(test_[^/]*|[^/]*_test)\.py$")


class PytestOptions(BaseModel):
    """Options for ``[tool.assay.gates.pytest]``."""

    model_config = ConfigDict(extra="forbid")

    coverage: float = Field(default=80.0, ge=0, le=100)
    """Lowest acceptable total line coverage, in percent; 0 turns the check off."""
    source: list[str] = ["."]
    """What coverage measures (``--cov`` values), relative to the project root."""
    python: str | None = None
    """Interpreter to run the tests with (needs pytest, and pytest-cov unless ``coverage`` is 0):
    a path (relative to the project root) or a command on PATH. Default: the project's
    ``.venv``, then ``$VIRTUAL_ENV``, then assay's own interpreter."""
    args: list[str] = []
    """Extra pytest arguments, e.g. ``["-m", "not slow"]``."""
    sandbox: str | None = None
    """Run the tests in this sandbox backend (``auto``, ``bwrap``, ``docker``, ``local`` or a
    plugin's), set up by ``[tool.assay.sandbox]``; None: as a host subprocess."""


@dataclass(frozen=True, slots=True)
class Interpreter:
    """The Python the tests run with, and why that one."""

    command: str
    """argv[0] where the tests run: a host path, or a path or command inside the sandbox."""
    source: str
    """Why it was chosen, e.g. ``the project's .venv``."""
    inspect: str | None = None
    """The host path `inspect_interpreter` may run; None when it must not be run on the host
    (the docker image's python3, or a path inside an untrusted workspace)."""

    def describe(self, root: Path) -> str:
        """``.venv/bin/python (the project's .venv)``: relative to `root` when inside it."""
        shown = self.command
        path = Path(self.command)
        if path.is_absolute() and path.is_relative_to(root):
            shown = path.relative_to(root).as_posix()
        return f"{shown} ({self.source})"


@dataclass(frozen=True, slots=True)
class PythonEnvironment:
    """What `inspect_interpreter` found in an interpreter: versions and a digest of its packages."""

    python: str
    pytest: str | None
    pytest_cov: str | None
    digest: str
    """Short digest of the installed distributions and ``sys.path``: changes when any does."""


_SOURCES = ("the project's .venv", "$VIRTUAL_ENV")

# Run with the candidate interpreter; prints what the gate needs to know about it as JSON.
_PROBE = """\
import sys
del sys.path[0]  # the working folder: a project file must not shadow what this imports
import hashlib, json
from importlib import metadata
def version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()})
digest = hashlib.sha256("\\n".join(dists + sys.path).encode()).hexdigest()[:12]
print(json.dumps({"python": sys.version.split()[0], "pytest": version("pytest"),
                  "pytest_cov": version("pytest-cov"), "digest": digest}))
"""


def _venv_python(venv: Path) -> Path | None:
    for candidate in (venv / "bin" / "python", venv / "Scripts" / "python.exe"):
        if candidate.is_file():
            return candidate
    return None


def _host_path(root: Path, python: str) -> str:
    """A configured ``python`` on the host: a path relative to `root`, or a command on PATH."""
    if os.sep in python or (os.altsep and os.altsep in python):
        return str(root / python)
    return shutil.which(python) or python


def configured_executables(settings: Settings, root: Path) -> list[str]:
    """One line per configuration setting that names a program assay will run, and the file it
    resolves to (inside the project, or on PATH): a config names what runs, visibly."""
    python = settings.gate_policy("pytest").options.get("python")
    if not isinstance(python, str) or not python:
        return []
    resolved = _host_path(root, python)
    where = "not found" if not Path(resolved).exists() else resolved
    return [f'executable: [gates.pytest] python = "{python}" -> {where}']


def choose_interpreter(ctx: GateContext, backend: str | None = None) -> Interpreter:
    """The interpreter for the tests of ``ctx.root`` (see the module docstring for the order).

    With a sandbox `backend` only the configured ``python`` and assay's own interpreter (the
    image's ``python3`` under docker) are candidates, and a configured path inside the project
    root is not inspected on the host.
    """
    configured: str | None = ctx.options.get("python")
    setting = "[tool.assay.gates.pytest] python"
    if backend == "docker":
        return Interpreter(
            configured or "python3", setting if configured else "in the docker image"
        )
    if backend is not None:
        if not configured:
            return Interpreter(sys.executable, "assay's own interpreter", sys.executable)
        host = _host_path(ctx.root, configured)
        inside = Path(host).resolve().is_relative_to(ctx.root.resolve())
        return Interpreter(configured, setting, None if inside else host)
    if configured:
        host = _host_path(ctx.root, configured)
        return Interpreter(host, setting, host)
    candidates = [(ctx.root / ".venv", _SOURCES[0])]
    if os.environ.get("VIRTUAL_ENV"):
        candidates.append((Path(os.environ["VIRTUAL_ENV"]), _SOURCES[1]))
    for venv, source in candidates:
        found = _venv_python(venv)
        if found is not None:
            return Interpreter(str(found), source, str(found))
    return Interpreter(sys.executable, "assay's own interpreter", sys.executable)


def inspect_interpreter(interpreter: Interpreter, root: Path) -> PythonEnvironment:
    """Run `interpreter` once (on the host) to learn its pytest, pytest-cov and packages.

    Raises `ToolMissingError` naming the interpreter when it does not start.
    """
    what = interpreter.describe(root)
    if interpreter.inspect is None:
        raise ValueError(f"{what} is not to be run on the host")
    argv = [interpreter.inspect, "-c", _PROBE]
    proc = run_blocking(Command(argv, cwd=root, env=build_env(trusted=True), timeout=120))
    if proc.exit_code in (126, 127) or proc.killed is not None:
        raise ToolMissingError(f"cannot run the test interpreter {what}: {proc.describe_failure()}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        said = (proc.stderr or proc.stdout).strip()[-500:]
        raise ToolMissingError(
            f"the test interpreter {what} exited {proc.exit_code}: {said}"
        ) from None
    return PythonEnvironment(data["python"], data["pytest"], data["pytest_cov"], data["digest"])


def _missing(interpreter: Interpreter, root: Path, env: PythonEnvironment, cov: bool) -> str | None:
    """Why `env` cannot run the gate's pytest command, or None."""
    lacking = [n for n, v in (("pytest", env.pytest), ("pytest-cov", env.pytest_cov)) if not v]
    if not cov:
        lacking = [n for n in lacking if n != "pytest-cov"]
    if not lacking:
        return None
    what = interpreter.describe(root)
    fix = f"{interpreter.command} -m pip install {' '.join(lacking)}"
    alt = (
        "set [tool.assay.gates.pytest] coverage = 0 to run without coverage, or "
        if lacking == ["pytest-cov"]
        else ""
    )
    return (
        f"the test interpreter {what} has no {' or '.join(lacking)}: install it there "
        f"({fix}), or {alt}set [tool.assay.gates.pytest] python to an interpreter that has it"
    )


def pytest_argv(
    ctx: GateContext,
    junit: Path,
    coverage: Path,
    *,
    python: str | None = None,
    cov: bool = True,
) -> list[str]:
    """The pytest command line writing JUnit XML to `junit` and coverage JSON to `coverage`.

    Without `cov` (no pytest-cov and ``coverage = 0``) no ``--cov`` option is passed.
    """
    python = python or ctx.options["python"] or sys.executable
    argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}"]
    argv += ["-o", "junit_family=xunit1"]  # xunit1 records each test's file and line
    if cov:
        argv += [f"--cov={src}" for src in ctx.options["source"]]
        # Cobertura XML, which every pytest-cov writes (JSON needs 4.1+; the sandbox image, built
        # from Debian bookworm, has 4.0)
        argv += [f"--cov-report=xml:{coverage}", "--cov-report="]
    return [*argv, *ctx.options["args"]]


def _host_env(junit: Path, interpreter: Interpreter | None) -> dict[str, str]:
    env = {"COVERAGE_FILE": str(junit.parent / ".coverage"), "PYTHONDONTWRITEBYTECODE": "1"}
    if interpreter is not None and interpreter.source in _SOURCES:
        # As if the venv were activated: its console scripts come first on PATH.
        bindir = Path(interpreter.command).parent
        env["VIRTUAL_ENV"] = str(bindir.parent)
        env["PATH"] = os.pathsep.join([str(bindir), os.environ.get("PATH", os.defpath)])
    return env


async def run_tests(
    ctx: GateContext,
    junit: Path,
    coverage: Path,
    *,
    timeout: float = 900.0,
    sandbox: Sandbox | None = None,
    interpreter: Interpreter | None = None,
    cov: bool = True,
) -> RunResult:
    """Build the pytest command line and run it in the project root, in `sandbox` when given.

    `interpreter` defaults to `choose_interpreter`'s choice. In a sandbox the report paths are
    passed relative to the root (the sandbox's working folder), so they land in the same host
    files whatever the backend mounts the root as.
    """
    if sandbox is None:
        interpreter = interpreter or choose_interpreter(ctx)
        argv = pytest_argv(ctx, junit, coverage, python=interpreter.command, cov=cov)
        env = _host_env(junit, interpreter)
        return await run_tool(argv, cwd=ctx.root, env=env, timeout=timeout)
    root = ctx.root.resolve()
    if not junit.resolve().is_relative_to(root) or not coverage.resolve().is_relative_to(root):
        raise UserError(f"the pytest report folder {junit.parent} is outside {root}")
    rel_junit, rel_cov = (p.resolve().relative_to(root) for p in (junit, coverage))
    interpreter = interpreter or choose_interpreter(ctx, sandbox.name)
    argv = pytest_argv(ctx, rel_junit, rel_cov, python=interpreter.command, cov=cov)
    return await sandbox.run(argv, env={"COVERAGE_FILE": str(rel_junit.parent / ".coverage")})


def _ro_paths(root: Path, python: str | None) -> list[Path]:
    from assay.sandbox.select import interpreter_paths

    paths = interpreter_paths()
    if python and os.sep in python:
        exe = Path(python) if Path(python).is_absolute() else root / python
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
        self._ctx: GateContext | None = None
        self._inspected: dict[str, PythonEnvironment] = {}

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

    def resolved_backend(self, ctx: GateContext) -> str | None:
        """`backend` with ``auto`` resolved to docker or bwrap, as `open_sandbox` will: the
        interpreter depends on it. ``auto`` stays when nothing is available (opening fails)."""
        backend = self.backend(ctx)
        if backend != "auto":
            return backend
        from assay.sandbox.select import resolve_backend

        try:
            return resolve_backend(self._settings(ctx).sandbox, backend)
        except UserError:
            return backend

    def interpreter(self, ctx: GateContext) -> Interpreter:
        """The interpreter the tests of `ctx` run with (`choose_interpreter`)."""
        return choose_interpreter(ctx, self.resolved_backend(ctx))

    def open_sandbox(self, ctx: GateContext, backend: str) -> Sandbox:
        """A sandbox on the project root with the test interpreter mounted read-only, and the
        dependencies a run installed for the project's lock (`assay.deps`)."""
        from assay.deps.environment import installed_for
        from assay.sandbox import open_sandbox

        settings = self._settings(ctx)
        return open_sandbox(
            ctx.root,
            settings.sandbox,
            regulated=settings.regulated,
            backend=backend,
            ro_paths=_ro_paths(ctx.root, ctx.options.get("python")),
            plugins=self.plugins,
            dependencies=installed_for(ctx.root),
        )

    def applies(self, ctx: GateContext) -> bool:
        """Only when the project has test files (``test_*.py`` or ``*_test.py``).

        Also remembers `ctx`: `version` (which the runner asks next, and which takes no
        context) describes the interpreter chosen for it.
        """
        self._ctx = ctx
        return any(_TEST_FILE.search(f) for f in ctx.files)

    def version(self) -> str:
        """pytest's version in the test interpreter, with that interpreter and a digest of its
        packages (both part of the cache key), e.g. ``9.0.2 with .venv/bin/python (the
        project's .venv), Python 3.12.3, packages 3f09a1c2b4d5``.

        Raises `ToolMissingError` when the interpreter lacks pytest, or pytest-cov while
        ``coverage`` is above 0. Without a context (`applies` not called) it describes assay's
        own interpreter.
        """
        ctx = self._ctx
        if ctx is None:
            interpreter = Interpreter(sys.executable, "assay's own interpreter", sys.executable)
            root, cov = Path.cwd(), True
        else:
            interpreter, root = self.interpreter(ctx), ctx.root
            cov = float(ctx.options["coverage"]) > 0
        if interpreter.inspect is None:
            return f"not inspected on the host: {interpreter.describe(root)}"
        env = inspect_interpreter(interpreter, root)
        problem = _missing(interpreter, root, env, cov)
        if problem:
            raise ToolMissingError(problem)
        self._inspected[interpreter.inspect] = env
        return (
            f"{env.pytest} with {interpreter.describe(root)}, Python {env.python}, "
            f"packages {env.digest}"
        )

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every non-excluded file: tests may read data files as well as code."""
        return ctx.all_files or ctx.files

    async def _environment(self, interpreter: Interpreter, root: Path) -> PythonEnvironment | None:
        """What `version` found in `interpreter` (or a fresh look); None if not to be run here."""
        if interpreter.inspect is None:
            return None
        known = self._inspected.pop(interpreter.inspect, None)
        return known or await asyncio.to_thread(inspect_interpreter, interpreter, root)

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run the tests once and judge failures and coverage."""
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        junit, coverage = ctx.report_dir / "junit.xml", ctx.report_dir / "coverage.xml"
        for stale in (junit, coverage):
            stale.unlink(missing_ok=True)
        backend = self.resolved_backend(ctx)
        interpreter = choose_interpreter(ctx, backend)
        try:
            env = await self._environment(interpreter, ctx.root)
        except ToolMissingError as exc:
            return Scan(error=str(exc))
        wants_cov = float(ctx.options["coverage"]) > 0
        problem = _missing(interpreter, ctx.root, env, wants_cov) if env else None
        if problem:
            return Scan(error=problem)
        # Without a coverage threshold pytest-cov is optional (the metric is then absent).
        cov = wants_cov or (env is not None and env.pytest_cov is not None)
        if backend is None:
            proc = await run_tests(ctx, junit, coverage, interpreter=interpreter, cov=cov)
        else:
            try:
                box = self.open_sandbox(ctx, backend)
            except UserError as exc:
                return Scan(error=f"cannot run the tests in a sandbox: {exc}")
            try:
                proc = await run_tests(
                    ctx, junit, coverage, sandbox=box, interpreter=interpreter, cov=cov
                )
            finally:
                box.close()
        return _outcome(ctx, proc, junit, coverage, interpreter)


def _outcome(
    ctx: GateContext, proc: RunResult, junit: Path, coverage: Path, interpreter: Interpreter
) -> Scan:
    """The scan of a pytest run: no tests, the interpreter's own failure, or findings."""
    ran = f"(tests run with {interpreter.describe(ctx.root)})"
    if proc.exit_code == 5:
        return Scan(not_evaluated=f"pytest collected no tests {ran}")
    if not junit.is_file():  # where it was not inspected first: the docker image's python3
        said = proc.stderr + proc.stdout
        what = interpreter.describe(ctx.root)
        if re.search(r"No module named '?pytest'?$", said, re.MULTILINE):
            return Scan(error=f"the test interpreter {what} has no pytest")
        if "unrecognized arguments: --cov" in said:
            return Scan(
                error=f"the test interpreter {what} has no pytest-cov (set "
                "[tool.assay.gates.pytest] coverage = 0 to run without coverage)"
            )
    if proc.exit_code not in (0, 1, 2) or not junit.is_file():
        return Scan(error=f"{proc.describe_failure()}\n{ran}")
    scan = _judge(ctx, proc, junit, coverage)
    if scan.error:
        scan.error += f"\n{ran}"
    return scan


def _judge(ctx: GateContext, proc: RunResult, junit: Path, coverage: Path) -> Scan:
    """Findings from the JUnit XML and the coverage report of a pytest run that finished."""
    try:
        findings, metrics = _junit_findings(ctx.root, junit)
    except ET.ParseError as exc:
        return Scan(error=f"cannot read pytest's JUnit XML {junit}: {exc}")
    if proc.exit_code == 2 and not findings:
        return Scan(error=proc.describe_failure())
    threshold = float(ctx.options["coverage"])
    percent = _coverage(coverage)
    # Collection errors (exit 2) interrupt the run before pytest-cov reports: they are the verdict.
    interrupted = proc.exit_code == 2 and bool(findings)
    if percent is None and threshold > 0 and not interrupted:
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
    if detail == ["collection failure"]:  # the cause is the traceback's last ``E   `` line
        raised = [ln[1:].strip() for ln in (node.text or "").splitlines() if ln.startswith("E ")]
        detail = [f"collection failure: {raised[-1]}"] if raised else detail
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
    """Total line coverage in percent from pytest-cov's Cobertura report (``line-rate``)."""
    try:
        root = ET.parse(path).getroot()  # noqa: S314  # nosec B314
        return float(root.attrib["line-rate"]) * 100
    except (OSError, ET.ParseError, KeyError, ValueError):
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
