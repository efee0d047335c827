"""A content-addressed wheelhouse shared by runs: each locked wheel is downloaded once.

Layout under ``$XDG_CACHE_HOME/assay/wheelhouse`` (``~/.cache/assay/wheelhouse``)::

    sha256/<hex[:2]>/<hex>/<file name>.whl     the wheel, stored under its own digest

A wheel is stored only after its digest was computed from its bytes and found among the lock's
hashes, so the store cannot hold a file under a name it does not have. `links` gathers a lock's
wheels into one folder (hard links, else copies) for an installer's ``--find-links``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from assay.deps.lock import Lock, LockedPackage, target_python
from assay.errors import RunError
from assay.processes import Command, build_env, run_blocking

__all__ = ["DownloadError", "Wheelhouse", "default_wheelhouse"]


class DownloadError(RunError):
    """A locked wheel could not be downloaded (no network, no such file on the index)."""


def default_wheelhouse() -> Wheelhouse:
    """The user's shared wheelhouse."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Wheelhouse(Path(cache) / "assay" / "wheelhouse")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Wheelhouse:
    """Wheels by digest; `ensure` fills it for a lock, `links` lays a lock's wheels out flat."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, digest: str) -> Path:
        return self.root / "sha256" / digest[:2] / digest

    def stored(self, package: LockedPackage) -> Path | None:
        """A stored wheel of `package` (any of its locked hashes), if there is one."""
        for digest in package.hashes:
            folder = self._folder(digest)
            wheels = sorted(folder.glob("*.whl")) if folder.is_dir() else []
            if wheels:
                return wheels[0]
        return None

    def missing(self, lock: Lock) -> list[LockedPackage]:
        """The lock's components with no wheel in the store yet."""
        return [p for p in lock.packages if self.stored(p) is None]

    def ensure(self, lock: Lock, *, index: str | None = None, timeout: float = 600) -> int:
        """Download the wheels the store lacks (pip, hashes required); returns how many."""
        todo = self.missing(lock)
        if not todo:
            return 0
        version, plat = (lock.python, lock.platform) if lock.python else target_python()
        machine, _, glibc = plat.partition("-")
        with tempfile.TemporaryDirectory(prefix="assay-wheels-") as scratch:
            wanted = Path(scratch) / "wanted.txt"
            wanted.write_text(
                "".join(
                    f"{p.name}=={p.version} "
                    + " ".join(f"--hash=sha256:{h}" for h in p.hashes)
                    + "\n"
                    for p in todo
                ),
                encoding="utf-8",
            )
            dest = Path(scratch) / "got"
            args = [
                sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--require-hashes", "--only-binary=:all:", "--dest", str(dest),
                "--python-version", version, "--implementation", "cp",
                "--platform", f"{glibc}_{machine}", "--platform", f"manylinux2014_{machine}",
                "--platform", "any", "-r", str(wanted),
            ]  # fmt: skip
            if index:
                args += ["--index-url", index]
            proc = run_blocking(Command(args, None, build_env(trusted=True), timeout))
            if proc.timed_out:
                raise DownloadError(f"pip download took longer than {timeout:.0f} s")
            if proc.exit_code != 0:
                tail = " ".join(proc.stderr.split())[-1200:]
                raise DownloadError(f"pip could not download the locked wheels: {tail}")
            for wheel in sorted(dest.glob("*.whl")):
                self._store(wheel, lock)
        still = self.missing(lock)
        if still:
            names = ", ".join(f"{p.name}=={p.version}" for p in still)
            raise DownloadError(f"no wheel matching the lock's hashes for {names}")
        return len(todo)

    def _store(self, wheel: Path, lock: Lock) -> None:
        digest = _sha256(wheel)
        if not any(digest in p.hashes for p in lock.packages):
            return  # not a file the lock names: never stored
        folder = self._folder(digest)
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / wheel.name
        if not target.exists():
            tmp = folder / f".{wheel.name}.tmp"
            shutil.copyfile(wheel, tmp)
            os.replace(tmp, target)

    def links(self, lock: Lock, dest: Path) -> Path:
        """Put one stored wheel per locked component into `dest` (created); returns `dest`."""
        dest.mkdir(parents=True, exist_ok=True)
        for package in lock.packages:
            wheel = self.stored(package)
            if wheel is None:
                raise DownloadError(f"{package.name}=={package.version} is not in the wheelhouse")
            target = dest / wheel.name
            if target.exists():
                continue
            try:
                os.link(wheel, target)
            except OSError:
                shutil.copyfile(wheel, target)
        return dest
