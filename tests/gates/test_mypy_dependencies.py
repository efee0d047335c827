"""The mypy gate reads the types of the dependencies a run installed for the project's lock.

A model-played run of OctopusGarden's kv-store (issue 17's played run) failed mypy with
"Untyped decorator makes function untyped" on every FastAPI route: mypy could not see FastAPI,
so its decorators were Any under --strict, and the coder rewrote idiomatic code to please the
gate. Here a real mypy runs over a project whose lock names a typed package installed in the
run's dependency folder, as `assay.deps` leaves it (``runs/<id>/deps/site-<lock digest>``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from assay.config import Settings
from assay.deps.environment import site_for
from assay.deps.lock import LOCK_FILE, LOCK_HEADER
from assay.gates.mypy import MypyGate
from assay.gates.runner import GateRunner

APP = '''"""A service."""

import typedroutes


@typedroutes.get("/health")
def health() -> dict[str, str]:
    """Say it is up."""
    return {"status": "ok"}
'''
LIB = '''"""A typed route decorator, like FastAPI's."""

from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


def get(path: str) -> Callable[[F], F]:
    """Register a route."""

    def register(function: F) -> F:
        return function

    return register
'''


def _project(tmp_path: Path, *, installed: bool) -> Path:
    workspace = tmp_path / "run" / "workspace"
    (workspace / "src" / "app").mkdir(parents=True)
    (workspace / "src" / "app" / "__init__.py").write_text(APP)
    lock = "typedroutes==1.0 --hash=sha256:" + "0" * 64 + "\n"
    (workspace / LOCK_FILE).write_text(LOCK_HEADER + lock)
    if installed:
        site = site_for(workspace.parent / "deps", lock)
        (site / "typedroutes").mkdir(parents=True)
        (site / "typedroutes" / "__init__.py").write_text(LIB)
        (site / "typedroutes" / "py.typed").write_text("")
    return workspace


def _mypy_findings(workspace: Path) -> list[str]:
    runner = GateRunner(workspace, Settings(), [MypyGate()], cache_dir=workspace.parent / "cache")
    report = asyncio.run(runner.run())
    (result,) = report.results
    return [f"{f.rule_id}: {f.message}" for f in result.findings]


def test_a_typed_dependency_the_run_installed_types_its_decorators(tmp_path: Path) -> None:
    assert _mypy_findings(_project(tmp_path / "with", installed=True)) == []


def test_without_the_installed_folder_the_decorator_is_untyped(tmp_path: Path) -> None:
    found = _mypy_findings(_project(tmp_path / "without", installed=False))
    assert any(f.startswith("untyped-decorator") for f in found), found
