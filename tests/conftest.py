"""Shared test set-up: no model provider is ever reached, and $HOME is never written."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pydantic_ai.models
import pytest

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO / "tests" / "compat" / "octopusgarden"  # copied unchanged from ../shared/compat
SARIF_SCHEMA = REPO / "tests" / "schemas" / "sarif-schema-2.1.0.json"


def scripted_app() -> ModuleType:
    """tests/factory/scripted_app.py, loaded once under the name ``scripted_app``: the name
    ``ASSAY_TESTING_MODELS=scripted_app:models`` imports, in this process and in subprocesses."""
    if "scripted_app" not in sys.modules:
        path = REPO / "tests" / "factory" / "scripted_app.py"
        spec = importlib.util.spec_from_file_location("scripted_app", path)
        assert spec and spec.loader
        sys.modules["scripted_app"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["scripted_app"])
    return sys.modules["scripted_app"]


def line_with(text: str, *parts: str) -> str:
    """The one line of `text` holding every part: output must never split what belongs together."""
    lines = [line for line in text.splitlines() if all(p in line for p in parts)]
    assert lines, f"no single line holds all of {parts!r} in:\n{text}"
    return lines[0]


def require_or_skip(available: bool, reason: str) -> None:
    """Skip when a system tool is missing, except in CI (ASSAY_REQUIRE_SANDBOX=1) where it fails."""
    if available:
        return
    if os.environ.get("ASSAY_REQUIRE_SANDBOX") == "1":
        pytest.fail(f"required in CI but unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _private_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point $XDG_STATE_HOME (the gate cache's key, crash logs) at one temporary folder for the
    whole session, before any fixture runs: module-scoped fixtures run gates too, and share
    cache entries with the tests that use them, so they must share the key as well."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("state")))
        yield


@pytest.fixture(autouse=True)
def _no_home_writes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point $HOME at a temporary folder so nothing a test runs writes to the real one."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    yield
