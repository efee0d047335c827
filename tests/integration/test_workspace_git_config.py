"""The workspace's git runs nothing the work tree or the repository's config asks for.

Every file in the work tree comes from untrusted roles or sandboxed code. Git used to run with
``HOME`` set to the work tree, so a ``.gitconfig`` written there was read as global config: its
``core.fsmonitor`` command ran on the host (as root in CI) at the next ``git status``.
"""

from __future__ import annotations

import stat
from pathlib import Path

from assay.factory.git import Git


def _planted(root: Path, marker: Path) -> None:
    """Every place git would take a command from, each told to touch `marker`."""
    command = f"touch {marker} #"
    (root / ".gitconfig").write_text(f"[core]\n\tfsmonitor = {command}\n")
    (root / ".config" / "git").mkdir(parents=True)
    (root / ".config" / "git" / "config").write_text(f"[core]\n\tfsmonitor = {command}\n")
    with (root / ".git" / "config").open("a") as fh:
        fh.write(f"[core]\n\tfsmonitor = {command}\n")
    for hook in ("pre-commit", "commit-msg", "post-commit", "reference-transaction"):
        path = root / ".git" / "hooks" / hook
        path.write_text(f"#!/bin/sh\ntouch {marker}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_git_takes_no_command_from_the_workspace(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    git = Git(root)
    git.init()
    (root / "a.txt").write_text("one\n")
    git.commit_all("first")
    marker = tmp_path / "ran"
    _planted(root, marker)
    (root / "a.txt").write_text("two\n")

    assert git.run("status", "--porcelain", "-uall")
    commit = git.commit_all("second")
    git.reset_to(commit)

    assert not marker.exists(), "git ran a command planted in the workspace"
    assert git.run("log", "--format=%s") == "second\nfirst"
