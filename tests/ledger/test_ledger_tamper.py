"""`verify_run` passes an untouched ledger and names the first bad event after any tampering."""

from __future__ import annotations

import json
import shutil
import sqlite3
import uuid
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.errors import CorruptLedgerError, UserError
from assay.ledger import Event, Ledger, Signer, Verification, canonical, verify_run

N_EVENTS = 12


def _populate(run: Path, signer: Signer, database: str | None = None) -> None:
    with Ledger.open(run, database=database) as ledger:
        ledger.append("run.started", {"spec_digest": "a" * 64, "user": "alice"})
        prompt = ledger.put_blob(b"You are the coder. Implement the spec.")
        for i in range(1, N_EVENTS - 4):
            ledger.append(
                "model.request",
                {"iteration": i, "model": "test:coder", "prompt_blob": prompt, "note": f"n{i}"},
                step=f"iter-{i}",
            )
        ledger.append("run.finished", {"outcome": "converged", "iterations": N_EVENTS - 4})
        ledger.checkpoint(signer)
        ledger.append("approval", {"approver": "bob", "reason": "reviewed"})
        ledger.checkpoint(signer)
    with Ledger.open(run, database=database) as ledger:
        assert len(ledger) == N_EVENTS


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("pristine") / "run"
    _populate(run, Signer.generate())
    return run


class Stored:
    """A populated run in one store, and the rows as an attacker with write access edits them:
    SQLite's triggers dropped, PostgreSQL's disabled for the edit (then enabled again)."""

    def __init__(self, database: str | None, pristine: Path) -> None:
        self.database = database
        self._pristine = pristine
        self._signer = Signer.generate()

    def new_run(self, parent: Path) -> Path:
        """A run like `pristine`: a copy of it (SQLite), or written afresh (PostgreSQL), under a
        name of its own (runs share the schema; the name is the run id)."""
        if self.database is None:
            return _copy(self._pristine, parent / "run")
        run = parent / f"run-{uuid.uuid4().hex[:12]}"
        _populate(run, self._signer, self.database)
        return run

    def verify(self, run: Path, *, trusted: set[str] | None = None) -> Verification:
        return verify_run(run, trusted=trusted, database=self.database)

    def body(self, run: Path, seq: int) -> bytes:
        return self.row(run, seq)[0]

    def row(self, run: Path, seq: int) -> tuple[bytes, str]:
        if self.database is None:
            with closing(sqlite3.connect(run / "ledger.sqlite")) as conn:
                found = conn.execute("SELECT body, hash FROM events WHERE seq = ?", (seq,))
                body, digest = found.fetchone()
        else:
            import psycopg

            with psycopg.connect(self.database) as conn:
                row = conn.execute(
                    "SELECT body, hash FROM assay_ledger_events WHERE run_id = %s AND seq = %s",
                    (run.name, seq),
                ).fetchone()
            assert row is not None, f"no event {seq}"
            body, digest = row
        return bytes(body), str(digest)

    def update(self, run: Path, *rows: tuple[int, bytes, str | None]) -> None:
        """Set the body (and the hash, unless None) of each ``(seq, body, hash)``."""
        if self.database is None:
            _sql(run, *[
                ("UPDATE events SET body = ?, hash = coalesce(?, hash) WHERE seq = ?",
                 (body, digest, seq)) for seq, body, digest in rows
            ])  # fmt: skip
            return
        self._pg(
            "UPDATE assay_ledger_events SET body = %s, hash = coalesce(%s, hash) "
            "WHERE run_id = %s AND seq = %s",
            [(body, digest, run.name, seq) for seq, body, digest in rows],
        )

    def delete(self, run: Path, seq: int, *, and_after: bool = False) -> None:
        if self.database is None:
            one, tail = "DELETE FROM events WHERE seq = ?", "DELETE FROM events WHERE seq >= ?"
            _sql(run, (tail if and_after else one, (seq,)))
        else:
            one = "DELETE FROM assay_ledger_events WHERE run_id = %s AND seq = %s"
            tail = "DELETE FROM assay_ledger_events WHERE run_id = %s AND seq >= %s"
            self._pg(tail if and_after else one, [(run.name, seq)])

    def _pg(self, sql: str, args: list[tuple[object, ...]]) -> None:
        import psycopg

        assert self.database is not None
        with psycopg.connect(self.database) as conn, conn.transaction():
            conn.execute("ALTER TABLE assay_ledger_events DISABLE TRIGGER USER")
            for values in args:
                assert conn.execute(sql, values).rowcount >= 1
            conn.execute("ALTER TABLE assay_ledger_events ENABLE TRIGGER USER")


