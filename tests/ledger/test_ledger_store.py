"""The ledger: durable appends, idempotent steps, append-only storage, blobs and keys."""

from __future__ import annotations

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


def test_append_chains_and_hashes(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "run-1") as ledger:
        first = ledger.append("run.started", {"spec_digest": "ab" * 32})
        second = ledger.append("loop.decision", {"iteration": 1, "decision": "continue"})
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.run_id == "run-1"
    assert Event.compute_hash(second.body()) == second.hash
    assert first.hash != second.hash


def test_events_survive_reopen_and_a_killed_writer(tmp_path: Path) -> None:
    run = tmp_path / "run"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from assay.ledger import Ledger\n"
        "l = Ledger.open(Path(sys.argv[1]))\n"
        "for i in range(20):\n"
        "    l.append('message', {'i': i}, step=f'step-{i}')\n"
        "os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(run)], check=False)
    assert proc.returncode == -9
    with Ledger.open(run) as ledger:
        assert [e.payload["i"] for e in ledger.events()] == list(range(20))
        assert ledger.completed("step-19") is not None
        assert ledger.append("message", {"i": 20}).seq == 21


def test_step_is_idempotent(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
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


def test_payload_must_be_canonical_json(tmp_path: Path) -> None:
    with Ledger.open(tmp_path / "r") as ledger:
        with pytest.raises(ValueError, match="canonical JSON"):
            ledger.append("message", {"x": float("nan")})
        assert len(ledger) == 0
        assert ledger.append("message", {"x": 1}).seq == 1


def test_canonical_json_is_rfc8785() -> None:
    assert canonical({"b": 1.0, "a": [1e21, "\u20ac", None]}) == (
        b'{"a":[1e+21,"\xe2\x82\xac",null],"b":1}'
    )


def test_run_id_mismatch_is_an_error(tmp_path: Path) -> None:
    Ledger.open(tmp_path / "r", run_id="abc").close()
    with pytest.raises(UserError, match="belongs to run 'abc'"):
        Ledger.open(tmp_path / "r", run_id="xyz")
    with pytest.raises(UserError, match="not a run folder"):
        Ledger.open(tmp_path / "missing", create=False)


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


def test_checkpoint_signs_the_head(tmp_path: Path) -> None:
    signer = Signer.generate()
    with Ledger.open(tmp_path / "r") as ledger:
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
