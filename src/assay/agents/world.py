"""What a role is told about the world its work runs in, rendered from the run's real settings.

A model cannot see the sandbox, the gates or the scaffold, and guesses wrong when nobody tells it
(a shell ``start_command``, ``pyproject.toml`` in its file plan, a fixed port from the spec). Every
fact here is read from where assay decides it:

- the Python version and the ruff and mypy configuration from the scaffolded ``pyproject.toml``;
- each gate's scope by asking the `Gate` itself which files of a sample project it reads, and its
  rules and limits from its validated options and the policy in force (required, ``fail_on``);
- the scaffolded and protected paths from what the factory passes in.

`World.render` gives one role the sections it needs. The text is fixed for a whole run, so a prompt
that opens with it keeps a stable prefix across iterations (prompt caching).
"""

from __future__ import annotations

import platform
import tempfile
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from assay.config import Settings
from assay.gates.base import Gate, GateContext, SeverityName
from assay.gates.complexity import DEFAULT_MAX
from assay.messages import Changeset, FileChange
from assay.vocabulary import AgentRole

__all__ = [
    "DIFF_FORMAT",
    "EXAMPLE_AFTER",
    "EXAMPLE_BEFORE",
    "EXAMPLE_CHANGESET",
    "SERVICE_ENV",
    "GateBrief",
    "World",
    "WorldRole",
]

WorldRole = AgentRole
"""The roles a world brief is rendered for: the generating roles (`assay.vocabulary`)."""

SERVICE_ENV = {"PORT": "the port to listen on", "HOST": "127.0.0.1", "PYTHONPATH": "src"}
"""What the holdout service is started with (set in ``assay.commands._holdout`` and
``assay.scenarios.launch``, which the roles' modules may not import)."""

REVIEW_GATE = "security-review"

# The Changeset example the coder is shown; tests apply it with `assay.changeset.apply_changeset`.
EXAMPLE_BEFORE = '''\
"""Greetings."""


def greet(name: str) -> str:
    return f"Hi, {name}"
'''
EXAMPLE_AFTER = EXAMPLE_BEFORE.replace('f"Hi, {name}"', 'f"Hello, {name}!"')
EXAMPLE_CHANGESET = Changeset(
    files=[
        FileChange(
            path="src/app/core.py",
            diff=(
                "--- a/src/app/core.py\n+++ b/src/app/core.py\n@@ -4,2 +4,2 @@\n"
                ' def greet(name: str) -> str:\n-    return f"Hi, {name}"\n'
                '+    return f"Hello, {name}!"\n'
            ),
        ),
        FileChange(path="src/app/__init__.py", content='"""The app."""\n'),
    ],
    deletions=["src/app/old.py"],
    rationale="greet says Hello, as the spec asks; old.py is unused",
)

# A sample project for asking each gate which files it reads.
_SAMPLE_SOURCE = "src/app/core.py"
_SAMPLE_TEST = "tests/test_core.py"
_SAMPLE_OTHER = ("README.md", "docs/notes.md")


@dataclass(frozen=True, slots=True)
class GateBrief:
    """One gate as a role is told about it."""

    name: str
    tool: str
    required: bool
    fail_on: SeverityName
    scope: str
    """Which files it checks, e.g. ``Python files in src/ and tests/``."""
    rules: str
    """Its rules and limits, e.g. ``no function above cyclomatic complexity 15``."""

    def line(self) -> str:
        """One bullet: ``name (tool), required, fails at medium or above; scope: rules``."""
        need = "required" if self.required else "advisory (reported, does not block)"
        return (
            f"- `{self.name}` ({self.tool}), {need}, fails on findings of {self.fail_on} severity "
            f"or above; checks {self.scope}: {self.rules}"
        )


