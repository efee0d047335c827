"""The ledger's PostgreSQL store: every run's events in one database, shared by a fleet.

Needs the ``fleet`` extra (psycopg 3). Two tables, created on first use (under an advisory lock,
so that workers starting together do not race on the DDL):

- ``assay_ledger_runs (run_id, schema, created)``: one row per run, written once;
- ``assay_ledger_events (run_id, seq, kind, step, body, hash)``: the rows SQLite keeps per run,
  keyed by ``(run_id, seq)`` and unique per ``(run_id, step)``.

Triggers refuse UPDATE, DELETE and TRUNCATE of both, as SQLite's do. An append is one
READ COMMITTED transaction that first locks the run's row (``SELECT … FOR UPDATE``): every
other writer of that run, in any process on any machine, waits there until the commit, then
reads the new head. So the chain cannot fork, and the primary key would refuse a second event
at one seq even if it could. Commits are synchronous (``synchronous_commit = on`` for the
session, whatever the server's default): an event is durable on the server when `append`
returns. Verification needs nothing from the database but the rows: `read_run`.
"""

from __future__ import annotations

from typing import Any, NoReturn

from assay.errors import CorruptLedgerError, RunError, UserError
from assay.fleet.database import Database
from assay.ledger.canonical import GENESIS
from assay.ledger.store import SCHEMA_VERSION, MakeRow, Row

__all__ = ["EVENTS_TABLE", "RUNS_TABLE", "PostgresStore", "read_run"]

RUNS_TABLE = "assay_ledger_runs"
EVENTS_TABLE = "assay_ledger_events"
_DDL_LOCK = 0x61737361795F6C67  # pg_advisory_xact_lock key for the schema ("assay_lg")
_TRIGGERS = ("assay_ledger_events_append_only", "assay_ledger_events_no_truncate",
             "assay_ledger_runs_write_once", "assay_ledger_runs_no_truncate")  # fmt: skip

_SCHEMA = """
CREATE TABLE IF NOT EXISTS assay_ledger_runs (
    run_id  TEXT PRIMARY KEY,
    schema  INTEGER NOT NULL,
    created TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS assay_ledger_events (
    run_id TEXT NOT NULL REFERENCES assay_ledger_runs (run_id),
    seq    BIGINT NOT NULL CHECK (seq > 0),
    kind   TEXT NOT NULL,
    step   TEXT,
    body   BYTEA NOT NULL,
    hash   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq),
    UNIQUE (run_id, step)
);
CREATE OR REPLACE FUNCTION assay_ledger_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'assay_ledger_runs' THEN
        RAISE EXCEPTION 'ledger metadata is write-once: % refused', TG_OP;
    END IF;
    RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP;
END $$;
CREATE OR REPLACE TRIGGER assay_ledger_events_append_only
    BEFORE UPDATE OR DELETE ON assay_ledger_events
    FOR EACH ROW EXECUTE FUNCTION assay_ledger_refuse();
CREATE OR REPLACE TRIGGER assay_ledger_events_no_truncate BEFORE TRUNCATE ON assay_ledger_events
    FOR EACH STATEMENT EXECUTE FUNCTION assay_ledger_refuse();
CREATE OR REPLACE TRIGGER assay_ledger_runs_write_once BEFORE UPDATE OR DELETE ON assay_ledger_runs
    FOR EACH ROW EXECUTE FUNCTION assay_ledger_refuse();
CREATE OR REPLACE TRIGGER assay_ledger_runs_no_truncate BEFORE TRUNCATE ON assay_ledger_runs
    FOR EACH STATEMENT EXECUTE FUNCTION assay_ledger_refuse();
"""
_ENABLE_TRIGGERS = (
    "ALTER TABLE assay_ledger_events ENABLE TRIGGER assay_ledger_events_append_only",
    "ALTER TABLE assay_ledger_events ENABLE TRIGGER assay_ledger_events_no_truncate",
    "ALTER TABLE assay_ledger_runs ENABLE TRIGGER assay_ledger_runs_write_once",
    "ALTER TABLE assay_ledger_runs ENABLE TRIGGER assay_ledger_runs_no_truncate",
)
"""Turns back on a trigger someone disabled. Statements are literals, names and all: nothing in a
query is built from strings at run time."""
_SCHEMA_PRESENT = """
SELECT count(*) FROM pg_trigger
WHERE NOT tgisinternal AND tgenabled <> 'D' AND tgname = ANY(%s)
  AND tgrelid IN (to_regclass(%s), to_regclass(%s))
"""


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise UserError("a PostgreSQL ledger needs psycopg: pip install 'assay[fleet]'") from None
    return psycopg


