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


def test_runs_show_the_cached_share_what_the_cache_saved_and_each_roles_spend(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15, point 6: from the responses the ledger holds (written through the typed event,
    as the recorder writes them)."""
    import json

    from assay.factory import events as ev

    runs = tmp_path / "runs"
    with Ledger.open(runs / "r1", create=True) as ledger:
        ledger.append(RUN_STARTED, {"spec_name": "svc"})
        for role, tokens_in, cached, cost, uncached in [
            ("architect", 1000, 0, 0.010, 0.010),
            ("coder", 4000, 3000, 0.012, 0.020),
            ("coder", 4000, 3000, 0.012, 0.020),
        ]:
            reply = ev.ModelResponded(
                role=role, model="anthropic:claude-sonnet-4-5", tokens_in=tokens_in,
                tokens_out=100, cost_usd=cost, cache_read_tokens=cached,
                uncached_cost_usd=uncached,
            )  # fmt: skip
            ledger.append(reply.kind, ev.dump(reply))
    assert main(["runs", "--runs-dir", str(runs), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["cached_share"] == pytest.approx(6000 / 9000)
    assert row["saved_usd"] == pytest.approx(0.016)
    assert list(row["roles"]) == ["architect", "coder"]
    coder = row["roles"]["coder"]
    assert (coder["requests"], coder["tokens_in"], coder["cached_in"]) == (2, 8000, 6000)
    assert coder["cost_usd"] == pytest.approx(0.024) and coder["saved_usd"] == pytest.approx(0.016)
    assert main(["runs", "--runs-dir", str(runs), "--roles"]) == 0
    out = capsys.readouterr().out
    assert "\t67%\t$0.0160\t" in out
    assert "coder\t2\t8,000\t6,000\t200\t$0.0240\t$0.0160" in out