@dataclass(frozen=True, slots=True)
class World:
    """The run's environment as the roles are told it."""

    python: str
    """The version the code must run on, e.g. ``3.11``."""
    python_sources: str
    """Where that version is declared, e.g. ``requires-python >=3.11, ruff py311, ...``."""
    interpreter: str
    """Which interpreter runs the service and the tests."""
    gates: tuple[GateBrief, ...]
    scaffold: tuple[str, ...]
    """The files assay writes itself (the scaffold)."""
    protected: tuple[str, ...]
    """Path patterns nobody but assay (and the tester, for its tests) may change."""
    allowed: tuple[str, ...] = ()
    """The dependency policy's allow-list (``[tool.assay.dependencies] allow``)."""
    regulated: bool = False
    installed: tuple[str, ...] = ()
    """``name==version`` of every component locked and installed for the accepted design."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        gates: Sequence[Gate],
        *,
        scaffold: Mapping[str, str],
        protected: Sequence[str],
        installed: Sequence[str] = (),
    ) -> World:
        """The world of a run under `settings` with `gates`, whose scaffold files are `scaffold`."""
        pyproject = _toml(scaffold.get("pyproject.toml", ""))
        python, sources = _python(pyproject)
        briefs = [*_briefs(settings, gates, scaffold, pyproject), _review_brief(settings)]
        return cls(
            python=python,
            python_sources=sources,
            interpreter=_interpreter(settings),
            gates=tuple(briefs),
            scaffold=tuple(sorted(scaffold)),
            protected=tuple(protected),
            allowed=tuple(settings.dependencies.allow),
            regulated=settings.regulated,
            installed=tuple(installed),
        )

    def render(self, role: WorldRole) -> str:
        """The ``<environment>`` section of `role`'s prompt."""
        intro = "This is the environment assay runs the work in; it is the same for the whole run."
        parts = [intro, self._runtime(), self._service(role)]
        if role == "security-reviewer":
            parts.append(self._gate_list(sast_only=True))
        else:
            parts += [self._precedence(), self._gate_list(sast_only=False), self._files(role)]
        parts.append(_ROLE_NOTES[role](self))
        return "<environment>\n" + "\n\n".join(parts) + "\n</environment>"

    # -- sections -----------------------------------------------------------------------------

    def _runtime(self) -> str:
        return "\n".join(
            [
                "## Python and packages",
                f"- Python {self.python} ({self.python_sources}): use no syntax or standard "
                "library API newer than that.",
                f"- The service and the tests run with {self.interpreter}.",
                "- Importable at run time: the standard library, pytest and pytest-cov for the "
                "tests, and the design's `dependencies`. assay resolves those into a lock pinned "
                "by hash (requirements.txt), audits them for known vulnerabilities and licences, "
                "and installs exactly the lock, offline (the sandbox has no network), on the "
                "PYTHONPATH after `src`. Nothing else is installed: code importing a package the "
                "design does not list fails to start.",
                "- Dependencies the policy allows: "
                + (", ".join(f"`{a}`" for a in self.allowed) or "none")
                + (
                    " (regulated: only these, transitive ones included)."
                    if self.regulated
                    else " (others are accepted with a note; a refused one comes back with the "
                    "reason)."
                ),
                "- A FastAPI service starts from `python -m <package>`: its `__main__.py` calls "
                '`uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]))`; its '
                "tests use `fastapi.testclient.TestClient` (it needs `httpx` in the dependencies).",
                *(
                    ["- Installed for this design: " + ", ".join(self.installed) + "."]
                    if self.installed
                    else []
                ),
            ]
        )

    def _service(self, role: WorldRole) -> str:
        lines = [
            "## How the service is started",
            "- assay splits the design's `start_command` with shlex and executes that argv "
            "directly in the workspace root. There is no shell: environment assignments "
            "(`PORT=8080 ...`), `$VAR` and `${VAR:-default}`, `&&`, `|`, `>` and `cd` do not "
            "work. A leading `python` or `python3` is the interpreter named above. Example: "
            "`python -m <package>`.",
            f"- assay sets `PORT` ({SERVICE_ENV['PORT']}), `HOST={SERVICE_ENV['HOST']}` and "
            f"`PYTHONPATH={SERVICE_ENV['PYTHONPATH']}`; the service listens on "
            f'{SERVICE_ENV["HOST"]} at `int(os.environ["PORT"])`.',
            "- It runs in a sandbox without network: only its own 127.0.0.1, no DNS, no outbound "
            "requests. The workspace is the only writable folder; /tmp is private.",
        ]
        if role == "tester":
            lines.append(
                "- The tests run the same way (pytest in the sandbox, `pythonpath = src`), "
                "without the service running: test the package's code in-process."
            )
        return "\n".join(lines)

    def _precedence(self) -> str:
        return "\n".join(
            [
                "## Where the environment overrides the spec",
                "- The port: listen on `$PORT`, whatever port the spec names (a spec saying "
                '"listen on 8080" means "listen on $PORT" here); the host is 127.0.0.1.',
                "- How the service starts, the Python version and the packages: as above.",
                "- Everything else (endpoints, behaviour, status codes, messages, data) is the "
                "spec's: the spec rules, and the design only elaborates it.",
            ]
        )

    def _gate_list(self, *, sast_only: bool) -> str:
        if sast_only:
            chosen = [g for g in self.gates if g.name in _SAST]
            head = "## The static analysers whose findings you are given"
        else:
            chosen = list(self.gates)
            head = (
                "## Gates\nAfter every coder iteration assay runs these gates on the workspace; "
                "the run converges only when every required one passes."
            )
        return "\n".join([head, *(g.line() for g in chosen)] if chosen else [head, "- (none)"])

    def _files(self, role: WorldRole) -> str:
        scaffold = ", ".join(f"`{p}`" for p in self.scaffold)
        protected = ", ".join(f"`{p}`" for p in self.protected)
        lines = [
            "## Files assay owns",
            f"- assay writes the scaffold itself from the design: {scaffold}. Nobody plans, "
            "writes or edits these files.",
            f"- Protected paths (an edit by the coder is rejected and recorded): {protected}.",
        ]
        if role != "tester":
            lines.append("- The tests under `tests/` are the tester's; the coder cannot edit them.")
        return "\n".join(lines)


