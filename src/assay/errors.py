"""The few exceptions assay raises, and what the CLI does with them.

    AssayError                 base; never raised directly
    ├── UserError              you can fix it: bad config, bad spec, bad path   (exit 2)
    │   ├── ConfigError        a key or value in [tool.assay] / assay.toml
    │   └── ToolMissingError   a tool a gate drives is not installed
    └── RunError               the run could not finish: provider outage, crash (exit 3)

Third-party exceptions are translated into these where they enter assay, so the CLI's single
error boundary only has to know this tree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["AssayError", "ConfigError", "RunError", "ToolMissingError", "UserError"]


class AssayError(Exception):
    """Base of every error assay raises on purpose."""

    exit_code = 3


class UserError(AssayError):
    """Something the user can fix: a bad path, config, spec or flag."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration key or value is wrong; names the key and the file."""

    def __init__(self, message: str, *, file: Path | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = f"{file}: " if file else ""
        at = f"[{key}] " if key else ""
        super().__init__(f"{where}{at}{message}")


class ToolMissingError(UserError):
    """A gate's tool is not installed or cannot start."""


class RunError(AssayError):
    """A run could not complete; it can be resumed."""
