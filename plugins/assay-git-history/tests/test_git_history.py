"""The change-history section, over a real git repository made for the test."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from assay.plugins import ReportContext, make_plugin_manager, report_sections

from assay_git_history import history_section


def _git(root: Path, *args: str, author: str = "Ada") -> None:
    env = {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.org",
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": f"{author.lower()}@example.org",
        "GIT_AUTHOR_DATE": "2024-05-01T12:00:00+00:00",
        "GIT_COMMITTER_DATE": "2024-05-01T12:00:00+00:00",
        "HOME": str(root),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    _git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "app.py").write_text("print('hi')\n", encoding="utf-8")
    _git(tmp_path, "add", "app.py")
    _git(tmp_path, "commit", "-q", "-m", "Add the service")
    (tmp_path / "app.py").write_text("print('hello')\n", encoding="utf-8")
    _git(tmp_path, "commit", "-q", "-am", "Greet properly", author="Grace")
    return tmp_path


def test_section_lists_commits_newest_first(repo: Path) -> None:
    section = history_section(repo)
    assert section.key == "git-history"
    assert [r[1:] for r in section.rows] == [
        ["Grace", "2024-05-01T12:00:00+00:00", "Greet properly"],
        ["Ada", "2024-05-01T12:00:00+00:00", "Add the service"],
    ]
    assert section.summary.startswith("2 commit(s) by 2 author(s)")
    assert section.data["authors"] == ["Ada", "Grace"]
    assert len(section.data["commits"][0]["commit"]) == 40


def test_not_a_repository_says_so(tmp_path: Path) -> None:
    section = history_section(tmp_path)
    assert section.rows == []
    assert section.summary.startswith(f"No git history for {tmp_path}")


def test_installed_plugin_adds_its_section(repo: Path) -> None:
    pm = make_plugin_manager()
    assert pm.records["git-history"].distribution == "assay-git-history"
    sections = report_sections(pm, ReportContext(root=repo))
    assert [s.key for s in sections] == ["git-history"]
