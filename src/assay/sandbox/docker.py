"""The docker backend: the Docker Engine API through the ``docker`` SDK (Podman's API works too).

Outside a sandbox session, every command gets a fresh container from the configured image with
``network_mode="none"``, a read-only root filesystem, ``cap_drop=["ALL"]``,
``no-new-privileges``, a non-root user, memory (swap included), CPU and pids limits,
nofile/nproc ulimits, a private size-capped ``/tmp`` tmpfs, and the workspace bind-mounted
read-write at ``/workspace``. The container is removed afterwards. ``.git`` in the workspace
is mounted read-only over it: generated code cannot change what host git runs (hooks, config).
When assay runs as root the sandbox user is uid/gid 65532 and the workspace is lent to it while
its commands run, then given back to its owner (`assay.sandbox.ownership`); otherwise the
caller's uid/gid is used, so files it writes stay the caller's.

Inside a session (`assay.sandbox.session`: a loop iteration), commands and the service run in one
long-lived container built with the same options (`_SessionContainer`): commands over its
command server (`assay.sandbox._channel`; one exec per session), the service by the exec API; see
docs/sandbox.md, "One container per iteration" and "The command channel".

The API endpoint is, in order: the ``base_url`` argument, ``$DOCKER_HOST``, Podman's rootful
socket ``/run/podman/podman.sock``, Docker's ``/var/run/docker.sock``.

Errors are translated where they enter, as httpx's ``map_httpcore_exceptions`` does: every call
into the engine (creating, starting, waiting for, reading and removing a container) happens
under `engine_errors`, which turns the docker SDK's and requests' exceptions into one
`SandboxError` naming the endpoint, what assay was doing and what the engine said. Nothing from
``docker`` or ``requests`` reaches the caller (or the CLI's "internal error").

Without the docker SDK (``pip install 'assay[factory]'``) importing this module raises
`assay._extras.MissingExtra`; `assay.sandbox.select` then reports the backend unavailable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from assay._extras import FACTORY, MissingExtra

try:
    import docker
    import docker.errors
    import requests
    from docker.types import LogConfig, Mount, Ulimit
    from docker.utils.socket import frames_iter
except ImportError as exc:  # the docker SDK comes with the factory extra
    raise MissingExtra(FACTORY, "the docker sandbox backend", str(exc)) from exc

from assay.errors import SandboxError, UserError
from assay.processes import Capped
from assay.sandbox import ownership
from assay.sandbox._channel import ChannelDead, CommandChannel, Listener, accept_server
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
from assay.sandbox.session import Session
from assay.sandbox.session import current as current_session

__all__ = [
    "DEFAULT_IMAGE",
    "DockerSandbox",
    "docker_base_url",
    "docker_client",
    "docker_problem",
    "engine_errors",
]

DEFAULT_IMAGE = "localhost/assay-python:bookworm"
"""The image `assay sandbox build-image` builds, and the docker backend's default."""

_IO = "/run/assay"
_CTL = "/run/assay-ctl"
"""Where a session container sees the host folder of its command channel's listening socket."""
CONNECT_S = 30.0
"""How long the session's command server may take to connect."""
_INIT = Path(__file__).with_name("_session_init.py")
"""A session container's pid 1 (kills orphans), its per-command runner (a subreaper with a
private scratch folder) and its per-command killer."""


def docker_base_url(explicit: str | None = None) -> str:
    """The Docker API endpoint to use (see the module docstring for the order)."""
    if explicit:
        return explicit
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    if Path("/run/podman/podman.sock").exists():
        return "unix:///run/podman/podman.sock"
    return "unix:///var/run/docker.sock"


