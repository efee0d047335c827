"""Issue 16: runs as DBOS workflows on worker processes that die.

Real `assay worker` processes (each with its own working folder and home, as if on its own
machine; the runs folder is shared), real `assay fleet submit` and `assay fleet status`, the
scripted team of `tests/factory/scripted_app.py` sleeping a fixed time per model call, and
workers killed with SIGKILL at seeded points while they run a run. Then: every run finished
(converged), every ledger verifies, no completed step was redone (no model request of a step
after the step's event, every step key once, and the DBOS steps of each workflow are exactly its
ledger's steps), and the provider's rate limit held over every window of the recorded model
requests.

Once with DBOS's SQLite system database, once with PostgreSQL (``ASSAY_TEST_POSTGRES_DSN``).
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from assay.errors import AssayError
from assay.ledger import Ledger, is_run_folder, verify_run
from tests.redone import late_model_calls

pytest.importorskip("dbos")

FACTORY_TESTS = Path(__file__).parent.parent / "factory"
SPEC = "---\nname: {name}\n---\n# Greeter\n\nA library that greets people.\n"
REQUESTS, PERIOD_S = 4, 2.0
"""The scripted provider's fleet-wide limit: at most 4 model requests in any 2 seconds."""


def _config(database: str, schema: str, concurrency: int, extra: str = "") -> str:
    return (
        '[factory]\ngates = ["ruff", "bandit"]\nmax_iterations = 4\n\n'
        f'[fleet]\ndatabase = "{database}"\nsystem_schema = "{schema}"\n'
        f"worker_concurrency = {concurrency}\n{extra}\n"
        f"[fleet.providers.scripted]\nrequests = {REQUESTS}\nperiod_s = {PERIOD_S}\n"
    )


