"""Inside a docker session container (runs there, mounted read-only; stdlib only).

``python3 _session_init.py init``: the container's idle pid 1. Commands arrive by the engine's
exec API, so their top process has no parent inside the container (ppid 0); anything whose
parent is pid 1 was orphaned by a command that ended (a daemon, a ``cmd &`` left behind). It is
killed and reaped at once, so no process outlives the command that started it, as when each
command had its own container.

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
    else:
        sys.exit("usage: _session_init.py init | kill ID")