@contextlib.contextmanager
def engine_errors(endpoint: str, doing: str) -> Iterator[None]:
    """Translate what the docker SDK and requests raise inside into a `SandboxError`.

    `endpoint` is the engine's URL and `doing` what assay was doing ("run a command", "start
    the service"), both named in the message with what the engine said. Used once at each
    boundary into the engine, never around single calls.
    """
    try:
        yield
    except docker.errors.APIError as exc:  # the engine answered, with an error
        said = exc.explanation or str(exc)
        if isinstance(said, bytes):
            said = said.decode(errors="replace")
        status = exc.status_code
        hint = (
            "; run `assay sandbox build-image` (or pull it)"
            if isinstance(exc, docker.errors.ImageNotFound)
            else ""
        )
        raise SandboxError(
            f"the container engine at {endpoint} refused to {doing}: "
            f"{said.strip()} (HTTP {status}){hint}"
        ) from exc
    except (requests.ConnectionError, ConnectionError) as exc:  # gone: died, restarted, closed
        raise SandboxError(
            f"lost the container engine at {endpoint} while trying to {doing} "
            f"({_first_line(exc)}); is it still running?"
        ) from exc
    except (docker.errors.DockerException, requests.RequestException) as exc:
        raise SandboxError(
            f"the container engine at {endpoint} failed to {doing} ({_first_line(exc)})"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def docker_client(base_url: str | None = None) -> docker.DockerClient:
    """A client for the endpoint; `SandboxUnavailable` when nothing answers there."""
    url = docker_base_url(base_url)
    hint = (
        "start Docker, or Podman's service (podman system service "
        "unix:///run/podman/podman.sock), or set DOCKER_HOST"
    )
    if url.startswith("unix://") and not Path(url.removeprefix("unix://")).exists():
        raise SandboxUnavailable(f"no Docker API at {url} (no such socket); {hint}")
    client: docker.DockerClient | None = None
    try:
        # A fixed API version: no request in the constructor, so a dead endpoint fails in ping().
        client = docker.DockerClient(base_url=url, timeout=120, version="1.41")
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as exc:
        if client is not None:
            client.close()
        raise SandboxUnavailable(
            f"no Docker API answers at {url} ({type(exc).__name__}); {hint}"
        ) from None
    return client


def docker_problem(image: str = DEFAULT_IMAGE, base_url: str | None = None) -> str | None:
    """None when the docker backend can run `image` here, else what is missing."""
    try:
        client = docker_client(base_url)
    except SandboxUnavailable as exc:
        return str(exc)
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"image {image} not found: run `assay sandbox build-image` (or pull it)"
    except (docker.errors.DockerException, requests.RequestException) as exc:
        return f"cannot inspect image {image}: {exc}"
    finally:
        client.close()
    return None


class DockerSandbox:
    """Runs commands in throw-away containers against one workspace."""

    name = "docker"
    command_channel = True
    """In a session, run commands over the container's command server (`_SessionContainer`);
    False: by the exec API, one exec per command (benchmarks/sandbox_overhead.py compares)."""

    def __init__(
        self,
        workspace: Path,
        *,
        limits: Limits | None = None,
        env_allow: Sequence[str] = (),
        image: str = DEFAULT_IMAGE,
        base_url: str | None = None,
        runtime: str | None = None,
        dependencies: Path | None = None,
    ) -> None:
        if not workspace.is_dir():
            raise UserError(f"sandbox workspace is not a folder: {workspace}")
        self.dependencies = dependency_folder(dependencies)
        self._deps_env = DEPENDENCIES_MOUNT if self.dependencies else None
        self.workspace = workspace.resolve()
        self.limits = limits or Limits()
        self.env_allow = tuple(env_allow)
        self.image = image
        self.runtime = runtime
        self.client = docker_client(base_url)
        self.endpoint = docker_base_url(base_url)
        try:
            with engine_errors(self.endpoint, f"look up the image {image}"):
                try:
                    self.client.images.get(image)
                except docker.errors.ImageNotFound:
                    raise SandboxUnavailable(
                        f"image {image} not found: run `assay sandbox build-image` (or pull it)"
                    ) from None
        except BaseException:
            self.client.close()
            raise
        euid = os.geteuid()
        sandbox_user = (ownership.SANDBOX_UID, ownership.SANDBOX_UID)
        self.uid, self.gid = sandbox_user if euid == 0 else (euid, os.getegid())
        self._remove_orphans()
        ownership.reclaim(self.workspace)  # what a killed assay left lent to the sandbox user

    def _remove_orphans(self) -> None:
        """Remove containers a killed assay left on this workspace: they would go on writing it."""
        label = f"assay.workspace={self.workspace}"
        try:
            found = self.client.containers.list(all=True, filters={"label": label})
        except (docker.errors.APIError, requests.RequestException):
            return
        for container in found:
            owner = container.labels.get("assay.pid", "")
            if owner.isdigit() and _process_alive(int(owner)):
                continue
            with contextlib.suppress(docker.errors.APIError, requests.RequestException):
                container.remove(force=True)

    def _create_kwargs(
        self, argv: Sequence[str], cwd: str, env: Mapping[str, str], lim: Limits
    ) -> dict[str, Any]:
        return {
            **self._container_options(lim),
            "command": list(argv),
            "working_dir": _workdir(self.workspace, cwd),
            "environment": dict(env),
        }

    def _container_options(self, lim: Limits) -> dict[str, Any]:
        """The one place a container's lock-down is built: per-command and session containers."""
        nproc = max(1024, lim.pids)
        mounts = [Mount(WORKSPACE, str(self.workspace), type="bind", read_only=False)]
        git = self.workspace / ".git"
        if not git.is_symlink() and (git.is_dir() or git.is_file()):
            # host git runs hooks and config from here: the generated code must not change them
            mounts.append(Mount(f"{WORKSPACE}/.git", str(git), type="bind", read_only=True))
        if self.dependencies is not None:
            mounts.append(
                Mount(DEPENDENCIES_MOUNT, str(self.dependencies), type="bind", read_only=True)
            )
        return {
            "image": self.image,
            "user": f"{self.uid}:{self.gid}",
            "hostname": "sandbox",
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "mem_limit": f"{lim.memory_mb}m",
            "memswap_limit": f"{lim.memory_mb}m",
            "nano_cpus": int(lim.cpus * 1e9),
            "pids_limit": lim.pids,
            "ulimits": [
                Ulimit(name="nofile", soft=1024, hard=1024),
                Ulimit(name="nproc", soft=nproc, hard=nproc),
            ],
            # the container's own tmpfs, not the host's /tmp
            "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={lim.memory_mb}m,mode=1777"},  # noqa: S108  # nosec B108
            "mounts": mounts,
            "log_config": LogConfig(
                type="k8s-file", config={"max-size": str(lim.output_bytes * 2)}
            ),
            # which workspace and process a container serves: orphans of a killed run are found
            "labels": {
                "assay.sandbox": "1",
                "assay.workspace": str(self.workspace),
                "assay.pid": str(os.getpid()),
            },
            **({"runtime": self.runtime} if self.runtime else {}),
        }

    def _run_blocking(
        self,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        stdin: bytes | None,
        lim: Limits,
        name: str,
        cancelled: threading.Event,
    ) -> RunResult:
        kwargs = {**self._create_kwargs(argv, cwd, env, lim), "name": name}
        ownership.lend(self.workspace)
        try:
            with engine_errors(self.endpoint, f"run {_shown(argv)}"):
                return self._run_container(kwargs, argv, stdin, lim, cancelled)
        finally:  # the container is gone: nothing inside can race the walk
            ownership.give_back(self.workspace)

    def _run_container(
        self,
        kwargs: dict[str, Any],
        argv: Sequence[str],
        stdin: bytes | None,
        lim: Limits,
        cancelled: threading.Event,
    ) -> RunResult:
        container = self.client.containers.create(**kwargs, stdin_open=stdin is not None)
        out, err = Capped(lim.output_bytes), Capped(lim.output_bytes)
        sock: Any = None
        try:
            if cancelled.is_set():  # assay is stopping: never start it
                raise _Cancelled
            params = {"stdin": int(stdin is not None), "stdout": 1, "stderr": 1, "stream": 1}
            sock = container.attach_socket(params=params)
            reader = threading.Thread(target=_read_frames, args=(sock, out, err), daemon=True)
            started = time.monotonic()
            container.start()
            if cancelled.is_set():  # `run` was cancelled while this started: end it now
                with contextlib.suppress(docker.errors.APIError):
                    container.kill()
            reader.start()
            if stdin is not None:
                with contextlib.suppress(OSError):
                    sock._sock.sendall(stdin)
                    sock._sock.shutdown(socket.SHUT_WR)
            timed_out = False
            try:
                code = int(container.wait(timeout=lim.timeout_s)["StatusCode"])
            except requests.RequestException:
                timed_out = True
                with contextlib.suppress(docker.errors.APIError):
                    container.kill()
                code = int(container.wait(timeout=60)["StatusCode"])
            duration = time.monotonic() - started
            reader.join(timeout=2.0)
            _close_attached(sock)
            container.reload()
            oom = _oom(container.attrs, code, timed_out)
        finally:
            _close_attached(sock)  # also when the engine refused to start or went away
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        return _ended(
            argv, code, out, err, duration, timed_out=timed_out, oom=oom, backend=self.name
        )

    async def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        limits: Limits | None = None,
    ) -> RunResult:
        """Run `argv` in a fresh container to completion, the timeout or cancellation.

        The blocking calls run in a thread, which cancellation (Ctrl-C, SIGTERM) cannot stop;
        the container can: it is killed by name, and the thread removes it before this re-raises,
        so nothing runs on after assay (and assay does not wait out the step's timeout).
        """
        inner_env = build_env(self.env_allow, env, dependencies=self._deps_env)
        lim = limits or self.limits
        session = current_session()
        if session is not None:
            return await self._run_in_session(session, argv, cwd, inner_env, stdin, lim)
        name = f"assay-run-{uuid.uuid4().hex[:16]}"
        return await _killed_on_cancel(
            lambda cancelled: self._run_blocking(argv, cwd, inner_env, stdin, lim, name, cancelled),
            lambda: self._kill(name),
        )

    def _kill(self, name: str) -> None:
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            self.client.containers.get(name).kill()

    def _shared(self, session: Session, lim: Limits) -> _SessionContainer:
        """The session's container for this sandbox's options and `lim`'s container limits
        (timeout and output caps are per command), started on first use."""
        key = (
            "docker", self.endpoint, self.image, self.runtime, self.workspace, self.dependencies,
            self.uid, self.gid, lim.memory_mb, lim.pids, lim.cpus,
        )  # fmt: skip
        return session.resource(key, lambda: _SessionContainer(self, lim))

    async def _run_in_session(
        self,
        session: Session,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        stdin: bytes | None,
        lim: Limits,
    ) -> RunResult:
        """`run` by the exec API in the session's container; a cancelled command is killed
        (its whole tree) before this re-raises."""
        workdir = _workdir(self.workspace, cwd)
        shared = await asyncio.to_thread(self._shared, session, lim)
        exec_id = uuid.uuid4().hex[:16]
        return await _killed_on_cancel(
            lambda cancelled: shared.run(argv, workdir, env, stdin, lim, exec_id, cancelled),
            lambda: shared.kill(exec_id),
        )

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
        inner_env = build_env(
            self.env_allow, {**(env or {}), "PORT": str(port)}, dependencies=self._deps_env
        )
        session = current_session()
        if session is not None:
            workdir = _workdir(self.workspace, cwd)
            shared = await asyncio.to_thread(self._shared, session, lim)
            return await asyncio.to_thread(shared.serve, argv, port, workdir, inner_env, lim)
        io = Path(tempfile.mkdtemp(prefix="assay-docker-"))
        os.chown(io, self.uid, self.gid)
        inner = ["python3", f"{_IO}-forward.py", f"{_IO}/http.sock", str(port), "--", *argv]
        kwargs = self._create_kwargs(inner, cwd, inner_env, lim)
        kwargs["mounts"] += [
            Mount(_IO, str(io), type="bind", read_only=False),
            Mount(f"{_IO}-forward.py", str(FORWARDER), type="bind", read_only=True),
        ]
        doing = f"start the service {_shown(argv)}"
        await asyncio.to_thread(ownership.lend, self.workspace)
        try:
            with engine_errors(self.endpoint, doing):
                container = await asyncio.to_thread(self.client.containers.create, **kwargs)
        except BaseException:
            await asyncio.to_thread(ownership.give_back, self.workspace)
            shutil.rmtree(io, ignore_errors=True)
            raise
        process = _ContainerService(container, io, argv, lim, self.workspace, self.endpoint)
        try:
            with engine_errors(self.endpoint, doing):
                await asyncio.to_thread(container.start)
        except BaseException:
            with contextlib.suppress(SandboxError):  # the start's error is the one to report
                await process.stop()
            raise
        return Service(process, uds=io / "http.sock", base_url="http://sandbox", backend=self.name)

    def copy_out(self, paths: Sequence[str], dest: Path) -> list[Path]:
        """Copy workspace files to `dest`, refusing symlinks that leave the workspace."""
        return copy_out(self.workspace, paths, dest)

    def close(self) -> None:
        """Close the API connection."""
        self.client.close()


