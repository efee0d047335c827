"""Attack: leave a daemon running after the command ends (argv: marker)."""

import os
import sys
import time

if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("python3", ["python3", "-c", "import time; time.sleep(60)", sys.argv[1]])
    os._exit(0)
time.sleep(0.3)
print("parent done; daemon left behind", flush=True)
