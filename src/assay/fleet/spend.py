"""The fleet-wide dollar budget: what every run of the fleet spent, in the fleet's database.

``[tool.assay.fleet] budget_usd`` caps the dollars all runs together spend. Each priced model
response a worker's run receives is one row (run id, dollars) in ``assay_spend``: a table in
the system schema of a PostgreSQL fleet, or a SQLite file beside the embedded system database.
Before each request a run asks for the sum; at or over the cap the request is refused and the
run stops with outcome ``budget``, naming the fleet's budget. Requests already in flight finish,
so the fleet may overshoot by at most the cost of one response per run running at that moment.
A response is charged after the ledger records it; a worker killed between the two leaves that
one response uncharged (the ledgers still have it: `assay runs` sums them).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from assay.fleet.database import Database

__all__ = ["FleetSpend"]

_TABLE = "assay_spend"


class FleetSpend:
    """The fleet's spend, shared by the runs of this process (one connection, locked)."""

    def __init__(self, db: Database, schema: str, limit_usd: float | None) -> None:
        self.db = db
        self.schema = schema
        self.limit_usd = limit_usd
        self._lock = threading.Lock()
        self._conn: Any = None

    def _connect(self) -> Any:
        if self._conn is not None:
            return self._conn
        conn: Any
        if self.db.kind == "sqlite":
            conn = sqlite3.connect(self.file(), timeout=30, isolation_level=None)
            conn.execute(
                "CREATE TABLE IF NOT EXISTS assay_spend (run_id TEXT NOT NULL, "
                "dollars REAL NOT NULL, at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )
        else:
            import psycopg
            from psycopg import sql

            conn = psycopg.connect(self.db.url, autocommit=True)
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (run_id TEXT NOT NULL, "
                    "dollars DOUBLE PRECISION NOT NULL, at TIMESTAMPTZ NOT NULL DEFAULT now())"
                ).format(sql.Identifier(self.schema, _TABLE))
            )
        self._conn = conn
        return conn

    def file(self) -> Path:
        """The SQLite file beside the embedded system database (DBOS's own file is left alone:
        a second writer there would contend with DBOS's locks)."""
        assert self.db.path is not None
        return self.db.path.resolve().parent / f"{self.db.path.name}.spend.sqlite"

    def _table(self) -> Any:
        """The PostgreSQL table, schema-qualified."""
        from psycopg import sql

        return sql.Identifier(self.schema, _TABLE)

    def spent(self) -> float:
        """Dollars every run of the fleet spent so far."""
        with self._lock:
            conn = self._connect()
            if self.db.kind == "sqlite":
                row = conn.execute("SELECT COALESCE(SUM(dollars), 0) FROM assay_spend").fetchone()
            else:
                from psycopg import sql

                query = sql.SQL("SELECT COALESCE(SUM(dollars), 0) FROM {}").format(self._table())
                row = conn.execute(query).fetchone()
        return float(row[0])

    def charge(self, run_id: str, dollars: float) -> None:
        """Record what one response of `run_id` cost."""
        with self._lock:
            conn = self._connect()
            if self.db.kind == "sqlite":
                conn.execute(
                    "INSERT INTO assay_spend (run_id, dollars) VALUES (?, ?)", (run_id, dollars)
                )
            else:
                from psycopg import sql

                query = sql.SQL("INSERT INTO {} (run_id, dollars) VALUES (%s, %s)").format(
                    self._table()
                )
                conn.execute(query, (run_id, dollars))

    def exhausted(self) -> str | None:
        """Why no run may make another request, or None (always None without a cap)."""
        if self.limit_usd is None:
            return None
        spent = self.spent()
        if spent >= self.limit_usd:
            return (
                f"the fleet's dollar budget is spent: ${spent:.4f} of ${self.limit_usd:.2f} "
                "(all runs together)"
            )
        return None

    def for_run(self, run_id: str) -> RunShare:
        """The budget one run shares with the fleet."""
        return RunShare(self, run_id)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


class RunShare:
    """One run's view of the fleet's budget (a `SharedBudget`)."""

    def __init__(self, spend: FleetSpend, run_id: str) -> None:
        self.spend = spend
        self.run_id = run_id

    def exhausted(self) -> str | None:
        return self.spend.exhausted()

    def charge(self, dollars: float) -> None:
        self.spend.charge(self.run_id, dollars)
