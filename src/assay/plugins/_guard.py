"""A guard around a plugin's factory, so that whatever it raises or returns is blamed on the plugin.

The registries hand out every factory a plugin offers (a model provider, sandbox backend or
judge) as a `PluginFactory`. Calling it calls the plugin's factory; an exception from it is a
`PluginFailure` naming the plugin, its distribution and the factory, never an "internal error".
The caller, which knows what the factory must make, checks the result and raises
`PluginFactory.wrong` when it is something else. assay's own errors (`assay.errors`) raised by
the factory pass unchanged: a plugin that raises `SandboxUnavailable` or `UserError` says so on
purpose.
"""

from __future__ import annotations

from typing import Any

from assay.errors import AssayError, PluginFailure

__all__ = ["PluginFactory"]


class PluginFactory:
    """One factory a plugin offers, guarded; call it as the factory's Protocol says."""

    def __init__(
        self, factory: Any, *, plugin: str, name: str, what: str, distribution: str | None = None
    ) -> None:
        self.factory = factory
        self.plugin = plugin
        """The plugin's name (entry point or module path)."""
        self.name = name
        """The name it is offered under (``canned``, ``mybox``, ...)."""
        self.what = what
        """``model provider``, ``sandbox backend`` or ``judge``."""
        self.distribution = distribution

    def __repr__(self) -> str:
        return f"PluginFactory({self.what} {self.name!r}, plugin={self.plugin!r})"

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        """The factory's result; what it raises becomes a `PluginFailure` naming the plugin."""
        try:
            return self.factory(*args, **kwargs)
        except AssayError:
            raise
        except Exception as exc:
            raise self.failure(f"raised {type(exc).__name__}: {exc}") from exc

    def failure(self, problem: str) -> PluginFailure:
        """A `PluginFailure` for this factory: ``plugin 'p' (distribution d): <what> 'n' ...``."""
        return PluginFailure(
            f"{self.what} '{self.name}' {problem}",
            plugin=self.plugin,
            distribution=self.distribution,
        )

    def wrong(self, made: object, wanted: str) -> PluginFailure:
        """The failure for a factory that returned `made` instead of `wanted`."""
        return self.failure(f"returned {type(made).__name__}, not {wanted}")
