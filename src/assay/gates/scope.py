"""Which files are tests, for the gates whose policy differs there.

The complexity gate measures source code, not tests, and bandit's B101 ("assert used") is not
reported in tests: a test is made of asserts. One definition, the pytest conventions: a file under
a ``tests`` folder (at any depth), ``test_*.py``, ``*_test.py`` or ``conftest.py``. The generated
project's own tool configuration (`assay.factory.scaffold`) spells the same set as globs.
"""

from __future__ import annotations

from pathlib import PurePosixPath

__all__ = ["TEST_FILE_GLOBS", "is_test_file"]

TEST_FILE_GLOBS = ("tests/**", "**/tests/**", "test_*.py", "*_test.py", "conftest.py")
"""The same set as ruff's ``per-file-ignores`` patterns (a pattern without a folder matches the
file's name at any depth)."""


def is_test_file(path: str) -> bool:
    """Whether `path` (relative, forward slashes) is a test file or lies in a tests folder."""
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    name = parts[-1]
    return (
        "tests" in parts[:-1]
        or name == "conftest.py"
        or (name.startswith("test_") and name.endswith(".py"))
        or name.endswith("_test.py")
    )
