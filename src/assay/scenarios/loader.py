"""Load scenario files and folders: YAML with line numbers, the linter, and per-folder rules."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent

from assay.errors import UserError
from assay.scenarios.lint import FileLinter
from assay.scenarios.model import Scenario
from assay.scenarios.problems import Problem

__all__ = [
    "LoadResult",
    "ScenarioLoadError",
    "find_scenario_files",
    "load_dir",
    "load_file",
    "load_text",
]


class ScenarioLoadError(UserError):
    """Scenario files have lint errors; the message lists them with file:line:col."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        lines = "\n".join(f"  {p}" for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        super().__init__(f"{len(errors)} scenario error(s):\n{lines}{more}")


@dataclass
class LoadResult:
    """Scenarios that loaded, and every problem found on the way."""

    scenarios: list[Scenario] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: int = 0

    @property
    def errors(self) -> list[Problem]:
        """Problems that block loading."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems reported but not blocking."""
        return [p for p in self.problems if p.severity == "warning"]

    def raise_for_errors(self) -> None:
        """Raise `ScenarioLoadError` when any error was found."""
        if self.errors:
            raise ScenarioLoadError(self.problems)


MAX_ALIASES = 64
"""Aliases a scenario file may use; a "billion laughs" file needs far more to expand."""


def _alias_bomb(text: str) -> tuple[int, int] | None:
    """Where the alias past `MAX_ALIASES` is, scanning YAML events (nothing is expanded), or
    None. A file that does not even parse is left for the loader to report."""
    seen = 0
    try:
        for event in YAML(typ="safe", pure=True).parse(text):
            if isinstance(event, AliasEvent):
                seen += 1
                if seen > MAX_ALIASES:
                    mark = event.start_mark
                    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    except YAMLError:
        return None
    return None


def load_file(path: Path, *, display: str | None = None) -> LoadResult:
    """Parse and lint one scenario file."""
    name = display or str(path)
    result = LoadResult(files=1)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(Problem("SC002", "error", name, 1, 1, f"cannot read: {exc}"))
        return result
    return load_text(text, name)


def load_text(text: str, name: str) -> LoadResult:
    """Parse and lint one scenario document held in memory (`name` is shown in problems): what
    `assay scenarios compile` checks a rewritten file with before writing it."""
    result = LoadResult(files=1)
    if not text.strip():
        result.problems.append(
            Problem("SC001", "error", name, 1, 1, "scenario file must not be empty")
        )
        return result
    bomb = _alias_bomb(text)
    if bomb is not None:
        line, col = bomb
        result.problems.append(
            Problem("AS030", "error", name, line, col,
                    f"more than {MAX_ALIASES} YAML aliases: alias expansion is limited, as a few "
                    "nested aliases can stand for billions of nodes")
        )  # fmt: skip
        return result
    yaml = YAML(typ="rt", pure=True)
    try:
        root = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        what = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        result.problems.append(
            Problem("SC002", "error", name, line, col, f"file must be valid YAML: {what}")
        )
        return result
    except YAMLError as exc:
        result.problems.append(
            Problem("SC002", "error", name, 1, 1, f"file must be valid YAML: {exc}")
        )
        return result
    linter = FileLinter(name)
    scenario = linter.lint(root)
    result.problems.extend(linter.problems)
    if scenario is not None:
        result.scenarios.append(scenario)
    return result


def find_scenario_files(root: Path) -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` file under `root` (or `root` itself), sorted."""
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise UserError(f"scenario path does not exist: {root}")
    return sorted(p for p in root.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file())


def load_dir(root: Path) -> LoadResult:
    """Load every scenario file under `root`; ids must be unique within each folder (SC031)."""
    files = find_scenario_files(root)
    if not files:
        raise UserError(f"no scenario files (*.yaml, *.yml) under {root}")
    total = LoadResult()
    by_folder: dict[Path, dict[str, str]] = defaultdict(dict)
    for path in files:
        one = load_file(path)
        total.files += 1
        total.problems.extend(one.problems)
        for sc in one.scenarios:
            seen = by_folder[path.parent]
            if sc.id in seen:
                total.problems.append(
                    Problem(
                        "SC031",
                        "error",
                        str(path),
                        1,
                        1,
                        f"scenario id {sc.id!r} is already used by {seen[sc.id]}",
                    )
                )
                continue
            seen[sc.id] = str(path)
            total.scenarios.append(sc)
    return total
