"""The few exceptions assay raises, and what the CLI does with them.

    AssayError                 base; never raised directly
    ├── UserError              you can fix it: bad config, bad spec, bad path   (exit 2)
    │   ├── ConfigError        a key or value in [tool.assay] / assay.toml
    │   └── ToolMissingError   a tool a gate drives is not installed
    ├── VerdictError           a verdict against you, not a mistake of yours     (exit 1)
    │   └── CorruptLedgerError the evidence does not hold up: a ledger that cannot be read,
    │                          or was edited, truncated or reordered
    ├── RunError               the run could not finish: provider outage, crash (exit 3)
    │   └── SandboxError       the container engine failed mid-run: it refused a request,
    │                          lost the connection or died (docker SDK / requests errors)
    └── PluginFailure          a plugin's own code raised, or returned the wrong thing; the
                               message names the plugin (its entry point and distribution),
                               never "a bug in assay"                            (exit 3)

A plugin that is missing, blocked or refused at registration is `assay.plugins.PluginError`
(a `UserError`, exit 2): that is decided by the configuration. A `PluginFailure` happens when
the plugin's code runs.

`PluginWarning` lives here too (not in `assay.plugins`), so the CLI can recognise a plugin's
warning without importing the plugin machinery.

Third-party exceptions are translated into these where they enter assay, so the CLI's single
error boundary only has to know this tree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AssayError",
    "ConfigError",
    "CorruptLedgerError",
    "PluginFailure",
    "PluginWarning",
    "RunError",
    "SandboxError",
    "ToolMissingError",
    "UserError",
    "VerdictError",
]


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


class VerdictError(AssayError):
    """A verdict against you: what was checked does not hold up (not a usage error)."""

    exit_code = 1


class CorruptLedgerError(VerdictError):
    """A run's ledger is corrupt or was tampered with: unreadable, edited, truncated, reordered.

    The message names the ledger file and, when known, the first bad event.
    """


class RunError(AssayError):
    """A run could not complete; it can be resumed."""


class SandboxError(RunError):
    """The sandbox's engine failed while assay used it (a request refused, the connection lost).

    Raised where a backend calls its engine (`assay.sandbox.docker.engine_errors`), so no
    docker SDK or requests exception reaches the CLI; the message names the engine's endpoint
    and what it said.
    """


class PluginFailure(AssayError):
    """A plugin's code failed when assay called it: a factory or hook raised, or returned
    something that does not satisfy its protocol.

    `plugin` is the plugin's name (its entry point, or module path), `distribution` the
    distribution that installed it, when known. The message starts with both, so the user
    knows whom to blame, and which name to put in ``plugins.block``.
    """

    def __init__(self, message: str, *, plugin: str, distribution: str | None = None) -> None:
        self.plugin = plugin
        self.distribution = distribution
        self.detail = message
        of = f" (distribution {distribution})" if distribution and distribution != plugin else ""
        super().__init__(f"plugin '{plugin}'{of}: {message}")


class PluginWarning(UserWarning):
    """A plugin was skipped, or used something deprecated; the message names the plugin."""
