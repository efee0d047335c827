"""Attack: open a TCP connection to a listener on the host's loopback (argv: port)."""

import socket
import sys

port = int(sys.argv[1])
for host in ("127.0.0.1", "10.0.2.2", "172.17.0.1", "host.containers.internal"):
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"escaped\n")
        print(f"ESCAPED: connected to {host}:{port}")
    except OSError as exc:
        print(f"refused {host}: {exc}")
