"""The generated project's skeleton: README, design document, pyproject with ruff and mypy, CI
workflow, pre-commit config. Written once, before the tests and the code; the config files are
protected from the coder.

One policy: the generated project's CI and pre-commit hooks run the checks the gates run, with the
same scopes, rules and limits (`Checks`, read from the run's settings). Each gate has its line:

- ruff: ``ruff check . && ruff format --check .`` with the rules in ``[tool.ruff]``;
- complexity: ``ruff check --select C901 .``, mccabe's count, at the gate's ``max``
  (``[tool.ruff.lint.mccabe]``), tests left out through ``per-file-ignores`` (as the gate does);
- mypy: strict over ``src`` and ``tests``, missing imports ignored (the gate's defaults);
- bandit: every Python file, failing from the gate's ``fail_on`` up, B101 not reported in tests;
- pytest: the tests, with the gate's coverage threshold.

The dev extra pins ruff, mypy and bandit to the versions the gates ran, so a formatter or a rule
does not change between the run and the project's CI.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from assay.config import Settings
from assay.deps.lock import LOCK_FILE, LOCK_HEADER
from assay.errors import ToolMissingError
from assay.gates._tool import tool_version
from assay.gates.bandit import BanditGate, BanditOptions
from assay.gates.complexity import DEFAULT_MAX, ComplexityOptions
from assay.gates.mypy import MypyOptions
from assay.gates.pytest_gate import PytestOptions
from assay.gates.scope import TEST_FILE_GLOBS
from assay.messages import Design, Spec

__all__ = ["PROTECTED_SCAFFOLD", "Checks", "render_design_doc", "scaffold_files", "write_scaffold"]

PROTECTED_SCAFFOLD = (
    "pyproject.toml",
    "requirements.txt",  # the dependency lock: only a design change re-locks it
    ".pre-commit-config.yaml",
    ".github/*",
    "docs/design.md",
    # the tests, and every file a gate's tool reads its configuration from, so the coder can
    # neither edit the tests nor weaken a check
    "tests/*",
    "conftest.py",
    "ruff.toml",
    ".ruff.toml",
    "mypy.ini",
    ".mypy.ini",
    "setup.cfg",
    "tox.ini",
    "pytest.ini",
    ".bandit",
    ".coveragerc",
    ".semgrepignore",
    ".secrets.baseline",
    "assay.toml",
)

# The tools the generated CI installs; those the gates drive are pinned to the gates' versions.
_PINNED_TOOLS = ("ruff", "mypy", "bandit")
_LOWER_BOUNDS = {"pytest": "8", "pytest-cov": "5", "ruff": "0.9", "mypy": "1.14", "bandit": "1.8"}
# bandit's --severity-level for the gate's fail_on: bandit reports from this level up.
_BANDIT_LEVEL = {
    "info": "all", "low": "low", "medium": "medium", "high": "high", "critical": "high"
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Checks:
    """The gates' policy, as the generated project's own tool configuration states it."""

    complexity_max: int = DEFAULT_MAX
    coverage: float = 80.0
    """The pytest gate's coverage threshold (0: no coverage check)."""
    bandit_level: str = "medium"
    """bandit's ``--severity-level``: the bandit gate's ``fail_on``."""
    bandit_skip: tuple[str, ...] = ()
    mypy_strict: bool = True
    versions: Mapping[str, str] = field(default_factory=dict)
    """Tool -> the exact version the gates run; a tool missing here gets a lower bound."""

    @classmethod
    def of(cls, settings: Settings) -> Checks:
        """The checks the gates run under `settings`, with the versions of the gates' tools."""

        def options(gate: str) -> dict[str, object]:
            return settings.gate_policy(gate).options

        bandit = BanditOptions.model_validate(options("bandit"))
        fail_on = settings.gate_policy("bandit").fail_on or BanditGate.default_fail_on
        versions = {}
        for tool in _PINNED_TOOLS:
            try:
                versions[tool] = tool_version(tool)
            except ToolMissingError:
                continue  # a lower bound instead; the gate itself reports the missing tool
        return cls(
            complexity_max=ComplexityOptions.model_validate(options("complexity")).max
            or DEFAULT_MAX,
            coverage=PytestOptions.model_validate(options("pytest")).coverage,
            bandit_level=_BANDIT_LEVEL[fail_on],
            bandit_skip=tuple(bandit.skip),
            mypy_strict=MypyOptions.model_validate(options("mypy")).strict,
            versions=versions,
        )

    def requirement(self, tool: str) -> str:
        """The dev extra's requirement for `tool`."""
        version = self.versions.get(tool)
        return f"{tool}=={version}" if version else f"{tool}>={_LOWER_BOUNDS[tool]}"

    def pytest_command(self) -> str:
        """pytest as the pytest gate runs it: coverage of the project held to the threshold."""
        if self.coverage <= 0:
            return "pytest -q"
        return f"pytest -q --cov=. --cov-fail-under={self.coverage:g}"

    def bandit_command(self) -> str:
        """bandit over every Python file, with the project's ``[tool.bandit]``."""
        return f"bandit -c pyproject.toml -q -r . --severity-level {self.bandit_level}"


