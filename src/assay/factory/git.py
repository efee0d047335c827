"""The workspace's git repository: one commit per step, tree hashes for oscillation, resets.

Everything in the work tree is written by untrusted roles and sandboxed code, so git here reads
no configuration from it: not ``$HOME/.gitconfig`` (``GIT_CONFIG_GLOBAL`` is the null device,
``HOME`` and ``XDG_CONFIG_HOME`` point nowhere) and not the system's. Hooks and the fsmonitor
command are off whatever the repository's config says; the rest of that config (filter drivers,
for one) is safe only while ``.git`` is kept from sandboxes, as the docker backend does by
mounting it read-only. Git's ``safe.directory`` is never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from assay.errors import RunError
from assay.processes import TOOL_OUTPUT_BYTES, Command, build_env, run_blocking

__all__ = ["Git"]

_TIMEOUT_S = 600.0
"""Seconds one git command may take before its process group is ended."""
_ENV = {
    "GIT_AUTHOR_NAME": "assay",
    "GIT_AUTHOR_EMAIL": "assay@localhost",
    "GIT_COMMITTER_NAME": "assay",
    "GIT_COMMITTER_EMAIL": "assay@localhost",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    # never the work tree: a .gitconfig or .config/git/ there would be read as global config
    "HOME": os.devnull,
    "XDG_CONFIG_HOME": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
}
# Commands git would run from the repository's config: none, whatever .git/config says.
_NO_COMMANDS = ("-c", "core.hooksPath=" + os.devnull, "-c", "core.fsmonitor=false")


class Git:
    """Runs git in one workspace with a fixed identity and no user or system config."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def run(self, *args: str, env_extra: dict[str, str] | None = None) -> str:
        """Run ``git <args>``; its output, stripped; a failure raises `RunError` with git's
        message."""
        return self._output(args, env_extra).strip()

    def _output(self, args: tuple[str, ...], env_extra: dict[str, str] | None = None) -> str:
        env = build_env(explicit={**_ENV, **(env_extra or {})}, trusted=True)
        argv = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false",
                *_NO_COMMANDS, *args]  # fmt: skip
        proc = run_blocking(
            Command(argv, self.root, env, _TIMEOUT_S, output_bytes=TOOL_OUTPUT_BYTES)
        )
        if not proc.ok or proc.stdout_truncated:
            raise RunError(f"git {' '.join(args)} failed in {self.root}: {proc.stderr.strip()}")
        return proc.stdout

    def init(self) -> None:
        """Create the repository if there is none."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / ".git").exists():
            self.run("init", "-q")

    def commit_all(self, message: str) -> str:
        """Stage everything and commit (even when nothing changed); returns the commit id."""
        self.run("add", "-A")
        self.run("commit", "-q", "--allow-empty", "-m", message)
        return self.head()

    def head(self) -> str:
        """The current commit id."""
        return self.run("rev-parse", "HEAD")

    def tree(self, rev: str = "HEAD") -> str:
        """The tree id of `rev`: equal trees mean equal workspaces."""
        return self.run("rev-parse", f"{rev}^{{tree}}")

    def file_at(self, rev: str, path: str) -> str | None:
        """The text of `path` in commit `rev` (None when it is not there or not text)."""
        try:
            listed = self.run("ls-tree", "--name-only", rev, "--", path)
        except RunError:
            return None
        if listed != path:
            return None
        try:
            return self._output(("show", f"{rev}:{path}"))
        except RunError:
            return None

    def reset_to(self, commit: str) -> None:
        """Throw away everything after `commit`, including untracked files."""
        self.run("reset", "-q", "--hard", commit)
        self.run("clean", "-q", "-fdx")

    def export(self, commit: str, dest: Path) -> None:
        """Write the files of `commit` into `dest` (replaced): a checkout with no ``.git``,
        through a private index, so the workspace, its index and HEAD are untouched."""
        # Emptied, not removed: a sandbox session's container may hold `dest` as its bind
        # mount (a stratified run validates twice in one iteration), and a new folder would
        # leave that mount on the deleted one.
        dest.mkdir(parents=True, exist_ok=True)
        for child in dest.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        # Named explicitly, and trusted by path: while a root run lends the workspace to the
        # docker sandbox's user, git would otherwise refuse it as someone else's repository
        # (.git itself is never lent, and only its objects are read).
        repo = ["-c", f"safe.directory={self.root}", f"--git-dir={self.root / '.git'}"]
        with tempfile.TemporaryDirectory(prefix="assay-export-") as scratch:
            index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
            self.run(*repo, "read-tree", commit, env_extra=index)
            self.run(*repo, f"--work-tree={dest}", "checkout-index", "-a", "-f", env_extra=index)

    def branch(self, name: str, commit: str) -> None:
        """Point branch `name` at `commit`."""
        self.run("branch", "-f", name, commit)
