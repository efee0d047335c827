"""The local backend: no isolation at all. Only when asked for by name; refused when regulated.

Commands run on the host as the calling user, in the workspace, with the same filtered
environment, wall-clock timeout (process group killed) and output caps as the real sandboxes,
but nothing stops them reading, writing or connecting anywhere. It exists for machines where
neither bubblewrap nor a container engine is available, and it says so every time it is used.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from assay import processes
from assay.errors import UserError
from assay.sandbox.base import (
    Limits,
    RunResult,
    build_env,
    copy_out,
    dependency_folder,
    inside_cwd,
)
from assay.sandbox.serve import Service

__all__ = ["WARNING", "LocalSandbox"]

WARNING = (
    "warning: the 'local' sandbox does not isolate anything; generated code runs on this host "
    "with your user's rights"
)


class LocalSandbox:
    """Runs commands directly on the host (no isolation)."""

    name = "local"

    def __init__(
        self,
        workspace: Path,
        *,
        limits: Limits | None = None,
        env_allow: Sequence[str] = (),
        regulated: bool = False,
        dependencies: Path | None = None,
    ) -> None:
        if regulated:
            raise UserError(
                "the 'local' sandbox is refused under a regulated policy (regulated = true): "
                "install bubblewrap or a container engine and use 'bwrap' or 'docker'"
            )
        if not workspace.is_dir():
            raise UserError(f"sandbox workspace is not a folder: {workspace}")
        print(WARNING, file=sys.stderr)
        self.workspace = workspace.resolve()
        self.dependencies = dependency_folder(dependencies)
        self._deps_env = str(self.dependencies) if self.dependencies else None
        self.limits = limits or Limits()
        self.env_allow = tuple(env_allow)

    def _cwd(self, cwd: str) -> Path:
        path = self.workspace / inside_cwd(cwd)
        if not path.is_dir():
            raise UserError(f"sandbox cwd is not a folder in the workspace: {cwd!r}")
        return path

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run `argv` on the host in the workspace, with timeout and output caps; a program that
        cannot start exits 127 or 126."""
        lim = limits or self.limits
        return await processes.run(
            processes.Command(
                argv,
                cwd=self._cwd(cwd),
                env=build_env(self.env_allow, env, dependencies=self._deps_env),
                timeout=lim.timeout_s,
                stdin=stdin,
                output_bytes=lim.output_bytes,
                backend=self.name,
            )
        )

    async def serve(
        self,
        argv: Sequence[str],
        *,
        port: int = 0,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> Service:
        """Start `argv` on a free host port (``$PORT``); reached over TCP on 127.0.0.1."""
        lim = limits or self.limits
        port = port or _free_port()
        env = build_env(
            self.env_allow, {**(env or {}), "PORT": str(port)}, dependencies=self._deps_env
        )
        command = processes.Command(
            argv,
            cwd=self._cwd(cwd),
            env=env,
            timeout=lim.timeout_s,
            output_bytes=lim.output_bytes,
            backend=self.name,
        )
        process = processes.Process(command)
        return Service(process, uds=None, base_url=f"http://127.0.0.1:{port}", backend=self.name)

    def copy_out(self, paths: Sequence[str], dest: Path) -> list[Path]:
        """Copy workspace files to `dest`, refusing symlinks that leave the workspace."""
        return copy_out(self.workspace, paths, dest)

    def close(self) -> None:
        """Nothing to release."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
