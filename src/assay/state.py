"""The user's own state folder, outside every project: ``$XDG_STATE_HOME/assay``.

What a project's files must not be able to forge lives here, not in the project: the key that
authenticates the gate cache, and crash logs. Nothing here is ever created through a link.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

from assay.errors import UserError

__all__ = ["private_key", "state_dir"]

_KEY_BYTES = 32


def state_dir() -> Path:
    """``$XDG_STATE_HOME/assay``, by default ``~/.local/state/assay``.

    A relative ``XDG_STATE_HOME`` is ignored, as the XDG base directory specification says.
    """
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "assay"


def private_key(name: str) -> bytes:
    """A random 32-byte key kept in ``state_dir()/name``, made on first use.

    It is written to a private temporary file (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600) and
    published with a hard link, which never replaces anything: two processes starting at once
    agree on one key, and no reader sees half of one. An existing key is read only when it is a
    regular file of this user that nobody else can read or write; a link is never followed.

    Raises `OSError` when the state folder cannot be made or read, and `UserError` for a key file
    that cannot be trusted.
    """
    folder = state_dir()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / name
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    tmp = folder / f".{name}.{secrets.token_hex(8)}.tmp"
    key = secrets.token_bytes(_KEY_BYTES)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path, follow_symlinks=False)
    except FileExistsError:  # another process published its key first: use that one
        return _read_key(path)
    finally:
        tmp.unlink(missing_ok=True)
    return key


def _read_key(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise UserError(
            f"{path} cannot be read as a key ({exc.strerror}); delete it and assay makes a new one"
        ) from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        problem = _untrusted(info)
        if problem is None:
            key = fh.read(_KEY_BYTES + 1)
            problem = None if len(key) == _KEY_BYTES else f"holds {len(key)} bytes, not 32"
    if problem is not None:
        raise UserError(f"{path} {problem}: delete it and assay makes a new one")
    return key


def _untrusted(info: os.stat_result) -> str | None:
    """Why a key file with this status may have been read or planted by someone else."""
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return "belongs to another user"
    if info.st_mode & 0o077:
        return f"is readable or writable by others (mode {stat.S_IMODE(info.st_mode):o})"
    return None
