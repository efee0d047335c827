"""One sandbox session per iteration: backends may keep one long-lived container for its commands.

The loop opens a session around an iteration's checks::

    async with sandbox_session():
        ...  # the pytest gate, the held-out service and its exec steps

While it is open, a backend that can (docker) runs each command and the service in one
container it starts on first use and keeps for the session, instead of a fresh container per
command; the session removes what it holds when the block ends, on an error or on cancellation.
Without a session every backend works per command, as before.

The session travels in a context variable, so the gate runner's tasks and threads and the
validator's tasks (created inside the block) find it without being handed it; a backend asks
`current()`. This module knows no backend: it holds whatever a backend registers under a key
(`Session.resource`), each with a blocking ``remove()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import Protocol, TypeVar

__all__ = ["Session", "SessionResource", "current", "sandbox_session", "use"]


class SessionResource(Protocol):
    """What a backend keeps for a session: removed (blocking) when the session ends."""

    def remove(self) -> None:
        """Remove it and everything running in it; never raises."""
        ...


R = TypeVar("R", bound=SessionResource)

_active: ContextVar[Session | None] = ContextVar("assay_sandbox_session", default=None)


class Session:
    """What backends started for one iteration, by key; removed all together by `close`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # the gate's and the validator's threads may race here
        self._held: dict[Hashable, SessionResource] = {}
        self._closed = False

    def resource(self, key: Hashable, start: Callable[[], R]) -> R:
        """The resource under `key`, started (blocking, once) by `start` on first use.

        Raises `RuntimeError` once the session is closed: a straggler must not start a
        container nobody will remove.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the sandbox session is closed")
            held = self._held.get(key)
            if held is None:
                held = self._held[key] = start()
            return held  # type: ignore[return-value]

    def close(self) -> None:
        """Remove every resource (blocking); later `resource` calls are refused."""
        with self._lock:
            self._closed = True
            held, self._held = list(self._held.values()), {}
        for item in held:
            item.remove()

    def __len__(self) -> int:
        return len(self._held)


def current() -> Session | None:
    """The session open in this context, or None (backends then work per command)."""
    return _active.get()


@contextlib.contextmanager
def use(session: Session) -> Iterator[Session]:
    """Make `session` the current one inside the block (it stays open afterwards): for a
    caller that holds a session across calls, e.g. a sandbox wrapper, or a step runner whose
    steps do not inherit this context."""
    token = _active.set(session)
    try:
        yield session
    finally:
        _active.reset(token)


@contextlib.asynccontextmanager
async def sandbox_session() -> AsyncIterator[Session]:
    """Open a session for the block; what it holds is removed when the block ends, however.

    The removal runs in a thread and is waited for even when the block is cancelled (Ctrl-C,
    SIGTERM, a sibling branch failing): nothing started for the session outlives it.
    """
    session = Session()
    try:
        with use(session):
            yield session
    finally:
        closing = asyncio.ensure_future(asyncio.to_thread(session.close))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await closing
            raise
