"""`extract`: an exemplar codebase in, its `HouseStyle` out, by reading its syntax trees.

No model and no import of the exemplar's code: every finding is a count of syntax the `ast`
module sees (imports, class bases, raises, decorators, calls), with the first places it was seen,
plus the names in its dependency files. Files are visited in sorted order and examples sorted by
file and line, so the same tree always gives the same document.
"""

from __future__ import annotations

import ast
import builtins
import re
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from assay.housestyle.model import (
    MAX_SNIPPET_LINES,
    Count,
    ErrorHandling,
    ExceptionClass,
    Frameworks,
    HouseStyle,
    Layout,
    Logging,
    Snippet,
    Source,
    TestStyle,
    Where,
)
from assay.housestyle.scan import Parsed, Scan, scan

__all__ = ["LIBRARIES", "WEB_FRAMEWORKS", "extract", "extract_scan"]

WEB_FRAMEWORKS = (
    "fastapi", "flask", "django", "starlette", "aiohttp", "tornado", "sanic", "falcon", "bottle",
    "pyramid", "quart", "litestar", "bottle", "connexion", "responder",
)  # fmt: skip
LIBRARIES = (
    "pydantic", "sqlalchemy", "sqlmodel", "alembic", "attrs", "dataclasses", "marshmallow",
    "httpx", "requests", "aiohttp", "celery", "redis", "psycopg", "psycopg2", "asyncpg",
    "typer", "click", "jinja2", "uvicorn", "gunicorn", "rich", "jsonschema", "boto3",
)  # fmt: skip
_LOGGING_LIBS = ("logging", "structlog", "loguru")
_LEVELS = ("debug", "info", "warning", "warn", "error", "exception", "critical")
_LOGGER_NAMES = frozenset({"logger", "log", "_log", "_logger", "LOGGER", "LOG", "logging"})
_ROUTE_DECORATORS = frozenset(
    {"get", "post", "put", "delete", "patch", "head", "options", "route", "api_route", "websocket"}
)
_HTTP_EXCEPTIONS = frozenset({"HTTPException", "StarletteHTTPException", "WebSocketException"})
_ERROR_RESPONSES = frozenset({"JSONResponse", "Response", "PlainTextResponse", "HTMLResponse"})
_SNAKE = re.compile(r"^_{0,2}[a-z][a-z0-9_]*$")
_BUILTIN_EXCEPTIONS = frozenset(
    name for name, obj in vars(builtins).items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
)  # fmt: skip
_EXAMPLES = 3
_TOP = 12


@dataclass
class _Tally:
    """Occurrences of named conventions: counts, distinct files, and every place seen."""

    seen: dict[str, list[Where]] = field(default_factory=dict)

    def add(self, name: str, module: Parsed, line: int) -> None:
        self.seen.setdefault(name, []).append(Where(file=module.rel, line=max(line, 1)))

    def count(self, name: str) -> Count | None:
        places = self.seen.get(name)
        if not places:
            return None
        ordered = sorted(places, key=lambda w: (w.file, w.line))
        return Count(
            name=name, count=len(places), files=len({w.file for w in places}),
            examples=ordered[:_EXAMPLES],
        )  # fmt: skip

    def counts(self, top: int = _TOP) -> list[Count]:
        """Most frequent first; ties by name."""
        out = [c for name in self.seen if (c := self.count(name)) is not None]
        return sorted(out, key=lambda c: (-c.count, c.name))[:top]

    def files(self, name: str) -> int:
        return len({w.file for w in self.seen.get(name, [])})


def _dotted(node: ast.expr) -> str:
    """``a.b.c`` for a name or attribute chain; the callee's chain for a call; else ""."""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else node.attr
    return ""