def _killed_reason(*, timed_out: bool, oom: bool, stopped: bool) -> KilledReason | None:
    """Why a container's command ended early: its deadline first, then memory, then a stop."""
    if timed_out:
        return KilledReason.TIMEOUT
    if oom:
        return KilledReason.MEMORY
    return KilledReason.STOPPED if stopped else None


def _ended(
    argv: Sequence[str],
    code: int,
    out: Capped,
    err: Capped,
    duration: float,
    *,
    timed_out: bool,
    oom: bool,
    backend: str = "docker",
) -> RunResult:
    """The result of a command that ran to its end, its deadline or its memory limit."""
    return RunResult(
        argv=tuple(argv),
        exit_code=code,
        stdout=out.text(),
        stderr=err.text(),
        stdout_truncated=out.truncated,
        stderr_truncated=err.truncated,
        duration_s=duration,
        killed=_killed_reason(timed_out=timed_out, oom=oom, stopped=False),
        backend=backend,
    )


async def _killed_on_cancel(
    run: Callable[[threading.Event], RunResult], kill: Callable[[], None]
) -> RunResult:
    """`run` (blocking, told through its event when cancelled) in a thread; a cancellation of
    the caller kills what it started, waits for it to end, then re-raises."""
    cancelled = threading.Event()
    job = asyncio.ensure_future(asyncio.to_thread(run, cancelled))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        cancelled.set()
        await asyncio.to_thread(kill)
        with contextlib.suppress(Exception):
            await job
        raise