def _fail(db: Database, doing: str, exc: Exception) -> NoReturn:
    """Translate a psycopg error: a server that cannot be reached, a refused statement or a
    missing privilege is a `RunError`; a row that is not what assay writes is corruption."""
    psycopg = _psycopg()
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, psycopg.errors.DataError | psycopg.errors.DataCorrupted):
        raise CorruptLedgerError(f"{db}: the ledger is corrupt ({detail})") from None
    raise RunError(f"{db}: cannot {doing} the ledger ({detail})") from None


def _connect(db: Database) -> Any:
    psycopg = _psycopg()
    try:
        conn = psycopg.connect(
            db.url, autocommit=True, connect_timeout=15, application_name="assay-ledger"
        )
    except psycopg.Error as exc:
        _fail(db, "connect to", exc)
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    try:
        conn.execute("SET synchronous_commit = on")
        conn.execute("SET lock_timeout = '60s'")  # a writer stuck behind a lock is an error
    except psycopg.Error as exc:
        conn.close()
        _fail(db, "configure", exc)
    return conn


def _ensure_schema(conn: Any) -> None:
    """Create what is missing (tables, or a trigger someone dropped or disabled)."""
    present = conn.execute(_SCHEMA_PRESENT, (list(_TRIGGERS), EVENTS_TABLE, RUNS_TABLE)).fetchone()
    if present is not None and int(present[0]) == len(_TRIGGERS):
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
        conn.execute(_SCHEMA)
        for statement in _ENABLE_TRIGGERS:
            conn.execute(statement)


