"""assay's pre-commit hooks under real pre-commit, offline, in a fresh git repository.

The hooks are taken from our `.pre-commit-hooks.yaml` and declared as `repo: local` hooks with
`language: system` running the assay installed here (a `language: python` hook would pip-install
assay from the network). Everything else (entry, pass_filenames, require_serial, stages) is the
manifest's own; the only addition is `--output`, so that each run also leaves its JSON report
next to the repository. The repository's `.pre-commit-config.yaml` also pins a second, real hook
repository by a 40-hex commit SHA, which pre-commit clones from a local path (git may use no
other protocol here) and which the secrets gate must not mistake for a secret.
"""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from assay.gates.base import GateReport, GateStatus

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PINNED_URL = "https://github.com/assay-dev/pinned-hook-example"

CLEAN = "def add(a: int, b: int) -> int:\n    return a + b\n"
BAD = "import os\n\n\ndef add(a: int, b: int) -> int:\n    return a + b\n"  # F401
# Built at run time so that the literals in this file are not themselves secrets.
STRAY = (
    "import subprocess\n\nKEY = '"
    + "AKIA"
    + "IOSFODNN7EXAMPLE'\nsubprocess.call('ls', shell=True)\n"
)
STRAY_INI = "[db]\n" + "pass" + "word = Sup3rS3cretPassw0rdValue\n"

pytestmark = pytest.mark.slow


def manifest_hooks() -> list[dict[str, Any]]:
    hooks: list[dict[str, Any]] = YAML(typ="safe").load(REPO / ".pre-commit-hooks.yaml")
    return hooks


class Sandbox:
    """A fresh git repository, a private HOME and PRE_COMMIT_HOME, and helpers to run in it."""

    def __init__(self, base: Path) -> None:
        self.home = base / "home"
        self.repo = base / "repo"
        self.reports = base / "reports"
        for folder in (self.home, self.repo, self.reports):
            folder.mkdir()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
        env.update(
            HOME=str(self.home),
            XDG_CONFIG_HOME=str(self.home / ".config"),
            XDG_CACHE_HOME=str(self.home / ".cache"),
            PRE_COMMIT_HOME=str(base / "pre-commit-home"),
            PRE_COMMIT_COLOR="never",
            GIT_CONFIG_NOSYSTEM="1",
            GIT_ALLOW_PROTOCOL="file",  # no network, whatever a config says
        )
        self.env = env

    def run(self, *argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in argv],
            cwd=cwd or self.repo,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    def git(self, *argv: str, cwd: Path | None = None) -> str:
        proc = self.run("git", *argv, cwd=cwd)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.strip()

    def init(self, folder: Path) -> None:
        self.git("init", "-q", "-b", "main", cwd=folder)
        self.git("config", "user.name", "Hook Test", cwd=folder)
        self.git("config", "user.email", "hooks@example.invalid", cwd=folder)
        self.git("config", "commit.gpgsign", "false", cwd=folder)

    def write(self, rel: str, text: str) -> None:
        path = self.repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def report(self, hook_id: str) -> GateReport:
        return GateReport.model_validate_json((self.reports / f"{hook_id}.json").read_text())

    def pinned_hook_repo(self, base: Path) -> str:
        """A real hook repository, reachable only by path; its commit SHA."""
        folder = base / "pinned-hook-repo"
        folder.mkdir()
        self.init(folder)
        manifest = "- id: pinned-noop\n  name: pinned noop\n  entry: 'true'\n  language: system\n"
        (folder / ".pre-commit-hooks.yaml").write_text(manifest, encoding="utf-8")
        self.git("add", ".pre-commit-hooks.yaml", cwd=folder)
        self.git("commit", "-q", "-m", "hooks", cwd=folder)
        # pre-commit clones the URL the config names; git fetches it from the local folder.
        self.git("config", "--global", f"url.{folder.as_uri()}.insteadOf", PINNED_URL)
        return self.git("rev-parse", "HEAD", cwd=folder)


def local_hook(hook: dict[str, Any]) -> dict[str, Any]:
    """A manifest hook as a local hook running the assay installed beside this interpreter."""
    program, _, rest = str(hook["entry"]).partition(" ")
    assert program == "assay", hook["entry"]
    local = {k: v for k, v in hook.items() if k != "additional_dependencies"}
    local["language"] = "system"
    local["entry"] = f"{shlex.quote(str(BIN / 'assay'))} {rest}".strip()
    local["args"] = ["--output", f"../reports/{hook['id']}.json"]  # cwd is the repository
    return local