def _architect_notes(world: World) -> str:
    return "\n".join(
        [
            "## Your part",
            "- The `file_plan` lists the source files the coder writes under `src/<package>/`: "
            "not the scaffold, not the tests.",
            "- `start_command` is a plain argv as described above, naming a module or script in "
            "the file plan, e.g. `python -m <package>`.",
            "- You cannot run anything. Your tools (`list_files`, `read_file`, `search_files`) "
            "read the workspace, which holds the scaffold as it will be written (with "
            "`<package>` standing for your package's name).",
        ]
    )


def _tester_notes(world: World) -> str:
    return "\n".join(
        [
            "## Your part",
            "- Write only under `tests/`. Your files are then protected: nobody can change them, "
            "so a test that asserts more than the spec states can never be fixed.",
            "- The tests are checked by the gates above like any code (lint, format, types, "
            "complexity, security).",
            "- You cannot run anything; your tools read the scaffolded workspace.",
        ]
    )


DIFF_FORMAT = (
    "A `diff` is applied hunk by hunk: each hunk starts with `@@ -OLD_START,OLD_COUNT "
    "+NEW_START,NEW_COUNT @@`, then lines starting with a space (context, unchanged), "
    "`-` (removed) or `+` (added). The counts must equal the number of context plus "
    "removed lines, and of context plus added lines. The `---`/`+++` header is optional "
    "and ignored. The context and removed lines must equal the current file's lines "
    "exactly (indentation included); a hunk is placed where they occur, nearest to "
    "OLD_START."
)
"""How assay applies a `diff` (`assay.changeset.apply_unified_diff`), for roles that send one."""


