"""The ledger: durable appends, idempotent steps, append-only storage, blobs and keys."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from assay.errors import RunError, UserError
from assay.ledger import GENESIS, Event, Ledger, Signer, canonical, load_or_create_signer
from assay.ledger.keyring import create_key
from assay.ledger.keys import default_key_path, verify_signature
from assay.ledger.postgres import PostgresStore


def test_append_chains_and_hashes(tmp_path: Path, ledger_database: str | None) -> None:
    with Ledger.open(tmp_path / "run-1", database=ledger_database) as ledger:
        first = ledger.append("run.started", {"spec_digest": "ab" * 32})
        second = ledger.append("loop.decision", {"iteration": 1, "decision": "continue"})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.run_id == "run-1"
    assert Event.compute_hash(second.body()) == second.hash
    assert first.hash != second.hash


def test_events_survive_reopen_and_a_killed_writer(
    tmp_path: Path, ledger_database: str | None
) -> None:
    run = tmp_path / "run"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from assay.ledger import Ledger\n"
        "l = Ledger.open(Path(sys.argv[1]), database=sys.argv[2] or None)\n"
        "for i in range(20):\n"
        "    l.append('message', {'i': i}, step=f'step-{i}')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(run), ledger_database or ""], check=False
    )
    assert proc.returncode == -9
    with Ledger.open(run, database=ledger_database, check=True) as ledger:
        assert [e.payload["i"] for e in ledger.events()] == list(range(20))
        assert ledger.completed("step-19") is not None
        assert ledger.append("message", {"i": 20}).seq == 21


def test_step_is_idempotent(tmp_path: Path, ledger_database: str | None) -> None:
    with Ledger.open(tmp_path / "r", database=ledger_database) as ledger:
        assert ledger.completed("iter-1/coder") is None
        done = ledger.append("message", {"n": 1}, step="iter-1/coder")
        again = ledger.append("message", {"n": 2}, step="iter-1/coder")
        assert again == done
        assert ledger.completed("iter-1/coder") == done
        assert len(ledger) == 1


def test_storage_refuses_update_and_delete(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        ledger.append("message", {"n": 1})
    conn = sqlite3.connect(tmp_path / "r" / "ledger.sqlite")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM events")
    conn.close()
    assert not hasattr(Ledger, "update")
    assert not hasattr(Ledger, "delete")


def test_payload_must_be_canonical_json(tmp_path: Path, ledger_database: str | None) -> None:
    with Ledger.open(tmp_path / "r", database=ledger_database) as ledger:
        with pytest.raises(ValueError, match="canonical JSON"):
            ledger.append("message", {"x": float("nan")})
        assert len(ledger) == 0
        assert ledger.append("message", {"x": 1}).seq == 1


def test_canonical_json_is_rfc8785() -> None:
    assert canonical({"b": 1.0, "a": [1e21, "\u20ac", None]}) == (
        b'{"a":[1e+21,"\xe2\x82\xac",null],"b":1}'
    )


def test_run_id_mismatch_is_an_error(tmp_path: Path, ledger_database: str | None) -> None:
    Ledger.open(tmp_path / "r", run_id="abc", database=ledger_database).close()
    with pytest.raises(UserError, match="belongs to run 'abc'"):
        Ledger.open(tmp_path / "r", run_id="xyz", database=ledger_database)
    with Ledger.open(tmp_path / "r", database=ledger_database) as again:
        assert again.run_id == "abc"  # the folder's name is only the default
    with pytest.raises(UserError, match=r"no run folder|not a run folder"):
        Ledger.open(tmp_path / "missing", create=False, database=ledger_database)


def test_blobs_are_content_addressed_and_checked(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        digest = ledger.put_blob(b"the full prompt")
        assert ledger.put_blob(b"the full prompt") == digest
        assert ledger.get_blob(digest) == b"the full prompt"
        path = ledger.blobs.path(digest)
        path.chmod(0o644)
        path.write_bytes(b"the full prompT")
        with pytest.raises(RunError, match="was modified"):
            ledger.get_blob(digest)
        with pytest.raises(RunError, match="missing"):
            ledger.get_blob("0" * 64)


def test_checkpoint_signs_the_head(tmp_path: Path, ledger_database: str | None) -> None:
    signer = Signer.generate()
    with Ledger.open(tmp_path / "r", database=ledger_database) as ledger:
        last = ledger.append("run.finished", {"outcome": "converged"})
        cp = ledger.checkpoint(signer)
    assert cp.kind == "checkpoint"
    assert cp.payload["root"] == last.hash
    assert cp.payload["signature"]["keyid"] == signer.key_id
    assert (tmp_path / "r" / "head.json").is_file()


def test_key_is_created_private_under_xdg_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ASSAY_SIGNING_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    path = default_key_path()
    assert path == tmp_path / "cfg" / "assay" / "keys" / "ed25519.pem"
    signer = load_or_create_signer()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_or_create_signer()
    assert again.key_id == signer.key_id
    record = signer.sign(b"data")
    assert verify_signature(b"data", record) is None
    assert verify_signature(b"datA", record) is not None


def test_key_from_env_with_password(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "k.pem"
    monkeypatch.setenv("ASSAY_SIGNING_KEY", str(key))
    monkeypatch.setenv("ASSAY_SIGNING_KEY_PASSWORD", "s3cret")
    signer = create_key(key)
    assert b"ENCRYPTED" in key.read_bytes()
    assert load_or_create_signer().key_id == signer.key_id
    monkeypatch.setenv("ASSAY_SIGNING_KEY_PASSWORD", "wrong")
    with pytest.raises(UserError, match="not a usable PEM"):
        load_or_create_signer()
    monkeypatch.delenv("ASSAY_SIGNING_KEY_PASSWORD")
    os.environ.pop("ASSAY_SIGNING_KEY_PASSWORD", None)
    with pytest.raises(UserError, match="no signing key"):
        load_or_create_signer(tmp_path / "absent.pem")
    assert not (tmp_path / "absent.pem").exists()


def test_postgres_storage_refuses_update_delete_and_truncate(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    with Ledger.open(tmp_path / "r", database=postgres_url) as ledger:
        ledger.append("message", {"n": 1})
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for sql in (
            "UPDATE assay_ledger_events SET kind = 'x'",
            "DELETE FROM assay_ledger_events",
            "TRUNCATE assay_ledger_events",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(sql)
        for sql in ("UPDATE assay_ledger_runs SET schema = 2", "DELETE FROM assay_ledger_runs"):
            with pytest.raises(psycopg.errors.RaiseException, match="write-once"):
                conn.execute(sql)
        # An attacker disables the triggers; the next writer that opens the ledger restores them.
        conn.execute("ALTER TABLE assay_ledger_events DISABLE TRIGGER USER")
    Ledger.open(tmp_path / "r", database=postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM assay_ledger_events")
        assert conn.execute("SELECT count(*) FROM assay_ledger_events").fetchone() == (1,)


def test_a_run_folder_is_bound_to_its_store(tmp_path: Path, postgres_url: str) -> None:
    Ledger.open(tmp_path / "local").close()
    with pytest.raises(UserError, match=r"ledger\.sqlite, not postgresql://"):
        Ledger.open(tmp_path / "local", database=postgres_url)
    Ledger.open(tmp_path / "fleet", database=postgres_url).close()
    assert json.loads((tmp_path / "fleet" / "ledger.json").read_text()) == {
        "store": "postgresql", "run_id": "fleet", "database": postgres_url,
    }  # fmt: skip
    with pytest.raises(UserError, match="in a postgresql database"):
        Ledger.open(tmp_path / "fleet", database="sqlite:///elsewhere.sqlite")
    assert not (tmp_path / "fleet" / "ledger.sqlite").exists()
    # A record written before ledger.json named its database: the URL must be given.
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "ledger.json").write_text('{"store": "postgresql", "run_id": "fleet"}')
    with pytest.raises(UserError, match=r"in a postgresql database .* open it with that database"):
        Ledger.open(tmp_path / "old", create=False)
    with Ledger.open(tmp_path / "old", create=False, database=postgres_url) as old:
        assert old.run_id == "fleet"
    assert json.loads((tmp_path / "old" / "ledger.json").read_text())["run_id"] == "fleet"


def test_a_postgres_run_folder_opens_without_its_url(tmp_path: Path, postgres_url: str) -> None:
    with Ledger.open(tmp_path / "run", database=postgres_url) as ledger:
        first = ledger.append("run.started", {"n": 1}, step="start")
    assert not (tmp_path / "run" / "ledger.sqlite").exists()
    with Ledger.open(tmp_path / "run", create=False, check=True) as again:  # no URL: ledger.json
        assert again.database is not None and again.database.url == postgres_url
        assert again.completed("start") == first
        again.append("run.finished", {"n": 2})
    with Ledger.open(tmp_path / "run", run_id="run") as same:
        assert [e.kind for e in same.events()] == ["run.started", "run.finished"]
    with pytest.raises(UserError, match="belongs to run 'run', not 'other'"):
        Ledger.open(tmp_path / "run", run_id="other")
    assert not (tmp_path / "run" / "ledger.sqlite").exists()


def test_a_url_with_a_password_is_recorded_redacted_and_needed_again(
    tmp_path: Path, postgres_url: str
) -> None:
    # The test server trusts local connections, so it ignores the password; what matters is
    # that the folder never holds it.
    with_password = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:s3cret@")
    assert with_password != postgres_url
    with Ledger.open(tmp_path / "run", database=with_password) as ledger:
        ledger.append("run.started", {})
    text = (tmp_path / "run" / "ledger.json").read_text()
    assert "s3cret" not in text
    record = json.loads(text)
    assert record["redacted"] is True
    assert record["database"].startswith("postgresql://postgres:***@/postgres?")
    with pytest.raises(UserError, match=r"password is not recorded: open it with the full URL"):
        Ledger.open(tmp_path / "run", create=False)
    with Ledger.open(tmp_path / "run", create=False, database=with_password) as again:
        assert len(again) == 1


def test_runs_share_a_postgres_database_but_not_their_chains(
    tmp_path: Path, postgres_url: str
) -> None:
    with (
        Ledger.open(tmp_path / "a", database=postgres_url) as a,
        Ledger.open(tmp_path / "b", database=postgres_url) as b,
    ):
        a.append("message", {"n": 1}, step="same-step")
        b.append("message", {"n": 2}, step="same-step")  # steps are keyed per run
        assert (len(a), len(b)) == (1, 1)
        assert a.head() != b.head()
        assert [e.seq for e in b.events()] == [1]


_WRITER = """
import sys, time
from pathlib import Path
from assay.ledger import Ledger

