"""Attack: write files outside the workspace (argv: host paths to try)."""

import sys

for path in [*sys.argv[1:], "/usr/assay-escape", "/etc/assay-escape", "/assay-escape"]:
    try:
        with open(path, "w") as fh:
            fh.write("escaped\n")
        print(f"wrote {path}")
    except OSError as exc:
        print(f"refused {path}: {exc.strerror}")
