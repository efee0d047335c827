"""Ending a process together with everything it started.

assay starts every tool and service as the leader of a new session (``start_new_session``), so
the process and all its descendants (pytest's subprocesses, semgrep's semgrep-core, a test's
``sleep``) share one process group. Ending a command ends that group: SIGTERM to the group, a
short grace for the leader to exit, then SIGKILL to the group for whatever is left (a grandchild
that ignores SIGTERM, or outlived its parent). Killing only the direct child, as
``Process.kill()`` does, leaves the grandchildren running after assay has gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

__all__ = ["GRACE_S", "end_group", "group_alive", "signal_group"]

GRACE_S = 2.0
"""Seconds a group has between SIGTERM and SIGKILL."""

_POLL_S = 0.05


def signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to process group `pgid`; False when the group is already gone."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def group_alive(pgid: int) -> bool:
    """Whether any process of group `pgid` still exists (a zombie leader counts)."""
    return signal_group(pgid, 0)


def end_group(proc: subprocess.Popen[bytes], grace: float = GRACE_S) -> None:
    """End `proc` (a session leader) and its whole group, and reap it (blocks for about `grace`).

    Safe to call when it has already exited: the group's leftovers are still swept.
    """
    pgid = proc.pid
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    while time.monotonic() < deadline and proc.returncode is not None and group_alive(pgid):
        time.sleep(_POLL_S)
    signal_group(pgid, signal.SIGKILL)
    proc.wait()
