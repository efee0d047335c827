"""Runs as DBOS workflows, run by workers that recover each other (docs/fleet.md).

- A run is the workflow `run_workflow` (id = run id), enqueued on `RUNS_QUEUE` with its
  `RunDescription` as JSON. The worker composes the `Factory` from it (`assay.commands._compose`)
  and runs it on the run's folder, which every worker reaches (a shared ``runs/``).
- Each step the ledger keys is a DBOS step of that name (`Factory.step_runner`): the step
  function returns the ledger's event when the step had completed, else does the work and
  appends the event; DBOS records the payload the ledger holds. A crash before the append redoes
  the step (it had not completed), a crash after it re-runs a step function that stops at the
  ledger, so nothing completed is redone and DBOS never holds a result the ledger lacks.
- Every worker holds a lock named by its executor id while it lives (a PostgreSQL session
  advisory lock, or a file lock beside the SQLite system database). A worker that sees PENDING
  workflows of an executor whose lock it can take knows that executor is dead and hands them back
  to their queue (DBOS's recovery, idempotent: only one worker dequeues each).
- A model request waits for a slot: a tiny workflow on the provider's queue, whose DBOS limiter
  admits at most ``requests`` per ``period_s + admit_window_s`` across the fleet. A slot seen
  more than half ``admit_window_s`` after it was granted is given up for a new one, and a request
  recorded more than ``admit_window_s`` after its slot is not sent, so the limit holds over every
  window of ``period_s`` of the requests as the ledgers record them.

Needs the ``fleet`` extra (dbos, psycopg) and the ``factory`` extra.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import hashlib
import os
import re
import socket
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, quote, urlencode

from dbos import DBOS, DBOSClient, DBOSConfig, WorkflowHandleAsync
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.models.wrapper import WrapperModel
from pydantic_ai.settings import ModelSettings

import assay
from assay.agents.recording import RecordingModel
from assay.config import FleetConfig, Settings
from assay.errors import RunError
from assay.fleet.database import Database
from assay.fleet.spend import FleetSpend
from assay.ledger import Ledger, Signer
from assay.ledger.kinds import CHECKPOINT
from assay.state import state_dir

__all__ = [
    "APP_NAME",
    "APP_VERSION",
    "RUNS_QUEUE",
    "RUN_WORKFLOW",
    "ExecutorLocks",
    "Worker",
    "client",
    "fleet_state",
    "ledger_database",
    "model_queue",
    "new_executor_id",
    "run_workflow",
    "system_database",
]

APP_NAME = "assay"
APP_VERSION = f"assay-{assay.__version__}"
"""Every worker runs under this version: DBOS recovers and dequeues only its own version's
workflows, so workers of one assay version form one fleet."""
RUNS_QUEUE = "assay-runs"
RUN_WORKFLOW = "assay.run"
SLOT_WORKFLOW = "assay.model-slot"
_SLOT_POLL_S = 0.05
_LATE_SLOTS = 20
T = TypeVar("T")


def model_queue(provider: str) -> str:
    """The queue whose limiter paces `provider`'s requests."""
    return f"assay-model-{provider}"


def system_database(settings: Settings) -> Database:
    """``[tool.assay.fleet] database`` (relative to its config file), else the embedded SQLite
    file in the user's state folder."""
    base = settings.source.parent if settings.source else Path.cwd()
    found = settings.fleet.database_at(base)
    if found is not None:
        return found
    return Database.parse(f"sqlite:///{state_dir() / 'fleet.sqlite'}")


def ledger_database(settings: Settings) -> Database | None:
    """Where the fleet's runs keep their ledgers. On a PostgreSQL system database, that database,
    the ledger's tables in the system schema beside DBOS's (``search_path``), so any worker on
    any machine appends to the run it takes; None on SQLite: ``ledger.sqlite`` in each run folder
    (one machine: SQLite does not belong on a shared network folder)."""
    db = system_database(settings)
    if db.kind != "postgresql":
        return None
    base, _, query = db.url.partition("?")
    params = parse_qsl(query, keep_blank_values=True)
    path = f"-csearch_path={settings.fleet.system_schema}"
    options = [value for key, value in params if key == "options"]
    rest = [(key, value) for key, value in params if key != "options"]
    # libpq's options are space-separated; the schema is an identifier (checked by the config).
    merged = [*rest, ("options", " ".join([*options, path]))]
    return Database.parse(f"{base}?{urlencode(merged, quote_via=quote, safe='/')}")


