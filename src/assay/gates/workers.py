"""Worker slots for one gate run, and the batches a per-file tool's files are split into.

A gate run has a fixed number of slots (the ``jobs`` setting, else the CPU count), and every scan a
gate starts holds one, so the tools never ask for more cores than there are. A tool
with workers of its own (semgrep's ``--jobs``) holds one slot per worker it may start.

Waiting jobs are served highest priority first; the runner passes each job's expected length, so
the longest starts first and the short ones fill in behind it (longest-processing-time
scheduling). Equal priorities are served in the order they asked.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

__all__ = ["Workers", "batches"]


@dataclass(order=True, slots=True)
class _Waiter:
    rank: tuple[float, int]
    most: int = field(compare=False)
    granted: asyncio.Future[int] = field(compare=False)


class Workers:
    """`size` slots shared by every tool process of one gate run."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._free = self.size
        self._waiting: list[_Waiter] = []
        self._order = itertools.count()

    @asynccontextmanager
    async def hold(self, priority: float = 0.0, *, most: int = 1) -> AsyncIterator[int]:
        """Wait for a free slot, then hold it (and up to `most` in all, taking only slots no
        other waiting job claims); yields how many are held."""
        taken = await self._take(priority, max(1, min(most, self.size)))
        try:
            yield taken
        finally:
            self._free += taken
            self._grant()

    async def _take(self, priority: float, most: int) -> int:
        loop = asyncio.get_running_loop()
        waiter = _Waiter((-priority, next(self._order)), most, loop.create_future())
        heapq.heappush(self._waiting, waiter)
        self._grant()
        try:
            return await waiter.granted
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self._free += waiter.granted.result()  # granted, then cancelled: give it back
                self._grant()
            raise

    def _grant(self) -> None:
        """Hand the free slots to the waiting jobs, highest priority first."""
        while self._free and self._waiting:
            waiter = heapq.heappop(self._waiting)
            if waiter.granted.done():  # cancelled while it waited
                continue
            others = sum(1 for w in self._waiting if not w.granted.done())
            taken = max(1, min(waiter.most, self._free - others))
            self._free -= taken
            waiter.granted.set_result(taken)


def batches(files: Sequence[str], weight: Mapping[str, int], parts: int) -> list[list[str]]:
    """`files` split into at most `parts` batches of about equal total `weight`.

    The heaviest file goes to the lightest batch, and so on down; each batch keeps the files'
    own order, and the batches are returned heaviest first. Empty batches are dropped.
    """
    parts = max(1, min(parts, len(files)))
    if parts == 1:
        return [list(files)] if files else []
    heap = [(0, i) for i in range(parts)]
    owner: dict[str, int] = {}
    for name in sorted(files, key=lambda f: -weight.get(f, 0)):
        load, i = heapq.heappop(heap)
        owner[name] = i
        heapq.heappush(heap, (load + max(1, weight.get(name, 0)), i))
    loads = {i: total for total, i in heap}
    heaviest = sorted(loads, key=lambda i: -loads[i])
    groups = [[f for f in files if owner[f] == i] for i in heaviest]
    return [g for g in groups if g]
