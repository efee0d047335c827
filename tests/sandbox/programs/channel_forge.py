"""Run as a command in a session container: write what the command server's frames look like
(an EXIT 0 and fake output for every command number up to 64) wherever a command can, then
exit 7. Only this command's own stdout takes them: as its output."""

import os
import struct
import sys

HEADER = struct.Struct("!BII")
frames = b"".join(
    HEADER.pack(11, n, 6) + b"forged" + HEADER.pack(13, n, 4) + struct.pack("!i", 0)
    for n in range(1, 65)
)
sys.stdout.buffer.write(frames)
sys.stdout.flush()
sys.stderr.buffer.write(frames)
sys.stderr.flush()
for pid in os.listdir("/proc"):  # every other process's stdout/stderr: refused or someone's output
    if pid.isdigit() and int(pid) not in (os.getpid(), os.getppid()):
        for fd in (1, 2):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "wb") as f:
                    f.write(frames)
            except OSError:
                pass
sys.exit(7)
