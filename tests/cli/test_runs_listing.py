"""`assay runs` (issue 12): one corrupt run does not hide the others, and an unfinished run shows
what it spent from its events instead of zeros."""

from __future__ import annotations

from pathlib import Path

import pytest

from assay.cli import main
from assay.ledger import LEDGER_FILE, Ledger
from assay.ledger.kinds import MODEL_RESPONSE, RUN_FINISHED, RUN_STARTED


def _rows(out: str) -> dict[str, list[str]]:
    return {cells[0]: cells for cells in (line.split("\t") for line in out.splitlines()[1:])}


def test_a_corrupt_run_is_listed_and_the_others_still_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    with Ledger.open(runs / "good", create=True) as ledger:
        ledger.append(RUN_STARTED, {"spec_name": "svc"})
        ledger.append(RUN_FINISHED, {"outcome": "converged", "iterations": 1, "tokens": 10})
    (runs / "bad").mkdir()
    (runs / "bad" / LEDGER_FILE).write_bytes(b"this is not a database" * 100)
    assert main(["runs", "--runs-dir", str(runs)]) == 1
    rows = _rows(capsys.readouterr().out)
    assert rows["good"][3] == "converged"
    assert rows["bad"][3] == "corrupt" and LEDGER_FILE in rows["bad"][-1]


def test_an_unfinished_run_shows_its_calls_tokens_and_iteration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = tmp_path / "runs"
    with Ledger.open(runs / "crashed", create=True) as ledger:
        ledger.append(RUN_STARTED, {"spec_name": "svc"})
        for iteration, (tokens_in, tokens_out) in enumerate([(100, 20), (300, 50), (200, 40)]):
            ledger.append(
                MODEL_RESPONSE,
                {"role": "coder", "model": "m", "iteration": iteration, "tokens_in": tokens_in,
                 "tokens_out": tokens_out, "cost_usd": 0.01},
            )  # fmt: skip
    assert main(["runs", "--runs-dir", str(runs)]) == 0
    row = _rows(capsys.readouterr().out)["crashed"]
    assert row[3] == "unfinished" and row[4] == "2" and row[6] == "710" and row[7] == "$0.0300"