def _env(tmp: Path, home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(
        ASSAY_TESTING_MODELS="scripted_app:models",
        # the scripted team, then whatever the caller's path has (a worktree's assay first)
        PYTHONPATH=os.pathsep.join(
            filter(None, [str(FACTORY_TESTS), os.environ.get("PYTHONPATH")])
        ),
        SCRIPTED_DELAY="0.2",
        XDG_CONFIG_HOME=str(tmp / "config"),  # one signing key for the fleet
        XDG_STATE_HOME=str(home / "state"),
        HOME=str(home),
    )
    return env


def _assay(*args: str) -> list[str]:
    return [sys.executable, "-m", "assay.cli", *args]


class Fleet:
    def __init__(
        self, tmp: Path, database: str, schema: str, concurrency: int = 1, extra: str = ""
    ) -> None:
        self.tmp = tmp
        self.project = tmp / "project"
        self.project.mkdir(parents=True)
        (self.project / ".git").mkdir()  # config lookup stops here
        self.config = self.project / "assay.toml"
        self.config.write_text(_config(database, schema, concurrency, extra))
        self.runs = tmp / "runs"
        self.workers: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: list[Any] = []
        self.schema = schema
        self.database = database
        self.steps_done = StepsDone(self.runs)

    def run(self, *args: str, timeout: float = 120) -> str:
        done = subprocess.run(
            _assay(*args, "--config", str(self.config)), cwd=self.project,
            env=_env(self.tmp, self.tmp / "home-cli"), capture_output=True, text=True,
            timeout=timeout, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def submit(self, n: int) -> list[str]:
        specs = []
        for i in range(n):
            spec = self.project / f"spec{i}.md"
            spec.write_text(SPEC.format(name=f"greeter{i}"))
            specs.append(str(spec))
        return self.run("fleet", "submit", *specs, "--runs-dir", str(self.runs)).split()

    def start(self, name: str) -> None:
        folder = self.tmp / name
        folder.mkdir()
        log = (folder / "worker.log").open("wb")
        self.logs.append(log)
        self.workers[name] = subprocess.Popen(
            _assay("worker", "--id", name, "--config", str(self.config)), cwd=folder,
            env=_env(self.tmp, folder), stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def status(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = json.loads(self.run("fleet", "status", "--json"))
        return rows

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in self.logs:
            log.close()
        self.steps_done.close()


class StepsDone:
    """How many keyed steps the runs under `runs` completed, read through each run's `Ledger`
    (ledger.sqlite or the PostgreSQL database its ledger.json names). It polls every 0.1 s, so
    each ledger is opened once, when its folder appears, and kept open: a poll is one query per
    run, not a connection."""

    def __init__(self, runs: Path) -> None:
        self.runs = runs
        self.ledgers: dict[Path, Ledger] = {}

    def __call__(self) -> int:
        if self.runs.is_dir():
            for folder in self.runs.iterdir():
                if folder not in self.ledgers and is_run_folder(folder):
                    # a worker may be creating it this moment: then the next poll opens it
                    with contextlib.suppress(AssayError):
                        self.ledgers[folder] = Ledger.open(folder, create=False)
        total = 0
        for ledger in self.ledgers.values():
            with contextlib.suppress(AssayError):
                total += sum(1 for e in ledger.events() if e.step is not None)
        return total

    def close(self) -> None:
        for ledger in self.ledgers.values():
            ledger.close()


def _when(event_time: str) -> float:
    return (
        dt.datetime.strptime(event_time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC).timestamp()
    )


def _check_run(run_dir: Path, database: str | None = None) -> tuple[list[float], list[str]]:
    """The run's model-request times and its step keys, after checking nothing was redone.
    `database` a PostgreSQL URL: the ledger must be there (in the fleet's system schema), and
    no ledger.sqlite in the run folder; None: the ledger is the folder's ledger.sqlite."""
    verification = verify_run(run_dir)
    assert verification.ok, verification
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
        if database is None:
            assert ledger.database is None and (run_dir / "ledger.sqlite").is_file()
        else:
            assert ledger.database is not None and ledger.database.url.startswith(database)
            assert not (run_dir / "ledger.sqlite").exists()
    steps = [e.step for e in events if e.step]
    assert [s for s, n in Counter(steps).items() if n > 1] == []
    late = late_model_calls(events)
    assert late == [], f"{run_dir.name}: model called for completed steps {late}"
    finished = next(e.payload for e in events if e.kind == "run.finished")
    assert finished["outcome"] == "converged", finished
    times = [_when(e.time) for e in events if e.kind == "model.request"]
    return times, [s for s in steps if s]


def _max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    return max(bisect.bisect_left(times, t + period) - i for i, t in enumerate(times))


def _dbos_steps(fleet: Fleet, run_id: str) -> list[str]:
    from dbos import DBOSClient

    from assay.fleet.database import Database

    db = Database.parse(fleet.database)
    url = db.url if db.kind == "postgresql" else f"sqlite:///{db.path}"
    client = DBOSClient(system_database_url=url, dbos_system_schema=fleet.schema)
    try:
        return [s["function_name"] for s in client.list_workflow_steps(run_id)]
    finally:
        client.destroy()


def _exercise(fleet: Fleet, *, runs: int, workers: int, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    ids = fleet.submit(runs)
    assert len(ids) == runs
    queued = {r["run"]: r["state"] for r in fleet.status()}
    assert set(queued) == set(ids) and set(queued.values()) == {"queued"}
    for i in range(workers):
        fleet.start(f"w{i}")
    deadline = time.monotonic() + 900
    killed: list[tuple[str, int]] = []
    held: list[tuple[str, str, float]] = []  # (run, the worker killed while it ran it, when)
    # each kill once the runs hold a seeded number of completed steps, on a worker mid-run
    targets = sorted(rng.sample(range(8, 20 * runs // 2), kills))
    try:
        for target in targets:
            while fleet.steps_done() < target and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(rng.uniform(0.0, 0.5))
            running = [r for r in fleet.status() if r["state"] == "running"]
            busy = [r["worker"] for r in running]
            alive = [w for w in busy if w in fleet.workers and fleet.workers[w].poll() is None]
            if len(alive) == 0 or len([p for p in fleet.workers.values() if p.poll() is None]) < 2:
                continue
            victim = rng.choice(sorted(alive))
            at = time.time()
            fleet.workers[victim].send_signal(signal.SIGKILL)
            fleet.workers[victim].wait()
            killed.append((victim, fleet.steps_done()))
            held += [(r["run"], victim, at) for r in running if r["worker"] == victim]
        while time.monotonic() < deadline:
            states = {r["run"]: r["state"] for r in fleet.status()}
            if all(s in ("finished", "failed", "cancelled") for s in states.values()):
                break
            time.sleep(1)
    finally:
        fleet.stop()
    print(f"killed (worker, completed steps then): {killed}")
    assert len(killed) == kills, f"kills landed on no running run: {killed}"
    rows = fleet.status()
    assert {r["run"]: r["state"] for r in rows} == dict.fromkeys(ids, "finished"), rows
    # every run a worker held when it was killed was finished by another worker (unless the
    # victim finished it in the moment between the status and the kill)
    final = {r["run"]: r for r in rows}
    recovered = [run for run, victim, _ in held if final[run]["worker"] != victim]
    assert recovered, (held, final)
    for run, victim, at in held:
        row = final[run]
        assert row["worker"] != victim or row["finished_at"] / 1000 <= at, (run, victim, row)
    all_times: list[float] = []
    for run_id in ids:
        postgres = fleet.database.startswith("postgresql")
        times, steps = _check_run(fleet.runs / run_id, fleet.database if postgres else None)
        all_times += times
        dbos_steps = _dbos_steps(fleet, run_id)
        # the two records agree: each ledger step is one DBOS step of its name, and no more
        assert sorted(dbos_steps) == sorted(steps), (run_id, set(dbos_steps) ^ set(steps))
    worst = _max_in_window(all_times, PERIOD_S)
    print(f"{len(all_times)} model requests; at most {worst} in any {PERIOD_S}s (limit {REQUESTS})")
    assert worst <= REQUESTS


# (runs, workers, kills, seed): a small case, then the eight runs on three workers, two
# of them killed.
CASES = [pytest.param(3, 2, 1, 7, id="3runs-2workers-1kill"),
         pytest.param(8, 3, 2, 11, id="8runs-3workers-2kills")]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("runs", "workers", "kills", "seed"), CASES)
def test_sqlite_fleet_recovers_killed_workers(
    tmp_path: Path, runs: int, workers: int, kills: int, seed: int
) -> None:
    fleet = Fleet(tmp_path, f"sqlite:///{tmp_path / 'fleet.sqlite'}", "dbos")
    _exercise(fleet, runs=runs, workers=workers, kills=kills, seed=seed)


@pytest.mark.slow
@pytest.mark.parametrize(("runs", "workers", "kills", "seed"), CASES)
def test_postgres_fleet_recovers_killed_workers(
    tmp_path: Path, postgres_url: str, runs: int, workers: int, kills: int, seed: int
) -> None:
    query = parse_qs(urlsplit(postgres_url).query)
    schema = unquote(query["options"][0]).removeprefix("-csearch_path=")
    base = postgres_url.split("&options=")[0].split("?options=")[0]
    fleet = Fleet(tmp_path, base, schema)
    _exercise(fleet, runs=runs, workers=workers, kills=kills, seed=seed)


def test_cancel_a_queued_run(tmp_path: Path) -> None:
    """A cancelled run never starts; the others run; an unknown run is a usage error."""
    fleet = Fleet(tmp_path, f"sqlite:///{tmp_path / 'fleet.sqlite'}", "dbos")
    keep, drop = fleet.submit(2)
    assert "cancelled" in fleet.run("fleet", "cancel", drop)
    states = {r["run"]: r["state"] for r in fleet.status()}
    assert states == {keep: "queued", drop: "cancelled"}
    unknown = subprocess.run(
        _assay("fleet", "cancel", "no-such-run", "--config", str(fleet.config)),
        cwd=fleet.project, env=_env(tmp_path, tmp_path / "home-cli"), capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert unknown.returncode == 2 and "no run 'no-such-run' in the fleet" in unknown.stderr
    fleet.start("w0")
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            states = {r["run"]: r["state"] for r in fleet.status()}
            if states[keep] != "queued" and states[keep] != "running":
                break
            time.sleep(1)
    finally:
        fleet.stop()
    assert states == {keep: "finished", drop: "cancelled"}
    assert (fleet.runs / keep / "ledger.sqlite").is_file()
    assert not (fleet.runs / drop).exists()


def test_cancel_a_running_run(tmp_path: Path) -> None:
    """A running run stops at its next step (DBOS refuses the step); its ledger verifies up to
    there; the worker lives on and runs the next run."""
    fleet = Fleet(tmp_path, f"sqlite:///{tmp_path / 'fleet.sqlite'}", "dbos")
    (first,) = fleet.submit(1)
    fleet.start("w0")
    try:
        deadline = time.monotonic() + 300
        while fleet.steps_done() < 5 and time.monotonic() < deadline:
            time.sleep(0.1)
        fleet.run("fleet", "cancel", first)
        while time.monotonic() < deadline:
            (row,) = fleet.status()
            if row["state"] != "running":
                break
            time.sleep(0.5)
        assert row["state"] == "cancelled", row
        # a step under way when the run was cancelled ends meanwhile, however long it takes:
        # wait until the count holds still for 3 s
        stopped_at = -1
        while time.monotonic() < deadline and fleet.steps_done() != stopped_at:
            stopped_at = fleet.steps_done()
            time.sleep(3)
        (second,) = [r for r in fleet.submit(1) if r != first]
        while time.monotonic() < deadline:
            states = {r["run"]: r["state"] for r in fleet.status()}
            if states[second] not in ("queued", "running"):
                break
            time.sleep(1)
        assert fleet.workers["w0"].poll() is None, "the worker died"
    finally:
        fleet.stop()
    assert states == {first: "cancelled", second: "finished"}
    with Ledger.open(fleet.runs / first, create=False) as ledger:
        events = list(ledger.events())
    assert not any(e.kind == "run.finished" for e in events)
    assert len([e for e in events if e.step]) <= stopped_at
    assert verify_run(fleet.runs / first).ok
    _check_run(fleet.runs / second)


@pytest.mark.slow
def test_a_worker_runs_several_runs_at_once(tmp_path: Path) -> None:
    """worker_concurrency = 2: each worker runs up to two runs at once on its event loop; one
    is killed while it runs."""
    fleet = Fleet(tmp_path, f"sqlite:///{tmp_path / 'fleet.sqlite'}", "dbos", concurrency=2)
    _exercise(fleet, runs=4, workers=2, kills=1, seed=3)


PRICED = "".join(
    f'[models.prices."scripted:{role}"]\ninput = 1000.0\noutput = 1000.0\n'
    for role in ("architect", "tester", "coder", "reviewer", "strong")
)
"""$1000 per million tokens: a scripted run costs several dollars, so $6 runs out within two."""


def _spend(run_dir: Path) -> tuple[list[float], dict[str, Any]]:
    with Ledger.open(run_dir, create=False) as ledger:
        events = list(ledger.events())
    costs = [e.payload["cost_usd"] or 0.0 for e in events if e.kind == "model.response"]
    finished = next(e.payload for e in events if e.kind == "run.finished")
    return costs, finished


@pytest.mark.slow
def test_the_fleet_budget_stops_every_run_once_spent(tmp_path: Path) -> None:
    """[fleet] budget_usd caps what all runs spend together: the runs that meet it stop with
    outcome "budget" naming the fleet's budget, the ledgers' total passes the cap by at most one
    response per worker (the requests in flight), and a run submitted once it is spent makes no
    request at all."""
    budget = 6.0
    fleet = Fleet(
        tmp_path, f"sqlite:///{tmp_path / 'fleet.sqlite'}", "dbos", extra=f"budget_usd = {budget}"
    )
    fleet.config.write_text(fleet.config.read_text() + "\n" + PRICED)

    def finish(ids: list[str], workers: list[str]) -> dict[str, str]:
        for name in workers:
            fleet.start(name)
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                states = {r["run"]: r["state"] for r in fleet.status() if r["run"] in ids}
                if all(s in ("finished", "failed", "cancelled") for s in states.values()):
                    break
                time.sleep(1)
        finally:
            fleet.stop()
            fleet.workers.clear()
        return states

    first = fleet.submit(3)
    assert finish(first, ["w0", "w1"]) == dict.fromkeys(first, "finished")
    costs = {run_id: _spend(fleet.runs / run_id) for run_id in first}
    total = sum(sum(c) for c, _ in costs.values())
    largest = max(max(c, default=0.0) for c, _ in costs.values())
    outcomes = {run_id: finished["outcome"] for run_id, (_, finished) in costs.items()}
    print(f"spent ${total:.4f} of ${budget}; largest response ${largest:.4f}; {outcomes}")
    assert budget <= total <= budget + 2 * largest
    stopped = [f for _, f in costs.values() if f["outcome"] == "budget"]
    assert stopped and all("fleet's dollar budget is spent" in f["reason"] for f in stopped)
    # once spent, a new run stops at its first request, having spent nothing
    (late,) = fleet.submit(1)
    assert finish([late], ["w2"]) == {late: "finished"}
    late_costs, late_finished = _spend(fleet.runs / late)
    assert late_costs == [] and late_finished["outcome"] == "budget"
    for run_id in [*first, late]:
        assert verify_run(fleet.runs / run_id).ok
    shown = fleet.run("fleet", "status")
    assert f"fleet spend: ${total:.4f} of ${budget:.2f}" in shown
