"""`Capped`: the output of a process, kept up to a limit as its beginning and its end."""

from __future__ import annotations

__all__ = ["Capped"]


class Capped:
    """Keeps at most `limit` bytes of a stream: its beginning and its end, and whether bytes in
    between were dropped. A failing service's last lines (the traceback) are what matter most,
    and a head-only cap lost them behind a chatty start."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._head_limit = limit // 2
        self._tail_limit = limit - self._head_limit
        self.head = bytearray()
        self.tail = bytearray()
        self.dropped = 0
        """Bytes between the head and the tail that were not kept."""

    @property
    def truncated(self) -> bool:
        """Whether more came than was kept."""
        return self.dropped > 0

    def feed(self, chunk: bytes) -> None:
        """Add a chunk: fill the head, then keep the latest bytes in the tail."""
        room = self._head_limit - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if not chunk:
            return
        self.tail += chunk
        excess = len(self.tail) - self._tail_limit
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    @property
    def data(self) -> bytes:
        """The kept bytes, head then tail (without the marker `text` adds)."""
        return bytes(self.head + self.tail)

    def text(self) -> str:
        """The kept bytes decoded leniently, with a line saying how much was left out between."""
        head = self.head.decode(errors="replace")
        if not self.dropped:
            return head + self.tail.decode(errors="replace")
        tail = self.tail.decode(errors="replace")
        return f"{head}\n[... {self.dropped} bytes of output not kept ...]\n{tail}"
