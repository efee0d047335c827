"""Lending a workspace to the docker backend's container user while assay runs as root.

As root, the docker backend never runs generated code as root: its containers run as the
unprivileged uid/gid `SANDBOX_UID`. That user can write only what it owns, so for the life of the
containers on a workspace the workspace is *lent* to it (`lend`): every entry except ``.git`` is
handed to `SANDBOX_UID`. When the last of those containers has exited and been removed (nothing
inside can race the walk any more), `give_back` returns every entry the sandbox user owns (what
it was lent and what it wrote) to the workspace's owner. So host git never meets a repository
owned by someone else ("detected dubious ownership"), and the host user can manage every file
the generated code left. Changing a file's owner clears its set-user-ID bit (Linux does so even
for root), so nothing the generated code marked set-uid becomes a set-uid file of the owner.

``.git`` is never lent (the docker backend also mounts it read-only): generated code cannot
plant hooks or config (``core.fsmonitor``, filters) that host git would later run as root.

A process killed while its containers run leaves the workspace lent; `reclaim` takes it back
(a run calls it when it starts or resumes, a docker sandbox when it opens). The walks use
`os.fwalk` with ``chown(..., dir_fd=..., follow_symlinks=False)``: a symlink in the workspace is
changed itself, never what it points to, and a folder swapped for a symlink is not entered.

Without root every function here does nothing: the container then runs as the caller's own
uid/gid and its files are the caller's already.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

__all__ = ["SANDBOX_UID", "give_back", "lend", "reclaim"]

SANDBOX_UID = 65532
"""The uid and gid generated code runs as in the docker backend when assay runs as root."""

_lock = threading.Lock()
# resolved workspace -> (containers using it, owner uid, owner gid to give it back to)
_lent: dict[Path, tuple[int, int, int]] = {}


def lend(workspace: Path) -> None:
    """Hand `workspace` to the sandbox user for one more container (a no-op without root)."""
    if os.geteuid() != 0:
        return
    key = workspace.resolve()
    with _lock:
        users, uid, gid = _lent.get(key, (0, 0, 0))
        if users == 0:
            uid, gid = _owner(key)
            _chown_tree(key, SANDBOX_UID, SANDBOX_UID, lending=True)
        _lent[key] = (users + 1, uid, gid)


def give_back(workspace: Path) -> None:
    """One container on `workspace` is gone; after the last, its owner gets everything back."""
    if os.geteuid() != 0:
        return
    key = workspace.resolve()
    with _lock:
        users, uid, gid = _lent.pop(key, (1, *_owner(key)))
        if users > 1:
            _lent[key] = (users - 1, uid, gid)
            return
        _chown_tree(key, uid, gid, lending=False)


def reclaim(workspace: Path) -> None:
    """Take back what a killed process left lent to the sandbox user (none of this process's)."""
    if os.geteuid() != 0 or not workspace.is_dir():
        return
    key = workspace.resolve()
    with _lock:
        if key not in _lent:
            _chown_tree(key, *_owner(key), lending=False)


def _owner(root: Path) -> tuple[int, int]:
    """Whom `root` belongs to: its owner, or this process's user when it was left lent."""
    st = os.lstat(root)
    if SANDBOX_UID in (st.st_uid, st.st_gid):
        return os.geteuid(), os.getegid()
    return st.st_uid, st.st_gid


def _chown_tree(root: Path, uid: int, gid: int, *, lending: bool) -> None:
    """Lending: every entry but ``.git`` to uid:gid. Giving back: the sandbox user's entries."""

    def fix(name: str, dir_fd: int | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if (st.st_uid, st.st_gid) == (uid, gid):
                return
            if lending or SANDBOX_UID in (st.st_uid, st.st_gid):
                os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    fix(str(root), None)
    for dirpath, dirnames, filenames, dir_fd in os.fwalk(root, follow_symlinks=False):
        if lending and dirpath == str(root):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            filenames = [f for f in filenames if f != ".git"]
        for name in [*dirnames, *filenames]:
            fix(name, dir_fd)
