"""The per-run dependency folder: installed offline from the wheelhouse, exactly as locked.

``uv pip install --target DIR --offline --no-index --find-links WHEELS --require-hashes
--no-deps -r requirements.lock``: nothing is fetched, every file is checked against the lock's
hashes, and nothing outside the lock is installed. The folder is a plain ``site-packages`` tree,
mounted read-only into the sandbox and put on ``PYTHONPATH`` after ``src``, so the sandbox's own
interpreter (assay's under bwrap, the image's ``python3`` under docker, both the Python version
the lock was resolved for) imports the service's dependencies without a network.

`licences` reads each installed component's licence from its metadata (PEP 639
``License-Expression``, else the ``License`` field, else the trove classifiers).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from dataclasses import dataclass
from email.message import Message
from importlib.metadata import Distribution, distributions
from pathlib import Path

from packaging.utils import canonicalize_name

from assay.deps.lock import (
    LOCK_FILE,
    LOCK_HEADER,
    Lock,
    parse_lock,
    target_python,
    uv_binary,
    uv_env,
)
from assay.deps.wheelhouse import Wheelhouse
from assay.errors import RunError
from assay.processes import Command, run_blocking

__all__ = [
    "ComponentLicence",
    "InstallError",
    "LockedEnvironment",
    "ensure_installed",
    "install",
    "installed_for",
    "licences",
    "site_for",
]


class InstallError(RunError):
    """The offline install from the wheelhouse failed (a hash mismatch, a wheel missing)."""


def install(lock: Lock, wheelhouse: Wheelhouse, dest: Path, *, timeout: float = 600) -> Path:
    """Install the lock into `dest` (which must not exist yet) with no network; returns `dest`."""
    if dest.exists():
        raise InstallError(f"{dest} exists already; a dependency folder is built once")
    version, plat = (lock.python, lock.platform) if lock.python else target_python()
    with tempfile.TemporaryDirectory(prefix="assay-deps-") as scratch:
        links = wheelhouse.links(lock, Path(scratch) / "wheels")
        requirements = Path(scratch) / LOCK_FILE
        requirements.write_text(lock.text, encoding="utf-8")
        staged = dest.with_name(f".{dest.name}.partial")
        args = [
            uv_binary(), "pip", "install", "--target", str(staged), "--offline", "--no-index",
            "--find-links", str(links), "--require-hashes", "--no-deps", "--quiet",
            "--python-version", version, "--python-platform", plat, "--no-progress",
            "--link-mode", "copy", "--compile-bytecode", "-r", str(requirements),
        ]  # fmt: skip
        env = uv_env(UV_CACHE_DIR=str(Path(scratch) / "uv-cache"))
        proc = run_blocking(Command(args, None, env, timeout))
        if proc.timed_out:
            raise InstallError(f"the offline install took longer than {timeout:.0f} s")
        if proc.exit_code != 0:
            tail = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", proc.stderr).split())[-1200:]
            raise InstallError(f"offline install from the wheelhouse failed: {tail}")
        os.replace(staged, dest)
    return dest


def installed_for(workspace: Path) -> Path | None:
    """The dependency folder a run installed for the project in `workspace`, or None.

    A run keeps it beside the workspace (``runs/<id>/deps/site-<lock digest>``), named by the
    lock the workspace holds (``requirements.txt``, written from the accepted design and
    protected from the coder): the gates and the holdout validator mount exactly what was locked.
    """
    lock = workspace / LOCK_FILE
    if not lock.is_file():
        return None
    text = lock.read_text(encoding="utf-8").removeprefix(LOCK_HEADER)
    site = site_for(workspace.parent / "deps", text)
    return site if site.is_dir() else None


def site_for(folder: Path, lock_text: str) -> Path:
    """Where the folder for a lock lives under `folder`: named by the lock's digest, so a lock
    is installed once per run however often it is checked."""
    return folder / f"site-{hashlib.sha256(lock_text.encode()).hexdigest()[:16]}"


@dataclass(frozen=True, slots=True)
class LockedEnvironment:
    """An accepted lock and the folder installed from it (what the sandbox mounts)."""

    text: str
    site: Path

    def components(self) -> list[str]:
        """``name==version`` of every locked component."""
        return [f"{p.name}=={p.version}" for p in parse_lock(self.text).packages]

    @classmethod
    def build(
        cls,
        text: str,
        *,
        python: str,
        platform: str,
        folder: Path,
        wheelhouse: Wheelhouse,
        index: str | None = None,
    ) -> LockedEnvironment:
        """The folder for the lock `text`, installed offline if it is not there yet (a resumed
        run on another machine fetches the locked wheels first)."""
        lock = parse_lock(text, python=python, platform=platform)
        return cls(text, ensure_installed(lock, wheelhouse, folder, index=index))


def ensure_installed(
    lock: Lock, wheelhouse: Wheelhouse, folder: Path, *, index: str | None = None
) -> Path:
    """The folder under `folder` installed from `lock`: the locked wheels fetched into the
    wheelhouse if missing (`DownloadError`), then installed offline once (`InstallError`)."""
    site = site_for(folder, lock.text)
    if not site.is_dir():
        wheelhouse.ensure(lock, index=index)
        install(lock, wheelhouse, site)
    return site


@dataclass(frozen=True, slots=True)
class ComponentLicence:
    """What an installed component says its licence is."""

    name: str
    version: str
    expression: str
    """An SPDX expression or id when one could be read, else the raw text (may be empty)."""
    spdx: tuple[str, ...]
    """The SPDX ids found (empty when the licence could not be identified)."""


# Trove classifiers -> SPDX ids, for components that predate PEP 639.
_CLASSIFIERS = {
    "MIT License": "MIT",
    "BSD License": "BSD-3-Clause",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
}
_TEXT = {
    "mit": "MIT", "mit license": "MIT", "bsd": "BSD-3-Clause", "bsd license": "BSD-3-Clause",
    "bsd-3-clause": "BSD-3-Clause", "bsd 3-clause": "BSD-3-Clause", "bsd-2-clause": "BSD-2-Clause",
    "apache 2.0": "Apache-2.0", "apache-2.0": "Apache-2.0", "apache license 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0", "isc": "ISC", "isc license": "ISC",
    "psf": "PSF-2.0", "mpl-2.0": "MPL-2.0",
}  # fmt: skip
_SPDX_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*")


def licences(site: Path) -> list[ComponentLicence]:
    """The licence of every component installed in `site`, sorted by name."""
    found = [_licence(d) for d in distributions(path=[str(site)])]
    return sorted(found, key=lambda c: c.name)


def _licence(dist: Distribution) -> ComponentLicence:
    meta: Message = dist.metadata  # type: ignore[assignment]
    name, version = canonicalize_name(str(meta["Name"])), str(meta["Version"])
    expression = str(meta.get("License-Expression") or "").strip()
    if expression:
        ids = [t for t in _SPDX_ID.findall(expression) if t.upper() not in ("AND", "OR", "WITH")]
        return ComponentLicence(name, version, expression, tuple(ids))
    text = str(meta.get("License") or "").strip()
    if text and "\n" not in text and text.casefold() in _TEXT:
        spdx = _TEXT[text.casefold()]
        return ComponentLicence(name, version, spdx, (spdx,))
    ids = [
        _CLASSIFIERS[c.split(" :: ")[-1]]
        for c in meta.get_all("Classifier") or []
        if c.startswith("License :: ") and c.split(" :: ")[-1] in _CLASSIFIERS
    ]
    if ids:
        return ComponentLicence(name, version, " OR ".join(ids), tuple(dict.fromkeys(ids)))
    return ComponentLicence(name, version, text.splitlines()[0][:80] if text else "", ())
