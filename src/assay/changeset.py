"""Writing a coder's `Changeset` into a workspace, treating it as hostile input.

Every path must be relative, with forward slashes, no ``..``, no NUL or backslash, and not
inside ``.git``. Folders are walked one component at a time with ``O_NOFOLLOW`` relative to an
open descriptor of the workspace, so a symlink anywhere on the way (planted by earlier generated
code, say) is refused rather than followed, and no check-then-use race can redirect a write.
The whole changeset is validated and every diff applied in memory first; only then is anything
written, so a rejected changeset leaves the workspace untouched.

    apply_changeset(root, changeset) -> Applied(written=[...], deleted=[...])
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assay.errors import UserError
from assay.messages import Changeset

__all__ = ["Applied", "ChangesetRejected", "apply_changeset", "apply_unified_diff", "safe_parts"]

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class ChangesetRejected(UserError):
    """A changeset (or one of its files) cannot be applied; nothing was written."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"changeset rejected: {path!r}: {reason}")


@dataclass
class Applied:
    """What `apply_changeset` changed, as workspace-relative paths."""

    written: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def safe_parts(path: str) -> tuple[str, ...]:
    """The components of a workspace-relative path, or `ChangesetRejected` if it is unsafe."""
    if not path or "\0" in path or "\\" in path:
        raise ChangesetRejected(path, "empty, or contains a NUL or a backslash")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise ChangesetRejected(path, "absolute paths are not allowed")
    parts = tuple(p for p in path.split("/") if p not in ("", "."))
    if not parts:
        raise ChangesetRejected(path, "names no file")
    if ".." in parts:
        raise ChangesetRejected(path, "'..' is not allowed")
    if parts[0].lower() == ".git":
        raise ChangesetRejected(path, "the .git folder is off limits")
    return parts


