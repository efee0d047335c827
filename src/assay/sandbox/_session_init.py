"""Inside a docker session container (runs there, mounted read-only; stdlib only).

``python3 _session_init.py init``: the container's idle pid 1. Commands arrive by the engine's
exec API, so their top process has no parent inside the container (ppid 0); anything whose
parent is pid 1 was orphaned by a command that ended (a daemon, a ``cmd &`` left behind). It is
killed and reaped at once, so no process outlives the command that started it, as when each
command had its own container.

``python3 _session_init.py run SCRATCH ARGV...``: how each command runs. It makes SCRATCH (the
command's private ``$TMPDIR``), runs ARGV as a child, and is its *subreaper*: when the command
ends, whatever it left behind (``cmd &``, a daemon that called setsid) has been reparented here
and is killed before this exits, so the command's tree is gone when the engine reports the exit
(Podman ends an exec when its first process exits, whoever still holds its output). SCRATCH is
then removed. The exit code is the command's (128 + N for a signal, 127 when ARGV is not found).

``python3 _session_init.py kill ID``: kill every process whose environment carries
``ASSAY_EXEC=ID`` (one command's tree: the host asks for it on a deadline or cancellation).
A process that hid from this (cleared its environment) is orphaned once its ancestors die, and
the init kills it then.

``python3 _session_init.py serve SOCKET``: the session's command server, so that a command costs
no exec. Started by one exec before any command runs in the container, it makes itself
undumpable (no process of the same uid can ptrace it or open its ``/proc/PID/fd``), connects to
the host's listening Unix socket SOCKET (the host accepts this one connection, checks its peer is
this exec, and unlinks and closes the listener) and serves frames on it: each RUN forks a runner
that does exactly what ``run`` does (the runner keeps the server's undumpable state until it
execs the command), with fresh pipes for stdin/stdout/stderr and no other descriptor; stdout and
stderr go back as frames, then the exit code. KILL kills one command's tree (its runner, and
every process carrying its ``ASSAY_EXEC`` id). When the channel closes the server kills what it
runs and exits.
"""

import contextlib
import os
import signal
import struct
import sys
import time

POLL_S = 0.05

# The command channel's frames: a header (kind, command number, payload length), then the payload.
HEADER = struct.Struct("!BII")
RUN, STDIN, KILL = 1, 2, 3
"""Host to server. RUN: JSON {argv, env, cwd, scratch, exec_id, stdin}; STDIN: bytes for the
command's stdin (empty: end of it); KILL: no payload."""
OUT, ERR, EXIT = 11, 12, 13
"""Server to host. OUT/ERR: bytes the command wrote; EXIT: the exit code ("!i"), the last frame."""
EXIT_CODE = struct.Struct("!i")
DRAIN_S = 5.0
"""After a runner ends, how long its output may stay open (a killed runner's leftovers, until the
init kills them) before its exit is reported anyway."""


def _parent(pid: str) -> int:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return -1
    return int(stat[stat.rindex(b")") + 2 :].split()[1])  # after "(comm)": state, ppid


def init() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and pid != "1" and _parent(pid) == 1:
                with contextlib.suppress(OSError):
                    os.kill(int(pid), signal.SIGKILL)
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
        time.sleep(POLL_S)


def _children() -> list[int]:
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) == me]


def run(scratch: str, argv: list[str]) -> int:
    import ctypes  # only here: the init and the killer do without it

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    os.mkdir(scratch, 0o700)
    try:
        pid = os.fork()
        if pid == 0:
            try:
                os.execvp(argv[0], argv)  # noqa: S606  # nosec B606: the sandboxed command
            except OSError as exc:
                print(f"{argv[0]}: {exc.strerror}", file=sys.stderr, flush=True)
                os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
        status = os.waitpid(pid, 0)[1]
        while True:  # what the command left: killed until nothing is reparented here any more
            left = _children()
            if not left:
                break
            for child in left:
                with contextlib.suppress(OSError):
                    os.kill(child, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                while os.waitpid(-1, os.WNOHANG)[0]:
                    pass
    finally:
        _remove(scratch)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _remove(folder: str) -> None:
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(root, name))
        for name in dirs:
            path = os.path.join(root, name)
            with contextlib.suppress(OSError):
                os.unlink(path) if os.path.islink(path) else os.rmdir(path)
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def kill(exec_id: str) -> None:
    marker = f"ASSAY_EXEC={exec_id}".encode()
    me = str(os.getpid())
    for _ in range(40):  # a forking tree may need a few rounds
        found = 0
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or pid == me:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = f.read().split(b"\0")
                if marker in env:
                    os.kill(int(pid), signal.SIGKILL)
                    found += 1
            except OSError:
                pass
        if not found:
            return
        time.sleep(POLL_S)


