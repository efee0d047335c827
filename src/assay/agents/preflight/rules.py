"""The deterministic preflight rules: what a spec gets wrong that no model is needed to see.

Each rule reads the spec's Markdown line by line (fenced code blocks skipped: an example request is
not a requirement) and returns `PreflightFinding`s with the spec file's line, what it found and
what to change. The rules are deliberately plain, so each finding can be explained in a sentence:

- ``fixed-port`` (warning): the spec names a port to listen on, not the ``PORT`` assay sets;
- ``framework-policy``: the spec names a web framework the dependency policy refuses (error), one
  outside the allow-list (warning; error under ``regulated``), or one that is not Python (error:
  assay builds Python services);
- ``error-format`` (warning): the spec describes an HTTP API but never shows an error body;
- ``undefined-term`` (warning): a Capitalised word used after an article ("each Widget") that is
  neither a heading word, nor bold, nor a definition list entry, nor common technical vocabulary.

No rule needs pydantic-ai: ``assay preflight --no-model`` runs them alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from packaging.utils import canonicalize_name

from assay.config import DependencyConfig
from assay.deps.policy import allowed_names
from assay.messages import PreflightFinding, Spec

__all__ = ["RULES", "body_first_line", "check_spec"]

RULES = {
    "fixed-port": "the spec names a fixed port instead of the PORT environment variable",
    "framework-policy": "the spec names a framework outside the dependency policy",
    "error-format": "the spec describes an HTTP API but never shows an error response body",
    "undefined-term": "a capitalised term is used but never defined",
}
"""Rule id -> what it checks (``assay preflight`` lists them)."""


@dataclass(frozen=True, slots=True)
class _Line:
    number: int
    """The spec file's line number."""
    text: str
    heading: bool


def body_first_line(spec: Spec) -> int:
    """The file line on which `spec.body` starts (front matter and blank lines before it), read
    from `spec.source` when it is still there and holds the body; 1 otherwise."""
    try:
        text = Path(spec.source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError):
        return 1
    at = text.find(spec.body.strip())
    return text[:at].count("\n") + 1 if at >= 0 else 1


def _lines(spec: Spec, first_line: int) -> Iterator[_Line]:
    """The body's lines outside fenced code blocks."""
    fenced = False
    for i, text in enumerate(spec.body.splitlines()):
        if text.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if not fenced:
            yield _Line(first_line + i, text, text.lstrip().startswith("#"))


# -- fixed-port ----------------------------------------------------------------------------------

_PORT = re.compile(
    r"\bport\s*(?:number\s*)?(?:[:=]\s*|of\s+|is\s+)?`?(\d{2,5})\b"
    r"|\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::\])\s*:\s*(\d{2,5})\b",
    re.IGNORECASE,
)
_PORT_ENV = re.compile(r"\bPORT\b|environment variable|env var")


def _fixed_port(lines: list[_Line]) -> Iterator[PreflightFinding]:
    for line in lines:
        match = _PORT.search(line.text)
        if match is None or _PORT_ENV.search(line.text):
            continue  # "the port in PORT (default 8080)" is what assay wants
        port = match.group(1) or match.group(2)
        yield PreflightFinding(
            rule_id="fixed-port", severity="warning", line=line.number,
            message=f"the spec fixes the port ({port}); assay starts the service with the port "
            "in the PORT environment variable, and a service bound to its own port is never "
            "reached",
            fix="say the service listens on the port in the PORT environment variable (a "
            f"default such as {port} only for running it by hand)",
        )  # fmt: skip


# -- framework-policy ----------------------------------------------------------------------------

_PYTHON_FRAMEWORKS = {
    "FastAPI": "fastapi", "Flask": "flask", "Django": "django", "aiohttp": "aiohttp",
    "Tornado": "tornado", "Sanic": "sanic", "Falcon": "falcon", "Bottle": "bottle",
    "Pyramid": "pyramid", "Quart": "quart", "Litestar": "litestar", "Starlette": "starlette",
    "CherryPy": "cherrypy", "Robyn": "robyn", "BlackSheep": "blacksheep", "web2py": "web2py",
}  # fmt: skip
"""Spelling in a spec -> its distribution (matched as written: "bottle" is a word, "Bottle" the
framework)."""
_OTHER_FRAMEWORKS = {
    "Express.js": "JavaScript", "ExpressJS": "JavaScript", "NestJS": "TypeScript",
    "Next.js": "JavaScript", "Node.js": "JavaScript", "Spring Boot": "Java",
    "Ruby on Rails": "Ruby", "Laravel": "PHP", "ASP.NET": "C#", "Gin framework": "Go",
}  # fmt: skip
_FRAMEWORK = re.compile(
    r"(?<![\w.-])("
    + "|".join(re.escape(n) for n in sorted({*_PYTHON_FRAMEWORKS, *_OTHER_FRAMEWORKS}, key=len,
                                            reverse=True))
    + r")(?![\w-])"
)  # fmt: skip
_FRAMEWORK_DISTS = {canonicalize_name(d) for d in _PYTHON_FRAMEWORKS.values()}
_NEGATED = re.compile(r"\b(?:not|no|never|without|avoid|instead of|rather than)\b", re.IGNORECASE)


