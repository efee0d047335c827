"""The exemplar's files: which are read, their parsed modules, their digest and their commit.

Deterministic: files in sorted order; virtualenvs, caches, build output and hidden folders are
never read (they are not the team's code); a file that does not parse is listed as skipped.
"""

from __future__ import annotations

import ast
import fnmatch
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from assay.errors import UserError
from assay.processes import Command, build_env, run_blocking

__all__ = ["DEPENDENCY_FILES", "Parsed", "Scan", "scan"]

SKIP_DIRS = frozenset(
    {"venv", "env", "node_modules", "__pycache__", "build", "dist", "site-packages", "htmlcov"}
)
DEPENDENCY_FILES = ("pyproject.toml", "setup.cfg", "Pipfile")
_MAX_FILE_BYTES = 2_000_000
"""A bigger .py file is generated, not written by the team: skipped, and said so."""
_GIT_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Parsed:
    """One Python file of the exemplar, parsed."""

    rel: str
    """Its path relative to the source folder, with ``/``."""
    tree: ast.Module
    lines: list[str]

    @property
    def is_test(self) -> bool:
        """A test module, a conftest, or any module inside a ``tests`` / ``test`` folder."""
        path = PurePosixPath(self.rel)
        name = path.name
        in_tests = any(part in ("tests", "test") for part in path.parts[:-1])
        return in_tests or name.startswith("test_") or name.endswith("_test.py")


@dataclass(frozen=True, slots=True)
class Scan:
    """What was read from the source folder."""

    root: Path
    modules: list[Parsed]
    dependency_files: dict[str, str]
    """Relative path -> text, for pyproject.toml, setup.cfg, Pipfile and requirements*.txt."""
    files: list[str]
    """Every relative path read (Python and dependency files), sorted."""
    digest: str
    skipped: list[str]
    commit: str | None
    dirty: bool | None


def _excluded(rel: str, exclude: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(rel, pat.rstrip("/") + "/*")
               for pat in exclude)  # fmt: skip


def _walk(root: Path, exclude: Sequence[str]) -> list[str]:
    found = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        rel_dir = here.relative_to(root).as_posix()
        dirs[:] = sorted(
            d for d in dirs
            if not d.startswith(".") and d not in SKIP_DIRS and not d.endswith(".egg-info")
            and not _excluded(d if rel_dir == "." else f"{rel_dir}/{d}", exclude)
        )  # fmt: skip
        for name in names:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            wanted = (
                name.endswith(".py")
                or name in DEPENDENCY_FILES
                or (name.startswith("requirements") and name.endswith(".txt"))
            )
            if wanted and not _excluded(rel, exclude) and not (here / name).is_symlink():
                found.append(rel)
    return sorted(found)


def _git(root: Path, *args: str) -> str | None:
    # Reading only; hooks and the fsmonitor command are off whatever the repository says.
    argv = ["git", "-c", "core.fsmonitor=false", *args]
    result = run_blocking(
        Command(argv, cwd=root.resolve(), env=build_env(trusted=True), timeout=_GIT_TIMEOUT_S)
    )
    return result.stdout if result.ok else None


def scan(root: Path, *, exclude: Sequence[str] = ()) -> Scan:
    """Read and parse the exemplar under `root`; a `UserError` when it is not a folder or holds
    no Python file."""
    if not root.is_dir():
        raise UserError(f"--source {root}: not a folder")
    files = _walk(root, exclude)
    digest = hashlib.sha256()
    modules: list[Parsed] = []
    deps: dict[str, str] = {}
    skipped: list[str] = []
    read: list[str] = []
    for rel in files:
        path = root / rel
        try:
            data = path.read_bytes()
        except OSError as exc:
            skipped.append(f"{rel}: cannot read: {exc.strerror}")
            continue
        read.append(rel)
        digest.update(f"{rel}\0{hashlib.sha256(data).hexdigest()}\n".encode())
        text = data.decode("utf-8", errors="replace")
        if not rel.endswith(".py"):
            deps[rel] = text
            continue
        if len(data) > _MAX_FILE_BYTES:
            skipped.append(f"{rel}: larger than {_MAX_FILE_BYTES} bytes")
            continue
        try:
            tree = ast.parse(text, filename=rel)
        except (SyntaxError, ValueError) as exc:
            skipped.append(f"{rel}: does not parse: {exc}")
            continue
        modules.append(Parsed(rel, tree, text.splitlines()))
    if not modules:
        raise UserError(f"--source {root}: no Python file to learn from")
    head = _git(root, "rev-parse", "HEAD")
    status = _git(root, "status", "--porcelain", "--", ".") if head else None
    return Scan(
        root=root, modules=modules, dependency_files=deps, files=read,
        digest=digest.hexdigest(), skipped=skipped,
        commit=head.strip() if head else None,
        dirty=bool(status.strip()) if status is not None else None,
    )  # fmt: skip
