"""Whether the files a tool read stayed the same while it read them.

The cache stores a tool's findings under the digests its key was built from, taken before the
tool runs. A file saved while the tool runs (an editor, a checkout, a formatter) would otherwise
be stored under the digest of content the tool never read, and every later run would reuse that
result: "passed" for code nobody scanned.

So each file is watched over the scan: its status (device, inode, size, mtime, ctime) is noted
before the tool starts; afterwards it is hashed again and its status read once more. The result
is cached only for files whose fresh digest is the one the key used and whose status did not move
in between. Every write moves ctime, which no program can set back, so a file changed and then
changed back while the tool ran is caught too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from assay.gates.collect import FileHashes

__all__ = ["Watch"]

_Status = tuple[int, int, int, int, int] | None


@dataclass(frozen=True, slots=True)
class Watch:
    """Files under `root` as they were when a scan started."""

    root: Path
    before: Mapping[str, _Status]

    @classmethod
    def start(cls, root: Path, files: Iterable[str]) -> Watch:
        """Note the status of `files` (relative to `root`) now, before the tool runs."""
        return cls(root, {f: _status(root / f) for f in dict.fromkeys(files)})

    def changed(self, digests: FileHashes) -> list[str]:
        """The watched files whose content is no longer `digests[f]`, or that were written at
        all since `start`.

        The fresh digest is read before the status, so an unchanged status proves the content
        stayed what was hashed for the whole time the tool could have read it.
        """
        fresh = FileHashes(self.root)
        return [
            f
            for f, before in self.before.items()
            if fresh[f] != digests[f] or _status(self.root / f) != before
        ]


def _status(path: Path) -> _Status:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
