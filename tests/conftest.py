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


POSTGRES_DSN_ENV = "ASSAY_TEST_POSTGRES_DSN"
"""A PostgreSQL URL whose user may create schemas (.ci/run starts a private server and sets it)."""


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL; skips without one, except in CI (ASSAY_REQUIRE_SANDBOX=1)."""
    url = os.environ.get(POSTGRES_DSN_ENV, "")
    require_or_skip(bool(url), f"PostgreSQL: {POSTGRES_DSN_ENV} is not set (.ci/run sets it)")
    try:
        import psycopg
    except ImportError:
        require_or_skip(False, "PostgreSQL: psycopg is missing (pip install -e '.[fleet]')")
        raise
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        require_or_skip(False, f"PostgreSQL at ${POSTGRES_DSN_ENV} does not answer: {exc}")
    return url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose connections see only a fresh, empty schema (dropped after the test):
    tests share the server, never their tables."""
    import uuid
    from urllib.parse import quote, urlsplit

    import psycopg
    from psycopg import sql

    schema = f"assay_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    parts = urlsplit(postgres_server)
    option = "options=" + quote(f"-csearch_path={schema}")
    query = f"{parts.query}&{option}" if parts.query else option
    yield parts._replace(query=query).geturl()
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_database(request: pytest.FixtureRequest) -> str | None:
    """Each ledger store in turn: None (SQLite in the run folder) or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url