@contextlib.contextmanager
def _open_dir(root_fd: int, parts: tuple[str, ...], rel: str, *, create: bool) -> Iterator[int]:
    """A descriptor of folder `parts` under `root_fd`, never following a symlink."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except (NotADirectoryError, OSError) as exc:
                raise ChangesetRejected(
                    rel, f"'{part}' is a symlink or not a folder; refusing to go through it"
                ) from exc
            os.close(fd)
            fd = nxt
        yield fd
    finally:
        os.close(fd)


def _read(root_fd: int, parts: tuple[str, ...], rel: str) -> str | None:
    """Current text of the file, None when absent; refuses symlinks and non-files."""
    try:
        with _open_dir(root_fd, parts[:-1], rel, create=False) as dfd:
            st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                raise ChangesetRejected(rel, "is a symlink; refusing to write through it")
            if not stat.S_ISREG(st.st_mode):
                raise ChangesetRejected(rel, "exists and is not a regular file")
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
            with os.fdopen(fd, "rb") as fh:
                data = fh.read()
    except FileNotFoundError:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ChangesetRejected(rel, "the existing file is not UTF-8 text") from None


def _write(root_fd: int, parts: tuple[str, ...], rel: str, text: str) -> None:
    with _open_dir(root_fd, parts[:-1], rel, create=True) as dfd:
        tmp = f".assay-tmp-{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dfd)
        with os.fdopen(fd, "wb") as fh:
            fh.write(text.encode("utf-8"))
        os.rename(tmp, parts[-1], src_dir_fd=dfd, dst_dir_fd=dfd)


def _delete(root_fd: int, parts: tuple[str, ...], rel: str) -> None:
    with _open_dir(root_fd, parts[:-1], rel, create=False) as dfd:
        os.unlink(parts[-1], dir_fd=dfd)  # removes a symlink itself, never its target


def _read_hunk(
    lines: list[str], i: int, old_n: int, new_n: int, path: str, number: int
) -> tuple[list[str], list[str], int]:
    """The old and new lines of the hunk whose body starts at `lines[i]`, and where it ends."""
    old: list[str] = []
    new: list[str] = []
    while i < len(lines) and (len(old) < old_n or len(new) < new_n):
        line = lines[i]
        i += 1
        if line.startswith("\\"):
            continue
        tag, body = (line[:1], line[1:]) if line[:1] in "+- " else (" ", line)
        body = body if body.endswith("\n") else body + "\n"
        if tag in " -":
            old.append(body)
        if tag in " +":
            new.append(body)
    if (len(old), len(new)) != (old_n, new_n):
        raise ChangesetRejected(path, f"diff hunk {number} is shorter than its header says")
    # "\ No newline at end of file" right after the hunk's last line
    while i < len(lines) and lines[i].startswith("\\"):
        if new and lines[i - 1][:1] in " +":
            new[-1] = new[-1].rstrip("\n")
        i += 1
    return old, new, i


def apply_unified_diff(original: str, diff: str, path: str = "<file>") -> str:
    """Apply a unified diff to `original`; `ChangesetRejected` when a hunk does not match."""
    src = original.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    lines = diff.splitlines(keepends=True)
    i = 0
    hunks = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        i += 1
        if not match:
            continue
        hunks += 1
        old_n, new_n = int(match.group(2) or "1"), int(match.group(4) or "1")
        old, new, i = _read_hunk(lines, i, old_n, new_n, path, hunks)
        start = int(match.group(1)) - 1 if old else int(match.group(1))
        at = _find(src, old, max(start, pos), pos)
        if at is None:
            raise ChangesetRejected(path, f"diff hunk {hunks} does not match the current file")
        out.extend(src[pos:at])
        out.extend(new)
        pos = at + len(old)
    if hunks == 0:
        raise ChangesetRejected(path, "the diff has no '@@' hunk")
    out.extend(src[pos:])
    return "".join(out)


def _find(src: list[str], old: list[str], hint: int, floor: int) -> int | None:
    """Where `old` occurs in `src` at or after `floor`, nearest to `hint` first."""

    def norm(seq: list[str]) -> list[str]:
        return [s.rstrip("\n") for s in seq]

    want = norm(old)
    n = len(old)
    for offset in range(len(src) + 1):
        for at in (hint + offset, hint - offset) if offset else (hint,):
            if floor <= at <= len(src) - n and norm(src[at : at + n]) == want:
                return at
    return None


def apply_changeset(root: Path, changeset: Changeset) -> Applied:
    """Validate `changeset` completely, then write its files and deletions under `root`."""
    seen: set[tuple[str, ...]] = set()
    planned: list[tuple[tuple[str, ...], str, str]] = []
    removals: list[tuple[tuple[str, ...], str]] = []
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for change in changeset.files:
            parts = safe_parts(change.path)
            if parts in seen:
                raise ChangesetRejected(change.path, "appears more than once")
            seen.add(parts)
            current = _read(root_fd, parts, change.path)
            if change.content is not None:
                text = change.content
            else:
                assert change.diff is not None
                text = apply_unified_diff(current or "", change.diff, change.path)
            planned.append((parts, change.path, text))
        for rel in changeset.deletions:
            parts = safe_parts(rel)
            if parts in seen:
                raise ChangesetRejected(rel, "is both written and deleted")
            seen.add(parts)
            try:
                with _open_dir(root_fd, parts[:-1], rel, create=False) as dfd:
                    st = os.stat(parts[-1], dir_fd=dfd, follow_symlinks=False)
            except FileNotFoundError:
                raise ChangesetRejected(rel, "cannot delete: no such file") from None
            if stat.S_ISDIR(st.st_mode):
                raise ChangesetRejected(rel, "cannot delete a folder; list its files")
            removals.append((parts, rel))
        applied = Applied()
        for parts, rel, text in planned:
            _write(root_fd, parts, rel, text)
            applied.written.append("/".join(parts))
        for parts, rel in removals:
            _delete(root_fd, parts, rel)
            applied.deleted.append("/".join(parts))
        return applied
    finally:
        os.close(root_fd)
