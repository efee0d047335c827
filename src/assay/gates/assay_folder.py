"""The project's ``.assay/`` folder, where gates keep their cache and raw reports.

What is in it may have come from anywhere: a clone, an archive, a commit. A symbolic link there
(``.assay`` itself, ``.assay/cache``, a report file) would make a gate write wherever it points,
so a gate run refuses to start while there is one, naming each; nothing is written through it.

When assay makes the folder it writes ``.assay/.gitignore`` holding ``*``, as ruff and mypy do
for their caches, so the folder is never committed by accident.
"""

from __future__ import annotations

import os
from pathlib import Path

from assay.errors import UserError

__all__ = ["GITIGNORE", "prepare_assay_folder"]

GITIGNORE = "# Created by assay: nothing here belongs in version control.\n*\n"


def prepare_assay_folder(root: Path, cache_dir: Path | None = None) -> Path:
    """Make sure ``root/.assay`` is a real folder with no link in it, and so is `cache_dir`
    when it lies elsewhere; return ``root/.assay``.

    Creates the folder (and its ``.gitignore``) when it is missing. Raises `UserError` listing
    every symbolic link found, and when ``.assay`` is not a folder.
    """
    folder = root / ".assay"
    try:
        folder.mkdir()
    except FileExistsError:
        pass
    except OSError as exc:
        raise UserError(f"cannot make {folder}: {exc.strerror}") from exc
    else:
        _write_gitignore(folder)
    links = _links(folder)
    if cache_dir is not None and not cache_dir.is_relative_to(folder) and cache_dir.exists():
        links += _links(cache_dir)
    if links:
        shown = "\n".join(f"  {link} -> {os.readlink(link)}" for link in links)
        raise UserError(
            "assay does not write through symbolic links in its own folders, and these were "
            f"found (from a clone, an archive or a commit?); remove them and run again:\n{shown}"
        )
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder: remove it and run again")
    return folder


def _write_gitignore(folder: Path) -> None:
    """``folder/.gitignore``, created, never through a link, never replacing a file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(folder / ".gitignore", flags, 0o644)
    except FileExistsError:
        return
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(GITIGNORE)


def _links(top: Path) -> list[Path]:
    """`top` if it is a link, else every link below it (the walk never follows one)."""
    if top.is_symlink():
        return [top]
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        found += [here / n for n in sorted(dirnames + filenames) if (here / n).is_symlink()]
    return found
