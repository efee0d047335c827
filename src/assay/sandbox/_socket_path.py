"""A Unix socket's address that fits ``sun_path`` however deep its folder is.

A deep ``$TMPDIR`` makes a socket's path longer than ``sun_path`` allows, and bind() or
connect() fails with "AF_UNIX path too long". Then the folder is held open (``O_PATH``) and
reached as ``/proc/self/fd/N/name``, which is short wherever the folder is.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SocketPath"]

SUN_PATH_MAX = 107
"""Bytes a Unix socket path may have on Linux (``sun_path`` is 108, with its NUL)."""


class SocketPath:
    """`path` binds or connects to `socket`; the socket's folder must exist when this is made.

    Close it when the socket is no longer reached through it (it may hold the folder open).
    """

    def __init__(self, socket: Path) -> None:
        self._fd: int | None = None
        self.path = str(socket)
        if len(os.fsencode(self.path)) > SUN_PATH_MAX and Path("/proc/self/fd").is_dir():
            self._fd = os.open(socket.parent, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self.path = f"/proc/self/fd/{self._fd}/{socket.name}"

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