class _Cancelled(Exception):
    """A `run` cancelled before its container started."""


def _workdir(workspace: Path, cwd: str) -> str:
    """`cwd` (workspace-relative) as the container sees it; `UserError` when it is no folder."""
    if not (workspace / inside_cwd(cwd)).is_dir():
        raise UserError(f"sandbox cwd is not a folder in the workspace: {cwd!r}")
    return str(PurePosixPath(WORKSPACE) / inside_cwd(cwd))


def _shown(argv: Sequence[str]) -> str:
    """`argv` for a message: quoted, and cut short when long."""
    text = " ".join(argv)
    return repr(text if len(text) <= 80 else text[:77] + "...")


def _process_alive(pid: int) -> bool:
    """Whether process `pid` still exists here (this one always does)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's: alive
        return True
    return True


def _oom(attrs: dict[str, Any], code: int, we_killed: bool) -> bool:
    """Whether the memory limit killed the container.

    Podman on cgroup v1 does not set ``OOMKilled``; there, an exit by SIGKILL (137) that assay
    did not send is taken as the kernel's OOM killer, the only other sender that can reach a
    capability-less container (short of the process killing itself).
    """
    if attrs.get("State", {}).get("OOMKilled"):
        return True
    return code == 137 and not we_killed


def _close_attached(sock: Any) -> None:
    """Close an attach socket (and the raw socket under it); twice is harmless."""
    if sock is None:
        return
    raw = getattr(sock, "_sock", None)  # None once the SDK's socket io has closed it
    if raw is not None:
        with contextlib.suppress(OSError):
            raw.close()
    with contextlib.suppress(OSError):
        sock.close()


def _read_frames(sock: Any, out: Capped, err: Capped) -> None:
    with contextlib.suppress(OSError, ValueError):
        for stream, data in frames_iter(sock, tty=False):
            (err if stream == 2 else out).feed(data)


class _ContainerService:
    """A detached service container with a wall-clock limit."""

    def __init__(
        self,
        container: Any,
        io: Path,
        argv: Sequence[str],
        lim: Limits,
        workspace: Path,
        endpoint: str,
    ) -> None:
        self._container = container
        self._endpoint = endpoint
        self._io = io
        self._workspace: Path | None = workspace
        """Lent to the container until it is removed; None once given back."""
        self._argv = tuple(argv)
        self._lim = lim
        self._started = time.monotonic()
        self._timed_out = False
        self._timer = threading.Timer(lim.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self._timed_out = True
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            self._container.kill()

    def alive(self) -> bool:
        """True while the container runs."""
        try:
            self._container.reload()
        except (docker.errors.APIError, requests.RequestException):
            return False
        return self._container.status in ("created", "running")

    async def stop(self) -> RunResult:
        """Kill and remove the container; report what it printed."""
        return await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> RunResult:
        try:
            with engine_errors(self._endpoint, f"stop the service {_shown(self._argv)}"):
                return self._stop_container()
        finally:  # removed (or gone): give the workspace back even when the engine fails
            if self._workspace is not None:
                ownership.give_back(self._workspace)
                self._workspace = None

    def _stop_container(self) -> RunResult:
        self._timer.cancel()
        ct = self._container
        was_running = self.alive()
        with contextlib.suppress(docker.errors.APIError):
            ct.kill()
        code = int(ct.wait(timeout=60)["StatusCode"])
        ct.reload()
        oom = _oom(ct.attrs, code, self._timed_out or was_running)
        out, err = Capped(self._lim.output_bytes), Capped(self._lim.output_bytes)
        out.feed(ct.logs(stdout=True, stderr=False))
        err.feed(ct.logs(stdout=False, stderr=True))
        with contextlib.suppress(docker.errors.APIError):
            ct.remove(force=True)
        shutil.rmtree(self._io, ignore_errors=True)
        killed = _killed_reason(timed_out=self._timed_out, oom=oom, stopped=was_running)
        return RunResult(
            argv=self._argv,
            exit_code=code,
            stdout=out.text(),
            stderr=err.text(),
            stdout_truncated=out.truncated,
            stderr_truncated=err.truncated,
            duration_s=time.monotonic() - self._started,
            killed=killed,
            backend="docker",
        )


class _SessionContainer:
    """A session's long-lived container: commands run in it over its command server (or, once
    that is gone, by the exec API), services by the exec API.

    It is created like a per-command container (`DockerSandbox._container_options`: the same
    image, mounts, user, limits, no network) with `_INIT` as pid 1, plus a host folder at
    ``/run/assay`` for the services' sockets. The memory, CPU and pids limits bound everything
    the session runs at once. Each command gets ``ASSAY_EXEC=<id>`` (the killer finds its tree
    by it) and runs under `_INIT`'s runner: a fresh ``$TMPDIR`` removed after it, and whatever
    it left behind killed before the exec ends.
    As root, the workspace is lent to the sandbox user while a command or a service runs, as
    for a per-command container, not for the container's life: host git works in between.
    """

    def __init__(self, sandbox: DockerSandbox, lim: Limits) -> None:
        self.workspace = sandbox.workspace
        self.endpoint = sandbox.endpoint
        self.user = f"{sandbox.uid}:{sandbox.gid}"
        # its own connection: each sandbox closes its own when its caller is done with it
        self.client = docker_client(sandbox.endpoint)
        self.io = Path(tempfile.mkdtemp(prefix="assay-session-"))
        os.chown(self.io, sandbox.uid, sandbox.gid)
        self.ctl = Path(tempfile.mkdtemp(prefix="assay-ctl-"))  # 0700: only the listener
        os.chown(self.ctl, sandbox.uid, sandbox.gid)
        self._ids = (sandbox.uid, sandbox.gid)
        self.channel: CommandChannel | None = None
        self._server: tuple[str, Any, Capped] | None = None
        kwargs = sandbox._container_options(lim)
        kwargs["mounts"] += [
            Mount(_IO, str(self.io), type="bind", read_only=False),
            Mount(_CTL, str(self.ctl), type="bind", read_only=True),
            Mount(f"{_IO}-forward.py", str(FORWARDER), type="bind", read_only=True),
            Mount(f"{_IO}-init.py", str(_INIT), type="bind", read_only=True),
        ]
        kwargs.update(
            command=["python3", f"{_IO}-init.py", "init"],
            working_dir=WORKSPACE,
            name=f"assay-session-{uuid.uuid4().hex[:16]}",
        )
        kwargs["labels"]["assay.session"] = "1"
        self.container: Any = None
        try:
            with engine_errors(self.endpoint, "start the iteration's container"):
                self.container = self.client.containers.create(**kwargs)
                self.container.start()
                if sandbox.command_channel:
                    self.channel = self._start_server()
        except BaseException:
            self.remove()
            raise

    def _start_server(self) -> CommandChannel:
        """Start the command server by one exec, before any command runs here, and accept its
        connection (the only one the listener takes; see `assay.sandbox._channel`)."""
        listener = Listener(self.ctl, *self._ids)
        try:
            api = self.client.api
            created = api.exec_create(
                self.container.id,
                ["python3", "-I", "-S", f"{_IO}-init.py", "serve", f"{_CTL}/{Listener.NAME}"],
                workdir=WORKSPACE,
                user=self.user,
            )
            sock = api.exec_start(created["Id"], socket=True)
            said = Capped(4096)  # what the server prints: nothing, unless it fails
            threading.Thread(target=_read_frames, args=(sock, said, said), daemon=True).start()
            self._server = (created["Id"], sock, said)
            return accept_server(
                listener,
                lambda: int(api.exec_inspect(created["Id"]).get("Pid") or 0),
                CONNECT_S,
            )
        finally:
            listener.close()

    def _server_gone(self, why: str) -> SandboxError:
        said = self._server[2].text().strip() if self._server else ""
        return SandboxError(
            f"the session container's command server failed: {why}"
            + (f"; it said: {said[-500:]}" if said else "")
        )

    def _exec(
        self,
        argv: Sequence[str],
        workdir: str,
        env: Mapping[str, str],
        exec_id: str,
        stdin: bool,
        out: Capped,
        err: Capped,
    ) -> tuple[str, Any, threading.Thread]:
        """Start one command (its output read into `out`/`err` by a thread)."""
        scratch = f"/tmp/assay-exec-{exec_id}"  # noqa: S108  # nosec B108: the container's tmpfs
        api = self.client.api
        created = api.exec_create(
            self.container.id,
            ["python3", "-I", "-S", f"{_IO}-init.py", "run", scratch, *argv],
            stdin=stdin,
            environment={**env, "TMPDIR": scratch, "ASSAY_EXEC": exec_id},
            workdir=workdir,
            user=self.user,
        )
        sock = api.exec_start(created["Id"], socket=True)
        reader = threading.Thread(target=_read_frames, args=(sock, out, err), daemon=True)
        reader.start()
        return created["Id"], sock, reader

    def _exit_code(self, api_id: str) -> int:
        """The command's exit code, once the engine has seen it end."""
        for _ in range(200):
            state = self.client.api.exec_inspect(api_id)
            if not state.get("Running") and state.get("ExitCode") is not None:
                return int(state["ExitCode"])
            time.sleep(0.01)
        raise SandboxError(f"the container engine at {self.endpoint} never reported an exit")

    def run(
        self,
        argv: Sequence[str],
        workdir: str,
        env: Mapping[str, str],
        stdin: bytes | None,
        lim: Limits,
        exec_id: str,
        cancelled: threading.Event,
    ) -> RunResult:
        """Run one command to completion or `lim`'s timeout (then its tree is killed): on the
        command channel while its server lives, else by the exec API."""
        channel = self.channel
        if channel is not None and channel.dead is None:
            with contextlib.suppress(ChannelDead):  # died in between: the exec API runs it
                return self._run_on_channel(
                    channel, argv, workdir, env, stdin, lim, exec_id, cancelled
                )
        return self._run_by_exec(argv, workdir, env, stdin, lim, exec_id, cancelled)

    def _run_on_channel(
        self,
        channel: CommandChannel,
        argv: Sequence[str],
        workdir: str,
        env: Mapping[str, str],
        stdin: bytes | None,
        lim: Limits,
        exec_id: str,
        cancelled: threading.Event,
    ) -> RunResult:
        """One command on the channel. A server that dies while it runs fails it loudly: its
        outcome is unknown, and nothing else may report one."""
        out, err = Capped(lim.output_bytes), Capped(lim.output_bytes)
        scratch = f"/tmp/assay-exec-{exec_id}"  # noqa: S108  # nosec B108: the container's tmpfs
        if cancelled.is_set():
            raise _Cancelled
        ownership.lend(self.workspace)
        try:
            started = time.monotonic()
            command = channel.start(
                exec_id,
                argv,
                workdir,
                {**env, "TMPDIR": scratch, "ASSAY_EXEC": exec_id},
                scratch,
                stdin,
                out,
                err,
            )
            timed_out = not command.done.wait(lim.timeout_s)
            if timed_out:
                channel.kill(exec_id)
                command.done.wait(30.0)
            duration = time.monotonic() - started
            if command.error is not None or command.code is None:
                self._kill_by_exec(exec_id)  # the server cannot: what it started may still run
        finally:
            ownership.give_back(self.workspace)  # its tree has ended (its output closed)
        if command.error is not None or command.code is None:
            why = command.error or "no exit reported 30 s after the kill"
            raise self._server_gone(f"{why}, while running {_shown(argv)}")
        code = command.code
        oom = code == 137 and not timed_out  # as `_run_by_exec` and `_oom` reason
        return _ended(argv, code, out, err, duration, timed_out=timed_out, oom=oom)

    def _run_by_exec(
        self,
        argv: Sequence[str],
        workdir: str,
        env: Mapping[str, str],
        stdin: bytes | None,
        lim: Limits,
        exec_id: str,
        cancelled: threading.Event,
    ) -> RunResult:
        """One command by the exec API (create, start, inspect)."""
        out, err = Capped(lim.output_bytes), Capped(lim.output_bytes)
        sock: Any = None
        with engine_errors(self.endpoint, f"run {_shown(argv)}"):
            if cancelled.is_set():
                raise _Cancelled
            ownership.lend(self.workspace)
            try:
                started = time.monotonic()
                api_id, sock, reader = self._exec(
                    argv, workdir, env, exec_id, stdin is not None, out, err
                )
                if stdin is not None:
                    with contextlib.suppress(OSError):
                        sock._sock.sendall(stdin)
                        sock._sock.shutdown(socket.SHUT_WR)
                reader.join(timeout=lim.timeout_s)
                timed_out = reader.is_alive()  # its output is open until the tree has ended
                if timed_out:
                    self.kill(exec_id)
                    reader.join(timeout=10.0)
                duration = time.monotonic() - started
                code = self._exit_code(api_id)
            finally:
                _close_attached(sock)
                ownership.give_back(self.workspace)  # its tree has ended (output closed)
        # 137 that assay did not send: the kernel's OOM killer, as `_oom` reasons for cgroup v1
        oom = code == 137 and not timed_out
        return _ended(argv, code, out, err, duration, timed_out=timed_out, oom=oom)

    def serve(
        self, argv: Sequence[str], port: int, workdir: str, env: Mapping[str, str], lim: Limits
    ) -> Service:
        """Start `argv` behind the forwarder, its socket in a folder of its own under ``io``."""
        exec_id = uuid.uuid4().hex[:16]
        folder = self.io / f"svc-{exec_id}"
        folder.mkdir()
        os.chown(folder, *self._ids)
        sock_path = f"{_IO}/{folder.name}/http.sock"
        inner = ["python3", f"{_IO}-forward.py", sock_path, str(port), "--", *argv]
        out, err = Capped(lim.output_bytes), Capped(lim.output_bytes)
        ownership.lend(self.workspace)  # until the service is stopped
        try:
            with engine_errors(self.endpoint, f"start the service {_shown(argv)}"):
                api_id, sock, reader = self._exec(inner, workdir, env, exec_id, False, out, err)
        except BaseException:
            ownership.give_back(self.workspace)
            raise
        process = _ExecService(self, api_id, exec_id, sock, reader, (out, err), argv, lim)
        return Service(
            process, uds=folder / "http.sock", base_url="http://sandbox", backend="docker"
        )

    def kill(self, exec_id: str) -> None:
        """Kill one command's whole tree (and drop its scratch folder); never raises."""
        if self.container is None:
            return
        if self.channel is not None and self.channel.dead is None and self.channel.kill(exec_id):
            return  # the server kills it
        self._kill_by_exec(exec_id)

    def _kill_by_exec(self, exec_id: str) -> None:
        """`kill` through the exec API (a command run by it, or the server is gone)."""
        if self.container is None:
            return
        with contextlib.suppress(docker.errors.APIError, requests.RequestException):
            self.container.exec_run(["python3", f"{_IO}-init.py", "kill", exec_id], user=self.user)
            self.container.exec_run(["rm", "-rf", f"/tmp/assay-exec-{exec_id}"], user=self.user)  # noqa: S108  # nosec B108

    def remove(self) -> None:
        """Remove the container (everything in it dies) and its socket folders."""
        if self.channel is not None:
            self.channel.close()
        if self._server is not None:
            _close_attached(self._server[1])
        if self.container is not None:
            with contextlib.suppress(docker.errors.APIError, requests.RequestException):
                self.container.remove(force=True)
        shutil.rmtree(self.io, ignore_errors=True)
        shutil.rmtree(self.ctl, ignore_errors=True)
        self.client.close()


