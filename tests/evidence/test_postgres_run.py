"""Every reader works on a run whose ledger is in PostgreSQL (issue 16, point 3): `assay runs`,
`assay verify RUN`, `assay report RUN --out DIR` and `assay verify BUNDLE`, `assay approve`, all
without being given the database's URL (the run folder's ``ledger.json`` names it). The bundle
holds the database's rows byte for byte and verifies with no database at all; tampering with the
rows is caught, and a report refuses to turn a tampered run into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assay.cli import main
from assay.evidence.approval import approve_run
from assay.evidence.bundle import report_plugins, write_bundle
from assay.evidence.verify import verify_bundle
from assay.fleet.database import Database
from assay.ledger import Signer, load_or_create_signer, verify_run
from assay.ledger.postgres import read_run
from tests.evidence.sample_run import write_sample_run


@pytest.fixture
def pg_run(tmp_path: Path, postgres_url: str, signer: Signer) -> Path:
    return write_sample_run(tmp_path / "runs" / "run-pg", signer, database=postgres_url)


def _rows(postgres_url: str, run: Path) -> list[tuple[int, bytes, str]]:
    rows = read_run(Database.parse(postgres_url), run.name)
    assert rows is not None
    return rows


def test_the_run_folder_names_its_database_and_holds_no_sqlite(
    pg_run: Path, postgres_url: str
) -> None:
    assert not (pg_run / "ledger.sqlite").exists()
    record = json.loads((pg_run / "ledger.json").read_text())
    assert record == {"store": "postgresql", "run_id": "run-pg", "database": postgres_url}
    assert len(_rows(postgres_url, pg_run)) > 20


def test_runs_lists_a_postgres_run(pg_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--runs-dir", str(pg_run.parent), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["run"], row["spec"], row["status"], row["best_score"]) == (
        "run-pg", "hello-api", "converged", 100.0,
    )  # fmt: skip


def test_verify_report_and_verify_bundle_on_a_postgres_run(
    pg_run: Path, postgres_url: str, signer: Signer, tmp_path: Path
) -> None:
    reporter = load_or_create_signer()  # the key `assay report` signs with (a temporary $HOME)
    trust = ["--trust", signer.key_id, "--trust", reporter.key_id]
    assert main(["verify", str(pg_run), *trust]) == 0
    out = tmp_path / "bundle"
    assert main(["report", str(pg_run), "--out", str(out)]) == 0
    assert verify_bundle(out, trusted={signer.key_id, reporter.key_id}).ok
    # The bundle's ledger is the database's rows, byte for byte: each line is the stored body
    # with its stored hash in front, so it verifies offline, with no database.
    lines = (out / "ledger.jsonl").read_bytes().splitlines()
    rows = _rows(postgres_url, pg_run)
    assert lines == [b'{"hash":"' + digest.encode() + b'",' + body[1:] for _s, body, digest in rows]
    assert main(["verify", str(out), *trust]) == 0


def test_approve_a_postgres_run(pg_run: Path, postgres_url: str) -> None:
    before = len(_rows(postgres_url, pg_run))
    event = approve_run(pg_run, "Bob Reviewer", "read the diff", Signer.generate())
    assert event.kind == "approval"
    assert len(_rows(postgres_url, pg_run)) == before + 2  # the approval and its checkpoint
    assert verify_run(pg_run).ok


def test_tampered_rows_fail_verify_and_no_bundle_hides_them(
    pg_run: Path, postgres_url: str, signer: Signer, tmp_path: Path
) -> None:
    import psycopg

    earlier = write_bundle(pg_run, tmp_path / "earlier", signer, plugins=report_plugins(pg_run))
    seq, body, _digest = next(
        r for r in _rows(postgres_url, pg_run) if b'"cost_usd":0.0042' in r[1]
    )
    forged = body.replace(b'"cost_usd":0.0042', b'"cost_usd":0.0001')  # a cheaper model call
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # an attacker with the DB's keys
        conn.execute("ALTER TABLE assay_ledger_events DISABLE TRIGGER USER")
        conn.execute(
            "UPDATE assay_ledger_events SET body = %s WHERE run_id = %s AND seq = %s",
            (forged, pg_run.name, seq),
        )
        conn.execute("ALTER TABLE assay_ledger_events ENABLE TRIGGER USER")
    result = verify_run(pg_run)
    assert result.problems[0].seq == seq and "modified" in result.problems[0].message
    assert main(["verify", str(pg_run), "--trust", signer.key_id]) == 1
    assert main(["report", str(pg_run), "--out", str(tmp_path / "after")]) == 1
    assert not (tmp_path / "after").exists()
    # The bundle written before still holds the original row and verifies on its own; a forged
    # row put into it breaks its signed manifest.
    assert verify_bundle(earlier.path).ok
    ledger = earlier.path / "ledger.jsonl"
    assert b'"cost_usd":0.0001' not in ledger.read_bytes()
    ledger.write_bytes(ledger.read_bytes().replace(b'"cost_usd":0.0042', b'"cost_usd":0.0001', 1))
    bad = verify_bundle(earlier.path)
    assert bad.problems[0].file == "ledger.jsonl" and "changed" in bad.problems[0].message
