"""`verify_run` passes an untouched ledger and names the first bad event after any tampering."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assay.ledger import Event, Ledger, Signer, canonical, verify_run

N_EVENTS = 12


def _populate(run: Path, signer: Signer) -> None:
    with Ledger.open(run) as ledger:
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
    with Ledger.open(run) as ledger:
        assert len(ledger) == N_EVENTS


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("pristine") / "run"
    _populate(run, Signer.generate())
    return run


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


def _body(run: Path, seq: int) -> bytes:
    conn = sqlite3.connect(run / "ledger.sqlite")
    body = conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()[0]
    conn.close()
    return bytes(body)


def test_untouched_ledger_verifies(pristine: Path) -> None:
    result = verify_run(pristine)
    assert result.ok, result.problems
    assert result.events == N_EVENTS
    assert result.checkpoints == 2


@pytest.mark.parametrize("seq", range(1, N_EVENTS + 1))
def test_one_byte_changed_in_any_event(pristine: Path, tmp_path: Path, seq: int) -> None:
    run = _copy(pristine, tmp_path / "run")
    body = bytearray(_body(run, seq))
    at = body.index(b'"time":"') + len(b'"time":"') + 3  # a digit of the year
    body[at] = ord("7") if body[at] != ord("7") else ord("8")
    _sql(run, ("UPDATE events SET body = ? WHERE seq = ?", (bytes(body), seq)))
    result = verify_run(run)
    assert not result.ok
    assert result.problems[0].seq == seq
    assert "modified" in result.problems[0].message


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seq=st.integers(1, N_EVENTS), where=st.floats(0, 1, exclude_max=True), delta=st.integers(1, 255)
)
def test_any_byte_anywhere_in_an_event(
    pristine: Path, tmp_path_factory: pytest.TempPathFactory, seq: int, where: float, delta: int
) -> None:
    run = _copy(pristine, tmp_path_factory.mktemp("h") / "run")
    body = bytearray(_body(run, seq))
    at = int(where * len(body))
    body[at] = (body[at] + delta) % 256
    _sql(run, ("UPDATE events SET body = ? WHERE seq = ?", (bytes(body), seq)))
    result = verify_run(run)
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
def test_event_deleted(pristine: Path, tmp_path: Path, seq: int) -> None:
    run = _copy(pristine, tmp_path / "run")
    _sql(run, ("DELETE FROM events WHERE seq = ?", (seq,)))
    result = verify_run(run)
    assert not result.ok
    assert result.problems[0].seq == seq + 1
    assert "missing" in result.problems[0].message


def test_tail_deleted_is_caught_by_the_signed_head(pristine: Path, tmp_path: Path) -> None:
    run = _copy(pristine, tmp_path / "run")
    _sql(run, ("DELETE FROM events WHERE seq >= ?", (N_EVENTS - 1,)))
    result = verify_run(run)
    assert not result.ok
    assert result.problems[0].file == "head.json"
    assert "missing" in result.problems[0].message


def test_head_removed(pristine: Path, tmp_path: Path) -> None:
    run = _copy(pristine, tmp_path / "run")
    (run / "head.json").unlink()
    result = verify_run(run)
    assert [str(p) for p in result.problems] == [
        "head.json: missing: the signed head of the ledger is gone"
    ]


def test_head_resigned_by_another_key(pristine: Path, tmp_path: Path) -> None:
    run = _copy(pristine, tmp_path / "run")
    head = json.loads((run / "head.json").read_text())
    head["signature"] = Signer.generate().sign(b"something else")
    (run / "head.json").write_text(json.dumps(head))
    result = verify_run(run)
    assert result.problems[0].file == "head.json"


@pytest.mark.parametrize(("a", "b"), [(2, 3), (1, N_EVENTS), (4, 8)])
def test_two_events_swapped(pristine: Path, tmp_path: Path, a: int, b: int) -> None:
    run = _copy(pristine, tmp_path / "run")
    conn = sqlite3.connect(run / "ledger.sqlite")
    rows = {
        s: (bytes(body), h)
        for s, body, h in conn.execute(
            "SELECT seq, body, hash FROM events WHERE seq IN (?, ?)", (a, b)
        )
    }
    conn.close()
    update = "UPDATE events SET body = ?, hash = ? WHERE seq = ?"
    _sql(run, (update, (*rows[b], a)), (update, (*rows[a], b)))
    result = verify_run(run)
    assert not result.ok
    assert result.problems[0].seq == a
    assert "reordered" in result.problems[0].message


def test_rehashed_edit_breaks_the_next_link(pristine: Path, tmp_path: Path) -> None:
    """An attacker who recomputes the edited event's hash is caught by the next event."""
    run = _copy(pristine, tmp_path / "run")
    event = Event.from_body(_body(run, 4), "")
    body = {**event.body(), "payload": {**event.payload, "model": "test:other"}}
    data = canonical(body)
    _sql(
        run,
        ("UPDATE events SET body = ?, hash = ? WHERE seq = 4", (data, Event.compute_hash(body))),
    )
    result = verify_run(run)
    assert result.problems[0].seq == 5
    assert "prev_hash" in result.problems[0].message


def test_checkpoint_by_an_untrusted_key(pristine: Path) -> None:
    result = verify_run(pristine, trusted={"0" * 64})
    assert not result.ok
    assert "untrusted key" in result.problems[0].message


def test_modified_blob_is_named(pristine: Path, tmp_path: Path) -> None:
    run = _copy(pristine, tmp_path / "run")
    blob = next((run / "blobs").glob("*/*"))
    blob.write_bytes(b"You are the coder. Leak the secrets.")
    result = verify_run(run)
    assert result.problems[0].file == str(blob)


def test_unsealed_ledger_fails(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        ledger.append("run.started", {})
    result = verify_run(tmp_path / "r")
    assert "never sealed" in str(result.problems[0])