run, database, name, ready, go = sys.argv[1:6]
with Ledger.open(Path(run), database=database or None) as ledger:
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    for i in range(150):
        ledger.append("message", {"writer": name, "i": i}, step=f"{name}-{i}")
        ledger.append("message", {"writer": name, "i": i}, step=f"{name}-{i}")  # idempotent
"""


def test_two_processes_appending_to_one_run_never_fork_the_chain(
    tmp_path: Path, ledger_database: str | None
) -> None:
    run = tmp_path / "run"
    Ledger.open(run, database=ledger_database).close()
    go = tmp_path / "go"
    writers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(run),
                ledger_database or "",
                name,
                str(tmp_path / f"{name}.ready"),
                str(go),
            ]
        )
        for name in ("a", "b")
    ]
    for name in ("a", "b"):
        while not (tmp_path / f"{name}.ready").exists():
            assert all(w.poll() is None for w in writers), "a writer died before it started"
    go.touch()
    assert [w.wait(timeout=120) for w in writers] == [0, 0]
    with Ledger.open(run, database=ledger_database, check=True) as ledger:  # the chain verifies
        events = list(ledger.events())
    assert [e.seq for e in events] == list(range(1, 301))
    for name in ("a", "b"):  # each writer's events, each once, in its own order
        assert [e.payload["i"] for e in events if e.payload["writer"] == name] == list(range(150))


def test_a_postgres_append_waits_for_the_run_lock(tmp_path: Path, postgres_url: str) -> None:
    """The run's row lock is what serialises writers: an append blocks while another holds it."""
    import threading

    import psycopg

    ledger = Ledger.open(tmp_path / "r", database=postgres_url)
    ledger.append("message", {"n": 1})
    assert isinstance(ledger.store, PostgresStore)
    pid = ledger.store.conn.info.backend_pid  # the ledger's own connection, not another test's
    done: list[int] = []
    with psycopg.connect(postgres_url) as other:  # a transaction, as another writer's would be
        other.execute("SELECT 1 FROM assay_ledger_runs WHERE run_id = 'r' FOR UPDATE")
        writer = threading.Thread(target=lambda: done.append(ledger.append("message", {}).seq))
        writer.start()
        with psycopg.connect(postgres_url, autocommit=True) as watch:
            for _ in range(2000):  # until the writer waits on the lock (up to 20 s)
                waiting = watch.execute(
                    "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)
                ).fetchone()
                if waiting == ("Lock",):
                    break
                threading.Event().wait(0.01)
            assert waiting == ("Lock",)
        assert done == []
        # The lock holder adds a row at seq 2 (a copy: only its seq matters here) and commits;
        # the blocked append then reads the new head and takes seq 3.
        other.execute(
            "INSERT INTO assay_ledger_events (run_id, seq, kind, step, body, hash) "
            "SELECT 'r', 2, 'message', NULL, body, hash FROM assay_ledger_events "
            "WHERE run_id = 'r' AND seq = 1"
        )
    writer.join(timeout=30)
    assert done == [3]
    ledger.close()


