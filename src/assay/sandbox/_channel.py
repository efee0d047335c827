"""The host's end of a session container's command channel (``_session_init.py serve``).

A `CommandChannel` holds the one Unix stream connection the server made to the host. Commands
are multiplexed on it by number: `start` sends a RUN frame (and the stdin), a reader thread feeds
each command's OUT/ERR frames into its `Capped` buffers and completes it on its EXIT frame.
When the connection ends or carries anything but well-formed frames for commands it knows,
the channel is *dead*: every command under way completes with an error (never with an exit
code), and `start` refuses (`ChannelDead`), so the caller falls back or fails loudly.

How the connection is made so that nothing else can hold it: `accept_server`.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from assay.errors import SandboxError
from assay.processes import Capped
from assay.sandbox._session_init import ERR, EXIT, EXIT_CODE, HEADER, KILL, OUT, RUN, STDIN
from assay.sandbox._socket_path import SocketPath

__all__ = ["ChannelDead", "CommandChannel", "Listener", "accept_server"]

CHUNK = 1 << 16


class ChannelDead(SandboxError):
    """The command server is gone (or spoke out of turn): no result can come from it."""


class _Command:
    def __init__(self, out: Capped, err: Capped) -> None:
        self.out, self.err = out, err
        self.done = threading.Event()
        self.code: int | None = None
        self.error: str | None = None


class CommandChannel:
    """Commands over the server's connection; thread-safe."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        """Guards the state; the reader takes only this one, so it never waits on a send."""
        self._sending = threading.Lock()
        """Serialises sends (taken before `_lock`)."""
        self._commands: dict[int, _Command] = {}
        self._numbers: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._next = 1
        self.dead: str | None = None
        """Why the channel ended, once it has."""
        self._reader = threading.Thread(target=self._read, daemon=True, name="assay-channel")
        self._reader.start()

    def start(
        self,
        exec_id: str,
        argv: Sequence[str],
        cwd: str,
        env: Mapping[str, str],
        scratch: str,
        stdin: bytes | None,
        out: Capped,
        err: Capped,
    ) -> _Command:
        """Run one command; its completion is the returned command's `done`."""
        request = {
            "argv": list(argv),
            "cwd": cwd,
            "env": dict(env),
            "scratch": scratch,
            "exec_id": exec_id,
            "stdin": stdin is not None,
        }
        command = _Command(out, err)
        with (
            self._sending
        ):  # a kill of `exec_id` comes before the RUN (and is sent with it) or after
            with self._lock:
                if self.dead is not None:
                    raise ChannelDead(self.dead)
                number = self._next
                self._next += 1
                self._commands[number] = command
                self._numbers[exec_id] = number
                cancelled = exec_id in self._cancelled
            frames = [_frame(RUN, number, json.dumps(request).encode())]
            if stdin is not None:
                frames += [
                    _frame(STDIN, number, stdin[i : i + CHUNK]) for i in range(0, len(stdin), CHUNK)
                ]
                frames.append(_frame(STDIN, number))
            if cancelled:  # cancelled before it was sent: ended at once
                frames.append(_frame(KILL, number))
            self._send(b"".join(frames))
        return command

    def kill(self, exec_id: str) -> bool:
        """Kill one command's tree; False when the channel never ran `exec_id`."""
        with self._sending:
            with self._lock:
                number = self._numbers.get(exec_id)
                if number is None:
                    self._cancelled.add(exec_id)
                    return False
                running = number in self._commands and self.dead is None
            if running:
                self._send(_frame(KILL, number))
            return True

    def close(self, why: str = "the session was closed") -> None:
        """Close the connection (the server then kills what it runs and exits)."""
        self._fail(why)
        self._reader.join(timeout=5.0)
        with contextlib.suppress(OSError):
            self._sock.close()

    def _send(self, data: bytes) -> None:  # under `_sending`
        try:
            self._sock.sendall(data)
        except OSError as exc:
            self._fail(f"the command server's connection failed ({exc})")

    def _read(self) -> None:
        try:
            while True:
                header = self._recv(HEADER.size)
                if header is None:
                    raise ChannelDead("the command server closed its connection")
                kind, number, size = HEADER.unpack(header)
                payload = self._recv(size) if size else b""
                if payload is None:
                    raise ChannelDead("the command server's connection ended inside a frame")
                self._dispatch(kind, number, payload)
        except (OSError, ChannelDead, struct.error) as exc:
            self._fail(str(exc) or type(exc).__name__)

    def _dispatch(self, kind: int, number: int, payload: bytes) -> None:
        with self._lock:
            command = self._commands.get(number)
        if command is None or kind not in (OUT, ERR, EXIT):
            raise ChannelDead(f"the command server sent an unexpected frame ({kind}, {number})")
        if kind == OUT:
            command.out.feed(payload)
        elif kind == ERR:
            command.err.feed(payload)
        else:
            (command.code,) = EXIT_CODE.unpack(payload)
            with self._lock:
                del self._commands[number]
            command.done.set()

    def _recv(self, size: int) -> bytes | None:
        data = bytearray()
        while len(data) < size:
            chunk = self._sock.recv(min(CHUNK, size - len(data)))
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    def _fail(self, why: str) -> None:
        with self._lock:
            self._fail_locked(why)

    def _fail_locked(self, why: str) -> None:
        if self.dead is None:
            self.dead = why
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        pending, self._commands = list(self._commands.values()), {}
        for command in pending:
            command.error = self.dead
            command.done.set()