class PostgresStore:
    """One run's rows in a PostgreSQL database (see the module's docstring)."""

    __slots__ = ("_closed", "conn", "database", "run_id", "where")

    def __init__(self, conn: Any, database: Database, run_id: str) -> None:
        self.conn = conn
        self.database = database
        self.run_id = run_id
        self.where = f"{database.redacted()} (run {run_id})"
        self._closed = False

    @classmethod
    def open(cls, database: Database, run_id: str, *, create: bool) -> PostgresStore:
        """Connect; with `create`, add the schema and the run's row when missing, else the run
        must exist already (`UserError`)."""
        psycopg = _psycopg()
        conn = _connect(database)
        try:
            if create:
                _ensure_schema(conn)
                conn.execute(
                    "INSERT INTO assay_ledger_runs (run_id, schema) VALUES (%s, %s) "
                    "ON CONFLICT (run_id) DO NOTHING",
                    (run_id, SCHEMA_VERSION),
                )
            elif not _run_exists(conn, run_id):
                raise UserError(f"no ledger for run '{run_id}' in {database}")
        except psycopg.Error as exc:
            conn.close()
            _fail(database, "open", exc)
        except BaseException:
            conn.close()
            raise
        return cls(conn, database, run_id)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self._closed = True
            self.conn.close()

    def append(self, kind: str, step: str | None, make: MakeRow) -> tuple[bytes, str, bool]:
        """See `assay.ledger.store.RowStore.append`: the run's row lock excludes other writers."""
        psycopg = _psycopg()
        try:
            with self.conn.transaction():
                locked = self.conn.execute(
                    "SELECT 1 FROM assay_ledger_runs WHERE run_id = %s FOR UPDATE", (self.run_id,)
                ).fetchone()
                if locked is None:
                    raise CorruptLedgerError(f"{self.where}: the run's record is gone")
                if step is not None:
                    row = self.conn.execute(
                        "SELECT body, hash FROM assay_ledger_events "
                        "WHERE run_id = %s AND step = %s",
                        (self.run_id, step),
                    ).fetchone()
                    if row is not None:
                        return bytes(row[0]), str(row[1]), False
                head = self.conn.execute(
                    "SELECT seq, hash FROM assay_ledger_events WHERE run_id = %s "
                    "ORDER BY seq DESC LIMIT 1",
                    (self.run_id,),
                ).fetchone()
                seq, prev = (int(head[0]) + 1, str(head[1])) if head else (1, GENESIS)
                data, digest = make(seq, prev)
                self.conn.execute(
                    "INSERT INTO assay_ledger_events (run_id, seq, kind, step, body, hash) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (self.run_id, seq, kind, step, data, digest),
                )
        except psycopg.Error as exc:
            _fail(self.database, "append to", exc)
        return data, digest, True

    def _query(self, sql: str, args: tuple[Any, ...]) -> list[Any]:
        psycopg = _psycopg()
        try:
            rows: list[Any] = self.conn.execute(sql, args).fetchall()
        except psycopg.Error as exc:
            _fail(self.database, "read", exc)
        return rows

    def by_step(self, step: str) -> tuple[bytes, str] | None:
        """See `assay.ledger.store.RowStore.by_step`."""
        rows = self._query(
            "SELECT body, hash FROM assay_ledger_events WHERE run_id = %s AND step = %s",
            (self.run_id, step),
        )
        return (bytes(rows[0][0]), str(rows[0][1])) if rows else None

    def rows(self, kind: str | None = None) -> list[Row]:
        """See `assay.ledger.store.RowStore.rows`."""
        sql = "SELECT seq, body, hash FROM assay_ledger_events WHERE run_id = %s"
        args: tuple[str, ...] = (self.run_id,)
        if kind is not None:
            sql, args = sql + " AND kind = %s", (self.run_id, kind)
        return [(int(s), bytes(b), str(h)) for s, b, h in self._query(sql + " ORDER BY seq", args)]

    def last(self) -> Row | None:
        """See `assay.ledger.store.RowStore.last`."""
        rows = self._query(
            "SELECT seq, body, hash FROM assay_ledger_events WHERE run_id = %s "
            "ORDER BY seq DESC LIMIT 1",
            (self.run_id,),
        )
        return (int(rows[0][0]), bytes(rows[0][1]), str(rows[0][2])) if rows else None

    def count(self) -> int:
        """See `assay.ledger.store.RowStore.count`."""
        return int(
            self._query(
                "SELECT count(*) FROM assay_ledger_events WHERE run_id = %s", (self.run_id,)
            )[0][0]
        )


def _run_exists(conn: Any, run_id: str) -> bool:
    if conn.execute("SELECT to_regclass(%s)", (RUNS_TABLE,)).fetchone()[0] is None:
        return False
    return (
        conn.execute("SELECT 1 FROM assay_ledger_runs WHERE run_id = %s", (run_id,)).fetchone()
        is not None
    )


def read_run(database: Database, run_id: str) -> list[Row] | None:
    """Every ``(seq, body, hash)`` row of `run_id` in seq order, read in one snapshot; None when
    the database holds no record of that run. `RunError` when the server cannot be read."""
    psycopg = _psycopg()
    conn = _connect(database)
    try:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with conn.transaction():
            conn.execute("SET TRANSACTION READ ONLY")
            if not _run_exists(conn, run_id):
                return None
            rows = conn.execute(
                "SELECT seq, body, hash FROM assay_ledger_events WHERE run_id = %s ORDER BY seq",
                (run_id,),
            ).fetchall()
    except psycopg.Error as exc:
        _fail(database, "read", exc)
    finally:
        conn.close()
    return [(int(s), bytes(b), str(h)) for s, b, h in rows]