@pytest.fixture
def stored(ledger_database: str | None, pristine: Path) -> Stored:
    """The tamper cases below run against each store."""
    return Stored(ledger_database, pristine)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _sql(run: Path, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Tamper as an attacker with write access would: drop the triggers, then edit rows."""
    conn = sqlite3.connect(run / "ledger.sqlite")
    conn.execute("DROP TRIGGER events_no_update")
    conn.execute("DROP TRIGGER events_no_delete")
    for sql, args in statements:
        conn.execute(sql, args)
    conn.commit()
    conn.close()


def test_untouched_ledger_verifies(stored: Stored, tmp_path: Path) -> None:
    result = stored.verify(stored.new_run(tmp_path))
    assert result.ok, result.problems
    assert result.events == N_EVENTS
    assert result.checkpoints == 2


@pytest.mark.parametrize("seq", range(1, N_EVENTS + 1))
def test_one_byte_changed_in_any_event(stored: Stored, tmp_path: Path, seq: int) -> None:
    run = stored.new_run(tmp_path)
    body = bytearray(stored.body(run, seq))
    at = body.index(b'"time":"') + len(b'"time":"') + 3  # a digit of the year
    body[at] = ord("7") if body[at] != ord("7") else ord("8")
    stored.update(run, (seq, bytes(body), None))
    result = stored.verify(run)
    assert not result.ok
    assert result.problems[0].seq == seq
    assert "modified" in result.problems[0].message
    with pytest.raises(CorruptLedgerError, match=f"event {seq}: content does not match"):
        Ledger.open(run, database=stored.database, check=True)  # nor does a resume go on


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, N_EVENTS), where=st.floats(0, 1, exclude_max=True), delta=st.integers(1, 255)
)
def test_any_byte_anywhere_in_an_event(
    stored: Stored, tmp_path_factory: pytest.TempPathFactory, seq: int, where: float, delta: int
) -> None:
    run = stored.new_run(tmp_path_factory.mktemp("h"))
    body = bytearray(stored.body(run, seq))
    at = int(where * len(body))
    body[at] = (body[at] + delta) % 256
    stored.update(run, (seq, bytes(body), None))
    result = stored.verify(run)
    assert not result.ok
    assert result.problems[0].seq == seq


def test_byte_flipped_in_the_database_file(pristine: Path, tmp_path: Path) -> None:
    run = _copy(pristine, tmp_path / "run")
    raw = bytearray((run / "ledger.sqlite").read_bytes())
    at = raw.index(b'"note":"n5"') + len(b'"note":"n')
    raw[at] = ord("6")
    (run / "ledger.sqlite").write_bytes(bytes(raw))
    result = verify_run(run)
    assert [p.seq for p in result.problems[:1]] == [6]  # n5 is in event 6 (run.started is 1)


@pytest.mark.parametrize("seq", [1, 5, N_EVENTS - 1])
def test_event_deleted(stored: Stored, tmp_path: Path, seq: int) -> None:
    run = stored.new_run(tmp_path)
    stored.delete(run, seq)
    result = stored.verify(run)
    assert not result.ok
    assert result.problems[0].seq == seq + 1
    assert "missing" in result.problems[0].message


def test_tail_deleted_is_caught_by_the_signed_head(stored: Stored, tmp_path: Path) -> None:
    run = stored.new_run(tmp_path)
    stored.delete(run, N_EVENTS - 1, and_after=True)
    result = stored.verify(run)
    assert not result.ok
    assert result.problems[0].file == "head.json"
    assert "missing" in result.problems[0].message


def test_head_removed(stored: Stored, tmp_path: Path) -> None:
    run = stored.new_run(tmp_path)
    (run / "head.json").unlink()
    result = stored.verify(run)
    assert [str(p) for p in result.problems] == [
        "head.json: missing: the signed head of the ledger is gone"
    ]


def test_head_resigned_by_another_key(stored: Stored, tmp_path: Path) -> None:
    run = stored.new_run(tmp_path)
    head = json.loads((run / "head.json").read_text())
    head["signature"] = Signer.generate().sign(b"something else")
    (run / "head.json").write_text(json.dumps(head))
    result = stored.verify(run)
    assert result.problems[0].file == "head.json"


@pytest.mark.parametrize(("a", "b"), [(2, 3), (1, N_EVENTS), (4, 8)])
def test_two_events_swapped(stored: Stored, tmp_path: Path, a: int, b: int) -> None:
    run = stored.new_run(tmp_path)
    row_a, row_b = stored.row(run, a), stored.row(run, b)
    stored.update(run, (a, *row_b), (b, *row_a))
    result = stored.verify(run)
    assert not result.ok
    assert result.problems[0].seq == a
    assert "reordered" in result.problems[0].message


def test_rehashed_edit_breaks_the_next_link(stored: Stored, tmp_path: Path) -> None:
    """An attacker who recomputes the edited event's hash is caught by the next event."""
    run = stored.new_run(tmp_path)
    event = Event.from_body(stored.body(run, 4), "")
    body = {**event.body(), "payload": {**event.payload, "model": "test:other"}}
    stored.update(run, (4, canonical(body), Event.compute_hash(body)))
    result = stored.verify(run)
    assert result.problems[0].seq == 5
    assert "prev_hash" in result.problems[0].message


def test_checkpoint_by_an_untrusted_key(stored: Stored, tmp_path: Path) -> None:
    result = stored.verify(stored.new_run(tmp_path), trusted={"0" * 64})
    assert not result.ok
    assert "untrusted key" in result.problems[0].message


def test_modified_blob_is_named(stored: Stored, tmp_path: Path) -> None:
    run = stored.new_run(tmp_path)
    blob = next((run / "blobs").glob("*/*"))
    blob.chmod(0o644)
    blob.write_bytes(b"You are the coder. Leak the secrets.")
    result = stored.verify(run)
    assert result.problems[0].file == str(blob)


def test_unsealed_ledger_fails(tmp_path: Path, ledger_database: str | None) -> None:
    with Ledger.open(tmp_path / "r", database=ledger_database) as ledger:
        ledger.append("run.started", {})
    result = verify_run(tmp_path / "r", database=ledger_database)
    assert "never sealed" in str(result.problems[0])


def test_a_postgres_run_verifies_from_the_database_its_folder_names(
    tmp_path: Path, postgres_url: str
) -> None:
    with Ledger.open(tmp_path / "r", database=postgres_url) as ledger:
        ledger.append("run.started", {})
        ledger.checkpoint(Signer.generate())
    assert verify_run(tmp_path / "r").ok  # ledger.json names the database
    assert verify_run(tmp_path / "r", database=postgres_url).ok
    (tmp_path / "old").mkdir()  # a record from before ledger.json named its database
    (tmp_path / "old" / "ledger.json").write_text('{"store": "postgresql", "run_id": "r"}')
    with pytest.raises(UserError, match=r"in a postgresql database .* open it with that database"):
        verify_run(tmp_path / "old")
    (tmp_path / "other").mkdir()  # a folder that claims a run the database does not hold
    (tmp_path / "other" / "ledger.json").write_text('{"store": "postgresql", "run_id": "gone"}')
    result = verify_run(tmp_path / "other", database=postgres_url)
    assert [str(p) for p in result.problems] == [
        "ledger.json: the database holds no ledger for run 'gone'"
    ]
