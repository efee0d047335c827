"""Control groups for the bwrap backend: memory, pids and CPU limits on a whole process tree.

bubblewrap has no resource limits of its own, so each run gets a fresh cgroup (v2 when the
unified hierarchy is mounted at /sys/fs/cgroup, else the v1 ``memory``, ``pids`` and ``cpu``
hierarchies), created under the cgroup assay itself runs in. The sandbox's launcher writes its
own pid into ``procs_files`` before it execs bwrap, so nothing escapes the limits.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from pathlib import Path

from assay.sandbox.base import Limits

__all__ = ["Cgroup"]

_ROOT = Path("/sys/fs/cgroup")
_PERIOD_US = 100_000


def _own_paths() -> dict[str, str]:
    """Controller (or "" for v2) -> this process's cgroup path."""
    paths: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path
    return paths


class Cgroup:
    """One run's cgroup(s); `create` returns None when this host cannot make them."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs = dirs
        self.v2 = v2

    @classmethod
    def create(cls, limits: Limits) -> Cgroup | None:
        """Make and configure the cgroup(s) for `limits`, or None when cgroups are not usable."""
        name = f"assay-{uuid.uuid4().hex[:12]}"
        try:
            own = _own_paths()
            if (_ROOT / "cgroup.controllers").is_file():
                return cls._create_v2(own.get("", "/"), name, limits)
            return cls._create_v1(own, name, limits)
        except OSError:
            return None

    @classmethod
    def _create_v1(cls, own: dict[str, str], name: str, limits: Limits) -> Cgroup | None:
        dirs: dict[str, Path] = {}
        for ctrl in ("memory", "pids", "cpu"):
            base = _ROOT / ctrl / own.get(ctrl, "/").lstrip("/")
            if not base.is_dir():
                if ctrl == "cpu":
                    continue  # CPU share is best effort
                return None
            path = base / name
            path.mkdir()
            dirs[ctrl] = path
        group = cls(dirs, v2=False)
        try:
            mem = str(limits.memory_mb * 1024 * 1024)
            (dirs["memory"] / "memory.limit_in_bytes").write_text(mem)
            swap = dirs["memory"] / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(mem)
            (dirs["pids"] / "pids.max").write_text(str(limits.pids))
            if "cpu" in dirs:
                quota = max(1000, int(limits.cpus * _PERIOD_US))
                (dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError:
            group.remove()
            raise
        return group

    @classmethod
    def _create_v2(cls, own: str, name: str, limits: Limits) -> Cgroup | None:
        parent = _ROOT / own.lstrip("/")
        wanted = {"memory", "pids", "cpu"}
        enabled = set((parent / "cgroup.subtree_control").read_text().split())
        if not wanted <= enabled:
            (parent / "cgroup.subtree_control").write_text(
                " ".join(f"+{c}" for c in sorted(wanted - enabled))
            )
        path = parent / name
        path.mkdir()
        group = cls({"": path}, v2=True)
        try:
            (path / "memory.max").write_text(str(limits.memory_mb * 1024 * 1024))
            with contextlib.suppress(OSError):
                (path / "memory.swap.max").write_text("0")
            (path / "pids.max").write_text(str(limits.pids))
            quota = max(1000, int(limits.cpus * _PERIOD_US))
            (path / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
        except OSError:
            group.remove()
            raise
        return group

    @property
    def procs_files(self) -> list[Path]:
        """The files a launcher writes its pid into to join every hierarchy."""
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def _pids_dir(self) -> Path:
        return self.dirs["" if self.v2 else "pids"]

    def pids(self) -> list[int]:
        """Processes currently in the group."""
        with contextlib.suppress(OSError):
            text = (self._pids_dir() / "cgroup.procs").read_text()
            return [int(p) for p in text.split()]
        return []

    def oom_killed(self) -> bool:
        """True when the kernel killed something here for exceeding the memory limit."""
        events = (
            self.dirs[""] / "memory.events"
            if self.v2
            else self.dirs["memory"] / "memory.oom_control"
        )
        with contextlib.suppress(OSError, ValueError):
            for line in events.read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def kill_all(self) -> None:
        """SIGKILL everything in the group until it is empty (bounded to a few seconds)."""
        kill_file = self._pids_dir() / "cgroup.kill"
        if self.v2 and kill_file.exists():
            with contextlib.suppress(OSError):
                kill_file.write_text("1")
        deadline = time.monotonic() + 5.0
        while (pids := self.pids()) and time.monotonic() < deadline:
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        """Kill what is left and delete the group(s)."""
        self.kill_all()
        for path in self.dirs.values():
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
