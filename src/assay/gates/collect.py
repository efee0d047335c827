"""Which files a gate run looks at: a walk of the project that honours the policy's excludes, or
just the files named on the command line (a pre-commit hook passes the staged ones).

`resolve_target` turns what ``assay gate`` was given into a project root and, when files were
named, the selection relative to it; `select_files` applies the same excludes to a selection that
`list_files` applies to a walk, so a file the walk would skip is skipped when named too.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from assay.config import find_config
from assay.errors import UserError
from assay.gates.base import SkippedFile

__all__ = [
    "FileHashes",
    "FileSet",
    "Target",
    "collect_files",
    "list_files",
    "resolve_target",
    "select_files",
]

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
    config file) when `root` lies inside it. Links are handled as `collect_files` says.
    """
    return collect_files(root, exclude, base=base).files


def select_files(
    root: Path, paths: Iterable[str], exclude: Iterable[str] = (), *, base: Path | None = None
) -> list[str]:
    """The files among `paths` (relative to `root`) that a walk of `root` would have listed.

    A folder stands for the files under it. Paths that are missing, lie outside `root`, sit in
    an excluded, cache, environment or VCS folder, or match an exclude glob are dropped.
    """
    return collect_files(root, exclude, base=base, paths=paths).files


@dataclass(frozen=True, slots=True)
class FileSet:
    """The files gates may read, and the ones found but left out, each with its reason."""

    files: list[str]
    """Relative to the root, forward slashes, sorted: real files inside the project only."""
    skipped: list[SkippedFile]
    """Sorted by path: links out of the project, broken links, special files, unlistable folders."""


def collect_files(
    root: Path,
    exclude: Iterable[str] = (),
    *,
    base: Path | None = None,
    paths: Iterable[str] | None = None,
) -> FileSet:
    """The project's files (or, with `paths`, those among them), with what was left out.

    Nothing is read through a symlink that leaves the project: a gate hands its files to tools
    that would follow it, so such a link (to a file or a folder) is skipped and listed, as is a
    broken link. A link to something inside the project stands for its target, which is listed
    once under its own path (tools such as semgrep refuse links). Excluded paths, caches and
    environments are left out silently, as the policy asks, whether they are links or not.
    """
    walker = _Walker(root, _keeper(root, exclude, base))
    if paths is None:
        walker.walk_folder(".")
    else:
        for raw in paths:
            walker.named(raw)
    return walker.result()


def _keeper(root: Path, exclude: Iterable[str], base: Path | None) -> Callable[[str], bool]:
    patterns = list(exclude)
    prefix = _prefix(root, base)

    def kept(rel: str) -> bool:
        return not _excluded(rel, patterns) and not _excluded(prefix + rel, patterns)

    return kept


_OUTSIDE = "symlink to a path outside the project"
_EXCLUDED_TARGET = "symlink to a path in the project that gates do not read"
_NOT_REGULAR = "not a regular file (a FIFO, socket or device)"


class _Walker:
    """One walk of a project: files found, files skipped, folders already walked."""

    def __init__(self, root: Path, kept: Callable[[str], bool]) -> None:
        self._root = root
        self._real_root = Path(os.path.realpath(root))
        self._kept = kept
        self._files: set[str] = set()
        self._skipped: dict[str, str] = {}
        self._walked: list[str] = []

    def result(self) -> FileSet:
        skipped = [SkippedFile(path=p, reason=r) for p, r in sorted(self._skipped.items())]
        return FileSet(sorted(self._files), skipped)

    def named(self, raw: str) -> None:
        """A path named on the command line: a file, a folder, or a link to either."""
        rel = _normal(self._root, raw)
        if rel is None:
            self._skipped[Path(raw).as_posix()] = "outside the project"
            return
        if not _reachable(self._root, rel, self._kept):
            return
        path = self._root / rel
        if not os.path.lexists(path):
            return
        if rel != "." and os.path.realpath(path) != str(self._real_root / rel):
            self._link(rel)  # the path itself, or a folder above it, is a link
        elif path.is_dir():
            self._follow_folder(rel)
        elif path.is_file() and self._kept(rel):
            self._files.add(rel)
        elif os.path.lexists(path) and self._kept(rel):
            self._skipped[rel] = _NOT_REGULAR

    def walk_folder(self, rel_top: str) -> None:
        """Every file under the real folder `rel_top` ("." for the root), links not followed."""
        self._walked.append(rel_top)
        stack = [rel_top]
        while stack:
            rel_dir = stack.pop()
            folder = self._root / rel_dir
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                self._skipped[rel_dir] = f"folder could not be listed: {exc.strerror}"
                continue
            prefix = "" if rel_dir == "." else rel_dir + "/"
            for entry in entries:
                rel = prefix + entry.name
                if not self._kept(rel):
                    continue
                if entry.is_symlink():
                    if entry.name not in _PRUNE and not entry.name.endswith(".egg-info"):
                        self._link(rel)
                elif entry.is_dir(follow_symlinks=False):
                    if _walkable(folder, entry.name):
                        stack.append(rel)
                elif entry.is_file(follow_symlinks=False):
                    self._files.add(rel)
                else:
                    self._skipped[rel] = _NOT_REGULAR

    def _link(self, rel: str) -> None:
        """A symlink at `rel`: skipped unless its target is inside the project and read there."""
        try:
            real = Path(os.path.realpath(self._root / rel, strict=True))
        except OSError as exc:
            self._skipped[rel] = (
                "broken symlink: its target does not exist"
                if exc.errno == errno.ENOENT
                else f"broken symlink: {exc.strerror}"
            )
            return
        if not real.is_relative_to(self._real_root):
            self._skipped[rel] = _OUTSIDE
            return
        target = real.relative_to(self._real_root).as_posix()
        if not _reachable(self._root, target, self._kept) or not self._kept(target):
            self._skipped[rel] = _EXCLUDED_TARGET
        elif real.is_dir():
            self._follow_folder(target)
        elif real.is_file():
            self._files.add(target)  # the target's own path: read once, never through the link
        else:
            self._skipped[rel] = _NOT_REGULAR

    def _follow_folder(self, rel: str) -> None:
        """Walk the real folder `rel` unless a folder holding it was walked already."""
        if not any(top == "." or rel == top or rel.startswith(top + "/") for top in self._walked):
            self.walk_folder(rel)


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
