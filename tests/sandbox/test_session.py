"""The sandbox session itself (no engine needed): what is started in it is removed however the
block ends, and nothing can be started in it afterwards."""

from __future__ import annotations

import asyncio

import pytest

from assay.sandbox.session import Session, current, sandbox_session, use


class Held:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name
        log.append(f"start {name}")

    def remove(self) -> None:
        self.log.append(f"remove {self.name}")


def test_a_key_is_started_once_and_everything_is_removed_on_close() -> None:
    log: list[str] = []
    session = Session()
    one = session.resource("a", lambda: Held(log, "a"))
    assert session.resource("a", lambda: Held(log, "again")) is one
    session.resource("b", lambda: Held(log, "b"))
    session.close()
    assert log == ["start a", "start b", "remove a", "remove b"]
    with pytest.raises(RuntimeError, match="closed"):
        session.resource("c", lambda: Held(log, "c"))
    assert len(session) == 0


def test_use_makes_a_session_current_only_inside_the_block() -> None:
    session = Session()
    assert current() is None
    with use(session):
        assert current() is session
    assert current() is None


async def test_tasks_started_in_the_block_share_its_session() -> None:
    async with sandbox_session() as session:
        seen = await asyncio.gather(asyncio.to_thread(current), asyncio.create_task(_current()))
    assert list(seen) == [session, session]
    assert current() is None


async def _current() -> Session | None:
    return current()


async def test_an_error_or_a_cancellation_still_removes_what_was_started() -> None:
    log: list[str] = []
    with pytest.raises(KeyError):
        async with sandbox_session() as session:
            session.resource("x", lambda: Held(log, "x"))
            raise KeyError("boom")

    async def cancelled() -> None:
        async with sandbox_session() as inner:
            inner.resource("y", lambda: Held(log, "y"))
            await asyncio.sleep(60)

    task = asyncio.create_task(cancelled())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["start x", "remove x", "start y", "remove y"]
