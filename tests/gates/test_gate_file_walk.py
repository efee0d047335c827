"""Which files a gate run reads: caches, environments and excluded paths are never scanned."""

from __future__ import annotations

from pathlib import Path

from assay.gates.collect import list_files


def _touch(root: Path, *rels: str) -> None:
    for rel in rels:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")


def test_folders_tagged_as_caches_are_skipped(tmp_path: Path) -> None:
    _touch(
        tmp_path, "src/app.py", ".import_linter_cache/CACHEDIR.TAG", ".import_linter_cache/a.data"
    )
    _touch(tmp_path, "build-cache/CACHEDIR.TAG", "build-cache/deep/b.py")
    assert list_files(tmp_path) == ["src/app.py"]


def test_a_file_named_like_the_tag_at_the_root_does_not_hide_the_project(tmp_path: Path) -> None:
    _touch(tmp_path, "CACHEDIR.TAG", "src/app.py")
    assert list_files(tmp_path) == ["CACHEDIR.TAG", "src/app.py"]


def test_known_tool_folders_and_excludes_are_skipped(tmp_path: Path) -> None:
    _touch(
        tmp_path,
        "pkg/mod.py",
        ".venv/lib/site.py",
        ".hypothesis/examples/1",
        "pkg.egg-info/PKG-INFO",
        "tests/fixtures/bad.py",
        "tests/test_mod.py",
    )
    assert list_files(tmp_path, ["tests/fixtures"]) == ["pkg/mod.py", "tests/test_mod.py"]
