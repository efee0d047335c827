"""Ledger throughput: durable appends per second, and how long `verify` takes over 100,000 events.

    python benchmarks/ledger_throughput.py [--appends 2000] [--events 100000] [--repeat 3]
        [--database postgresql://…]

Durable means what `Ledger.append` always does: one transaction per event, WAL with
synchronous=FULL, committed (fsynced) before it returns. For scale the same appends are also timed
with synchronous=OFF (not a mode assay offers), and the ratio printed. The 100,000-event ledger
for the verify timing is written with synchronous=OFF to save time; verification reads the same
bytes either way. Every figure is the median of --repeat runs measured in this process.

With --database (default $ASSAY_TEST_POSTGRES_DSN when set) the PostgreSQL store is timed too:
durable appends (one transaction per event under the run's row lock, synchronous_commit=on) and
`verify_run` of those events. Its runs stay in that database (the tables are append-only): give
it a scratch one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from assay.evidence.bundle import report_plugins, write_bundle
from assay.evidence.verify import verify_bundle
from assay.ledger import Ledger, Signer, verify_run
from assay.ledger.store import SqliteStore


def _payload(i: int) -> dict[str, object]:
    return {
        "role": "coder", "model": "anthropic:claude-sonnet-4-5", "iteration": i // 50,
        "tokens_in": 12000 + i, "tokens_out": 900, "cost_usd": 0.0123,
        "prompt_digest": f"{i:064x}", "note": "x" * 200,
    }  # fmt: skip


def _append(run: Path, n: int, *, durable: bool, database: str | None = None) -> float:
    with Ledger.open(run, database=database) as ledger:
        if not durable:
            assert isinstance(ledger.store, SqliteStore)
            ledger.store.conn.execute("PRAGMA synchronous=OFF")  # benchmark-only comparison
        start = time.perf_counter()
        for i in range(n):
            ledger.append("model.response", _payload(i), step=f"s{i}")
        return time.perf_counter() - start


def main() -> None:
    """Measure and print."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", default=os.environ.get("ASSAY_TEST_POSTGRES_DSN"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        root = Path(tmp)
        durable, fast = [], []
        for r in range(args.repeat):
            durable.append(args.appends / _append(root / f"d{r}", args.appends, durable=True))
            fast.append(args.appends / _append(root / f"f{r}", args.appends, durable=False))
        d, f = statistics.median(durable), statistics.median(fast)
        print(f"appends/s, durable (synchronous=FULL, 1 fsync'd txn/event): {d:,.0f}")
        print(f"appends/s, synchronous=OFF (for scale only):               {f:,.0f}")
        print(f"ratio durable / OFF: {d / f:.2f}")
        if args.database:
            _postgres(root, args.database, args.appends, args.repeat)

        signer = Signer.generate()
        big = root / "big"
        _append(big, args.events - 1, durable=False)
        with Ledger.open(big) as ledger:
            ledger.checkpoint(signer)
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = verify_run(big)
            times.append(time.perf_counter() - start)
            assert result.ok and result.events == args.events, result.problems[:3]
        t = statistics.median(times)
        print(
            f"verify run ({args.events:,} events): {t:.2f} s ({t / args.events * 1e6:.1f} us/event)"
        )
        (big / "workspace").mkdir()
        (big / "workspace" / "app.py").write_text("print('hi')\n")
        bundle = write_bundle(
            big, root / "bundle", signer, plugins=report_plugins(big), approval_required=False
        )
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            result = verify_bundle(bundle.path)
            times.append(time.perf_counter() - start)
            assert result.ok, result.problems[:3]
        tb = statistics.median(times)
        print(
            f"verify bundle ({args.events:,} events, every file digest + chain): {tb:.2f} s"
            f" ({tb / args.events * 1e6:.1f} us/event); ratio bundle / run: {tb / t:.2f}"
        )


def _postgres(root: Path, database: str, appends: int, repeat: int) -> None:
    rates, times = [], []
    for _ in range(repeat):
        run = root / f"pg-{uuid.uuid4().hex[:12]}"  # the run id: unique in a shared database
        rates.append(appends / _append(run, appends, durable=True, database=database))
        start = time.perf_counter()
        with Ledger.open(run, database=database) as ledger:
            ledger.checkpoint(Signer.generate())
        result = verify_run(run, database=database)
        times.append(time.perf_counter() - start)
        assert result.ok, result.problems[:3]
    p, t = statistics.median(rates), statistics.median(times)
    print(f"appends/s, PostgreSQL store (1 txn/event, synchronous_commit=on): {p:,.0f}")
    print(f"seal + verify run ({appends + 1:,} events, PostgreSQL): {t:.2f} s")


if __name__ == "__main__":
    main()
