"""The sandbox contract: limits, results, the `Sandbox` protocol, and what all backends share.

A sandbox is bound to one *workspace* (a host folder). Inside the sandbox the workspace is the
only writable place (mounted at ``/workspace``), ``/tmp`` is private, there is no network, and
the environment holds only what the allow-list passes. `Sandbox.run` runs a command to
completion; `Sandbox.serve` starts a long-running service that the host reaches over a Unix
socket (see `assay.sandbox.service`); `copy_out` copies artifacts out of the workspace and
refuses any symlink that leads outside it.
"""

from __future__ import annotations

import enum
import fnmatch
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from assay.errors import UserError

if TYPE_CHECKING:
    from assay.sandbox.service import Service

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

BASE_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    # the sandbox's own private tmpfs, never the host's /tmp
    "HOME": "/tmp",  # noqa: S108  # nosec B108
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
"""What every sandboxed command sees, before the allow-list and explicit values."""

SECRET_PATTERNS: tuple[str, ...] = (
    "*_API_KEY",
    "*_APIKEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_*",
    "*PASSWORD*",
    "*_CREDENTIALS",
    "AWS_*",
    "ANTHROPIC_*",
    "OPENAI_*",
    "GEMINI_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
"""Variable names that never enter a sandbox, whatever the allow-list says."""


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
    output_bytes: int = Field(default=1_000_000, ge=1024)
    """Bytes kept of stdout and of stderr each; the rest is discarded and flagged."""


class KilledReason(enum.StrEnum):
    """Why the sandbox killed a command."""

    TIMEOUT = "timeout"
    MEMORY = "memory"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one sandboxed command did."""

    argv: tuple[str, ...]
    exit_code: int
    """The command's exit status; -N or 128+N when killed by signal N (backend dependent)."""
    stdout: str
    stderr: str
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    killed: KilledReason | None
    """Set when the sandbox killed the command, and why."""
    backend: str

    @property
    def ok(self) -> bool:
        """Exited 0 and was not killed."""
        return self.exit_code == 0 and self.killed is None


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


def build_env(
    allow: Sequence[str] = (),
    explicit: Mapping[str, str] | None = None,
    *,
    host: Mapping[str, str] | None = None,
    dependencies: str | None = None,
) -> dict[str, str]:
    """The environment a sandboxed command gets: base values, allowed host values, explicit ones.

    `dependencies`, the service's installed dependency folder as the command sees it, is put on
    ``PYTHONPATH`` after whatever the command set there (``src`` first, so the project's own
    package wins).

    Names in `allow` are copied from the host environment when set, unless they look like a
    secret (`SECRET_PATTERNS`), which are silently dropped. An explicit secret-looking name is a
    `UserError`: assay never hands a provider key to generated code.
    """
    source = os.environ if host is None else host
    env = dict(BASE_ENV)
    for name in allow:
        if name in source and not _secret(name):
            env[name] = source[name]
    for name, value in (explicit or {}).items():
        if _secret(name):
            raise UserError(f"refusing to pass '{name}' into a sandbox: it looks like a secret")
        env[name] = value
    if dependencies:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), dependencies) if p)
    return env


def dependency_folder(path: Path | None) -> Path | None:
    """The resolved dependency folder a sandbox mounts, or None; `UserError` when it is gone."""
    if path is None:
        return None
    if not path.is_dir():
        raise UserError(f"the dependency folder to mount is not a folder: {path}")
    return path.resolve()


def _secret(name: str) -> bool:
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pat) for pat in SECRET_PATTERNS)


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
