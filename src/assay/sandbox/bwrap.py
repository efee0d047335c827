"""The bubblewrap backend: daemonless namespaces, limits from a per-run cgroup.

Each command runs under ``bwrap --unshare-all --unshare-user`` as uid/gid 65534 with every
capability dropped, in a new session, dying with its parent. It sees a read-only ``/usr`` (and
the ``/bin``, ``/lib*`` links), a handful of harmless ``/etc`` files, a synthetic passwd, fresh
``/proc`` and ``/dev``, a private ``/tmp``, the workspace read-write at ``/workspace``, and any
extra read-only paths the caller names (a virtualenv, for example). Nothing else of the host is
visible: not ``/root``, ``/home``, ``/work`` nor the rest of ``/etc``. The network namespace has
only a loopback. Memory, pids and CPU limits come from a cgroup the launcher joins before it
execs bwrap; when the pid namespace's first process exits, the kernel kills everything left.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from assay import processes
from assay.errors import UserError
from assay.sandbox._cgroup import Cgroup
from assay.sandbox.base import (
    DEPENDENCIES_MOUNT,
    WORKSPACE,
    KilledReason,
    Limits,
    RunResult,
    SandboxUnavailable,
    build_env,
    copy_out,
    dependency_folder,
    inside_cwd,
)
from assay.sandbox.serve import FORWARDER, Service

__all__ = ["BwrapSandbox", "bwrap_problem"]

_UID = 65534
_ETC = (
    "alternatives", "ca-certificates", "ca-certificates.conf", "ld.so.cache", "ld.so.conf",
    "ld.so.conf.d", "localtime", "mime.types", "nsswitch.conf", "ssl",
)  # fmt: skip
_LAUNCH = (
    'while [ "$1" != -- ]; do echo $$ > "$1" || exit 125; shift; done; shift; '
    '[ -n "$ASSAY_ULIMIT_V" ] && ulimit -v "$ASSAY_ULIMIT_V"; exec "$@"'
)
_IO = "/run/assay"


@functools.cache
def bwrap_problem(executable: str = "bwrap") -> str | None:
    """None when bwrap can build a sandbox here, else what is wrong and how to fix it."""
    path = shutil.which(executable)
    if path is None:
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    probe = [path, "--unshare-all", "--unshare-user", "--die-with-parent", "--ro-bind", "/usr",
             "/usr", "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
             "--symlink", "usr/lib64", "/lib64", "/usr/bin/true"]  # fmt: skip
    proc = processes.run_blocking(
        processes.Command(probe, cwd=None, env=processes.build_env(), timeout=20)
    )
    if proc.exit_code in (126, 127) or proc.killed is not None:
        return f"bubblewrap cannot start: {proc.describe_failure()}"
    if proc.exit_code != 0:
        return f"bubblewrap cannot create namespaces here: {proc.stderr.strip()}"
    return None


@dataclass(frozen=True, slots=True)
class _Launch:
    """What one bwrap command needs on the host: its io folder, cgroup and launcher."""

    io: Path
    group: Cgroup | None
    launcher: list[str]
    env: dict[str, str]

    def command(
        self, bwrap: Sequence[str], shown: Sequence[str], limits: Limits, stdin: bytes | None = None
    ) -> processes.Command:
        """The host process that runs the `bwrap` command line (`shown` inside) under `limits`."""
        return processes.Command(
            [*self.launcher, *bwrap],
            cwd=self.io,
            env=self.env,
            timeout=limits.timeout_s,
            stdin=stdin,
            output_bytes=limits.output_bytes,
            on_kill=self.group.kill_all if self.group else None,
            on_exit=self.finish,
            shown_argv=shown,
            backend="bwrap",
        )

    def finish(self) -> KilledReason | None:
        """Once the command is over: whether its memory limit killed it; then clean up."""
        try:
            oom = self.group is not None and self.group.oom_killed()
        finally:
            if self.group is not None:
                self.group.remove()
            shutil.rmtree(self.io, ignore_errors=True)
        return KilledReason.MEMORY if oom else None


class BwrapSandbox:
    """Runs commands under bubblewrap against one workspace."""

    name = "bwrap"

    def __init__(
        self,
        workspace: Path,
        *,
        limits: Limits | None = None,
        env_allow: Sequence[str] = (),
        ro_paths: Sequence[Path] = (),
        executable: str = "bwrap",
        dependencies: Path | None = None,
    ) -> None:
        problem = bwrap_problem(executable)
        if problem is not None:
            raise SandboxUnavailable(problem)
        if not workspace.is_dir():
            raise UserError(f"sandbox workspace is not a folder: {workspace}")
        self.workspace = workspace.resolve()
        self.limits = limits or Limits()
        self.env_allow = tuple(env_allow)
        self.ro_paths = tuple(Path(p).resolve() for p in ro_paths)
        for path in self.ro_paths:
            if not path.exists():
                raise UserError(f"sandbox read-only path does not exist: {path}")
        self._bwrap = shutil.which(executable) or executable
        self.dependencies = dependency_folder(dependencies)
        self._deps_env = DEPENDENCIES_MOUNT if self.dependencies else None

    def _bwrap_argv(
        self, argv: Sequence[str], cwd: str, env: Mapping[str, str], io: Path
    ) -> list[str]:
        args = [
            self._bwrap, "--unshare-all", "--unshare-user", "--uid", str(_UID), "--gid", str(_UID),
            "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--clearenv",
            "--hostname", "sandbox", "--ro-bind", "/usr", "/usr",
        ]  # fmt: skip
        for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            top = Path("/") / name
            if top.is_symlink():
                args += ["--symlink", str(top.readlink()), str(top)]
            elif top.is_dir():
                args += ["--ro-bind", str(top), str(top)]
        for name in _ETC:
            if (Path("/etc") / name).exists():
                args += ["--ro-bind", f"/etc/{name}", f"/etc/{name}"]
        for name in ("passwd", "group"):
            args += ["--ro-bind", str(io / name), f"/etc/{name}"]
        args += [
            # /tmp is a fresh private tmpfs, never the host's
            "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp",  # noqa: S108  # nosec B108
        ]  # fmt: skip
        # After the tmpfs: bwrap mounts in order, so a read-only path under /tmp (a virtualenv in
        # a checkout there) would otherwise be hidden by it.
        for path in self.ro_paths:
            args += ["--ro-bind", str(path), str(path)]
        if self.dependencies is not None:
            args += ["--ro-bind", str(self.dependencies), DEPENDENCIES_MOUNT]
        args += ["--bind", str(self.workspace), WORKSPACE]
        git = self.workspace / ".git"
        if not git.is_symlink() and git.exists():
            # Host git runs hooks, filters and fsmonitor from .git/config (as root in CI): the
            # generated code must not be able to change them, so .git is read-only over the bind.
            args += ["--ro-bind", str(git), f"{WORKSPACE}/.git"]
        args += ["--chdir", str(PurePosixPath(WORKSPACE) / inside_cwd(cwd))]
        for key, value in env.items():
            args += ["--setenv", key, value]
        return [*args, "--", *argv]

    def _prepare(self, cwd: str, limits: Limits) -> _Launch:
        if not (self.workspace / inside_cwd(cwd)).is_dir():
            raise UserError(f"sandbox cwd is not a folder in the workspace: {cwd!r}")
        io = Path(tempfile.mkdtemp(prefix="assay-bwrap-"))
        (io / "passwd").write_text(f"sandbox:x:{_UID}:{_UID}:sandbox:/tmp:/usr/sbin/nologin\n")
        (io / "group").write_text(f"sandbox:x:{_UID}:\n")
        group = Cgroup.create(limits)
        # The launcher's own environment; bwrap clears it (--clearenv) for the command.
        launch_env = build_env()
        if group is None:
            # No cgroups here: fall back to an address-space limit; pids stay unlimited.
            launch_env["ASSAY_ULIMIT_V"] = str(limits.memory_mb * 1024)
        files = [str(p) for p in group.procs_files] if group else []
        launcher = ["/bin/sh", "-c", _LAUNCH, "assay-launch", *files, "--"]
        return _Launch(io, group, launcher, launch_env)

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run `argv` in the sandbox to completion or the timeout."""
        lim = limits or self.limits
        inner_env = build_env(self.env_allow, env, dependencies=self._deps_env)
        launch = self._prepare(cwd, lim)
        bw = self._bwrap_argv(argv, cwd, inner_env, launch.io)
        return await processes.run(launch.command(bw, argv, lim, stdin=stdin))

    async def serve(
        self,
        argv: Sequence[str],
        *,
        port: int = 8080,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        limits: Limits | None = None,
    ) -> Service:
        """Start `argv` with ``$PORT`` set; the host reaches it through a Unix socket."""
        lim = limits or self.limits
        python = Path("/usr/bin/python3")
        if not python.exists():
            raise SandboxUnavailable("bwrap serve needs /usr/bin/python3 for its forwarder")
        inner_env = build_env(
            self.env_allow, {**(env or {}), "PORT": str(port)}, dependencies=self._deps_env
        )
        launch = self._prepare(cwd, lim)
        sock_dir = launch.io / "sock"
        sock_dir.mkdir()
        inner = [str(python), f"{_IO}/forward.py", f"{_IO}/sock/http.sock", str(port), "--", *argv]
        bw = self._bwrap_argv(inner, cwd, inner_env, launch.io)
        extra = [
            "--bind",
            str(sock_dir),
            f"{_IO}/sock",
            "--ro-bind",
            str(FORWARDER),
            f"{_IO}/forward.py",
        ]
        bw[bw.index("--proc") : bw.index("--proc")] = extra
        process = processes.Process(launch.command(bw, argv, lim))
        return Service(
            process, uds=sock_dir / "http.sock", base_url="http://sandbox", backend=self.name
        )

    def copy_out(self, paths: Sequence[str], dest: Path) -> list[Path]:
        """Copy workspace files to `dest`, refusing symlinks that leave the workspace."""
        return copy_out(self.workspace, paths, dest)

    def close(self) -> None:
        """Nothing to release."""