def _framework_finding(
    name: str, line: int, deps: DependencyConfig, regulated: bool
) -> PreflightFinding | None:
    other = _OTHER_FRAMEWORKS.get(name)
    if other is not None:
        return PreflightFinding(
            rule_id="framework-policy", severity="error", line=line,
            message=f"the spec asks for {name}, a {other} framework; assay builds Python services",
            fix=f"drop {name} and say what the service must do, or name a Python framework the "
            "dependency policy allows ([tool.assay.dependencies] allow)",
        )  # fmt: skip
    dist = canonicalize_name(_PYTHON_FRAMEWORKS[name])
    denied = {canonicalize_name(d.split(";")[0].split("[")[0]) for d in deps.deny}
    allowed = allowed_names(deps)
    severity: Literal["error", "warning"] = "error"
    if dist in denied:
        why = "is on the dependency deny-list"
    elif dist not in allowed:
        why = "is outside the dependency allow-list"
        if not regulated:
            severity = "warning"
            why += " (accepted only because the project is not regulated)"
    else:
        return None
    return PreflightFinding(
        rule_id="framework-policy", severity=severity, line=line,
        message=f"the spec asks for {name}, which {why}",
        fix=f"name an allowed framework ({', '.join(sorted(allowed & set(_FRAMEWORK_DISTS)))}) "
        f"or leave the choice to the architect; or add {dist} to [tool.assay.dependencies] allow",
    )  # fmt: skip


def _frameworks(
    lines: list[_Line], spec: Spec, deps: DependencyConfig, regulated: bool
) -> Iterator[PreflightFinding]:
    seen: set[str] = set()
    declared = spec.meta.get("framework")
    for value in declared if isinstance(declared, list) else [declared]:
        name = _spelling(str(value)) if value else None
        if name is not None:  # front matter: reported on line 1, where the header starts
            seen.add(name)
            found = _framework_finding(name, 1, deps, regulated)
            if found is not None:
                yield found
    for line in lines:
        for match in _FRAMEWORK.finditer(line.text):
            name = match.group(1)
            if name in seen or _NEGATED.search(line.text[: match.start()]):
                continue
            seen.add(name)
            found = _framework_finding(name, line.number, deps, regulated)
            if found is not None:
                yield found


def _spelling(value: str) -> str | None:
    """The table's spelling of a front-matter framework value (any case), or None."""
    wanted = value.strip().casefold()
    return next((n for n in (*_PYTHON_FRAMEWORKS, *_OTHER_FRAMEWORKS) if n.casefold() == wanted),
                None)  # fmt: skip


# -- error-format --------------------------------------------------------------------------------

_ENDPOINT = re.compile(r"\b(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)\s+/")
_ERROR_STATUS = re.compile(r"\b[45]\d\d\b")
_ERRORISH = re.compile(r"\berror|\b[45]\d\d\b|\bfail|\breject|\binvalid", re.IGNORECASE)
_BODY = re.compile(r"\{[^{}]*[\"'][^{}]*\}|problem\+json|RFC ?7807|RFC ?9457|problem details",
                   re.IGNORECASE)  # fmt: skip


def _error_format(lines: list[_Line]) -> Iterator[PreflightFinding]:
    endpoints = [line for line in lines if _ENDPOINT.search(line.text)]
    if not endpoints:
        return  # not an HTTP API: a CLI's errors are its exit codes and stderr
    for line in lines:
        if _ERRORISH.search(line.text) and _BODY.search(line.text):
            return  # an error body shown next to an error: the format is stated
    first = next((line for line in lines if _ERROR_STATUS.search(line.text)), endpoints[0])
    yield PreflightFinding(
        rule_id="error-format", severity="warning", line=first.number,
        message=f"the spec describes an HTTP API ({len(endpoints)} endpoint line(s)) but never "
        "shows what an error response's body looks like",
        fix='state one error body for every 4xx/5xx answer, e.g. `{"error": "<message>"}` as '
        "JSON, and which status each failure returns",
    )  # fmt: skip


