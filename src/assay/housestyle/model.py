"""The house-style document: a versioned JSON a person reviews and commits, and its loader.

`assay extract` writes it (`assay.housestyle.extract`); `assay run` loads it (`load_house_style`)
and hands it to the architect, tester and coder. Every finding carries its count and where it
was seen (`Where`: file and line in the exemplar), so a reviewer can check it. Limits on the
free-text parts (snippets, notes) keep a hand-edited file from swelling every prompt.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.errors import UserError

__all__ = [
    "MAX_SNIPPETS",
    "MAX_SNIPPET_LINES",
    "SCHEMA_VERSION",
    "Count",
    "ErrorHandling",
    "ExceptionClass",
    "Frameworks",
    "HouseStyle",
    "Layout",
    "Logging",
    "Snippet",
    "Source",
    "TestStyle",
    "Where",
    "load_house_style",
]

SCHEMA_VERSION: Literal[1] = 1
"""Bumped when a field changes meaning or is removed; a reader refuses other versions."""
MAX_SNIPPETS = 8
MAX_SNIPPET_LINES = 30
_MAX_NOTES = 20
_MAX_NOTE_CHARS = 500


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Where(_Strict):
    """A line of the exemplar: its path relative to the source folder, and the 1-based line."""

    file: str
    line: int = Field(ge=1)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


class Count(_Strict):
    """One convention as observed: how often, in how many files, and the first places seen."""

    name: str
    count: int = Field(ge=0)
    files: int = Field(ge=0)
    examples: list[Where] = Field(default_factory=list, max_length=5)


class Source(_Strict):
    """What was read: the folder, its content digest and (in a git work tree) its commit."""

    path: str
    """The folder as given to ``assay extract`` (a reviewer's hint, not used to reload it)."""
    digest: str
    """sha256 over the sorted relative paths and sha256 of every file read."""
    commit: str | None = None
    """``git rev-parse HEAD`` of the repository holding it, when there is one."""
    dirty: bool | None = None
    """Whether the work tree had uncommitted changes (None: not a git work tree)."""
    python_files: int = Field(ge=0)
    skipped: list[str] = Field(default_factory=list)
    """Files that were not analysed and why (``path: reason``), e.g. a syntax error."""


class Layout(_Strict):
    """Where code and tests live, and how modules are named."""

    package_layout: Literal["src", "flat", "none"]
    """``src``: packages under ``src/``; ``flat``: at the top level; ``none``: loose modules."""
    packages: list[str] = Field(default_factory=list)
    test_dirs: list[str] = Field(default_factory=list)
    module_naming: list[Count] = Field(default_factory=list)
    """``snake_case`` and the other module names, by count."""
    test_file_naming: list[Count] = Field(default_factory=list)
    """``test_*.py`` and ``*_test.py`` files, by count."""


class Frameworks(_Strict):
    """The web framework and libraries, from imports and dependency files."""

    web: str | None = None
    """The web framework imported in the most files (None: none of the known ones)."""
    web_imports: list[Count] = Field(default_factory=list)
    libraries: list[Count] = Field(default_factory=list)
    """Other known libraries imported (pydantic, sqlalchemy, httpx...)."""
    declared: list[str] = Field(default_factory=list)
    """Distribution names from pyproject.toml / requirements*.txt / setup.cfg."""


class ExceptionClass(_Strict):
    """An exception class the exemplar defines."""

    name: str
    bases: list[str]
    where: Where


class ErrorHandling(_Strict):
    """Which errors are defined and raised, and how HTTP errors reach the client."""

    exception_classes: list[ExceptionClass] = Field(default_factory=list)
    raised: list[Count] = Field(default_factory=list)
    """``raise X(...)`` by exception name, most frequent first."""
    http_errors: list[Count] = Field(default_factory=list)
    """How HTTP errors are returned: ``raise HTTPException``, registered exception handlers,
    ``abort()``, error responses built with an explicit status code..."""


class Logging(_Strict):
    """How the exemplar logs."""

    style: Literal["logging", "structlog", "loguru", "print", "none"]
    """The most used of the styles below (``print`` only when nothing else is used)."""
    usage: list[Count] = Field(default_factory=list)
    """Files importing each logging library, and ``print()`` calls outside tests."""
    logger_naming: list[Count] = Field(default_factory=list)
    """How loggers are obtained, e.g. ``logging.getLogger(__name__)``."""
    levels: list[Count] = Field(default_factory=list)
    """Logging calls by level (``debug``, ``info``, ``warning``, ``error``, ``exception``)."""


class TestStyle(_Strict):
    """How the exemplar's tests are written."""

    framework: Literal["pytest", "unittest", "mixed", "none"]
    """What most test files use (a file subclassing ``unittest.TestCase`` is unittest, any other
    with tests pytest); ``mixed`` when the other kind is a fifth of the files or more."""
    test_functions: int = Field(ge=0)
    usage: list[Count] = Field(default_factory=list)
    """Evidence for the framework: pytest imports, ``unittest.TestCase`` subclasses..."""
    fixtures: list[Count] = Field(default_factory=list)
    """``@pytest.fixture`` definitions (by scope) and ``conftest.py`` files."""
    parametrize: Count | None = None
    naming: list[Count] = Field(default_factory=list)
    """Test function names: ``test_<snake_case>``, and test classes ``Test*``."""


class Snippet(_Strict):
    """A short representative piece of the exemplar, copied verbatim."""

    kind: Literal["handler", "error", "test", "logging"]
    where: Where
    code: str

    def lines(self) -> int:
        return len(self.code.splitlines())


class HouseStyle(_Strict):
    """A team's conventions, extracted from an exemplar codebase."""

    schema_version: Literal[1] = SCHEMA_VERSION
    source: Source
    layout: Layout
    frameworks: Frameworks
    errors: ErrorHandling
    logging: Logging
    tests: TestStyle
    snippets: list[Snippet] = Field(default_factory=list, max_length=MAX_SNIPPETS)
    notes: list[str] = Field(default_factory=list, max_length=_MAX_NOTES)
    """A reviewer's own rules, in words (``assay extract`` leaves this empty)."""

    def to_json(self) -> str:
        """The file's text: indented, keys in the models' order, a final newline."""
        return self.model_dump_json(indent=2) + "\n"

    def digest(self) -> str:
        """sha256 of its canonical JSON: what a run records, whatever the file's spacing."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()


def _check_limits(style: HouseStyle) -> str | None:
    for snip in style.snippets:
        if snip.lines() > MAX_SNIPPET_LINES:
            return f"snippet at {snip.where} has {snip.lines()} lines (at most {MAX_SNIPPET_LINES})"
    for note in style.notes:
        if len(note) > _MAX_NOTE_CHARS:
            return f"a note is {len(note)} characters long (at most {_MAX_NOTE_CHARS})"
    return None


def load_house_style(path: Path) -> HouseStyle:
    """Read and validate a house-style JSON; a `UserError` (exit 2) names the file and what is
    wrong with it: unreadable, not JSON, another schema version, a bad or missing field."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise UserError(f"house style {path}: cannot read: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        hint = " (give the .json that assay extract wrote, not the .md)" if text[:1] == "#" else ""
        raise UserError(f"house style {path}: not JSON: {exc}{hint}") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != SCHEMA_VERSION:
        raise UserError(
            f"house style {path}: schema_version {version!r} is not one this assay reads "
            f"({SCHEMA_VERSION}); extract it again with assay extract"
        )
    try:
        style = HouseStyle.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        raise UserError(f"house style {path}: [{loc}] {err['msg']}") from None
    problem = _check_limits(style)
    if problem is not None:
        raise UserError(f"house style {path}: {problem}")
    return style