def test_a_postgres_server_that_does_not_answer_is_a_run_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    url = f"postgresql://assay@/assay?host={tmp_path / 'no-server'}&port=1"
    with pytest.raises(RunError, match="cannot connect to the ledger"):
        Ledger.open(tmp_path / "run", database=url)
    assert not (tmp_path / "run").exists()  # nothing written for a ledger that was not opened


_OPENER = """
import sys, time
from pathlib import Path
from assay.ledger import Ledger

run, database, go = sys.argv[1:4]
while not Path(go).exists():
    time.sleep(0.002)
with Ledger.open(Path(run), database=database) as ledger:
    ledger.append("message", {"run": Path(run).name})
"""


def test_workers_starting_together_on_an_empty_database(tmp_path: Path, postgres_url: str) -> None:
    """The first opens race to create the schema: the DDL runs under an advisory lock, once."""
    go = tmp_path / "go"
    runs = [tmp_path / name for name in ("a", "b", "c", "a", "b", "c")]  # two openers per run
    openers = [
        subprocess.Popen([sys.executable, "-c", _OPENER, str(run), postgres_url, str(go)])
        for run in runs
    ]
    go.touch()
    assert [p.wait(timeout=120) for p in openers] == [0] * len(runs)
    for name in ("a", "b", "c"):
        with Ledger.open(tmp_path / name, database=postgres_url, check=True) as ledger:
            assert [e.payload["run"] for e in ledger.events()] == [name, name]
