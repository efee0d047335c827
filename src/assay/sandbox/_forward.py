"""Runs inside a sandbox: start a service, and bridge a Unix socket to its loopback port.

Usage: python3 _forward.py SOCKET PORT -- ARGV...

The service sees only its own network namespace, so it listens on 127.0.0.1:PORT where nothing
outside can reach it. This script accepts connections on SOCKET (in a folder the host also
mounts) and relays each one to that port. It exits with the service's exit status. Standard
library only: it runs under whatever python3 the sandbox has.
"""

import asyncio
import os
import signal
import sys


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _serve(sock_path: str, port: int, argv: list[str]) -> int:
    child = await asyncio.create_subprocess_exec(*argv)

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            cw.close()
            return
        await asyncio.gather(_relay(cr, sw), _relay(sr, cw))
        sw.close()
        cw.close()

    tmp = sock_path + ".tmp"
    server = await asyncio.start_unix_server(handle, path=tmp)
    os.chmod(tmp, 0o600)
    os.rename(tmp, sock_path)  # appears only once it accepts
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, child.terminate)
    code = await child.wait()
    server.close()
    return code if code >= 0 else 128 - code


def main() -> int:
    sock_path, port, sep, *argv = sys.argv[1:]
    if sep != "--" or not argv:
        print("usage: _forward.py SOCKET PORT -- ARGV...", file=sys.stderr)
        return 2
    return asyncio.run(_serve(sock_path, int(port), argv))


if __name__ == "__main__":
    sys.exit(main())
