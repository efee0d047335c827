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
"""

import contextlib
import os
import signal
import sys
import time

POLL_S = 0.05


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


if __name__ == "__main__":
    if sys.argv[1:2] == ["init"]:
        init()
    elif sys.argv[1:2] == ["kill"] and len(sys.argv) == 3:
        kill(sys.argv[2])
    elif sys.argv[1:2] == ["run"] and len(sys.argv) > 3:
        sys.exit(run(sys.argv[2], sys.argv[3:]))
    else:
        sys.exit("usage: _session_init.py init | kill ID | run SCRATCH ARGV...")
