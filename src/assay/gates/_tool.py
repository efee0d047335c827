"""Running a gate's tool: locating it, asking its version, and running it without blocking."""

from __future__ import annotations

import functools
import importlib.metadata
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from assay._extras import install_hint
from assay.errors import ToolMissingError
from assay.gates.base import GateContext
from assay.processes import TOOL_OUTPUT_BYTES, Command, RunResult, build_env, run, run_blocking

__all__ = [
    "JsonReport",
    "PythonToolGate",
    "find_tool",
    "relative",
    "run_json_report",
    "run_tool",
    "rust_threads",
    "tool_version",
]

_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)?(?:[.\-+]?\w+)*")


def find_tool(name: str, *, extra: str | None = None) -> str:
    """Absolute path of `name`: the one beside the running interpreter, else the one on PATH.

    `extra` names the assay extra that installs the tool when assay does not depend on it
    (``semgrep``); the `ToolMissingError` says how to install it either way.
    """
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name)
    if found is None:
        how = (
            f"install assay[{extra}] ({install_hint(extra)})"
            if extra
            else "install assay with its dependencies (pip install assay)"
        )
        raise ToolMissingError(f"'{name}' is not installed: {how} or put '{name}' on PATH")
    return found


@functools.cache
def tool_version(executable: str, flag: str = "--version", *, distribution: str = "") -> str:
    """The version of `executable`: that of its `distribution` when the executable is the one
    beside the running interpreter (installed with it), else the first version-looking token
    printed by `executable flag`.

    Reading the metadata saves a Python tool's start-up (most of a second for bandit or
    detect-secrets) before the gate can queue its scans.
    """
    found = find_tool(executable)
    if distribution and Path(found).parent == Path(sys.executable).parent:
        try:
            return importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pass
    argv = [found, flag]
    proc = run_blocking(Command(argv, cwd=None, env=build_env(trusted=True), timeout=120))
    match = _VERSION.search(proc.stdout + proc.stderr)
    if not proc.ok or match is None:
        said = (proc.stderr or proc.stdout).strip()
        raise ToolMissingError(f"'{executable} {flag}' exited {proc.exit_code}: {said}")
    return match.group(0)


async def run_tool(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    stdin: bytes | None = None,
) -> RunResult:
    """Run `argv` (trusted: the host environment plus `env`) with a private ``TMPDIR``.

    It runs through `assay.processes.run`: on timeout or cancellation (Ctrl-C, SIGTERM, the
    gate's own timeout) its whole process group is ended, so a test's subprocess cannot outlive
    the gate. The private ``TMPDIR`` is removed afterwards, with whatever a killed tool left
    there (pip-audit's throw-away virtualenv).
    """
    with tempfile.TemporaryDirectory(prefix="assay-tool-", ignore_cleanup_errors=True) as tmp:
        env = build_env(explicit={"TMPDIR": tmp, **(env or {})}, trusted=True)
        command = Command(argv, cwd, env, timeout, stdin, output_bytes=TOOL_OUTPUT_BYTES)
        return await run(command)


def rust_threads(ctx: GateContext) -> dict[str, str]:
    """The environment that keeps a Rust tool (ruff) to the threads the runner lent it: rayon
    starts one per core unless ``RAYON_NUM_THREADS`` says otherwise."""
    return {"RAYON_NUM_THREADS": str(ctx.workers)} if ctx.workers else {}


def relative(root: Path, filename: str) -> str:
    """A path a tool printed (absolute or relative) as `root`-relative with forward slashes."""
    path = Path(filename)
    if not path.is_absolute():
        path = root / path
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(filename).as_posix()


class PythonToolGate:
    """Defaults for a gate that drives one executable over the project's Python files.

    Subclasses set ``name``, ``tool``, ``executable``, ``cost`` and ``default_fail_on`` and write
    ``scan``; they override ``applies`` / ``inputs`` only when they read more than Python.
    """

    executable: str
    distribution: str = ""
    """The Python distribution that installs ``executable`` (its version is read from there when
    the executable is the one beside the interpreter); empty: always ask ``--version``."""
    per_file = True

    def applies(self, ctx: GateContext) -> bool:
        """Any Python file."""
        return bool(ctx.files)

    def version(self) -> str:
        """The executable's version (see `tool_version`)."""
        return tool_version(self.executable, distribution=self.distribution)

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every Python file."""
        return ctx.files


@dataclass(frozen=True, slots=True)
class JsonReport:
    """A tool's JSON object output, kept on disk as the gate's raw report, or why it failed."""

    data: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    error: str | None = None


async def run_json_report(
    argv: Sequence[str],
    ctx: GateContext,
    name: str,
    *,
    ok_codes: tuple[int, ...] = (0,),
    env: Mapping[str, str] | None = None,
) -> JsonReport:
    """Run a tool that prints one JSON object and save it as ``report_dir/name``.

    Output that is not a JSON object, or an exit code outside `ok_codes`, is an error carrying
    the tool's own words.
    """
    proc = await run_tool(argv, cwd=ctx.root, env=env)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return JsonReport(error=proc.describe_failure())
    if proc.exit_code not in ok_codes or not isinstance(data, dict):
        return JsonReport(error=proc.describe_failure())
    ctx.report_dir.mkdir(parents=True, exist_ok=True)
    path = ctx.report_dir / name
    path.write_text(proc.stdout, encoding="utf-8")
    return JsonReport(data, path)
