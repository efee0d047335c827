"""Optional parts of assay and what to install for them.

``pip install assay`` gives the gates, scenario linting and validation (deterministic checks), and
the evidence commands. The ``factory`` extra adds pydantic-ai (role agents, the LLM judge, model
providers) and the docker SDK (the docker sandbox backend); the ``semgrep`` extra adds semgrep.
Code that needs an extra imports it through `require` (or calls `require_factory` first), so a
missing package is a `MissingExtra` (a `UserError`, exit 2) naming the extra, never a bare
``ImportError`` traceback. A module that cannot work at all without its extra (the docker
backend) raises `MissingExtra` when imported.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from assay.errors import UserError

__all__ = [
    "FACTORY",
    "SEMGREP",
    "MissingExtra",
    "factory_problem",
    "install_hint",
    "require",
    "require_factory",
]

FACTORY = "factory"
"""pydantic-ai (with the openai and anthropic providers) and the docker SDK."""
SEMGREP = "semgrep"
"""The semgrep gate's tool."""


def install_hint(extra: str) -> str:
    """The pip command that installs `extra`, quoted for a shell."""
    return f"pip install 'assay[{extra}]'"


class MissingExtra(UserError, ImportError):
    """A package of an optional extra is not installed.

    A `UserError` (the CLI prints it and exits 2) and an ``ImportError``, so code that probes an
    optional import with ``except ImportError`` treats it as the missing module it stands for.
    """

    def __init__(self, extra: str, needed_for: str, detail: str = "") -> None:
        self.extra = extra
        self.needed_for = needed_for
        said = f" ({detail})" if detail else ""
        super().__init__(
            f"{needed_for} needs the {extra} extra{said}: install assay[{extra}], "
            f"e.g. {install_hint(extra)}"
        )


def require(module: str, extra: str, needed_for: str) -> ModuleType:
    """Import `module` of the optional `extra`, or raise `MissingExtra` naming it.

    `needed_for` is what the user asked for, e.g. ``"assay run"`` or ``"the docker sandbox"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(extra, needed_for, str(exc)) from exc


def factory_problem() -> str | None:
    """None when pydantic-ai imports, else why not (the providers are checked when a model of
    theirs is built). Imports it (a second or so), so call it only on a path that uses it."""
    try:
        importlib.import_module("pydantic_ai")
    except ImportError as exc:
        return str(exc)
    return None


def require_factory(needed_for: str = "this command") -> None:
    """Raise `MissingExtra` unless pydantic-ai (the ``factory`` extra) is installed.

    Call it at the start of a command that builds agents or models (``assay run``, ``assay
    resume``) before importing `assay.factory`, `assay.agents` role modules or `assay.testing`.
    """
    problem = factory_problem()
    if problem is not None:
        raise MissingExtra(FACTORY, needed_for, problem)