def _last(node: ast.expr) -> str:
    return _dotted(node).rsplit(".", 1)[-1]


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _start(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> int:
    return min([node.lineno, *(d.lineno for d in node.decorator_list)])


# -- imports, frameworks -------------------------------------------------------------------------


def _imports(module: Parsed) -> dict[str, int]:
    """Top-level distribution-like names imported by `module` -> the first line importing it."""
    first: dict[str, int] = {}
    for node in ast.walk(module.tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top, line = name.split(".")[0], getattr(node, "lineno", 1)
            first[top] = min(first.get(top, line), line)
    return first


def _declared(files: dict[str, str]) -> list[str]:
    """Distribution names from the dependency files (normalised, sorted, each once)."""
    from packaging.requirements import InvalidRequirement, Requirement

    raw: list[str] = []
    for rel, text in files.items():
        name = PurePosixPath(rel).name
        if name == "pyproject.toml":
            raw += _pyproject_requirements(text)
        elif name.startswith("requirements"):
            raw += [ln.split("#")[0].strip() for ln in text.splitlines()]
        elif name == "setup.cfg":
            raw += _setup_cfg_requirements(text)
    names = set()
    for item in raw:
        if not item or item.startswith("-"):
            continue
        try:
            names.add(re.sub(r"[-_.]+", "-", Requirement(item).name).lower())
        except InvalidRequirement:
            continue
    return sorted(names)


def _pyproject_requirements(text: str) -> list[str]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return []
    project = data.get("project", {})
    out = [r for r in project.get("dependencies", []) if isinstance(r, str)]
    for extra in project.get("optional-dependencies", {}).values():
        out += [r for r in extra if isinstance(r, str)]
    poetry = data.get("tool", {}).get("poetry", {}).get("dependencies", {})
    out += [name for name in poetry if name != "python"]
    return out


def _setup_cfg_requirements(text: str) -> list[str]:
    lines = text.splitlines()
    out: list[str] = []
    inside = False
    for line in lines:
        if line.strip().startswith("install_requires"):
            inside = True
            tail = line.split("=", 1)[1].strip() if "=" in line else ""
            out += [tail] if tail else []
        elif inside and line[:1] in (" ", "\t") and line.strip():
            out.append(line.strip())
        else:
            inside = False
    return out


def _frameworks(sc: Scan) -> Frameworks:
    web, libs = _Tally(), _Tally()
    for module in sc.modules:
        for name, line in _imports(module).items():
            if name in WEB_FRAMEWORKS:
                web.add(name, module, line)
            elif name in LIBRARIES:
                libs.add(name, module, line)
    declared = _declared(sc.dependency_files)
    web_counts = web.counts()
    chosen = max(web_counts, key=lambda c: (c.files, -WEB_FRAMEWORKS.index(c.name)), default=None)
    primary = chosen.name if chosen else next((d for d in declared if d in WEB_FRAMEWORKS), None)
    return Frameworks(
        web=primary, web_imports=web_counts, libraries=libs.counts(), declared=declared
    )


# -- errors --------------------------------------------------------------------------------------


def _exception_classes(sources: list[Parsed]) -> list[ExceptionClass]:
    """Classes deriving, directly or through each other, from an exception (a builtin one, or a
    base named ``*Error`` / ``*Exception``, as third-party exceptions are)."""
    classes = [
        (m, node) for m in sources for node in ast.walk(m.tree) if isinstance(node, ast.ClassDef)
    ]
    known = set(_BUILTIN_EXCEPTIONS)
    found: dict[tuple[str, int], ExceptionClass] = {}
    changed = True
    while changed:  # a fixed point: a subclass may come before its base in file order
        changed = False
        for module, node in classes:
            bases = [_last(b) for b in node.bases]
            key = (module.rel, node.lineno)
            is_exc = any(b in known or b.endswith(("Error", "Exception")) for b in bases)
            if key not in found and is_exc:
                where = Where(file=module.rel, line=node.lineno)
                found[key] = ExceptionClass(name=node.name, bases=bases, where=where)
                known.add(node.name)
                changed = True
    return sorted(found.values(), key=lambda c: (c.where.file, c.where.line))


def _is_error_status(node: ast.expr | None) -> bool:
    """An HTTP status of 400 or more: a literal, or a ``status.HTTP_4xx_...`` constant."""
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return node.value >= 400
    return bool(re.search(r"HTTP_[45]\d\d", _dotted(node))) if node is not None else False


def _is_status_literal(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) or bool(re.search(r"HTTP_\d\d\d", _dotted(node)))


def _http_error_patterns(module: Parsed, tally: _Tally) -> None:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            if _last(node.exc) in _HTTP_EXCEPTIONS:
                tally.add(f"raise {_last(node.exc)}", module, node.lineno)
        elif isinstance(node, ast.Call):
            _http_error_call(module, node, tally)
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            elts = node.value.elts
            if len(elts) >= 2 and _is_error_status(elts[1]):
                tally.add("return body, <4xx/5xx status>", module, node.lineno)


def _http_error_call(module: Parsed, node: ast.Call, tally: _Tally) -> None:
    callee = _last(node.func)
    args = [_last(a) or ast.unparse(a) for a in node.args[:1]]
    if callee in ("exception_handler", "errorhandler", "add_exception_handler"):
        tally.add(f"{callee}({', '.join(args)})", module, node.lineno)
    elif callee == "abort" and _dotted(node.func) in ("abort", "flask.abort"):
        tally.add("abort(<status>)", module, node.lineno)
    elif callee in _ERROR_RESPONSES:
        status = next((k.value for k in node.keywords if k.arg in ("status_code", "status")), None)
        if _is_error_status(status):
            tally.add(f"{callee}(status_code=<4xx/5xx>)", module, node.lineno)
        elif status is not None and not _is_status_literal(status):
            # e.g. ``status_code=exc.status`` in an exception handler: an error's own status
            tally.add(f"{callee}(status_code=<computed>)", module, node.lineno)


def _errors(sc: Scan) -> ErrorHandling:
    sources = [m for m in sc.modules if not m.is_test]
    raised, http = _Tally(), _Tally()
    for module in sources:
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Raise) and node.exc is not None and _last(node.exc):
                raised.add(_last(node.exc), module, node.lineno)
        _http_error_patterns(module, http)
    return ErrorHandling(
        exception_classes=_exception_classes(sources), raised=raised.counts(),
        http_errors=http.counts(),
    )  # fmt: skip


# -- logging -------------------------------------------------------------------------------------


def _logger_call(node: ast.Call) -> str | None:
    """How a logger is obtained by this call, e.g. ``logging.getLogger(__name__)``, or None."""
    dotted = _dotted(node.func)
    if _last(node.func) == "getLogger" and dotted in ("logging.getLogger", "getLogger"):
        arg = node.args[0] if node.args else None
        if arg is None:
            shown = ""
        elif isinstance(arg, ast.Name) and arg.id == "__name__":
            shown = "__name__"
        elif isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            shown = "'<literal name>'"
        else:
            shown = "<expression>"
        return f"logging.getLogger({shown})"
    if dotted in ("structlog.get_logger", "structlog.getLogger", "get_logger"):
        return f"{dotted}()"
    return None


def _logger_variables(module: Parsed) -> set[str]:
    """The names a logger is bound to in `module` (``log = logging.getLogger(...)``), and the
    usual ones."""
    names = set(_LOGGER_NAMES)
    for node in ast.walk(module.tree):
        value = node.value if isinstance(node, ast.Assign) else None
        if isinstance(node, ast.Assign) and isinstance(value, ast.Call) and _logger_call(value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _is_level_call(func: ast.expr, loggers: set[str]) -> bool:
    """``logger.info(...)`` and the like, on a name bound to a logger."""
    return isinstance(func, ast.Attribute) and func.attr in _LEVELS and _last(func.value) in loggers


def _logging_calls(module: Parsed, usage: _Tally, naming: _Tally, levels: _Tally) -> None:
    loggers = _logger_variables(module)
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        how = _logger_call(node)
        if how is not None:
            naming.add(how, module, node.lineno)
        func = node.func
        if isinstance(func, ast.Name) and func.id == "print" and not module.is_test:
            usage.add("print", module, node.lineno)
        elif _is_level_call(func, loggers):
            levels.add(_last(func), module, node.lineno)


def _logging(sc: Scan) -> Logging:
    usage, naming, levels = _Tally(), _Tally(), _Tally()
    for module in sc.modules:
        imported = _imports(module)
        for lib in _LOGGING_LIBS:
            if lib in imported:
                usage.add(lib, module, imported[lib])
        _logging_calls(module, usage, naming, levels)
    libs = [c for c in usage.counts() if c.name in _LOGGING_LIBS]
    style = max(libs, key=lambda c: (c.files, c.count)).name if libs else (
        "print" if usage.count("print") else "none"
    )  # fmt: skip
    return Logging(
        style=style,  # type: ignore[arg-type]  # one of _LOGGING_LIBS, "print" or "none"
        usage=usage.counts(), logger_naming=naming.counts(), levels=levels.counts(),
    )  # fmt: skip


# -- tests ---------------------------------------------------------------------------------------


def _decorator_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [_dotted(d) for d in node.decorator_list]


def _fixture_label(decorator: ast.expr) -> str:
    """``@pytest.fixture``, with its scope and autouse when they are given as literals."""
    shown = []
    if isinstance(decorator, ast.Call):
        for kw in decorator.keywords:
            if kw.arg == "scope" and isinstance(kw.value, ast.Constant):
                shown.append(f"scope={kw.value.value!r}")
            elif kw.arg == "autouse" and isinstance(kw.value, ast.Constant) and kw.value.value:
                shown.append("autouse=True")
    return f"@pytest.fixture({', '.join(shown)})" if shown else "@pytest.fixture"


def _is_unittest_module(module: Parsed) -> bool:
    return any(
        isinstance(node, ast.ClassDef) and any(_last(b).endswith("TestCase") for b in node.bases)
        for node in ast.walk(module.tree)
    )


def _test_function(
    module: Parsed, node: ast.FunctionDef | ast.AsyncFunctionDef, fixtures: _Tally, naming: _Tally
) -> int:
    """Tally one function of a test module: 1 when it is a test, else 0."""
    for deco in node.decorator_list:
        if _last(deco) == "fixture":
            fixtures.add(_fixture_label(deco), module, _start(node))
    if not node.name.startswith("test"):
        return 0
    snake = _SNAKE.match(node.name) and node.name.startswith("test_")
    naming.add("test_<snake_case>" if snake else "test* (other)", module, node.lineno)
    if isinstance(node, ast.AsyncFunctionDef):
        naming.add("async def test_*", module, node.lineno)
    return 1


def _test_module(module: Parsed, usage: _Tally, fixtures: _Tally, naming: _Tally) -> int:
    """Tally one test module; returns how many test functions it defines."""
    tests = 0
    if "pytest" in (imported := _imports(module)):
        usage.add("import pytest", module, imported["pytest"])
    if PurePosixPath(module.rel).name == "conftest.py":
        fixtures.add("conftest.py", module, 1)
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ClassDef):
            if any(_last(b).endswith("TestCase") for b in node.bases):
                usage.add("unittest.TestCase subclass", module, node.lineno)
            elif node.name.startswith("Test"):
                naming.add("class Test*", module, node.lineno)
        elif isinstance(node, ast.Assert):
            usage.add("plain assert", module, node.lineno)
        elif isinstance(node, ast.Call) and _dotted(node.func).startswith("self.assert"):
            usage.add("self.assert*()", module, node.lineno)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            tests += _test_function(module, node, fixtures, naming)
    return tests


def _tests(sc: Scan) -> TestStyle:
    usage, fixtures, naming, param = _Tally(), _Tally(), _Tally(), _Tally()
    tests = 0
    by_kind: dict[str, int] = {}
    """Test files by framework: unittest when they subclass TestCase, else pytest (plain test
    functions and bare asserts are what only pytest collects and reports)."""
    for module in (m for m in sc.modules if m.is_test):
        found = _test_module(module, usage, fixtures, naming)
        tests += found
        if found:
            kind = "unittest" if _is_unittest_module(module) else "pytest"
            by_kind[kind] = by_kind.get(kind, 0) + 1
        for fn in _functions(module.tree):
            if any(n.endswith("mark.parametrize") for n in _decorator_names(fn)):
                param.add("@pytest.mark.parametrize", module, _start(fn))
    if not by_kind:
        framework = "none"
    else:  # the kind most test files are; "mixed" when the other is a fifth of them or more
        ranked = sorted(by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
        minority = ranked[1][1] if len(ranked) > 1 else 0
        framework = "mixed" if minority * 5 >= sum(by_kind.values()) else ranked[0][0]
    return TestStyle(
        framework=framework,  # type: ignore[arg-type]  # one of the four literals above
        test_functions=tests, usage=usage.counts(), fixtures=fixtures.counts(),
        parametrize=param.count("@pytest.mark.parametrize"), naming=naming.counts(),
    )  # fmt: skip


# -- layout --------------------------------------------------------------------------------------


def _layout(sc: Scan) -> Layout:
    rels = [m.rel for m in sc.modules]
    src_pkgs = sorted({r.split("/")[1] for r in rels if r.startswith("src/") and r.count("/") >= 2})
    flat_pkgs = sorted(
        {r.split("/")[0] for r in rels if r.endswith("/__init__.py") and r.count("/") == 1}
        - {"tests", "test"}
    )
    layout = "src" if src_pkgs else "flat" if flat_pkgs else "none"
    test_dirs, naming, files = set(), _Tally(), _Tally()
    for module in sc.modules:
        path = PurePosixPath(module.rel)
        if path.stem not in ("__init__", "__main__", "conftest"):
            naming.add("snake_case" if _SNAKE.match(path.stem) else "other", module, 1)
        if not module.is_test or path.name in ("__init__.py", "conftest.py"):
            continue
        parts = path.parts[:-1]
        top = next((i for i, p in enumerate(parts) if p in ("tests", "test")), None)
        test_dirs.add("/".join(parts[: top + 1]) if top is not None else "/".join(parts) or ".")
        kind = "test_*.py" if path.name.startswith("test_") else (
            "*_test.py" if path.name.endswith("_test.py") else "other (in a tests folder)"
        )  # fmt: skip
        files.add(kind, module, 1)
    return Layout(
        package_layout=layout,  # type: ignore[arg-type]  # "src", "flat" or "none"
        packages=src_pkgs or flat_pkgs, test_dirs=sorted(test_dirs),
        module_naming=naming.counts(), test_file_naming=files.counts(),
    )  # fmt: skip


# -- snippets ------------------------------------------------------------------------------------


def _code(module: Parsed, first: int, last: int) -> str | None:
    """Lines `first`..`last` verbatim, or None when longer than a snippet may be."""
    if last - first + 1 > MAX_SNIPPET_LINES:
        return None
    return "\n".join(module.lines[first - 1 : last]) + "\n"


def _pick(
    kind: str, candidates: Iterable[tuple[tuple[object, ...], Parsed, ast.stmt, int]]
) -> Snippet | None:
    """The best-ranked candidate (lowest rank, then file, then line) that fits in a snippet."""
    for _rank, module, node, first in sorted(candidates, key=lambda c: (c[0], c[1].rel, c[3])):
        code = _code(module, first, node.end_lineno or node.lineno)
        if code is not None:
            where = Where(file=module.rel, line=first)
            return Snippet(kind=kind, where=where, code=code)  # type: ignore[arg-type]
    return None


def _is_route(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute)
        and d.func.attr in _ROUTE_DECORATORS
        for d in fn.decorator_list
    )  # fmt: skip


def _raises(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Raise) for n in ast.walk(node))