def _toml_list(items: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


_TEST_IGNORES = "\n".join(f'"{glob}" = ["S101", "C901"]' for glob in TEST_FILE_GLOBS)
# bandit matches these against the paths it is given (``./tests/...`` under ``-r .``).
_BANDIT_TEST_PATHS = _toml_list(
    [p for g in ("tests/*", "test_*.py", "*_test.py", "conftest.py") for p in (g, f"*/{g}")]
)

_PYPROJECT = """\
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "0.1.0"
description = "{summary}"
readme = "README.md"
requires-python = ">=3.11"
dependencies = [{deps}]

[project.optional-dependencies]
dev = [{dev}]

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]

[tool.ruff]
line-length = 100
target-version = "py311"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "S", "SIM"]

[tool.ruff.lint.per-file-ignores]
# tests: asserts are what a test is made of (S101), and complexity is measured on source code
{test_ignores}

[tool.ruff.lint.mccabe]
# the complexity gate's limit, checked by `ruff check --select C901 .`
max-complexity = {complexity_max}

[tool.ruff.lint.isort]
# the tests are written (and autofixed) before src/{package} exists: name it, so the import
# grouping does not change once the code is there
known-first-party = ["{package}"]

[tool.mypy]
strict = {mypy_strict}
python_version = "3.11"
files = ["src", "tests"]
mypy_path = "src"
ignore_missing_imports = true

[tool.bandit]
exclude_dirs = [".venv", ".git", "build", "dist"]
skips = {bandit_skip}

[tool.bandit.assert_used]
# B101 (assert used) is not reported in tests
skips = {bandit_test_paths}

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["src"]
"""

_CI = """\
name: ci
on: [push, pull_request]
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
{install_lock}      - run: pip install -e '.[dev]'
      - run: ruff check . && ruff format --check .
      - run: ruff check --select C901 .
      - run: mypy
      - run: {bandit}
      - run: {pytest}
"""

_PRECOMMIT = """\
# The checks of CI (.github/workflows/ci.yml), with the tools of `pip install -e '.[dev]'`.
repos:
  - repo: local
    hooks:
      - id: ruff
        name: ruff check
        entry: ruff check
        language: system
        types_or: [python, pyi]
      - id: ruff-format
        name: ruff format
        entry: ruff format
        language: system
        types_or: [python, pyi]
      - id: complexity
        name: complexity (ruff C901)
        entry: ruff check --select C901
        language: system
        types_or: [python, pyi]
      - id: mypy
        name: mypy
        entry: mypy
        language: system
        types_or: [python, pyi]
        pass_filenames: false
      - id: bandit
        name: bandit
        entry: bandit -c pyproject.toml -q --severity-level {bandit_level}
        language: system
        types: [python]
"""

_GITIGNORE = """\
__pycache__/
*.py[cod]
.venv/
.assay/
.mypy_cache/
.ruff_cache/
.pytest_cache/
.coverage
dist/
"""


def render_design_doc(spec: Spec, design: Design) -> str:
    """The design as a Markdown document a maintainer reads."""
    out = [f"# Design: {spec.title}", "", design.summary, "", "## Modules", ""]
    for m in design.modules:
        out.append(f"- `{m.path}`: {m.purpose}")
        out += [f"  - `{sig}`" for sig in m.interface]
    if design.endpoints:
        out += ["", "## Endpoints", "", "| method | path | summary |", "|---|---|---|"]
        out += [f"| {e.method} | `{e.path}` | {e.summary} |" for e in design.endpoints]
    if design.data_model:
        out += ["", "## Data model", ""] + [f"- {d}" for d in design.data_model]
    out += ["", "## Threat model", ""] + [f"- {t}" for t in design.threat_model or ["(none)"]]
    out += ["", "## Test strategy", "", design.test_strategy or "(not stated)", ""]
    return "\n".join(out)


_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_DESCRIPTION_MAX = 200


def run_line(design: Design) -> str:
    """How the README says to start the service: the design's argv once, with the environment
    assay gives it (``PORT=8080 PYTHONPATH=src python -m app``); assignments the command itself
    carries are dropped, as assay sets them."""
    start = design.start_command or f"python -m {design.package}"
    try:
        argv = shlex.split(start)
    except ValueError:
        return f"PORT=8080 PYTHONPATH=src {start}"
    while argv and (_ASSIGNMENT.match(argv[0]) or argv[0] == "env"):
        argv.pop(0)
    return "PORT=8080 PYTHONPATH=src " + shlex.join(argv or ["python", "-m", design.package])


def description(design: Design, spec: Spec) -> str:
    """The pyproject description: the summary's first line (else the title) on one line, safe in
    a TOML string, cut at a word with an ellipsis when longer than 200 characters."""
    lines = design.summary.splitlines()
    first = (lines[0] if lines and lines[0].strip() else "") or spec.title
    text = " ".join(first.replace("\\", "").replace('"', "'").split())
    if len(text) <= _DESCRIPTION_MAX:
        return text
    short = textwrap.shorten(text, width=_DESCRIPTION_MAX, placeholder="\u2026")
    return short if short != "\u2026" else text[: _DESCRIPTION_MAX - 1] + "\u2026"


def _readme(spec: Spec, design: Design) -> str:
    return (
        f"# {spec.title}\n\n{design.summary}\n\n"
        "Generated by assay from the spec below; every change is a "
        "commit in this repository's history, and the design is in `docs/design.md`.\n\n"
        "## Run\n\n```sh\npip install -e '.[dev]'\n"
        f"{run_line(design)}\n```\n\n"
        "## Check\n\n```sh\nruff check . && ruff format --check . && mypy && pytest -q\n```\n\n"
        f"## Spec\n\n{spec.body}"
    )


def scaffold_files(
    spec: Spec, design: Design, checks: Checks | None = None, *, lock: str | None = None
) -> dict[str, str]:
    """Relative path -> content of every skeleton file; `checks`: the gates' policy (default:
    the gates' defaults, tools unpinned); `lock`: the dependency lock's text, written as
    ``requirements.txt`` and installed first by the project's CI."""
    checks = checks or Checks()
    dev = ", ".join(f'"{checks.requirement(t)}"' for t in ("pytest", "pytest-cov", *_PINNED_TOOLS))
    deps = ", ".join(f'"{d.name}{d.spec}"' for d in design.dependencies)
    pyproject = _PYPROJECT.format(
        name=spec.name,
        summary=description(design, spec),
        deps=deps,
        package=design.package,
        dev=dev,
        test_ignores=_TEST_IGNORES,
        complexity_max=checks.complexity_max,
        mypy_strict=str(checks.mypy_strict).lower(),
        bandit_skip=_toml_list(checks.bandit_skip),
        bandit_test_paths=_BANDIT_TEST_PATHS,
    )
    install_lock = "      - run: pip install --require-hashes -r requirements.txt\n" if lock else ""
    files = {
        "README.md": _readme(spec, design),
        "docs/design.md": render_design_doc(spec, design),
        "pyproject.toml": pyproject,
        ".github/workflows/ci.yml": _CI.format(
            bandit=checks.bandit_command(),
            pytest=checks.pytest_command(),
            install_lock=install_lock,
        ),
        ".pre-commit-config.yaml": _PRECOMMIT.format(bandit_level=checks.bandit_level),
        ".gitignore": _GITIGNORE,
        f"src/{design.package}/py.typed": "",
    }
    if lock:
        files[LOCK_FILE] = LOCK_HEADER + lock
    return files


def write_scaffold(
    root: Path, spec: Spec, design: Design, checks: Checks | None = None, *, lock: str | None = None
) -> list[str]:
    """Write the skeleton into `root`; returns the paths written (a lock no longer wanted is
    removed)."""
    files = scaffold_files(spec, design, checks, lock=lock)
    if lock is None:
        (root / LOCK_FILE).unlink(missing_ok=True)
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(files)
