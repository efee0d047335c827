"""Attack: resolve a DNS name."""

import socket

for name in ("deb.debian.org", "pypi.org", "example.com"):
    try:
        print(f"ESCAPED: {name} -> {socket.getaddrinfo(name, 443)[0][4][0]}")
    except OSError as exc:
        print(f"refused {name}: {exc}")
