"""Writing a Changeset into a workspace: content, diffs, deletions, and hostile paths."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

from assay.changeset import ChangesetRejected, apply_changeset, apply_unified_diff, safe_parts
from assay.messages import Changeset, FileChange


def _diff(before: str, after: str, n: int = 3) -> str:
    return "".join(
        difflib.unified_diff(before.splitlines(True), after.splitlines(True), "a/f", "b/f", n=n)
    )


def test_writes_content_creates_folders_and_deletes(tmp_path: Path) -> None:
    (tmp_path / "old.py").write_text("gone\n")
    applied = apply_changeset(
        tmp_path,
        Changeset(
            files=[FileChange(path="./src/pkg/app.py", content="print('hi')\n")],
            deletions=["old.py"],
        ),
    )
    assert applied.written == ["src/pkg/app.py"] and applied.deleted == ["old.py"]
    assert (tmp_path / "src/pkg/app.py").read_text() == "print('hi')\n"
    assert not (tmp_path / "old.py").exists()


def test_applies_unified_diffs(tmp_path: Path) -> None:
    before = "".join(f"line {i}\n" for i in range(1, 30))
    after = before.replace("line 3\n", "line three\n").replace("line 25\n", "") + "tail\n"
    (tmp_path / "f.txt").write_text(before)
    apply_changeset(
        tmp_path, Changeset(files=[FileChange(path="f.txt", diff=_diff(before, after))])
    )
    assert (tmp_path / "f.txt").read_text() == after


def test_diff_creates_a_new_file_and_handles_missing_final_newline() -> None:
    assert apply_unified_diff("", _diff("", "a\nb\n")) == "a\nb\n"
    git_style = "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    assert apply_unified_diff("a\nb\n", git_style) == "a\nc"


def test_diff_with_shifted_lines_still_applies() -> None:
    before = "x\n" * 5 + "target\n" + "y\n" * 5
    diff = _diff(before, before.replace("target", "hit"), n=1)
    assert apply_unified_diff("extra\nextra\n" + before, diff) == "extra\nextra\n" + before.replace(
        "target", "hit"
    )


@pytest.mark.parametrize(
    "diff", ["@@ -1,1 +1,1 @@\n-nope\n+yes\n", "no hunk at all\n", "@@ -1,3 +1,3 @@\n a\n"]
)
def test_bad_diffs_are_rejected(diff: str) -> None:
    with pytest.raises(ChangesetRejected):
        apply_unified_diff("a\nb\nc\n", diff)


@pytest.mark.parametrize(
    "path",
    ["", "/etc/passwd", "../x", "a/../../x", "a\\b", "C:/x", ".git/config", "a\0b", ".", "./"],
)
def test_unsafe_paths_are_rejected(path: str) -> None:
    with pytest.raises(ChangesetRejected):
        safe_parts(path)


def test_symlinks_are_never_followed(tmp_path: Path) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    ws.mkdir()
    outside.mkdir()
    (outside / "target.txt").write_text("host file\n")
    os.symlink(outside, ws / "dirlink")
    os.symlink(outside / "target.txt", ws / "filelink")
    for change in (
        FileChange(path="dirlink/new.txt", content="x"),
        FileChange(path="filelink", content="x"),
        FileChange(path="filelink", diff="@@ -1,1 +1,1 @@\n-host file\n+pwned\n"),
    ):
        with pytest.raises(ChangesetRejected):
            apply_changeset(ws, Changeset(files=[change]))
    assert sorted(p.name for p in outside.iterdir()) == ["target.txt"]
    assert (outside / "target.txt").read_text() == "host file\n"
    # Deleting a symlink removes the link, never its target.
    apply_changeset(ws, Changeset(deletions=["filelink"]))
    assert (outside / "target.txt").exists() and not (ws / "filelink").is_symlink()


def test_a_rejected_changeset_writes_nothing(tmp_path: Path) -> None:
    changeset = Changeset(
        files=[FileChange(path="good.py", content="ok\n"), FileChange(path="../bad", content="x")]
    )
    with pytest.raises(ChangesetRejected, match=r"\.\./bad"):
        apply_changeset(tmp_path, changeset)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "changeset",
    [
        Changeset(files=[FileChange(path="a", content="1"), FileChange(path="./a", content="2")]),
        Changeset(files=[FileChange(path="a", content="1")], deletions=["a"]),
        Changeset(deletions=["missing.txt"]),
        Changeset(deletions=["folder"]),
    ],
)
def test_conflicting_or_impossible_changes_are_rejected(
    tmp_path: Path, changeset: Changeset
) -> None:
    (tmp_path / "folder").mkdir()
    with pytest.raises(ChangesetRejected):
        apply_changeset(tmp_path, changeset)
