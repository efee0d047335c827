"""Which files a gate run looks at: a walk of the project that honours the policy's excludes."""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileHashes", "list_files"]

# Folders no gate should read: tool caches, environments, VCS metadata. Any other folder holding a
# CACHEDIR.TAG (https://bford.info/cachedir/, written by import-linter, pytest, ruff, ...) is a
# cache too and is skipped.
_PRUNE = {
    ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox", ".assay", "__pycache__",
    ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "node_modules", ".eggs",
    "build", "dist",
}  # fmt: skip
_CACHEDIR_TAG = "CACHEDIR.TAG"


def _excluded(rel: str, patterns: Iterable[str]) -> bool:
    return any(
        fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat.rstrip("/") + "/*")
        for pat in patterns
    )


def list_files(root: Path, exclude: Iterable[str] = (), *, base: Path | None = None) -> list[str]:
    """Every file under `root`, relative with forward slashes, sorted, excludes applied.

    Exclude globs match paths relative to `root`, and also relative to `base` (the folder of the
    config file) when `root` lies inside it.
    """
    patterns = list(exclude)
    prefix = _prefix(root, base)

    def kept(rel: str) -> bool:
        return not _excluded(rel, patterns) and not _excluded(prefix + rel, patterns)

    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames if _walkable(Path(dirpath), d) and kept(rel_dir + d)
        )
        found += [rel_dir + name for name in filenames if kept(rel_dir + name)]
    return sorted(found)


def _prefix(root: Path, base: Path | None) -> str:
    """`root` relative to `base` with a trailing slash, or "" when it is not below it."""
    if base is not None and root != base and root.is_relative_to(base):
        return root.relative_to(base).as_posix() + "/"
    return ""


def _walkable(parent: Path, name: str) -> bool:
    """Whether a folder can hold files a gate should read (not a cache, venv or VCS folder)."""
    if name in _PRUNE or name.endswith(".egg-info"):
        return False
    return not (parent / name / _CACHEDIR_TAG).is_file()


class FileHashes:
    """SHA-256 of files under a root, each read once per gate run."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._memo: dict[str, str] = {}

    def __getitem__(self, rel: str) -> str:
        digest = self._memo.get(rel)
        if digest is None:
            try:
                digest = hashlib.sha256((self._root / rel).read_bytes()).hexdigest()
            except OSError:
                digest = "missing"
            self._memo[rel] = digest
        return digest

    def combined(self, rels: Iterable[str]) -> str:
        """One digest over several files' names and contents."""
        h = hashlib.sha256()
        for rel in sorted(rels):
            h.update(f"{rel}\0{self[rel]}\n".encode())
        return h.hexdigest()
