"""The judge's verdicts, reused: one question on one observation is paid for once per run.

A verdict is keyed by `Judge.cache_key`, a digest of the judge (class, model, samples,
temperature, instructions) and of the rendered prompt. The prompt leaves out what changes between
identical responses (volatile headers, credentials), so an iteration whose service answers a step
as the last one did gets the same verdict without a model call, and the step says so.

Who holds the cache decides how long it lives: `assay validate` makes one per process (repeated
questions within a run), the factory's `ScenarioValidator` one per run, across iterations, saved
as JSON in the run folder (``cache/judge-verdicts.json``, beside the gate cache) after every new
verdict, so `assay resume` reuses what the interrupted run paid for. It is a cache, not evidence:
a missing or unreadable file starts it empty and only costs calls; each step's `JudgeRecord` in
the ledger's result says which verdict was reused and from where.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

from pydantic import BaseModel, TypeAdapter, ValidationError

from assay.agents.judge import Judge, JudgeRequest, Verdict
from assay.messages import Judgement

__all__ = ["CACHE_FILE", "CachedVerdict", "VerdictCache"]

CACHE_FILE = "judge-verdicts.json"


class CachedVerdict(BaseModel):
    """A verdict as stored: the samples, and where it was first asked."""

    model: str
    temperature: float | None = None
    samples: list[Judgement]
    k: int = 0
    """The judge's k when asked (more than ``len(samples)``: it stopped early); 0 in older files."""
    origin: str = ""
    """Where the judge was asked, e.g. ``iteration 2`` (empty: this process)."""

    def verdict(self) -> Verdict:
        """The stored verdict, as the judge returned it."""
        failures = tuple(dict.fromkeys(f for s in self.samples for f in s.failures))
        return Verdict(tuple(self.samples), self.model, self.temperature, failures, self.k)


_STORE = TypeAdapter(dict[str, CachedVerdict])


class VerdictCache:
    """Verdicts by question; `path` (optional) is where they persist between processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self.origin = ""
        """Recorded with each new verdict, e.g. ``iteration 3``; set by the holder."""
        self._entries: dict[str, CachedVerdict] = self._load(path)
        self._pending: dict[str, asyncio.Task[Verdict]] = {}

    @staticmethod
    def _load(path: Path | None) -> dict[str, CachedVerdict]:
        if path is None or not path.is_file():
            return {}
        try:
            return _STORE.validate_json(path.read_bytes())
        except (OSError, ValidationError):
            return {}  # a damaged cache costs judge calls, never a wrong verdict

    def __len__(self) -> int:
        return len(self._entries)

    async def verdict(self, judge: Judge, request: JudgeRequest) -> tuple[Verdict, str, str | None]:
        """The verdict on `request`, its key, and where it was reused from (None: asked now).

        The same question asked twice at once (scenarios run concurrently) is asked once.
        """
        key = judge.cache_key(request)
        known = self._entries.get(key)
        if known is not None:
            return known.verdict(), key, known.origin or "this run"
        pending = self._pending.get(key)
        if pending is not None:
            return await asyncio.shield(pending), key, self.origin or "this run"
        task = asyncio.ensure_future(judge.judge(request))
        self._pending[key] = task
        try:
            verdict = await task
        finally:
            del self._pending[key]
        self._entries[key] = CachedVerdict(
            model=verdict.model,
            temperature=verdict.temperature,
            samples=list(verdict.samples),
            k=verdict.k,
            origin=self.origin,
        )
        self._save()
        return verdict, key, None

    def _save(self) -> None:
        """Write the whole cache atomically (a crash leaves the old file or the new one)."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".verdicts-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(_STORE.dump_json(self._entries, indent=1))
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
