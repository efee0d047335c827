"""A guard around a third-party gate, so that a crash in it is that gate's error, naming the plugin.

The runner turns a `ToolMissingError` (the tool is not installed) or a `PluginFailure` (the
plugin's code crashed, `assay.errors`) raised by ``applies`` or ``version`` into that gate's
``error`` result, and a `Scan` with ``error`` set likewise; the guard maps every other exception
onto those two paths, naming the plugin. Everything else (``options_model``,
``default_required``, ...) is forwarded unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from assay.errors import PluginFailure, ToolMissingError
from assay.gates.base import Finding, Gate, GateContext, Scan, SeverityName

__all__ = ["PluginFailure", "PluginGate"]


class PluginGate:
    """Wraps a plugin's gate; exceptions become an ``error`` result naming plugin and gate."""

    def __init__(self, inner: Gate, *, plugin: str, distribution: str | None = None) -> None:
        self.inner = inner
        self.plugin = plugin
        self.distribution = distribution
        self.name: str = inner.name
        self.tool: str = inner.tool
        self.cost: int = inner.cost
        self.per_file: bool = inner.per_file
        self.default_fail_on: SeverityName = inner.default_fail_on
        self._inputs: tuple[GateContext, list[str]] | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr == "inner":
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def __repr__(self) -> str:
        return f"PluginGate({self.name!r}, plugin={self.plugin!r})"

    def _detail(self, method: str, exc: BaseException) -> str:
        return f"gate '{self.name}' raised {type(exc).__name__} in {method}(): {exc}"

    def _failure(self, method: str, exc: BaseException) -> PluginFailure:
        detail = self._detail(method, exc)
        return PluginFailure(detail, plugin=self.plugin, distribution=self.distribution)

    def _say(self, method: str, exc: BaseException) -> str:
        return str(self._failure(method, exc))

    def _blame(self) -> str:
        return str(PluginFailure("", plugin=self.plugin, distribution=self.distribution))

    def applies(self, ctx: GateContext) -> bool:
        """The plugin's answer; its inputs are computed here too so that a crash is caught."""
        self._inputs = None
        stage = "applies"
        try:
            if not self.inner.applies(ctx):
                return False
            stage = "inputs"
            self._inputs = (ctx, [str(f) for f in self.inner.inputs(ctx)])
        except ToolMissingError:
            raise
        except Exception as exc:
            raise self._failure(stage, exc) from exc
        return True

    def version(self) -> str:
        """The plugin's tool version."""
        try:
            return str(self.inner.version())
        except ToolMissingError:
            raise
        except Exception as exc:
            raise self._failure("version", exc) from exc

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """The inputs computed in `applies` for this very context."""
        if self._inputs is not None and self._inputs[0] is ctx:
            return self._inputs[1]
        try:
            return [str(f) for f in self.inner.inputs(ctx)]
        except ToolMissingError:
            raise
        except Exception as exc:
            raise self._failure("inputs", exc) from exc

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """The plugin's scan; an exception or a result of the wrong type is the gate's error."""
        try:
            result = await self.inner.scan(ctx, files)
        except Exception as exc:
            return Scan(error=self._say("scan", exc))
        if not isinstance(result, Scan):
            return Scan(
                error=f"{self._blame()}gate '{self.name}' scan() returned "
                f"{type(result).__name__}, not assay.gates.base.Scan"
            )
        bad = [type(f).__name__ for f in result.findings if not isinstance(f, Finding)]
        if bad:
            return Scan(
                error=f"{self._blame()}gate '{self.name}' returned findings of type "
                f"{', '.join(sorted(set(bad)))}, not assay.gates.base.Finding"
            )
        return result
