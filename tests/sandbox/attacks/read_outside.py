"""Attack: read files and list folders outside the workspace (argv: host paths)."""

import json
import os
import sys

found = {}
for path in sys.argv[1:]:
    if os.path.isdir(path) or not os.path.exists(path):
        continue
    try:
        with open(path) as fh:
            found[path] = fh.read(200)
    except OSError as exc:
        found[path] = f"refused: {exc.strerror}"
for folder in [p for p in sys.argv[1:] if not os.path.isfile(p)]:
    try:
        found[folder] = f"listed: {os.listdir(folder)[:5]}"
    except OSError as exc:
        found[folder] = f"refused: {exc.strerror}"
print(json.dumps(found))
