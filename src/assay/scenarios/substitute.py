"""``{name}`` substitution of captured values into paths, headers, bodies and commands."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from assay.errors import UserError

__all__ = ["VAR", "UndefinedVariable", "references", "render", "substitute", "substitute_text"]

VAR = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UndefinedVariable(UserError):
    """A ``{name}`` was used before any step captured ``name``."""

    def __init__(self, name: str, where: str) -> None:
        self.name = name
        super().__init__(f"{where}: undefined variable {{{name}}}: no earlier step captured it")


def render(value: Any) -> str:
    """A captured value as text: strings as is, JSON for the rest."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


def substitute(value: Any, variables: Mapping[str, Any], where: str) -> Any:
    """Replace ``{name}`` in every string inside `value`; a lone ``{name}`` keeps its JSON type."""
    if isinstance(value, str):
        whole = VAR.fullmatch(value)
        if whole:
            name = whole.group(1)
            if name not in variables:
                raise UndefinedVariable(name, where)
            return variables[name]

        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise UndefinedVariable(m.group(1), where)
            return render(variables[m.group(1)])

        return VAR.sub(repl, value)
    if isinstance(value, dict):
        return {k: substitute(v, variables, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables, where) for v in value]
    return value


def substitute_text(value: str, variables: Mapping[str, Any], where: str) -> str:
    """Like `substitute`, but always returns text (for paths, headers and commands)."""
    out = substitute(value, variables, where)
    return out if isinstance(out, str) else render(out)


def references(value: Any) -> Iterator[str]:
    """Every variable name referenced anywhere inside `value`."""
    if isinstance(value, str):
        for m in VAR.finditer(value):
            yield m.group(1)
    elif isinstance(value, dict):
        for v in value.values():
            yield from references(v)
    elif isinstance(value, list):
        for v in value:
            yield from references(v)