def _snippets(sc: Scan, errors: ErrorHandling) -> list[Snippet]:
    sources = [m for m in sc.modules if not m.is_test]
    tests = [m for m in sc.modules if m.is_test]
    raised = {c.name: c.count for c in errors.raised}
    own = {(c.where.file, c.where.line) for c in errors.exception_classes}
    # the base of the team's own hierarchy shows the most: rank by subclasses, then raises
    children = {c.name: sum(c.name in o.bases for o in errors.exception_classes)
                for c in errors.exception_classes}  # fmt: skip
    handlers, error_types, error_handlers, test_fns = [], [], [], []
    for m in sources:
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ClassDef) and (m.rel, node.lineno) in own:
                rank = (-children.get(node.name, 0), -raised.get(node.name, 0))
                error_types.append((rank, m, node, _start(node)))
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if _is_route(node):  # a handler that raises shows the error style too
                    handlers.append(((not _raises(node),), m, node, _start(node)))
                elif any(_last(d) in ("exception_handler", "errorhandler")
                         for d in node.decorator_list):  # fmt: skip
                    error_handlers.append(((0,), m, node, _start(node)))
    for m in tests:
        for fn in _functions(m.tree):
            if fn.name.startswith("test"):
                uses_fixture = bool(fn.args.args) and fn.args.args[0].arg != "self"
                test_fns.append(((not uses_fixture,), m, fn, _start(fn)))
    picked = [
        _pick("handler", handlers), _pick("error", error_types),
        _pick("error", error_handlers), _pick("test", test_fns),
    ]  # fmt: skip
    return [s for s in picked if s is not None]


# -- the document --------------------------------------------------------------------------------


def extract_scan(sc: Scan, *, shown_path: str) -> HouseStyle:
    """The house style of an already scanned exemplar."""
    errors = _errors(sc)
    return HouseStyle(
        source=Source(
            path=shown_path, digest=sc.digest, commit=sc.commit, dirty=sc.dirty,
            python_files=len(sc.modules), skipped=sc.skipped,
        ),
        layout=_layout(sc), frameworks=_frameworks(sc), errors=errors, logging=_logging(sc),
        tests=_tests(sc), snippets=_snippets(sc, errors),
    )  # fmt: skip


def extract(source: Path, *, exclude: Sequence[str] = ()) -> HouseStyle:
    """The house style of the exemplar under `source` (`exclude`: globs relative to it)."""
    return extract_scan(scan(source, exclude=exclude), shown_path=str(source))
