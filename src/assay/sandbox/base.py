"""The sandbox contract: limits, results, the `Sandbox` protocol, and what all backends share.

A sandbox is bound to one *workspace* (a host folder). Inside the sandbox the workspace is the
only writable place (mounted at ``/workspace``), ``/tmp`` is private, there is no network, and
the environment holds only what the allow-list passes. `Sandbox.run` runs a command to
completion; `Sandbox.serve` starts a long-running service that the host reaches over a Unix
socket (see `assay.sandbox.serve`); `copy_out` copies artifacts out of the workspace and
refuses any symlink that leads outside it.

What a command did is an `assay.processes.RunResult` and its environment comes from
`assay.processes.build_env`, whatever the backend: they are re-exported here.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from assay.errors import UserError
from assay.processes import (
    BASE_ENV,
    OUTPUT_BYTES,
    SECRET_PATTERNS,
    KilledReason,
    RunResult,
    build_env,
)

if TYPE_CHECKING:
    from assay.sandbox.serve import Service

__all__ = [
    "BASE_ENV",
    "DEPENDENCIES_MOUNT",
    "SECRET_PATTERNS",
    "WORKSPACE",
    "KilledReason",
    "Limits",
    "RunResult",
    "Sandbox",
    "SandboxUnavailable",
    "build_env",
    "copy_out",
    "dependency_folder",
    "inside_cwd",
]

WORKSPACE = "/workspace"
"""Where the workspace is mounted inside bwrap and docker sandboxes."""
DEPENDENCIES_MOUNT = "/opt/assay-deps"
"""Where the service's installed dependencies (`assay.deps`) are mounted read-only inside them."""


class SandboxUnavailable(UserError):
    """The requested backend cannot run here; the message says what to install or start."""


class Limits(BaseModel):
    """Resource limits for one command or service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout_s: float = Field(default=300.0, gt=0)
    """Wall-clock seconds before the whole process tree is killed."""
    memory_mb: int = Field(default=512, ge=16)
    """Memory (RSS plus page cache plus tmpfs) limit; exceeding it kills the command."""
    pids: int = Field(default=128, ge=8)
    """Most processes and threads alive at once; a fork past it fails."""
    cpus: float = Field(default=1.0, gt=0)
    """CPU share, in cores."""
    output_bytes: int = Field(default=OUTPUT_BYTES, ge=1024)
    """Bytes kept of stdout and of stderr each; the rest is discarded and flagged."""


@runtime_checkable
class Sandbox(Protocol):
    """A place to run untrusted code against one workspace."""

    name: str
    """Backend name: ``bwrap``, ``docker`` or ``local``."""
    workspace: Path
    """The host folder the sandbox may write to."""
    limits: Limits
    """Default limits for `run` and `serve`."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run `argv` in `cwd` (relative to the workspace) to completion or the timeout."""
        ...

    async def serve(
        self,
        argv: Sequence[str],
        *,
        port: int = 8080,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> Service:
        """Start a service that listens on 127.0.0.1:`port` (told via ``$PORT``) inside."""
        ...

    def copy_out(self, paths: Sequence[str], dest: Path) -> list[Path]:
        """Copy workspace-relative `paths` to `dest`; see `copy_out`."""
        ...

    def close(self) -> None:
        """Release what the backend holds (an API connection); running services are not stopped."""
        ...


def dependency_folder(path: Path | None) -> Path | None:
    """The resolved dependency folder a sandbox mounts, or None; `UserError` when it is gone."""
    if path is None:
        return None
    if not path.is_dir():
        raise UserError(f"the dependency folder to mount is not a folder: {path}")
    return path.resolve()


def inside_cwd(cwd: str) -> PurePosixPath:
    """Validate a workspace-relative working directory; returns it normalised."""
    path = PurePosixPath(cwd)
    if path.is_absolute() or ".." in path.parts:
        raise UserError(f"sandbox cwd must be relative to the workspace, without '..': {cwd!r}")
    return path


def copy_out(workspace: Path, paths: Sequence[str], dest: Path) -> list[Path]:
    """Copy workspace-relative files or folders to `dest`, keeping their relative paths.

    Refuses (`UserError`) any path that leaves the workspace and any symlink whose target
    resolves outside it; symlinks that stay inside are copied as the files they point to.
    Nothing is copied when any path is refused.
    """
    root = workspace.resolve()
    plan: list[tuple[Path, Path]] = []
    for rel in paths:
        rel_path = PurePosixPath(rel)
        if rel_path.is_absolute() or ".." in rel_path.parts:
            raise UserError(f"copy-out path must stay in the workspace: {rel!r}")
        start = root / rel_path
        if not start.exists() and not start.is_symlink():
            raise UserError(f"copy-out path does not exist in the workspace: {rel!r}")
        for src in _walk(start):
            _check_inside(root, src)
            plan.append((src, dest / src.relative_to(root)))
    copied: list[Path] = []
    for src, target in plan:
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        _check_inside(root, src)  # again: the tree may have changed since the plan was made
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_nofollow(src.resolve(), target)
        copied.append(target)
    return copied


def _walk(start: Path) -> list[Path]:
    if start.is_symlink() or not start.is_dir():
        return [start]
    found = [start]
    for dirpath, dirnames, filenames in os.walk(start, followlinks=False):
        base = Path(dirpath)
        found.extend(base / d for d in dirnames)
        found.extend(base / f for f in filenames)
    return found


def _check_inside(root: Path, path: Path) -> None:
    resolved = path.resolve()
    if resolved != root and not resolved.is_relative_to(root):
        rel = path.relative_to(root).as_posix()
        raise UserError(
            f"copy-out refused: {rel} is a symlink to {resolved}, outside the workspace"
        )
    if path.is_symlink() and resolved.is_dir():
        raise UserError(f"copy-out refused: {path.relative_to(root).as_posix()} links a folder")


def _copy_nofollow(src: Path, target: Path) -> None:
    fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as fin, target.open("wb") as fout:
        shutil.copyfileobj(fin, fout)
