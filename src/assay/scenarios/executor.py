"""The one seam exec steps run through: an `Executor` protocol and its two implementations.

`SandboxExecutor` runs each command through an `assay.sandbox.Sandbox` (bwrap, docker, or the
unisolated ``local`` backend); `assay validate --code` and ``assay run``'s holdout use it.
`SubprocessExecutor` runs commands as plain local subprocesses (``--target`` runs, where the
service is not ours to sandbox, and tests). Neither passes the host environment (API keys!):
commands see a minimal environment plus what the step sets.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assay.processes import run_in_group

if TYPE_CHECKING:
    from assay.sandbox import Sandbox

__all__ = [
    "ExecResult",
    "Executor",
    "SandboxExecutor",
    "SubprocessExecutor",
    "inner_root",
    "minimal_env",
]


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one command did."""

    exit_code: int
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False


class Executor(Protocol):
    """Runs one command to completion."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> ExecResult:
        """Run `argv` with `env` added to a minimal environment; kill it after `timeout`."""
        ...


def minimal_env(extra_path: Sequence[Path] = (), *, home: str | None = None) -> dict[str, str]:
    """PATH (with `extra_path` first), HOME (default: the temp folder), a UTF-8 locale; nothing
    else."""
    path = os.pathsep.join([*(str(p) for p in extra_path), "/usr/local/bin:/usr/bin:/bin"])
    home = home or tempfile.gettempdir()
    return {"PATH": path, "HOME": home, "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}


class SubprocessExecutor:
    """Runs commands as local subprocesses in `cwd`, without a shell (no isolation).

    HOME is a private folder of its own, removed when the executor is garbage-collected.
    """

    def __init__(self, cwd: Path | None = None, *, extra_path: Sequence[Path] = ()) -> None:
        self.cwd = cwd
        home = tempfile.mkdtemp(prefix="assay-home-")
        weakref.finalize(self, shutil.rmtree, home, ignore_errors=True)
        self.base_env = minimal_env(extra_path, home=home)

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> ExecResult:
        """Run `argv`; a missing program gives exit code 127 and a message on stderr."""
        start = time.perf_counter()
        out, err = bytearray(), bytearray()
        try:
            # its own process group, ended whole on timeout and on cancellation (Ctrl-C, SIGTERM)
            exited = await run_in_group(
                argv,
                cwd=self.cwd,
                env={**self.base_env, **env},
                stdin=stdin,
                timeout=timeout,
                on_stdout=out.extend,
                on_stderr=err.extend,
            )
        except FileNotFoundError:
            return ExecResult(127, "", f"{argv[0]}: command not found", time.perf_counter() - start)
        except PermissionError:
            return ExecResult(126, "", f"{argv[0]}: permission denied", time.perf_counter() - start)
        return ExecResult(
            exited.returncode,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            time.perf_counter() - start,
            exited.timed_out,
        )


def inner_root(sandbox: Sandbox) -> str:
    """Where the sandbox's workspace appears to the commands it runs."""
    from assay.sandbox import WORKSPACE

    return str(sandbox.workspace) if sandbox.name == "local" else WORKSPACE


class SandboxExecutor:
    """Runs exec steps inside `sandbox`, in its workspace, with the workspace on ``PATH``.

    ``PATH`` starts with the workspace and its ``bin`` folder (as seen inside the sandbox), so a
    scenario's ``command: my-tool greet`` finds the service's own executables.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        from assay.sandbox import BASE_ENV

        self.sandbox = sandbox
        root = inner_root(sandbox)
        self.path = os.pathsep.join([root, f"{root}/bin", BASE_ENV["PATH"]])

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> ExecResult:
        """Run `argv` in the sandbox; its limits apply, with `timeout` as the wall clock."""
        from assay.sandbox import KilledReason

        limits = self.sandbox.limits.model_copy(update={"timeout_s": timeout})
        try:
            result = await self.sandbox.run(
                argv, env={"PATH": self.path, **env}, stdin=stdin, limits=limits
            )
        except FileNotFoundError:  # the local backend execs on the host
            return ExecResult(127, "", f"{argv[0]}: command not found", 0.0)
        except PermissionError:
            return ExecResult(126, "", f"{argv[0]}: permission denied", 0.0)
        return ExecResult(
            result.exit_code,
            result.stdout,
            result.stderr,
            result.duration_s,
            timed_out=result.killed is KilledReason.TIMEOUT,
        )
