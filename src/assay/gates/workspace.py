"""Which files a gate run looks at: a walk of the project that honours the policy's excludes, or
just the files named on the command line (a pre-commit hook passes the staged ones).

`resolve_target` turns what ``assay gate`` was given into a project root and, when files were
named, the selection relative to it; `select_files` applies the same excludes to a selection that
`list_files` applies to a walk, so a file the walk would skip is skipped when named too.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assay.config import find_config
from assay.errors import UserError

__all__ = ["FileHashes", "Target", "list_files", "resolve_target", "select_files"]

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
    return sorted(_walk(root, "", _keeper(root, exclude, base)))


def select_files(
    root: Path, paths: Iterable[str], exclude: Iterable[str] = (), *, base: Path | None = None
) -> list[str]:
    """The files among `paths` (relative to `root`) that a walk of `root` would have listed.

    A folder stands for the files under it. Paths that are missing, lie outside `root`, sit in
    an excluded, cache, environment or VCS folder, or match an exclude glob are dropped.
    """
    kept = _keeper(root, exclude, base)
    found: set[str] = set()
    for raw in paths:
        rel = _normal(root, raw)
        if rel is None or not _reachable(root, rel, kept):
            continue
        path = root / rel
        if path.is_dir():
            found.update(_walk(path, "" if rel == "." else rel + "/", kept))
        elif path.is_file() and kept(rel):
            found.add(rel)
    return sorted(found)


def _keeper(root: Path, exclude: Iterable[str], base: Path | None) -> Callable[[str], bool]:
    patterns = list(exclude)
    prefix = _prefix(root, base)

    def kept(rel: str) -> bool:
        return not _excluded(rel, patterns) and not _excluded(prefix + rel, patterns)

    return kept


def _walk(top: Path, rel_top: str, kept: Callable[[str], bool]) -> list[str]:
    """Files under `top` (which is `rel_top` below the root), pruned as `list_files` prunes."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = Path(dirpath).relative_to(top).as_posix()
        rel_dir = rel_top + ("" if rel_dir == "." else rel_dir + "/")
        dirnames[:] = sorted(
            d for d in dirnames if _walkable(Path(dirpath), d) and kept(rel_dir + d)
        )
        found += [rel_dir + name for name in filenames if kept(rel_dir + name)]
    return found


def _normal(root: Path, raw: str) -> str | None:
    """`raw` (relative to `root`, or absolute) as a clean relative path; None when outside."""
    path = Path(raw)
    if path.is_absolute():
        if not path.is_relative_to(root):  # perhaps named through a symlinked folder
            path = path.parent.resolve() / path.name
        if not path.is_relative_to(root):
            return None
        path = path.relative_to(root)
    parts = [p for p in path.parts if p not in ("", ".")]
    if ".." in parts:
        return None
    return "/".join(parts) if parts else "."


def _reachable(root: Path, rel: str, kept: Callable[[str], bool]) -> bool:
    """Whether the walk would descend into every folder above `rel` (and `rel` if a folder)."""
    if rel == ".":
        return True
    parts = rel.split("/")
    folders = parts if (root / rel).is_dir() else parts[:-1]
    parent = root
    for depth, name in enumerate(folders, start=1):
        if not _walkable(parent, name) or not kept("/".join(parts[:depth])):
            return False
        parent = parent / name
    return True


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


@dataclass(frozen=True, slots=True)
class Target:
    """What one ``assay gate`` run checks: a project root and, optionally, files within it."""

    root: Path
    """The project root (absolute, resolved): where the policy is looked up and tools run."""
    files: tuple[str, ...] | None = None
    """The named files and folders relative to `root`; None means the whole project."""


def resolve_target(paths: Sequence[Path], *, cwd: Path | None = None) -> Target:
    """The project root and selection for the paths ``assay gate`` was given.

    No path, or a single folder, is a whole project, as before. Files (or several paths) are a
    selection: the root is the folder of the nearest ``assay.toml`` / ``pyproject.toml`` with a
    ``[tool.assay]`` table at or above the paths' common folder, else the enclosing git work
    tree, else `cwd` when it holds them all, else the common folder itself.
    """
    here = (cwd or Path.cwd()).resolve()
    if not paths:
        return Target(here)
    located = []
    for raw in paths:
        path = raw if raw.is_absolute() else here / raw
        if not path.exists():
            raise UserError(f"path does not exist: {raw}")
        # Resolve the folder, not the file: a symlinked file stays where it was named.
        located.append(path.resolve() if path.is_dir() else path.parent.resolve() / path.name)
    if len(located) == 1 and located[0].is_dir():
        return Target(located[0])
    folders = [p if p.is_dir() else p.parent for p in located]
    root = _root_above(Path(os.path.commonpath(folders)), here)
    return Target(root, tuple(p.relative_to(root).as_posix() for p in located))


def _root_above(common: Path, cwd: Path) -> Path:
    config = find_config(common)
    if config is not None:
        return config.parent.resolve()
    for folder in (common, *common.parents):
        if (folder / ".git").exists():
            return folder
    return cwd if common.is_relative_to(cwd) else common


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