def pre_commit_config(sha: str) -> str:
    yaml = YAML()
    yaml.default_flow_style = False
    config = {
        "repos": [
            {"repo": PINNED_URL, "rev": sha, "hooks": [{"id": "pinned-noop"}]},
            {"repo": "local", "hooks": [local_hook(h) for h in manifest_hooks()]},
        ]
    }
    text = io.StringIO()
    yaml.dump(config, text)
    return text.getvalue()


@pytest.fixture
def box(tmp_path: Path) -> Sandbox:
    sandbox = Sandbox(tmp_path)
    sha = sandbox.pinned_hook_repo(tmp_path)
    assert len(sha) == 40
    sandbox.init(sandbox.repo)
    config = pre_commit_config(sha)
    assert f"rev: {sha}\n" in config
    sandbox.write(".pre-commit-config.yaml", config)
    return sandbox


def test_the_manifest_describes_hooks_on_the_staged_files() -> None:
    hooks = {h["id"]: h for h in manifest_hooks()}
    assert set(hooks) == {"assay-gate", "assay-gate-fast"}
    # Only what the gates need: the core install, and the semgrep extra where semgrep runs.
    assert hooks["assay-gate"]["additional_dependencies"] == [".[semgrep]"]
    assert hooks["assay-gate-fast"].get("additional_dependencies", []) == []
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook.get("pass_filenames", True) is True
        assert not hook.get("always_run", False)
        assert hook["require_serial"] is True
    fast = shlex.split(hooks["assay-gate-fast"]["entry"])
    assert {fast[i + 1] for i, arg in enumerate(fast) if arg == "--skip"} == {
        "mypy",
        "semgrep",
        "pytest",
        "depaudit",
    }
    assert "--skip" not in hooks["assay-gate"]["entry"]


def commit(box: Sandbox, message: str) -> tuple[int, str]:
    """`git commit` through the installed hook: exit code and everything it printed."""
    proc = box.run("git", "commit", "-m", message)
    return proc.returncode, proc.stdout + proc.stderr


def assert_clean_reports(box: Sandbox) -> None:
    full, fast = box.report("assay-gate"), box.report("assay-gate-fast")
    assert full.passed and fast.passed
    assert full.findings == [] and fast.findings == []
    statuses = {r.gate: r.status for r in full.results}
    assert {g for g, s in statuses.items() if s is GateStatus.PASSED} == {
        "ruff", "complexity", "secrets", "bandit", "mypy", "semgrep",
    }  # fmt: skip
    assert statuses["pytest"] is statuses["depaudit"] is GateStatus.NOT_APPLICABLE
    assert {r.gate for r in fast.results} == {"ruff", "complexity", "secrets", "bandit"}
    secrets = next(r for r in full.results if r.gate == "secrets")
    assert secrets.files_scanned == 2  # clean.py and the config with its pinned rev


def assert_only_bad_reported(box: Sandbox) -> None:
    for hook_id in ("assay-gate", "assay-gate-fast"):
        report = box.report(hook_id)
        assert not report.passed
        assert {(f.file, f.rule_id) for f in report.findings} == {("bad.py", "F401")}


def test_hooks_check_the_staged_files_and_nothing_else(box: Sandbox) -> None:
    box.write("clean.py", CLEAN)
    box.write("stray.py", STRAY)  # on disk, never staged
    box.write("notes.ini", STRAY_INI)  # likewise
    box.git("add", ".pre-commit-config.yaml", "clean.py")
    installed = box.run(BIN / "pre-commit", "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # A clean commit, with a pinned rev in its config and bad files left untracked, goes through.
    code, output = commit(box, "first")
    assert code == 0, output
    assert "pinned noop....." in output  # pre-commit did use the pinned repository
    assert "stray.py" not in output
    assert "notes.ini" not in output
    assert_clean_reports(box)
    assert box.git("status", "--porcelain", "--untracked-files=no") == ""

    # A staged bad file stops the commit, and the output names it (and only it).
    box.write("bad.py", BAD)
    box.git("add", "bad.py")
    code, output = commit(box, "second")
    assert code != 0, output
    assert "bad.py" in output
    assert "stray.py" not in output
    assert "notes.ini" not in output
    assert_only_bad_reported(box)
    assert box.git("log", "--format=%s") == "first"


def test_pre_commit_run_on_a_clean_repository_passes(box: Sandbox) -> None:
    box.write("pkg/calc.py", CLEAN)
    box.git("add", ".")
    box.git("commit", "-q", "--no-verify", "-m", "initial")
    proc = box.run(BIN / "pre-commit", "run", "--all-files", "--color", "never")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = box.report("assay-gate")
    assert report.passed, report.summary
    assert report.findings == []
    secrets = next(r for r in report.results if r.gate == "secrets")
    assert secrets.files_scanned == 2  # pkg/calc.py and the config with its pinned rev
