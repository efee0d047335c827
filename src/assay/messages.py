"""The typed messages the roles exchange, and the envelope that carries them.

Each message is a pydantic model with a literal ``kind`` so any of them can be told apart in one
discriminated union. ``SCHEMA_VERSION`` is bumped on incompatible changes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["SCHEMA_VERSION", "Changeset", "FileChange"]

SCHEMA_VERSION = 1


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FileChange(_Message):
    """One file the coder wants written: its full content, or a unified diff against it."""

    path: str
    """Workspace-relative path with forward slashes. Absolute paths and ``..`` are rejected when
    the change is applied (see `assay.workspace`)."""
    content: str | None = None
    """The file's full new content."""
    diff: str | None = None
    """A unified diff against the file's current content."""

    @model_validator(mode="after")
    def _one_of(self) -> FileChange:
        if (self.content is None) == (self.diff is None):
            raise ValueError(f"{self.path}: give exactly one of 'content' or 'diff'")
        return self


class Changeset(_Message):
    """The coder's output: files to write or patch, files to delete, and why."""

    kind: Literal["changeset"] = "changeset"
    files: list[FileChange] = Field(default_factory=list)
    """Files written in full or patched."""
    deletions: list[str] = Field(default_factory=list)
    """Workspace-relative paths to delete."""
    rationale: str = ""
    """What changed and why; becomes the iteration's commit message."""
