"""Attack: fork until something stops us (argv: a marker so the host can find leftovers)."""

import os
import time

children = 0
try:
    for _ in range(100_000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except OSError as exc:
    print(f"fork refused after {children} children: {exc.strerror}", flush=True)
else:
    print(f"ESCAPED: forked {children} children", flush=True)
os._exit(0)