class _Job:
    """One command the server runs: its runner, its pipes, what is left to write to its stdin."""

    def __init__(self, number: int, request: dict, runner: int, pidfd: int) -> None:  # type: ignore[type-arg]
        self.number, self.runner, self.pidfd = number, runner, pidfd
        self.exec_id: str = request["exec_id"]
        self.scratch: str = request["scratch"]
        self.stdin: int | None = None
        self.pending = bytearray()
        self.stdin_done = False
        self.open = 2  # stdout and stderr, until each reaches its end
        self.fds: list[int] = []
        self.code: int | None = None
        self.ended = 0.0
        self.killed = False


def _spawn(request: dict, base_env: dict[str, str], number: int) -> _Job:  # type: ignore[type-arg]
    """Fork the runner for `request`: fresh pipes on 0-2, nothing else open, then `run`."""
    if request["stdin"]:
        stdin_r, stdin_w = os.pipe()
    else:
        stdin_r, stdin_w = os.open(os.devnull, os.O_RDONLY), -1
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        pid = os.fork()
    except OSError:  # the pids limit, most likely: nothing of this command runs
        for fd in (stdin_r, stdin_w, out_r, out_w, err_r, err_w):
            if fd >= 0:
                os.close(fd)
        raise
    if pid == 0:  # the runner: undumpable (inherited) until it execs the command
        code = 1
        try:
            os.dup2(stdin_r, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the channel, other commands' pipes
            os.environ.clear()
            os.environ.update({**base_env, **request["env"]})
            os.chdir(request["cwd"])
            code = run(request["scratch"], request["argv"])
        except BaseException:  # reported as the runner would have: a traceback
            import traceback

            with contextlib.suppress(BaseException):
                traceback.print_exc()
                sys.stderr.flush()
        finally:
            os._exit(code)
    for fd in (stdin_r, out_w, err_w):
        os.close(fd)
    job = _Job(number, request, pid, os.pidfd_open(pid))
    job.fds = [out_r, err_r]
    if stdin_w >= 0:
        os.set_blocking(stdin_w, False)
        job.stdin = stdin_w
    return job


def _kill_tree(job: _Job) -> None:
    """Kill a command's runner now; a helper (reaped by the server) kills every process that
    carries its id and removes its scratch folder. Leftovers of the runner that hid from both
    are orphans: the init kills them."""
    job.killed = True
    with contextlib.suppress(OSError):
        os.kill(job.runner, signal.SIGKILL)
    helper = os.fork()
    if helper == 0:
        try:
            os.closerange(3, os.sysconf("SC_OPEN_MAX"))
            kill(job.exec_id)
            _remove(job.scratch)  # the runner did not live to
        finally:
            os._exit(0)
    _HELPERS.append(helper)


_HELPERS: list[int] = []


def serve(path: str) -> None:  # noqa: C901  # one loop, every event in it
    import ctypes
    import json
    import selectors
    import socket

    # The environment as the engine exec'd this (an exec'd runner's base), without what Python
    # changed at its start (PEP 538's LC_CTYPE coercion).
    with open("/proc/self/environ", "rb") as f:
        base_env = dict(
            item.decode(errors="surrogateescape").partition("=")[::2]
            for item in f.read().split(b"\0")
            if item
        )
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0: before the channel exists
        sys.exit(f"prctl(PR_SET_DUMPABLE) failed: errno {ctypes.get_errno()}")
    channel = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    channel.connect(path)
    selector = selectors.DefaultSelector()
    selector.register(channel, selectors.EVENT_READ, ("channel", None))
    jobs: dict[int, _Job] = {}
    inbox = bytearray()

    def send(kind: int, number: int, payload: bytes = b"") -> None:
        channel.sendall(HEADER.pack(kind, number, len(payload)) + payload)

    def write_stdin(job: _Job) -> None:
        if job.stdin is None:
            return
        if job.pending:
            try:
                job.pending = job.pending[os.write(job.stdin, job.pending) :]
            except BlockingIOError:
                pass
            except OSError:  # the command closed its stdin
                job.pending.clear()
                job.stdin_done = True
        if job.pending or not job.stdin_done:
            events = selectors.EVENT_WRITE if job.pending else 0
            with contextlib.suppress(KeyError):
                selector.unregister(job.stdin)
            if events:
                selector.register(job.stdin, events, ("stdin", job))
            return
        with contextlib.suppress(KeyError):
            selector.unregister(job.stdin)
        os.close(job.stdin)
        job.stdin = None

    def handle(kind: int, number: int, payload: bytes) -> None:
        if kind == RUN:
            try:
                job = _spawn(json.loads(payload), base_env, number)
            except OSError as exc:  # as an exec whose runner cannot start: no command ran
                send(ERR, number, f"assay: cannot start the command: {exc}\n".encode())
                send(EXIT, number, EXIT_CODE.pack(126))
                return
            jobs[number] = job
            selector.register(job.pidfd, selectors.EVENT_READ, ("exit", job))
            for fd, stream in zip(job.fds, (OUT, ERR), strict=True):
                selector.register(fd, selectors.EVENT_READ, (stream, job))
            return
        found = jobs.get(number)
        if found is None:
            return  # it ended already
        job = found
        if kind == STDIN:
            if payload:
                job.pending += payload
            else:
                job.stdin_done = True
            write_stdin(job)
        elif kind == KILL and job.code is None and not job.killed:
            _kill_tree(job)

    def finish(job: _Job) -> None:
        for fd in job.fds:
            with contextlib.suppress(KeyError):
                selector.unregister(fd)
            os.close(fd)
        job.fds = []
        if job.stdin is not None:
            with contextlib.suppress(KeyError):
                selector.unregister(job.stdin)
            os.close(job.stdin)
        del jobs[job.number]
        send(EXIT, job.number, EXIT_CODE.pack(job.code if job.code is not None else 1))

    try:
        while True:
            waiting = [j.ended + DRAIN_S for j in jobs.values() if j.code is not None]
            timeout = max(0.0, min(waiting) - time.monotonic()) if waiting else None
            if _HELPERS:
                timeout = POLL_S if timeout is None else min(timeout, POLL_S)
            for key, _ in selector.select(timeout):
                what, job = key.data
                if what == "channel":
                    data = channel.recv(1 << 16)
                    if not data:
                        return  # the host closed the session
                    inbox += data
                    while len(inbox) >= HEADER.size:
                        kind, number, size = HEADER.unpack_from(inbox)
                        if len(inbox) < HEADER.size + size:
                            break
                        payload = bytes(inbox[HEADER.size : HEADER.size + size])
                        del inbox[: HEADER.size + size]
                        handle(kind, number, payload)
                elif what == "stdin":
                    write_stdin(job)
                elif what == "exit":
                    selector.unregister(job.pidfd)
                    os.close(job.pidfd)
                    status = os.waitpid(job.runner, 0)[1]
                    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
                    job.code = 128 + sig if sig else os.WEXITSTATUS(status)
                    job.ended = time.monotonic()
                else:
                    data = os.read(key.fd, 1 << 16)
                    if data:
                        send(what, job.number, data)
                    else:
                        selector.unregister(key.fd)
                        os.close(key.fd)
                        job.fds.remove(key.fd)
                        job.open -= 1
            now = time.monotonic()
            for job in list(jobs.values()):
                if job.code is not None and (job.open == 0 or now >= job.ended + DRAIN_S):
                    finish(job)
            for helper in list(_HELPERS):
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(helper, os.WNOHANG)[0] == 0:
                        continue
                _HELPERS.remove(helper)
    finally:  # the host is gone (or this failed): nothing this started runs on
        for job in jobs.values():
            if job.code is None:
                _kill_tree(job)


if __name__ == "__main__":
    if sys.argv[1:2] == ["init"]:
        init()
    elif sys.argv[1:2] == ["kill"] and len(sys.argv) == 3:
        kill(sys.argv[2])
    elif sys.argv[1:2] == ["serve"] and len(sys.argv) == 3:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["run"] and len(sys.argv) > 3:
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit("usage: _session_init.py init | kill ID | run SCRATCH ARGV... | serve SOCKET")
