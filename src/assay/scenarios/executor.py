"""The one seam exec steps run through: an `Executor` protocol and its two implementations.

`SandboxExecutor` runs each command through an `assay.sandbox.Sandbox` (bwrap, docker, or the
unisolated ``local`` backend); `assay validate --code` and ``assay run``'s holdout use it.
`SubprocessExecutor` runs commands as plain local subprocesses (``--target`` runs, where the
service is not ours to sandbox, and tests). Both run through `assay.processes` and return its
`RunResult`; neither passes the host environment (API keys!): commands see
`assay.processes.build_env`'s minimal environment plus what the step sets.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assay import processes
from assay.processes import RunResult, build_env, search_path

if TYPE_CHECKING:
    from assay.sandbox import Sandbox

__all__ = ["Executor", "SandboxExecutor", "SubprocessExecutor", "inner_root"]


class Executor(Protocol):
    """Runs one command to completion."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> RunResult:
        """Run `argv` with `env` added to a minimal environment; kill it after `timeout`.

        A program that cannot start exits 127 (not found) or 126, as in a shell.
        """
        ...


class SubprocessExecutor:
    """Runs commands as local subprocesses in `cwd`, without a shell (no isolation).

    ``PATH`` starts with `extra_path`; HOME is a private folder of its own, removed when the
    executor is garbage-collected.
    """

    def __init__(
        self,
        cwd: Path | None = None,
        *,
        extra_path: Sequence[Path] = (),
        output_bytes: int = processes.OUTPUT_BYTES,
    ) -> None:
        self.cwd = cwd
        self.home = tempfile.mkdtemp(prefix="assay-home-")
        weakref.finalize(self, shutil.rmtree, self.home, ignore_errors=True)
        self.path = search_path(*extra_path)
        self.output_bytes = output_bytes

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> RunResult:
        """Run `argv` in its own process group, ended whole on timeout and on cancellation."""
        env = build_env(explicit={"PATH": self.path, **env}, home=self.home)
        return await processes.run(
            processes.Command(argv, self.cwd, env, timeout, stdin, output_bytes=self.output_bytes)
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
        self.sandbox = sandbox
        root = inner_root(sandbox)
        self.path = search_path(root, f"{root}/bin")

    async def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        stdin: bytes | None,
        timeout: float,
    ) -> RunResult:
        """Run `argv` in the sandbox; its limits apply, with `timeout` as the wall clock."""
        limits = self.sandbox.limits.model_copy(update={"timeout_s": timeout})
        return await self.sandbox.run(
            argv, env={"PATH": self.path, **env}, stdin=stdin, limits=limits
        )