def _dbos_url(db: Database) -> str:
    if db.kind == "sqlite":
        assert db.path is not None
        db.path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{db.path.resolve()}"
    return db.url


def client(settings: Settings) -> DBOSClient:
    """A client of the fleet's system database (submit, status, cancel; no workflows run),
    which is created or migrated first (a client alone never runs DBOS's migrations)."""
    url = _dbos_url(system_database(settings))
    DBOS.migrate(url, schema=settings.fleet.system_schema)
    return DBOSClient(
        system_database_url=url,
        dbos_system_schema=settings.fleet.system_schema,
        application_name=APP_NAME,
    )


def new_executor_id() -> str:
    """``<host>-<pid>-<4 hex>``: a worker's identity while it lives (never reused)."""
    return f"{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"


# -- who is alive --------------------------------------------------------------------------------


class ExecutorLocks:
    """One lock per live worker: held by the worker, free once it died."""

    def __init__(self, db: Database, schema: str) -> None:
        self.db = db
        self.schema = schema
        self._held: Any = None

    def _file(self, executor_id: str) -> Path:
        assert self.db.path is not None
        folder = self.db.path.resolve().parent / f"{self.db.path.name}.executors"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / (re.sub(r"[^A-Za-z0-9._-]", "_", executor_id) + ".lock")

    def _key(self, executor_id: str) -> int:
        digest = hashlib.sha256(f"assay-executor:{self.schema}:{executor_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def hold(self, executor_id: str) -> None:
        """Take this worker's lock for the life of the process."""
        if self.db.kind == "sqlite":
            fh = self._file(executor_id).open("a")
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._held = fh
            return
        import psycopg

        conn = psycopg.connect(self.db.url, autocommit=True)
        conn.execute("SELECT pg_advisory_lock(%s)", (self._key(executor_id),))
        self._held = conn

    @contextmanager
    def dead(self, executor_id: str) -> Iterator[bool]:
        """Whether `executor_id`'s worker is dead; while the block runs, its lock is held here,
        so a worker restarted under that id (never done: ids are fresh) would wait."""
        if self.db.kind == "sqlite":
            with self._file(executor_id).open("a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
                try:
                    yield True
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
            return
        import psycopg

        key = self._key(executor_id)
        with psycopg.connect(self.db.url, autocommit=True) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            got = bool(row and row[0])
            try:
                yield got
            finally:
                if got:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (key,))

    def close(self) -> None:
        if self._held is not None:
            self._held.close()
            self._held = None


# -- the workflow --------------------------------------------------------------------------------


@dataclasses.dataclass
class _Fleet:
    """What the workflows of this worker process share."""

    client: DBOSClient
    fleet: FleetConfig
    env: Mapping[str, str]
    tick_s: float
    """The resolution of the system database's clock, which stamps when a slot started."""
    spend: FleetSpend
    """The fleet-wide dollar budget, which every run of this worker shares."""
    pacer: Path | None = None
    """SQLite: the lock file under which this machine's workers ask for slots one at a time."""
    local: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


_FLEET: _Fleet | None = None


async def _dbos_step(key: str, once: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """Each keyed ledger step as a DBOS step of the same name (no retries: a failed step fails
    the run, whose ledger says why, as `assay run` does)."""

    async def step() -> dict[str, Any]:
        return await once()

    recorded: dict[str, Any] = await DBOS.run_step_async({"name": key}, step)
    return recorded


async def _admit(provider: str) -> float | None:
    """Wait for a slot of `provider`'s queue; its stamp (epoch seconds), once one was granted
    recently enough, or None when the fleet does not limit `provider`."""
    fleet = _FLEET
    if fleet is None or provider not in fleet.fleet.providers:
        return None
    if fleet.pacer is None:
        return await _take_slot(fleet, provider)
    # SQLite: DBOS's limiter counts the started slots outside the claim's write transaction
    # (pysqlite begins it at the first write), so two workers claiming at once could both take
    # the last slot. One slot is asked for at a time on this machine, under a file lock.
    async with fleet.local:
        with fleet.pacer.open("a") as fh:
            await asyncio.to_thread(fcntl.flock, fh, fcntl.LOCK_EX)
            try:
                return await _take_slot(fleet, provider)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


async def _take_slot(fleet: _Fleet, provider: str) -> float:
    # Half the window to see the slot, the other half to record the request: the limit holds
    # over the requests as recorded only if the record lands within the window.
    window = fleet.fleet.admit_window_s / 2 + fleet.tick_s  # the stamp is the start, rounded down
    for _ in range(_LATE_SLOTS):
        handle: WorkflowHandleAsync[None] = await fleet.client.enqueue_async(
            {"queue_name": model_queue(provider), "workflow_name": SLOT_WORKFLOW,
             "app_version": APP_VERSION},
        )  # fmt: skip
        await handle.get_result(polling_interval_sec=_SLOT_POLL_S)
        status = await handle.get_status()
        granted = (status.dequeued_at or 0) / 1000
        if time.time() - granted <= window:
            return granted
    # The slot's stamp is the database's clock, the check this worker's: far apart, every slot
    # looks late. Better a failed run that says so than a limit silently exceeded.
    raise RunError(
        f"{_LATE_SLOTS} rate-limit slots for {provider} in a row were granted more than "
        f"{window:.3f}s before this worker saw them: is this machine's clock far from the "
        "fleet database's (NTP)?"
    )


class AdmittedRecordingModel(RecordingModel):
    """Records each request once its provider's fleet-wide rate limit admits it."""

    async def admit(self, record: Callable[[], T]) -> T:
        provider = self.model_label.partition(":")[0]
        granted = await _admit(provider)
        recorded = record()
        fleet = _FLEET
        if granted is not None and fleet is not None:
            late = time.time() - granted
            if late > fleet.fleet.admit_window_s + fleet.tick_s:
                # Sent now, it could break the limit over the requests as recorded.
                raise RunError(
                    f"recording a {provider} request took until {late:.3f}s after its "
                    f"rate-limit slot, past admit_window_s ({fleet.fleet.admit_window_s}s); "
                    "the request was not sent (is the runs folder's disk stalling?)"
                )
        return recorded


class PacedModel(WrapperModel):
    """The scenario judge's model: each request waits for its provider's rate-limit slot (the
    judge's requests are not in the ledger, so the check is on when it is sent)."""

    def __init__(self, wrapped: Model, label: str) -> None:
        super().__init__(wrapped)
        self.model_label = label

    async def request(
        self,
        messages: list[ModelMessage],
        model_settings: ModelSettings | None,
        model_request_parameters: ModelRequestParameters,
    ) -> ModelResponse:
        await _admit(self.model_label.partition(":")[0])
        return await super().request(messages, model_settings, model_request_parameters)


@DBOS.workflow(name=SLOT_WORKFLOW)
def model_slot() -> None:
    """A slot for one model request: starting it is what the provider's queue limits."""


@DBOS.workflow(name=RUN_WORKFLOW)
async def run_workflow(description_json: str) -> dict[str, Any]:
    """Run (or resume, after a worker died) the run `description_json` describes."""
    from assay.commands._compose import RunDescription, compose

    fleet = _FLEET
    assert fleet is not None, "run_workflow runs in an assay worker"
    description = RunDescription.model_validate_json(description_json)
    factory = compose(description, env=fleet.env, judge_wrapper=PacedModel)
    factory.budget.shared = fleet.spend.for_run(description.run_id)
    factory.step_runner = _dbos_step
    factory.recording = AdmittedRecordingModel
    try:
        outcome = await factory.run()
    except BaseException:
        # A cancelled run's next step is refused (DBOS takes the workflow from this execution);
        # what it did is evidence: sign its head.
        if await asyncio.to_thread(_cancelled, fleet.client, description.run_id):
            _seal(factory.run_dir, factory.signer)
        raise
    return dataclasses.asdict(outcome)


def _cancelled(client: DBOSClient, run_id: str) -> bool:
    found = client.list_workflows(workflow_ids=[run_id], load_input=False, load_output=False)
    return bool(found) and found[0].status == "CANCELLED"


def _seal(run_dir: Path, signer: Signer | None) -> None:
    """Sign the head of a run stopped before it finished (idempotent)."""
    with Ledger.open(run_dir, create=False, check=True) as ledger:
        head = ledger.head()
        if signer is not None and head is not None and head.kind != CHECKPOINT:
            ledger.checkpoint(signer)


# -- the worker ----------------------------------------------------------------------------------


class Worker:
    """One ``assay worker`` process: DBOS launched on the fleet's system database, its queues
    registered, and a watch for dead workers' runs."""

    def __init__(
        self,
        settings: Settings,
        *,
        executor_id: str | None = None,
        env: Mapping[str, str] | None = None,
        recover_every_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.fleet = settings.fleet
        self.db = system_database(settings)
        self.executor_id = executor_id or new_executor_id()
        self.env = dict(os.environ if env is None else env)
        self.recover_every_s = recover_every_s
        self.locks = ExecutorLocks(self.db, self.fleet.system_schema)
        self.recovered: list[str] = []

    def launch(self) -> None:
        """Take this worker's lock, launch DBOS and register the queues."""
        global _FLEET
        self.locks.hold(self.executor_id)  # before DBOS can mark any workflow as ours
        config: DBOSConfig = {
            "name": APP_NAME,
            "system_database_url": _dbos_url(self.db),
            "executor_id": self.executor_id,
            "application_version": APP_VERSION,
            "dbos_system_schema": self.fleet.system_schema,
            "log_level": "WARNING",
        }
        DBOS(config=config)
        DBOS.launch()
        pacer = None
        if self.db.path is not None:
            pacer = self.db.path.resolve().parent / f"{self.db.path.name}.pacer.lock"
        _FLEET = _Fleet(
            client=client(self.settings), fleet=self.fleet, env=self.env, tick_s=self.tick_s,
            spend=FleetSpend(self.db, self.fleet.system_schema, self.fleet.budget_usd),
            pacer=pacer,
        )  # fmt: skip
        DBOS.register_queue(
            RUNS_QUEUE, worker_concurrency=self.fleet.worker_concurrency,
            polling_interval_sec=0.5, on_conflict="always_update",
        )  # fmt: skip
        for provider, limit in self.fleet.providers.items():
            DBOS.register_queue(
                model_queue(provider),
                limiter={"limit": limit.requests, "period": self.limiter_period(limit.period_s)},
                polling_interval_sec=_SLOT_POLL_S, on_conflict="always_update",
            )  # fmt: skip

    @property
    def tick_s(self) -> float:
        """DBOS stamps a start with the database's clock: on SQLite under Python 3.11 that is
        ``strftime('%s')``, whole seconds (3.12's SQLite has ``unixepoch('subsec')``)."""
        if self.db.kind == "sqlite" and sys.version_info < (3, 12):
            return 1.0
        return 0.001

    def limiter_period(self, period_s: float) -> float:
        """The provider queue's limiter period for requests limited per `period_s`: a request
        starts at most ``admit_window_s`` + one tick after its slot's stamp, and the limiter's
        own window is short by up to one tick (it compares rounded stamps)."""
        return period_s + self.fleet.admit_window_s + 2 * self.tick_s

    def recover_dead(self) -> list[str]:
        """Hand the PENDING runs of dead workers back to their queue; their executor ids."""
        pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
        others = sorted({w.executor_id for w in pending if w.executor_id} - {self.executor_id})
        dead = []
        for executor in others:
            with self.locks.dead(executor) as is_dead:
                if is_dead:
                    DBOS._recover_pending_workflows([executor])
                    dead.append(executor)
        self.recovered.extend(dead)
        return dead

    def serve(self, stop: threading.Event) -> None:
        """Execute runs until `stop` is set, recovering dead workers' runs meanwhile."""
        while not stop.wait(self.recover_every_s):
            self.recover_dead()

    def close(self) -> None:
        global _FLEET
        if _FLEET is not None:
            _FLEET.client.destroy()
            _FLEET.spend.close()
            _FLEET = None
        DBOS.destroy()
        self.locks.close()


def fleet_state(value: object) -> str:
    """A workflow status as the fleet names it."""
    return {
        "ENQUEUED": "queued", "PENDING": "running", "SUCCESS": "finished", "ERROR": "failed",
        "CANCELLED": "cancelled", "MAX_RECOVERY_ATTEMPTS_EXCEEDED": "failed",
        "DELAYED": "queued",
    }.get(cast(str, value), str(value).lower())  # fmt: skip
