"""assay: a software factory for regulated environments."""

from __future__ import annotations

from assay.errors import AssayError, ConfigError, RunError, ToolMissingError, UserError

__version__ = "0.1.0"

#: Bumped on any incompatible change to the hook specifications in ``assay.plugins``.
PLUGIN_API_VERSION = 1

__all__ = [
    "PLUGIN_API_VERSION",
    "AssayError",
    "ConfigError",
    "RunError",
    "ToolMissingError",
    "UserError",
    "__version__",
]
