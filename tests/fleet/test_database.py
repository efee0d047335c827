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
