"""The gate runner: concurrently, within the machine's cores, cached, judged under the policy.

Every scan holds one of the run's worker slots (`assay.gates.workers`; ``jobs``, else the CPU
count), so the tools never ask for more cores than there are; a tool's version query, short and
mostly read from package metadata, holds none, since every scan of its gate waits on it. Per-file
gates split their files into batches run side by side on idle workers (semgrep, with workers of
its own, is lent the free slots instead), the longest job first, and each batch's findings are
merged back in file order: the result is the same as one run over every file. ``batch = false``,
and fail-fast (which wants the cheapest verdicts first), keep the older schedule: one slot per
gate for its whole run, cheapest first, each tool over all its files.

A run covers the whole project, or only a selection of its files (``files``: what a pre-commit
hook passes, the staged files). On a selection:

- per-file gates scan only the selected files (excludes still apply), and their cache keeps the
  entries of every other file, so the next whole-project run rescans nothing that did not change;
- a whole-project gate that declares ``checks_selection = True`` (mypy) runs on the selected files
  with the project's configuration; it reads whatever they import, so its cache key covers every
  input of the whole project, and it reports only findings in the selected files (or none);
- any other whole-project gate (pytest, depaudit) is ``not-applicable`` unless it was asked for
  by name (``requested``, i.e. ``--only``); then it runs over the whole project as usual;
- files that were not selected are never read by a gate, whether git tracks them or not;
- a selection in which no gate finds anything to check passes: there is nothing to judge.

This module only runs gates. What a cache entry is keyed by and how a per-file gate's fresh
findings merge with its cached ones is `assay.gates.cache`; waivers (`apply_waivers`) and gate
options (`GatePolicy.validated_options`, `check_gate_tables`) are in `assay.config`, beside
`Waiver` and `GatePolicy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import assay
from assay import tracing
from assay.config import GatePolicy, Settings, Waiver, apply_waivers
from assay.errors import PluginFailure, ToolMissingError, UserError
from assay.gates.assay_folder import prepare_assay_folder
from assay.gates.base import (
    Finding,
    Gate,
    GateContext,
    GateReport,
    GateResult,
    GateStatus,
    Scan,
    Severity,
    SkippedFile,
    fingerprint,
)
from assay.gates.cache import (
    TOOL_CONFIG_FILES,
    GateCache,
    GateCacheEntry,
    cache_key,
    conclusive,
    entry_from,
    in_file_order,
    merge_per_file,
    not_cached,
    per_file_entry,
    scan_from,
    stale_files,
)
from assay.gates.collect import FileHashes, FileSet, collect_files
from assay.gates.steady import Watch
from assay.gates.workers import Workers, batches

__all__ = ["GateEvent", "GateRunner", "run_gates"]

# A batch smaller than this is not split off: each run of a tool pays its start-up again.
_MIN_BATCH_FILES = 8


@dataclass(frozen=True, slots=True)
class GateEvent:
    """Progress: a gate was queued, started or finished (then `result` is set)."""

    gate: str
    state: str
    result: GateResult | None = None


@dataclass(slots=True)
class _Plan:
    gate: Gate
    policy: GatePolicy
    ctx: GateContext
    required: bool
    fail_on: Severity
    whole: GateContext | None = None
    """For a whole-project gate run on a selection: the whole project's context (cache key)."""
    skip: str | None = None
    """Why the gate does not run at all (a whole-project gate on a selection)."""

    @property
    def selection(self) -> frozenset[str] | None:
        """The files a whole-project gate on a selection may report findings in."""
        return frozenset(self.ctx.all_files) if self.whole is not None else None

    @property
    def cache_name(self) -> str:
        """The cache slot: a gate's whole-project result survives a run on a selection."""
        return f"{self.gate.name}@selection" if self.whole is not None else self.gate.name


@dataclass(slots=True)
class _Queue:
    """How long a gate waited for a worker while it held none: not part of its duration."""

    pending: int = 0
    held: int = 0
    since: float = 0.0
    waited: float = 0.0

    def change(self, *, pending: int = 0, held: int = 0) -> None:
        now = time.perf_counter()
        if self.pending and not self.held:
            self.waited += now - self.since
        self.pending += pending
        self.held += held
        self.since = now