# -- undefined-term ------------------------------------------------------------------------------

_ARTICLE_TERM = re.compile(
    r"\b(?:[Aa]n?|[Tt]he|[Ee]ach|[Ee]very|[Aa]ny|[Pp]er|[Nn]o|[Tt]his|[Tt]hat|[Ii]ts|[Tt]heir)"
    r"\s+([A-Z][a-z]+(?:[A-Z][a-z]+)*)\b"
)
_CODE = re.compile(r"`[^`]*`")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|'[^'\s][^']*'")
_LINK = re.compile(r"\]\([^)]*\)|https?://\S+")
_BOLD = re.compile(r"\*\*([^*]+)\*\*|__([^_]+)__")
_DEFINITION = re.compile(r"^\s*(?:[-*+]|\d+[.)])?\s*[*`]*([A-Z][\w ]*?)[*`]*\s*(?:—|--|:|=| - )")
_WORD = re.compile(r"[A-Za-z][a-z]*(?:[A-Z][a-z]+)*")
_KNOWN_WORDS = """
    Dockerfile Docker WebSocket Websocket JavaScript TypeScript Python Linux Unix Windows Git
    GitHub Markdown Bearer Basic Unicode Monday Tuesday Wednesday Thursday Friday Saturday Sunday
    January February March April May June July August September October November December
    Content Accept Authorization Location Cookie Host Origin Internet Boolean String Integer
"""
_KNOWN = frozenset(_KNOWN_WORDS.split())
"""Capitalised words every reader knows: HTTP header names, types, days, tools."""


def _stem(word: str) -> str:
    word = word.casefold()
    for tail in ("ies", "es", "s"):
        if word.endswith(tail) and len(word) > len(tail) + 2:
            return word[: -len(tail)] + ("y" if tail == "ies" else "")
    return word


def _defined(spec: Spec, lines: list[_Line]) -> set[str]:
    """Stems of every word in a heading, in bold, starting a definition entry, in the title or
    in the front matter."""
    words = {_stem(w) for w in _WORD.findall(spec.title)}
    words |= {_stem(w) for v in spec.meta.values() for w in _WORD.findall(str(v))}
    for line in lines:
        if line.heading:
            words |= {_stem(w) for w in _WORD.findall(line.text)}
        for bold in _BOLD.finditer(line.text):
            words |= {_stem(w) for w in _WORD.findall(bold.group(1) or bold.group(2))}
        entry = _DEFINITION.match(line.text)
        if entry is not None:
            words |= {_stem(w) for w in _WORD.findall(entry.group(1))}
    return words


def _undefined_terms(spec: Spec, lines: list[_Line]) -> Iterator[PreflightFinding]:
    defined = _defined(spec, lines)
    reported: set[str] = set()
    for line in lines:
        if line.heading:
            continue
        prose = _LINK.sub(" ", _QUOTED.sub(" ", _CODE.sub(" ", _BOLD.sub(" ", line.text))))
        for match in _ARTICLE_TERM.finditer(prose):
            term = match.group(1)
            stem = _stem(term)
            if term in _KNOWN or stem in defined or stem in reported:
                continue
            reported.add(stem)
            yield PreflightFinding(
                rule_id="undefined-term", severity="warning", line=line.number,
                message=f"{term!r} is used as a term but the spec never defines it",
                fix=f"define {term} where it first appears (a bold **{term}** with its fields, "
                "or a heading), or write it in lower case if it is an ordinary word",
            )  # fmt: skip


def check_spec(
    spec: Spec, *, dependencies: DependencyConfig, regulated: bool = False, first_line: int = 1
) -> list[PreflightFinding]:
    """Every deterministic finding on `spec`, in line order; `first_line` is the file line its
    body starts on (`body_first_line`)."""
    lines = list(_lines(spec, first_line))
    found = [
        *_fixed_port(lines),
        *_frameworks(lines, spec, dependencies, regulated),
        *_error_format(lines),
        *_undefined_terms(spec, lines),
    ]
    return sorted(found, key=lambda f: (f.line, f.rule_id))