def _coder_notes(world: World) -> str:
    example = EXAMPLE_CHANGESET.model_dump_json(indent=1, exclude={"kind"}, exclude_none=True)
    return "\n".join(
        [
            "## You cannot run anything",
            "No shell, no Python, no tests. Your tools (`list_files`, `read_file`, "
            "`search_files`) only read the workspace. assay applies your changeset, runs the "
            "gates, the security review and the holdout scenarios, and sends you their findings "
            "in the next iteration.",
            "",
            "## The Changeset format",
            "- `files`: each has a workspace-relative `path` and exactly one of `content` (the "
            "whole new file; use it for new files) or `diff` (a unified diff against the "
            "current file).",
            f"- {DIFF_FORMAT} A hunk that matches nowhere rejects the whole changeset and "
            "nothing is written.",
            "- `deletions`: workspace-relative paths of files to delete.",
            "- `rationale`: what changed and why; it becomes the commit message.",
            "",
            "Example: `src/app/core.py` holds these 5 lines (numbered here, two of them "
            "empty; the numbers are not in the file):",
            "```",
            *(f"{i:>2} | {line}".rstrip() for i, line in enumerate(EXAMPLE_BEFORE.splitlines(), 1)),
            "```",
            "This changeset patches line 5, writes `src/app/__init__.py` whole and deletes "
            "`src/app/old.py`:",
            "```json",
            example,
            "```",
        ]
    )


def _reviewer_notes(world: World) -> str:
    return "\n".join(
        [
            "## Your part",
            "- The code you are sent is numbered (`   12 | code`): give each finding's `file` and "
            "that `line`.",
            "- The analysers' findings come grouped by rule with a count; low-severity findings "
            "in tests/ (such as `assert`) are left out.",
        ]
    )


_ROLE_NOTES: dict[str, Callable[[World], str]] = {
    "architect": _architect_notes,
    "tester": _tester_notes,
    "coder": _coder_notes,
    "security-reviewer": _reviewer_notes,
}

_SAST = frozenset({"bandit", "semgrep", "secrets"})


# -- reading the facts --------------------------------------------------------------------------


def _toml(text: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return {}


def _dig(data: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping) or key not in data:
            return None
        data = data[key]
    return data


def _python(pyproject: Mapping[str, Any]) -> tuple[str, str]:
    """The version the project targets and where it says so."""
    requires = _dig(pyproject, "project", "requires-python")
    target = _dig(pyproject, "tool", "ruff", "target-version")
    mypy = _dig(pyproject, "tool", "mypy", "python_version")
    sources = [f"requires-python {requires}"] if requires else []
    if target:
        sources.append(f"ruff target-version {target}")
    if mypy:
        sources.append(f"mypy python_version {mypy}")
    version = str(mypy or "")
    if not version and isinstance(target, str) and target.startswith("py"):
        version = f"{target[2]}.{target[3:]}"
    if not version and isinstance(requires, str):
        version = requires.lstrip(">=~ ").split(",")[0]
    return version or platform.python_version(), ", ".join(sources) or "assay's interpreter"


def _interpreter(settings: Settings) -> str:
    """Which Python runs generated code, by sandbox backend (no backend is probed here)."""
    own = f"assay's own interpreter (Python {platform.python_version()}), mounted read-only"
    image = f"the python3 of the sandbox image `{settings.sandbox.image}`"
    backend = settings.sandbox.backend
    if backend == "docker":
        return image
    if backend in ("bwrap", "local"):
        return own
    if backend == "auto":
        return f"{image} under docker, or else {own} under bwrap"
    return f"the interpreter of the `{backend}` sandbox backend"


def _options(gate: Gate, raw: Mapping[str, Any]) -> dict[str, Any]:
    model: type[BaseModel] | None = getattr(gate, "options_model", None)
    if model is None:
        return dict(raw)
    try:
        return model.model_validate(dict(raw)).model_dump()
    except ValidationError:  # the gate runner reports it, naming the key and the file
        return dict(raw)


def _briefs(
    settings: Settings,
    gates: Sequence[Gate],
    scaffold: Mapping[str, str],
    pyproject: Mapping[str, Any],
) -> list[GateBrief]:
    briefs = []
    with tempfile.TemporaryDirectory(prefix="assay-world-") as tmp:
        root = Path(tmp)
        all_files = _sample_project(root, scaffold)
        python = tuple(f for f in all_files if f.endswith(".py"))
        for gate in sorted(gates, key=lambda g: (g.cost, g.name)):
            policy = settings.gate_policy(gate.name)
            if not policy.enabled:
                continue
            options = _options(gate, policy.options)
            ctx = GateContext(root, python, options, root / ".assay", all_files)
            required = policy.required
            if required is None:
                required = bool(getattr(gate, "default_required", True))
            fail_on = policy.fail_on or getattr(gate, "default_fail_on", None) or settings.fail_on
            describe = _RULES.get(gate.name, _generic_rules)
            briefs.append(
                GateBrief(
                    name=gate.name,
                    tool=gate.tool,
                    required=required,
                    fail_on=fail_on,
                    scope=_scope(gate, ctx),
                    rules=describe(options, pyproject),
                )
            )
    return briefs


def _sample_project(root: Path, scaffold: Mapping[str, str]) -> tuple[str, ...]:
    """The scaffold plus one source file, one test and two documents, written under `root`."""
    files = {**scaffold, _SAMPLE_SOURCE: "X = 1\n", _SAMPLE_TEST: "def test_x() -> None: ...\n"}
    files.update(dict.fromkeys(_SAMPLE_OTHER, "# notes\n"))
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text or "\n", encoding="utf-8")
    return tuple(sorted(files))