def _frame(kind: int, number: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, number, len(payload)) + payload


class Listener:
    """The listening socket the server connects to, in a private folder of its own.

    The folder (mode 0700, owned by the sandbox user so the server may connect) is mounted into
    the session container; the socket is there only until `accept_server` took one connection.
    """

    NAME = "channel.sock"

    def __init__(self, folder: Path, uid: int, gid: int) -> None:
        self.folder = folder
        self.path = folder / self.NAME
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        address = SocketPath(self.path)  # the folder may be deeper than a socket path may be
        try:
            self._sock.bind(address.path)
            os.chown(self.path, uid, gid)
            os.chmod(self.path, 0o600)
            self._sock.listen(1)
        except BaseException:
            self.close()
            raise
        finally:
            address.close()

    def accept(self, timeout: float) -> socket.socket:
        """The first connection (`SandboxError` when none comes in `timeout` seconds)."""
        self._sock.settimeout(timeout)
        try:
            conn, _ = self._sock.accept()
        except TimeoutError:
            raise SandboxError(
                f"the session's command server did not connect in {timeout:.0f} s"
            ) from None
        finally:
            self.close()  # one connection: nobody connects after it
        conn.settimeout(None)
        return conn

    def close(self) -> None:
        """Unlink the socket and close it; twice is harmless."""
        with contextlib.suppress(OSError):
            self.path.unlink()
        with contextlib.suppress(OSError):
            self._sock.close()


def peer(conn: socket.socket) -> tuple[int, int, int]:
    """pid, uid and gid of the process that connected (as this host's pid namespace sees it)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def accept_server(
    listener: Listener, server_pid: Callable[[], int], timeout: float
) -> CommandChannel:
    """Accept the server's connection and refuse any other peer.

    The server is started before any command runs in the container, the listener takes exactly
    one connection and is unlinked and closed at once, and the peer must be the server's process:
    `server_pid` (asked once connected: the engine's pid for the exec) is the pid that connected,
    when both are known here (0: the engine or the kernel cannot tell this pid namespace).
    """
    conn = listener.accept(timeout)
    try:
        pid = peer(conn)[0]
        expected = server_pid()
        if pid and expected and pid != expected:
            raise SandboxError(
                f"refused a command channel from pid {pid}: the session's server is pid {expected}"
            )
    except BaseException:
        conn.close()
        raise
    return CommandChannel(conn)
