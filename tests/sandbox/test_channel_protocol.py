"""The host's end of the command channel against a scripted server (no container engine): one
connection from the expected pid only, and a server that dies or speaks out of turn leaves
every command under way with an error, never an exit code."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from assay.errors import SandboxError
from assay.processes import Capped
from assay.sandbox._channel import ChannelDead, CommandChannel, Listener, accept_server
from assay.sandbox._session_init import EXIT, EXIT_CODE, HEADER, OUT, RUN
from assay.sandbox._socket_path import SocketPath


@pytest.fixture
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="assay-ctl-test-") as name:  # TMPDIR: may be deep
        yield Path(name)


def _connect(listener: Listener) -> socket.socket:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    address = SocketPath(listener.path)
    try:
        client.connect(address.path)
    except OSError:
        client.close()
        raise
    finally:
        address.close()
    return client


def test_the_listener_takes_one_connection_from_the_servers_pid_then_is_gone(
    folder: Path,
) -> None:
    listener = Listener(folder, os.getuid(), os.getgid())
    client = _connect(listener)
    channel = accept_server(listener, os.getpid, timeout=5)
    try:
        assert list(folder.iterdir()) == []  # unlinked: nobody connects after it
        with pytest.raises(OSError):
            _connect(listener)
    finally:
        channel.close()
        client.close()


def test_the_listener_binds_in_a_folder_deeper_than_a_socket_path_may_be(folder: Path) -> None:
    deep = folder / ("d" * 120)  # a deep TMPDIR: the socket's own path exceeds sun_path
    deep.mkdir()
    listener = Listener(deep, os.getuid(), os.getgid())
    assert len(os.fsencode(listener.path)) > 107
    client = _connect(listener)
    channel = accept_server(listener, os.getpid, timeout=5)
    try:
        assert list(deep.iterdir()) == []
    finally:
        channel.close()
        client.close()


def test_a_peer_that_is_not_the_server_is_refused(folder: Path) -> None:
    listener = Listener(folder, os.getuid(), os.getgid())
    client = _connect(listener)
    try:
        with pytest.raises(SandboxError, match="refused a command channel"):
            accept_server(listener, lambda: os.getpid() + 1, timeout=5)
    finally:
        client.close()
    assert list(folder.iterdir()) == []


def _pair() -> tuple[CommandChannel, socket.socket]:
    host, server = socket.socketpair()
    return CommandChannel(host), server


def _read_run(server: socket.socket) -> int:
    kind, number, size = HEADER.unpack(server.recv(HEADER.size, socket.MSG_WAITALL))
    server.recv(size, socket.MSG_WAITALL)
    assert kind == RUN
    return int(number)


def test_a_server_that_dies_leaves_the_command_with_an_error_not_a_code() -> None:
    channel, server = _pair()
    out, err = Capped(1024), Capped(1024)
    command = channel.start("a", ["true"], "/workspace", {}, "/tmp/s", None, out, err)  # nosec B108
    number = _read_run(server)
    server.sendall(HEADER.pack(OUT, number, 2) + b"ok")
    server.close()  # dies before its EXIT
    assert command.done.wait(5)
    assert command.code is None and command.error is not None
    with pytest.raises(ChannelDead):
        channel.start("b", ["true"], "/workspace", {}, "/tmp/s", None, out, err)  # nosec B108
    channel.close()


def test_a_frame_for_no_command_kills_the_channel_and_fails_the_others() -> None:
    channel, server = _pair()
    out, err = Capped(1024), Capped(1024)
    command = channel.start("a", ["true"], "/workspace", {}, "/tmp/s", None, out, err)  # nosec B108
    number = _read_run(server)
    server.sendall(HEADER.pack(EXIT, number + 1, 4) + EXIT_CODE.pack(0))
    assert command.done.wait(5)
    assert command.code is None and "unexpected frame" in (command.error or "")
    assert channel.dead is not None
    server.close()
    channel.close()


def test_output_then_exit_complete_the_command() -> None:
    channel, server = _pair()
    out, err = Capped(1024), Capped(1024)
    command = channel.start("a", ["x"], "/workspace", {}, "/tmp/s", b"in", out, err)  # nosec B108
    number = _read_run(server)
    server.sendall(
        HEADER.pack(OUT, number, 3) + b"hi\n" + HEADER.pack(EXIT, number, 4) + EXIT_CODE.pack(3)
    )
    assert command.done.wait(5)
    assert (command.code, command.error, out.text()) == (3, None, "hi\n")
    server.close()
    channel.close()
