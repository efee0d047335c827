"""Run as a command in a session container: everything it might try on the command server.

Prints JSON: the server's pid as found in /proc, the outcome of each attempt on the server, on
this command's runner (its parent) and on a control (a dumpable child of the same uid, where
the attempts must work, or the probe proves nothing), and what the channel's folder holds.
"""

import ctypes
import json
import os
import socket
import subprocess
from collections.abc import Callable

CHANNEL = "/run/assay-ctl/channel.sock"
libc = ctypes.CDLL(None, use_errno=True)


def server_pid() -> int:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"serve" in argv and any(a.endswith(b"init.py") for a in argv):
                return int(pid)
    return 0


def ptrace(pid: int) -> None:
    if libc.ptrace(16, pid, 0, 0) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")


def getfd(pid: int) -> None:
    pidfd = os.pidfd_open(pid)
    for target in range(16):
        fd = libc.syscall(438, pidfd, target, 0)  # pidfd_getfd
        if fd >= 0:
            return
    raise OSError(ctypes.get_errno(), "pidfd_getfd")


def connect() -> None:
    socket.socket(socket.AF_UNIX).connect(CHANNEL)


def bind() -> None:
    socket.socket(socket.AF_UNIX).bind(CHANNEL)


def attempt(fn: Callable[..., object], *args: object) -> str:
    try:
        fn(*args)
    except OSError as exc:
        return f"denied: {type(exc).__name__}"
    return "ALLOWED"


def open_fds(pid: int) -> None:
    for fd in range(16):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "r+b"):
                return
        except FileNotFoundError:
            continue
    raise PermissionError


def open_only(path: str) -> None:
    with open(path, "rb"):
        pass  # /proc/PID/mem: opening it is the access check (offset 0 is unmapped)


def read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read(64)


server = server_pid()
runner = os.getppid()
control = subprocess.Popen(["sleep", "30"])  # a process of the same uid that is dumpable
tried = {}
for name, pid in (("server", server), ("runner", runner), ("control", control.pid)):
    tried[f"{name} list fds"] = attempt(os.listdir, f"/proc/{pid}/fd")
    tried[f"{name} open fds"] = attempt(open_fds, pid)
    tried[f"{name} environ"] = attempt(read, f"/proc/{pid}/environ")
    tried[f"{name} mem"] = attempt(open_only, f"/proc/{pid}/mem")
    tried[f"{name} ptrace"] = attempt(ptrace, pid)
    tried[f"{name} pidfd_getfd"] = attempt(getfd, pid)
tried["connect to the channel"] = attempt(connect)
tried["bind the channel"] = attempt(bind)
print(
    json.dumps(
        {
            "server": server,
            "runner's parent": int(read(f"/proc/{runner}/stat").rsplit(b")", 1)[1].split()[1]),
            "tried": tried,
            "ctl": os.listdir(os.path.dirname(CHANNEL)),
        }
    )
)