@dataclass(slots=True)
class GateRunner:
    """Runs a set of gates over one project root under one policy."""

    root: Path
    settings: Settings
    gates: Sequence[Gate]
    cache_dir: Path | None = None
    fail_fast: bool | None = None
    jobs: int | None = None
    on_event: Callable[[GateEvent], None] | None = None
    today: dt.date = field(default_factory=dt.date.today)
    files: Sequence[str] | None = None
    """Check only these files (relative to `root` or absolute under it; a folder stands for the
    files under it); None: the whole project. See the module docstring."""
    requested: Collection[str] = ()
    """Gates asked for by name: a whole-project gate runs on a selection only when named here."""
    batch: bool | None = None
    """Batch per-file gates across idle workers (see the module docstring); None: the
    ``batch`` setting."""
    _hashes: FileHashes = field(init=False)
    _workers: Workers = field(init=False)
    _batched: bool = field(init=False, default=False)
    _started: set[str] = field(init=False, default_factory=set)
    _queued: dict[str, _Queue] = field(init=False, default_factory=dict)
    _stop: bool = field(init=False, default=False)
    _cache: GateCache | None = field(init=False, default=None)
    _notes: list[str] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self._hashes = FileHashes(self.root)

    async def run(self) -> GateReport:
        """Run every enabled gate and return the combined verdict."""
        started = time.perf_counter()
        prepare_assay_folder(self.root, self.cache_dir)
        self._cache = self._open_cache()
        plans = self._plan()
        self._workers = Workers(self.jobs or self.settings.jobs or os.cpu_count() or 1)
        batch = self.settings.batch if self.batch is None else self.batch
        self._batched = batch and not self._fail_fast()
        self._started.clear()
        self._queued.clear()
        for plan in plans:
            self._emit(GateEvent(plan.gate.name, "queued"))
        results = await asyncio.gather(*(self._guarded(plan) for plan in plans))
        return self._report(plans, list(results), time.perf_counter() - started)

    def run_sync(self) -> GateReport:
        """`run` in a fresh event loop (`asyncio.run`), for a caller outside one.

        The report is handed back outside the loop's main task: on Python 3.11, `asyncio.run`
        formats the repr of its main task, result included, each time it restores the SIGINT
        handler (twice), and a whole project's report takes a fifth of a second to repr.
        """
        done: list[GateReport] = []

        async def main() -> None:
            done.append(await self.run())

        asyncio.run(main())
        return done[0]

    def _open_cache(self) -> GateCache | None:
        """The cache, authenticated with this user's key; None (and a note) without a key."""
        if self.cache_dir is None:
            return None
        try:
            return GateCache.for_user(self.cache_dir)
        except (OSError, UserError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            self._notes.append(f"gate cache off: no key to authenticate its entries ({reason})")
            return None

    # -- planning -----------------------------------------------------------------------------

    def _plan(self) -> list[_Plan]:
        report_root = self.root / ".assay" / "reports"
        contexts = _Contexts(self)
        plans = []
        for gate in sorted(self.gates, key=lambda g: (g.cost, g.name)):
            policy = self.settings.gate_policy(gate.name)
            if not policy.enabled:
                continue
            model = getattr(gate, "options_model", None)
            options = policy.validated_options(gate.name, model, self.settings.source)
            ctx, whole, skip = contexts.pick(gate, self.requested)
            ctx = replace(
                ctx,
                options=options,
                report_dir=report_root / gate.name,
                tool_cache=self.cache_dir / gate.name if self.cache_dir else None,
            )
            if whole is not None:
                whole = replace(whole, options=options)
            required = policy.required
            if required is None:
                required = bool(getattr(gate, "default_required", True))
            fail_on = Severity.parse(
                policy.fail_on or getattr(gate, "default_fail_on", None) or self.settings.fail_on
            )
            plans.append(_Plan(gate, policy, ctx, required, fail_on, whole, skip))
        return plans

    # -- running ------------------------------------------------------------------------------

    async def _guarded(self, plan: _Plan) -> GateResult:
        with tracing.span(f"gate {plan.gate.name}", {"gate.name": plan.gate.name}) as span:
            result = await self._scheduled(plan)
            tracing.annotate(span, {
                "gate.verdict": str(result.status), "gate.findings": len(result.findings),
                "gate.blocking": result.blocking, "gate.cached": result.cached,
            })  # fmt: skip
        return result

    async def _scheduled(self, plan: _Plan) -> GateResult:
        if self._batched:  # each tool process takes its own slots (`_tool_slots`)
            result = await self._run_one(plan)
            self._running(plan)
        else:  # the older schedule: one slot for the gate's whole run, in the order queued
            async with self._workers.hold():
                if self._stop:
                    result = self._result(plan, GateStatus.NOT_EVALUATED, 0.0, "fail-fast")
                else:
                    self._running(plan)
                    result = await self._run_one(plan)
                    if result.blocking and self._fail_fast():
                        self._stop = True
        self._emit(GateEvent(plan.gate.name, "done", result))
        return result

    def _running(self, plan: _Plan) -> None:
        if plan.gate.name not in self._started:
            self._started.add(plan.gate.name)
            self._emit(GateEvent(plan.gate.name, "running"))

    @contextlib.asynccontextmanager
    async def _tool_slots(self, plan: _Plan, length: float, *, most: int = 1) -> AsyncIterator[int]:
        """Worker slots for one tool process of `plan`, expected to take `length` (the longest
        waiting is served first); yields how many are held. Under the older schedule the gate
        already holds its one slot for its whole run: yields 0."""
        if not self._batched:
            yield 0
            return
        queue = self._queued.setdefault(plan.gate.name, _Queue())
        queue.change(pending=1)
        granted = False
        try:
            async with self._workers.hold(length, most=most) as held:
                granted = True
                queue.change(pending=-1, held=1)
                self._running(plan)
                try:
                    yield held
                finally:
                    queue.change(held=-1)
        finally:
            if not granted:
                queue.change(pending=-1)

    def _fail_fast(self) -> bool:
        return self.settings.fail_fast if self.fail_fast is None else self.fail_fast

    async def _run_one(self, plan: _Plan) -> GateResult:
        started = time.perf_counter()
        gate, ctx = plan.gate, plan.ctx
        if plan.skip is not None:
            return self._result(plan, GateStatus.NOT_APPLICABLE, 0.0, message=plan.skip)
        try:
            if not gate.applies(ctx):
                return self._result(
                    plan, GateStatus.NOT_APPLICABLE, 0.0, message="nothing to check"
                )
            # No worker slot: a version query is short (most read package metadata), and every
            # scan of the gate waits on it. Queued behind the scans of other gates, it kept a
            # gate's batches from being queued at all until a long scan ended.
            version = await asyncio.to_thread(gate.version)
            inputs = list(gate.inputs(ctx))
        except (ToolMissingError, PluginFailure) as exc:  # a plugin's gate names its plugin
            return self._result(plan, GateStatus.ERROR, self._took(plan, started), str(exc))
        key = self._cache_key(plan, version, inputs)
        notes: list[str] = []
        try:
            scan, cached, scanned = await self._scan_cached(plan, key, inputs, notes)
        except (ToolMissingError, PluginFailure) as exc:
            scan, cached, scanned = Scan(error=str(exc)), False, 0
        selection = plan.selection
        if selection is not None:
            kept = [f for f in scan.findings if not f.file or f.file in selection]
            scan = replace(scan, findings=kept)
        duration = self._took(plan, started)
        result = self._judge(
            plan, version, scan, duration, cached=cached, scanned=scanned, notes=notes
        )
        return result.model_copy(update={"skipped": _skipped(plan, inputs)})

    def _took(self, plan: _Plan, started: float) -> float:
        """Wall time since `started`, less the time the gate only waited for a worker."""
        queue = self._queued.get(plan.gate.name)
        return time.perf_counter() - started - (queue.waited if queue else 0.0)

    def _config_files(self, plan: _Plan) -> list[str]:
        """The config files present whose content is part of `plan`'s cache key."""
        configs = [f for f in TOOL_CONFIG_FILES if (self.root / f).is_file()]
        # A gate may name config files of its own (e.g. a project's semgrep rules).
        own_configs = getattr(plan.gate, "config_files", None)
        if callable(own_configs):
            configs += [f for f in own_configs(plan.ctx) if (self.root / f).is_file()]
        return configs

    def _key_files(self, plan: _Plan, inputs: Sequence[str]) -> list[str]:
        """Every file whose content `plan`'s cache key covers (a per-file gate's inputs are
        checked one by one, against each file's own entry)."""
        files = self._config_files(plan)
        if not plan.gate.per_file:
            files += inputs
        if plan.whole is not None:
            files += plan.gate.inputs(plan.whole)
        return files

    def _cache_key(self, plan: _Plan, version: str, inputs: Sequence[str]) -> str:
        gate = plan.gate
        whole_inputs = None
        if not gate.per_file and plan.whole is not None:
            whole_inputs = list(gate.inputs(plan.whole))
        configs = self._config_files(plan)
        return cache_key(
            gate, version, plan.ctx.options, self._hashes, configs, inputs, whole_inputs
        )

    def _lookup(self, plan: _Plan, key: str, notes: list[str]) -> GateCacheEntry | None:
        """The authentic entry stored under `key`; a rejected one is noted, never used."""
        if self._cache is None:
            return None
        found = self._cache.load(plan.cache_name, key)
        if found.rejected is not None:
            notes.append(found.rejected)
        return found.entry

    async def _scan_cached(
        self, plan: _Plan, key: str, inputs: list[str], notes: list[str]
    ) -> tuple[Scan, bool, int]:
        entry = self._lookup(plan, key, notes)
        if plan.gate.per_file:
            return await self._scan_per_file(plan, key, inputs, entry, notes)
        if entry is not None:
            return scan_from(entry, entry.findings), True, 0
        watch = Watch.start(self.root, self._key_files(plan, inputs))
        scan = await self._tool_scan(plan, plan.ctx, inputs, plan.gate.cost)
        if self._cache and conclusive(scan):
            moved = watch.changed(self._hashes)
            if moved:
                notes.append(not_cached(plan.gate.name, moved))
            else:
                self._cache.store(plan.cache_name, entry_from(key, scan))
        return scan, False, len(inputs)

    async def _scan_per_file(
        self,
        plan: _Plan,
        key: str,
        inputs: list[str],
        entry: GateCacheEntry | None,
        notes: list[str],
    ) -> tuple[Scan, bool, int]:
        known = entry.files if entry else {}
        stale = stale_files(inputs, known, self._hashes)
        if entry is not None and not stale:
            return scan_from(entry, in_file_order(inputs, known) + entry.findings), True, 0
        watch = Watch.start(self.root, [*self._config_files(plan), *stale])
        scan = await self._scan_files(plan, inputs, stale) if stale else Scan()
        if not conclusive(scan):
            return scan, False, len(stale)
        merged, files, project_level = merge_per_file(inputs, stale, known, scan, self._hashes)
        moved = watch.changed(self._hashes) if self._cache else []
        if moved:
            notes.append(not_cached(plan.gate.name, moved))
        if self._cache and not set(moved) & set(self._config_files(plan)):
            stored = per_file_entry(
                key,
                merged,
                files,
                known,
                project_level,
                selection=self.files is not None,
                moved=moved,
            )
            self._cache.store(plan.gate.name, stored)
        return merged, False, len(stale)

    async def _scan_files(self, plan: _Plan, inputs: list[str], files: list[str]) -> Scan:
        """`plan`'s per-file tool over `files`, in batches across the workers, merged as one run.

        Each batch is expected to take the gate's cost times its share of the bytes of every
        input, so one changed file is a short job and the whole project a long one.
        """
        size = {f: _size(self.root / f) for f in inputs}
        whole = max(1, sum(size.values()))

        def length(group: Sequence[str]) -> float:
            return plan.gate.cost * sum(size.get(f, 0) for f in group) / whole

        split = self._batched and not getattr(plan.gate, "parallel", False)
        parts = min(self._workers.size, len(files) // _MIN_BATCH_FILES) if split else 1
        groups = batches(files, size, parts)
        if len(groups) == 1:
            return await self._tool_scan(plan, plan.ctx, files, length(files))
        report_dir = plan.ctx.report_dir
        ctxs = [
            replace(plan.ctx, report_dir=report_dir / f"batch-{i}")
            for i in range(1, 1 + len(groups))
        ]
        try:
            async with asyncio.TaskGroup() as tasks:
                runs = [
                    tasks.create_task(self._tool_scan(plan, ctx, group, length(group)))
                    for ctx, group in zip(ctxs, groups, strict=True)
                ]
        except* (ToolMissingError, PluginFailure) as missing:
            raise missing.exceptions[0] from None
        return _merged([run.result() for run in runs], plan.ctx.report_dir)

    async def _tool_scan(
        self, plan: _Plan, ctx: GateContext, files: Sequence[str], length: float
    ) -> Scan:
        """One run of `plan`'s tool over `files`, in worker slots, within the gate's timeout."""
        parallel = getattr(plan.gate, "parallel", False)
        async with self._tool_slots(plan, length, most=self._workers.size if parallel else 1) as n:
            ctx = replace(ctx, workers=n)
            try:
                return await asyncio.wait_for(plan.gate.scan(ctx, files), plan.policy.timeout)
            except TimeoutError:
                timeout = plan.policy.timeout
                return Scan(error=f"{plan.gate.tool} did not finish within {timeout:.0f}s")

    # -- judging ------------------------------------------------------------------------------

    def _judge(
        self,
        plan: _Plan,
        version: str,
        scan: Scan,
        duration: float,
        *,
        cached: bool,
        scanned: int,
        notes: list[str],
    ) -> GateResult:
        findings = apply_waivers(
            _with_fingerprints(self.root, scan.findings), self.settings.waivers, self.today
        )
        if scan.error is not None:
            status, message = GateStatus.ERROR, scan.error
        elif scan.not_evaluated is not None:
            status, message = GateStatus.NOT_EVALUATED, scan.not_evaluated
        else:
            blocking = [f for f in findings if f.waived_by is None and f.level >= plan.fail_on]
            status = GateStatus.FAILED if blocking else GateStatus.PASSED
            message = (
                f"{len(blocking)} finding(s) at or above {plan.fail_on.label}"
                if blocking
                else f"{len(findings)} finding(s), none at or above {plan.fail_on.label}"
            )
        return self._result(
            plan,
            status,
            duration,
            message,
            version=version,
            findings=findings,
            raw_report=str(scan.raw_report) if scan.raw_report else None,
            cached=cached,
            scanned=scanned,
            metrics=scan.metrics,
            notes=notes,
        )

    def _result(
        self,
        plan: _Plan,
        status: GateStatus,
        duration: float,
        message: str = "",
        *,
        version: str = "",
        findings: list[Finding] | None = None,
        raw_report: str | None = None,
        cached: bool = False,
        scanned: int = 0,
        metrics: dict[str, float] | None = None,
        notes: list[str] | None = None,
    ) -> GateResult:
        return GateResult(
            gate=plan.gate.name,
            tool=plan.gate.tool,
            tool_version=version,
            status=status,
            required=plan.required,
            fail_on=plan.fail_on.label,
            duration_s=round(duration, 4),
            findings=findings or [],
            raw_report=raw_report,
            message=message,
            cached=cached,
            files_scanned=scanned,
            metrics=metrics or {},
            notes=notes or [],
        )

    def _report(self, plans: list[_Plan], results: list[GateResult], took: float) -> GateReport:
        applicable = [r for r in results if r.status is not GateStatus.NOT_APPLICABLE]
        blocking = [r for r in results if r.blocking]
        expired: list[Waiver] = [w for w in self.settings.waivers if w.expired(self.today)]
        selected = self.files is not None
        return GateReport(
            root=str(self.root),
            passed=(selected or bool(applicable)) and not blocking,
            summary=_summary(applicable, blocking, selected=selected),
            results=results,
            duration_s=round(took, 4),
            policy=self.settings.model_dump(mode="json"),
            expired_waivers=[w.model_dump(mode="json") for w in expired],
            assay_version=assay.__version__,
            skipped=_walk_skipped(plans),
            notes=list(self._notes),
        )

    def _emit(self, event: GateEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)


_PYTHON = (".py", ".pyi")


def _skipped(plan: _Plan, inputs: Sequence[str]) -> list[SkippedFile]:
    """The files `plan`'s gate could have read but did not scan: those the walk left out, when
    the gate reads files of their kind (Python or other), and those it leaves out itself."""
    ctx = plan.ctx
    reads_python = any(f.endswith(_PYTHON) for f in inputs)
    reads_other = any(not f.endswith(_PYTHON) for f in inputs)
    walked = [s for s in ctx.skipped if (reads_python if s.path.endswith(_PYTHON) else reads_other)]
    own = getattr(plan.gate, "skipped", None)
    return [*walked, *(own(ctx) if callable(own) else ())]


def _walk_skipped(plans: Sequence[_Plan]) -> list[SkippedFile]:
    """What the walks behind `plans` left out, once each, sorted by path."""
    found = {s for p in plans for s in p.ctx.skipped}
    return sorted(found, key=lambda s: (s.path, s.reason))


_WHOLE_PROJECT = "checks the whole project: not run on selected files (--only {gate} runs it)"


class _Contexts:
    """The file lists gates see: the whole project's, and the selection's when there is one.

    Each list is built at most once per run, and the whole project is walked only when a gate
    needs it (no selection, a whole-project gate's cache key, a gate asked for by name).
    """

    def __init__(self, runner: GateRunner) -> None:
        self._runner = runner
        self._base = runner.settings.source.parent.resolve() if runner.settings.source else None
        self._whole: GateContext | None = None
        self._picked: GateContext | None = None

    def _context(self, found: FileSet) -> GateContext:
        files = tuple(found.files)
        py_files = tuple(f for f in files if f.endswith(_PYTHON))
        root = self._runner.root
        return GateContext(
            root=root,
            files=py_files,
            options={},
            report_dir=root,
            all_files=files,
            skipped=tuple(found.skipped),
        )

    def whole(self) -> GateContext:
        if self._whole is None:
            runner = self._runner
            found = collect_files(runner.root, runner.settings.exclude, base=self._base)
            self._whole = self._context(found)
        return self._whole

    def picked(self, files: Sequence[str]) -> GateContext:
        if self._picked is None:
            runner = self._runner
            found = collect_files(
                runner.root, runner.settings.exclude, base=self._base, paths=files
            )
            self._picked = self._context(found)
        return self._picked

    def pick(
        self, gate: Gate, requested: Collection[str]
    ) -> tuple[GateContext, GateContext | None, str | None]:
        """`gate`'s context; the whole project's when it runs on a selection; why it is skipped."""
        files = self._runner.files
        if files is None:
            return self.whole(), None, None
        if gate.per_file:
            return self.picked(files), None, None
        if getattr(gate, "checks_selection", False):
            return self.picked(files), self.whole(), None
        if gate.name in requested:
            return self.whole(), None, None
        return self.picked(files), None, _WHOLE_PROJECT.format(gate=gate.name)


def _summary(applicable: list[GateResult], blocking: list[GateResult], *, selected: bool) -> str:
    if not applicable:
        return "nothing to check in the selected files" if selected else "no gate applies"
    if blocking:
        return "failed: " + ", ".join(f"{r.gate} ({r.status})" for r in blocking)
    return f"passed: {len(applicable)} gate(s) evaluated"


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _merged(scans: Sequence[Scan], report_dir: Path) -> Scan:
    """The batches' scans as one: the first error alone, as one failed run has it; else their
    findings (the caller puts them in file order), the first not-evaluated reason, their metrics
    summed and the folder of their reports."""
    error = next((s.error for s in scans if s.error is not None), None)
    if error is not None:  # as a single run that failed: the error alone
        return Scan(error=error)
    skipped = next((s.not_evaluated for s in scans if s.not_evaluated is not None), None)
    metrics: dict[str, float] = {}
    for scan in scans:
        for name, value in scan.metrics.items():
            metrics[name] = metrics.get(name, 0.0) + value
    return Scan(
        findings=[f for s in scans for f in s.findings],
        raw_report=report_dir if any(s.raw_report for s in scans) else None,
        not_evaluated=skipped,
        metrics=metrics,
    )


def _with_fingerprints(root: Path, findings: list[Finding]) -> list[Finding]:
    """Fill in missing fingerprints from the text of each finding's line."""
    lines: dict[str, list[str]] = {}
    seen: dict[tuple[str, str, str], int] = {}
    out = []
    for f in findings:
        if f.fingerprint:
            out.append(f)
            continue
        if f.file not in lines:
            try:
                text = (root / f.file).read_text(encoding="utf-8", errors="replace")
                lines[f.file] = text.splitlines()
            except OSError:
                lines[f.file] = []
        file_lines = lines[f.file]
        line_text = file_lines[f.line - 1] if 0 < f.line <= len(file_lines) else f.message
        ident = (f.rule_id, f.file, " ".join(line_text.split()))
        ordinal = seen.get(ident, 0)
        seen[ident] = ordinal + 1
        out.append(f.model_copy(update={"fingerprint": fingerprint(*ident, ordinal)}))
    return out


async def run_gates(root: Path, settings: Settings, gates: Sequence[Gate], **kw: Any) -> GateReport:
    """Convenience wrapper: build a `GateRunner` and run it."""
    return await GateRunner(root, settings, gates, **kw).run()