class _ExecService:
    """A service exec'd in a session container, with a wall-clock limit."""

    def __init__(
        self,
        shared: _SessionContainer,
        api_id: str,
        exec_id: str,
        sock: Any,
        reader: threading.Thread,
        output: tuple[Capped, Capped],
        argv: Sequence[str],
        lim: Limits,
    ) -> None:
        self._shared = shared
        self._api_id = api_id
        self._exec_id = exec_id
        self._sock = sock
        self._reader = reader
        self._out, self._err = output
        self._argv = tuple(argv)
        self._started = time.monotonic()
        self._timed_out = False
        self._given_back = False
        """The workspace is lent for the service's life (see `assay.sandbox.ownership`)."""
        self._timer = threading.Timer(lim.timeout_s, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        self._timed_out = True
        self._shared.kill(self._exec_id)

    def alive(self) -> bool:
        """True while the forwarder (and so the service) runs."""
        try:
            return bool(self._shared.client.api.exec_inspect(self._api_id).get("Running"))
        except (docker.errors.APIError, requests.RequestException):
            return False

    async def stop(self) -> RunResult:
        """Kill the service's tree; report what it printed."""
        return await asyncio.to_thread(self._stop_blocking)

    def _stop_blocking(self) -> RunResult:
        self._timer.cancel()
        try:
            with engine_errors(self._shared.endpoint, f"stop the service {_shown(self._argv)}"):
                was_running = self.alive()
                self._shared.kill(self._exec_id)
                self._reader.join(timeout=10.0)
                code = self._shared._exit_code(self._api_id)
        finally:
            _close_attached(self._sock)
            shutil.rmtree(self._shared.io / f"svc-{self._exec_id}", ignore_errors=True)
            if not self._given_back:
                self._given_back = True
                ownership.give_back(self._shared.workspace)
        oom = code == 137 and not (self._timed_out or was_running)
        killed = _killed_reason(timed_out=self._timed_out, oom=oom, stopped=was_running)
        return RunResult(
            argv=self._argv,
            exit_code=code,
            stdout=self._out.text(),
            stderr=self._err.text(),
            stdout_truncated=self._out.truncated,
            stderr_truncated=self._err.truncated,
            duration_s=time.monotonic() - self._started,
            killed=killed,
            backend="docker",
        )