def _scope(gate: Gate, ctx: GateContext) -> str:
    """The files `gate` reads of the sample project, in words."""
    if gate.name == "pytest":  # it reads every file (data files too); what it runs is the tests
        return "the tests"
    try:
        picked = set(gate.inputs(ctx))
    except Exception:  # a plugin gate's inputs() may want more than a sample project gives
        return "the files it selects"
    source, test = _SAMPLE_SOURCE in picked, _SAMPLE_TEST in picked
    others = sorted(picked - {_SAMPLE_SOURCE, _SAMPLE_TEST})
    words = []
    if source and test:
        words.append("Python files in src/ and tests/")
    elif source:
        words.append("Python files in src/ (not tests/)")
    elif test:
        words.append("Python files in tests/ (not src/)")
    if set(_SAMPLE_OTHER) <= set(others):
        words.append("every other text file")
    elif others:
        words.append(", ".join(others))
    return " and ".join(words) or "nothing in this project"


# -- each built-in gate's rules in words ----------------------------------------------------------


def _generic_rules(options: Mapping[str, Any], _pyproject: Mapping[str, Any]) -> str:
    shown = ", ".join(f"{k} = {v!r}" for k, v in sorted(options.items()))
    return f"options {shown}" if shown else "its own rules"


def _ruff_rules(options: Mapping[str, Any], pyproject: Mapping[str, Any]) -> str:
    select = options.get("select") or []
    if select:
        text = f"rules {', '.join(select)} (the project's own ruff config is ignored)"
    else:
        lint = _dig(pyproject, "tool", "ruff", "lint") or {}
        chosen = lint.get("select") or ["E4", "E7", "E9", "F"]
        text = f"rules {', '.join(chosen)}"
        ignores = lint.get("per-file-ignores") or {}
        if ignores:
            per_file = (f"{k} ignores {', '.join(v)}" for k, v in ignores.items())
            text += " (" + "; ".join(per_file) + ")"
        mccabe = _dig(lint, "mccabe", "max-complexity")
        if mccabe:
            text += f", max-complexity {mccabe}"
        length = _dig(pyproject, "tool", "ruff", "line-length")
        if length:
            text += f", line-length {length}"
    if options.get("format", True):
        text += (
            "; and `ruff format --check`: files must be exactly as `ruff format` writes them. "
            "Before any gate runs, assay applies `ruff check --fix` (safe fixes only) and `ruff "
            "format` to the Python files you wrote and commits that as its own step, so your "
            "files may come back reformatted; what those fixers cannot fix is yours"
        )
    return text


