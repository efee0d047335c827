"""Shared test set-up: no model provider is ever reached, and $HOME is never written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pydantic_ai.models
import pytest

pydantic_ai.models.ALLOW_MODEL_REQUESTS = False

REPO = Path(__file__).resolve().parents[1]
COMPAT = REPO / "tests" / "compat" / "octopusgarden"  # copied unchanged from ../shared/compat
SARIF_SCHEMA = REPO / "tests" / "schemas" / "sarif-schema-2.1.0.json"


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


@pytest.fixture(autouse=True)
def _no_home_writes(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Point $HOME at a temporary folder so nothing a test runs writes to the real one."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    yield
