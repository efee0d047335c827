"""Database URLs: SQLite for one machine, PostgreSQL for a fleet, and `[tool.assay.fleet]`."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.config import load_settings
from assay.errors import ConfigError
from assay.fleet.database import Database


@pytest.mark.parametrize(
    ("value", "kind", "url", "path"),
    [
        ("runs/fleet.sqlite", "sqlite", "sqlite:///runs/fleet.sqlite", Path("runs/fleet.sqlite")),
        ("sqlite:///fleet.sqlite", "sqlite", "sqlite:///fleet.sqlite", Path("fleet.sqlite")),
        ("sqlite:////var/lib/a.db", "sqlite", "sqlite:////var/lib/a.db", Path("/var/lib/a.db")),
        ("/var/lib/a.db", "sqlite", "sqlite:////var/lib/a.db", Path("/var/lib/a.db")),
        ("postgresql://db.internal:5433/assay", "postgresql", "postgresql://db.internal:5433/assay",
         None),
        ("postgres://u@db/assay", "postgresql", "postgresql://u@db/assay", None),
        ("postgresql+psycopg://db/assay?sslmode=require", "postgresql",
         "postgresql://db/assay?sslmode=require", None),
        ("postgresql:///assay?host=/run/postgresql", "postgresql",
         "postgresql:///assay?host=/run/postgresql", None),
        ("postgresql://a:5432,b:5432/assay", "postgresql", "postgresql://a:5432,b:5432/assay",
         None),
    ],
)  # fmt: skip
def test_urls_and_paths(value: str, kind: str, url: str, path: Path | None) -> None:
    db = Database.parse(value)
    assert (db.kind, db.url, db.path) == (kind, url, path)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is needed"),
        ("sqlite://", "in-memory"),
        ("sqlite:///", "in-memory"),
        ("mysql://db/assay", "unsupported database 'mysql'"),
        ("postgresql://db:port/assay", "Port could not be cast"),
        ("postgresql:///assay", "names a host"),
        ("c:/x", "use sqlite:///PATH"),
    ],
)
def test_bad_urls_say_why(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Database.parse(value)


def test_a_password_is_redacted_and_refused_where_config_is_read() -> None:
    db = Database.parse("postgresql://assay:s3cret@db:5432/fleet")  # pragma: allowlist secret
    assert db.redacted() == str(db) == "postgresql://assay:***@db:5432/fleet"
    with pytest.raises(ValueError, match="PGPASSWORD") as caught:
        url = "postgresql://assay:s3cret@db/fleet"  # pragma: allowlist secret
        Database.parse(url, allow_password=False)
    assert "s3cret" not in str(caught.value)
    assert db.has_password
    assert not Database.parse("postgresql://assay@db/fleet").has_password
    assert not Database.parse("sqlite:///fleet.sqlite").has_password


def test_a_password_in_the_query_is_redacted_too() -> None:
    # libpq takes ``?password=`` as well; an empty host (a socket folder) stays in the URL.
    db = Database.parse(
        "postgresql:///fleet?host=/run/pg&password=s3cret"
    )  # pragma: allowlist secret
    assert db.has_password
    assert db.redacted() == "postgresql:///fleet?host=/run/pg&password=***"
    with pytest.raises(ValueError, match="PGPASSWORD") as caught:
        Database.parse(db.url, allow_password=False)
    assert "s3cret" not in str(caught.value)
    plain = Database.parse("postgresql:///fleet?host=/run/pg")
    assert plain.redacted() == plain.url == "postgresql:///fleet?host=/run/pg"


def test_fleet_config(tmp_path: Path) -> None:
    config = tmp_path / "assay.toml"
    assert load_settings(None).fleet.database_at(tmp_path) is None
    config.write_text('[fleet]\ndatabase = "postgresql://db.internal/assay"\n')
    db = load_settings(config).fleet.database_at(tmp_path)
    assert db is not None and db.kind == "postgresql"
    config.write_text('[fleet]\ndatabase = "sqlite:///state/fleet.sqlite"\n')
    db = load_settings(config).fleet.database_at(tmp_path)
    assert db is not None and db.path == tmp_path / "state" / "fleet.sqlite"
    assert db.url == f"sqlite:///{tmp_path}/state/fleet.sqlite"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (
            'database = "postgresql://assay:s3cret@db/fleet"',  # pragma: allowlist secret
            "PGPASSWORD",
        ),
        ('database = "redis://db"', "unsupported database"),
        ('databse = "postgresql://db/fleet"', "Extra inputs"),
    ],
)
def test_fleet_config_errors_name_the_key(tmp_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "pyproject.toml"
    config.write_text(f"[tool.assay.fleet]\n{toml}\n")
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(config)
    assert "tool.assay.fleet.data" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_fleet_spend_is_shared_by_every_connection(
    tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    """Two workers' views of the fleet's spend (two connections) see each other's charges, and
    the cap is met once their sum reaches it; without a cap nothing is ever exhausted."""
    pytest.importorskip("psycopg")
    from urllib.parse import parse_qs, unquote, urlsplit

    from assay.fleet.spend import FleetSpend

    if kind == "sqlite":
        db, schema = Database.parse(f"sqlite:///{tmp_path / 'fleet.sqlite'}"), "dbos"
    else:
        url: str = request.getfixturevalue("postgres_url")
        schema = unquote(parse_qs(urlsplit(url).query)["options"][0]).removeprefix("-csearch_path=")
        db = Database.parse(url.split("?options=")[0].split("&options=")[0])
    first, second = FleetSpend(db, schema, 1.0), FleetSpend(db, schema, 1.0)
    uncapped = FleetSpend(db, schema, None)
    try:
        assert first.spent() == 0.0 and first.exhausted() is None
        first.for_run("run-a").charge(0.4)
        second.for_run("run-b").charge(0.5)
        assert second.spent() == pytest.approx(0.9) and first.exhausted() is None
        second.for_run("run-b").charge(0.1)
        reason = first.for_run("run-a").exhausted()
        assert reason is not None and "$1.0000 of $1.00" in reason
        assert uncapped.exhausted() is None and uncapped.spent() == pytest.approx(1.0)
    finally:
        for spend in (first, second, uncapped):
            spend.close()