def _complexity_rules(options: Mapping[str, Any], pyproject: Mapping[str, Any]) -> str:
    # the gate's limit: its `max`, else the project's ruff setting, else mccabe's 10
    limit = (
        options.get("max")
        or _dig(pyproject, "tool", "ruff", "lint", "mccabe", "max-complexity")
        or DEFAULT_MAX
    )
    return (
        f"no function or method above cyclomatic complexity {limit} (mccabe, as ruff's C901 "
        "counts: every if, elif, loop, except clause and match case; boolean operators, "
        "comprehensions and asserts do not; functions and classes nested in a function count "
        "toward it); split long functions"
    )


def _mypy_rules(options: Mapping[str, Any], pyproject: Mapping[str, Any]) -> str:
    flags = ["--strict"] if options.get("strict") else []
    if options.get("ignore_missing_imports"):
        flags.append("--ignore-missing-imports")
    flags += [str(a) for a in options.get("args") or []]
    text = f"`{' '.join(['mypy', *flags])}`"
    if options.get("strict"):
        text += ": every function fully annotated, tests included; no implicit Any"
    return text


def _bandit_rules(options: Mapping[str, Any], _pyproject: Mapping[str, Any]) -> str:
    skip = ", ".join(options.get("skip") or []) or "none"
    return f"bandit's checks at confidence {options.get('confidence')} or above; skipped: {skip}"


def _semgrep_rules(options: Mapping[str, Any], _pyproject: Mapping[str, Any]) -> str:
    from assay.gates.semgrep import bundled_rule_files

    packs = []
    if options.get("bundled", True):
        names = ", ".join(p.stem.replace("_", " ") for p in bundled_rule_files())
        packs.append(f"assay's rule pack ({names})")
    packs += [f"`{r}`" for r in options.get("rules") or []]
    nosemgrep = "honoured" if options.get("nosemgrep") else "ignored"
    return " and ".join(packs) + f"; `# nosemgrep` comments are {nosemgrep}"


def _secrets_rules(options: Mapping[str, Any], _pyproject: Mapping[str, Any]) -> str:
    off = ", ".join(options.get("disable_plugins") or [])
    text = "no keys, tokens, passwords or high-entropy strings"
    return text + (f" (off: {off})" if off else "")


def _depaudit_rules(options: Mapping[str, Any], _pyproject: Mapping[str, Any]) -> str:
    return "the declared dependencies must have no known vulnerability (needs the network)"


def _pytest_rules(options: Mapping[str, Any], pyproject: Mapping[str, Any]) -> str:
    paths = _dig(pyproject, "tool", "pytest", "ini_options", "testpaths") or ["tests"]
    where = ", ".join(f"`{p}/`" for p in paths)
    text = f"runs the tests in {where} in the sandbox; every test must pass"
    coverage = float(options.get("coverage") or 0)
    if coverage:
        source = ", ".join(f"`{s}`" for s in options.get("source") or ["."])
        text += f", and total line coverage of {source} must be at least {coverage:g}%"
    return text


_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], str]] = {
    "ruff": _ruff_rules,
    "complexity": _complexity_rules,
    "mypy": _mypy_rules,
    "bandit": _bandit_rules,
    "semgrep": _semgrep_rules,
    "secrets": _secrets_rules,
    "depaudit": _depaudit_rules,
    "pytest": _pytest_rules,
}


def _review_brief(settings: Settings) -> GateBrief:
    return GateBrief(
        name=REVIEW_GATE,
        tool="a separate reviewer model",
        required=settings.factory.require_review,
        fail_on="medium",
        scope="each changeset with the analysers' findings and the design's threat model",
        rules="approves only when no weakness of medium severity or above remains",
    )
