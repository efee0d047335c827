"""Resolve requirements into a lock pinned by hash, with uv (``uv pip compile --generate-hashes``).

The lock is a requirements file: pip, uv and pip-audit read it, and the generated project's CI
installs from it. It is resolved for the interpreter the sandbox runs (its Python version and a
manylinux platform), with wheels only, so what is installed offline is exactly what was locked.
"""

from __future__ import annotations

import os
import platform
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from assay.processes import TOOL_OUTPUT_BYTES, Command, build_env, run_blocking

__all__ = [
    "LOCK_FILE",
    "LOCK_HEADER",
    "Lock",
    "LockedPackage",
    "ResolutionError",
    "parse_lock",
    "resolve",
    "uv_env",
]

LOCK_FILE = "requirements.txt"
"""Where the lock is written in the generated project (its CI installs it with hashes)."""

LOCK_HEADER = """\
# The service's dependencies, resolved and locked with hashes by assay (uv pip compile
# --generate-hashes) from the design's `dependencies`, checked against the project's dependency
# policy, licences and known vulnerabilities. Install exactly these:
#     pip install --require-hashes -r requirements.txt
"""
"""The comment the lock starts with in the generated project."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
_VIA = re.compile(r"^#\s+(?:via\s+)?(?:-r\s+\S+|([A-Za-z0-9][A-Za-z0-9._-]*))\s*$")


class ResolutionError(Exception):
    """The requirements cannot be resolved (no such distribution, conflicting ranges, no wheel)."""


@dataclass(frozen=True, slots=True)
class LockedPackage:
    """One pinned component: canonical name, exact version, the hashes of its artifacts."""

    name: str
    version: str
    hashes: tuple[str, ...]
    required_by: tuple[str, ...] = ()
    """Canonical names of the components that need it."""
    direct: bool = False
    """Asked for by the design, not only pulled in by another component."""


@dataclass(frozen=True, slots=True)
class Lock:
    """The resolved set and its text (the requirements file as uv wrote it)."""

    packages: tuple[LockedPackage, ...]
    text: str
    python: str = ""
    platform: str = ""
    requested: tuple[str, ...] = field(default=())

    def get(self, name: str) -> LockedPackage | None:
        """The locked component called `name`, if any."""
        wanted = canonicalize_name(name)
        return next((p for p in self.packages if p.name == wanted), None)


def target_python() -> tuple[str, str]:
    """The Python version and platform the sandbox runs: this interpreter's, on manylinux."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return version, f"{platform.machine()}-manylinux_2_28"


def uv_binary() -> str:
    """The uv executable installed with assay (the ``uv`` distribution ships it)."""
    from uv import find_uv_bin  # the package is a thin finder of its bundled binary

    return str(find_uv_bin())


def resolve(
    requirements: Sequence[str],
    *,
    constraints: Sequence[str] = (),
    index: str | None = None,
    timeout: float = 300,
) -> Lock:
    """Resolve `requirements` (PEP 508 strings) with uv into a hashed lock for the sandbox.

    `constraints` narrow versions without adding components (the policy's allowed ranges).
    Raises `ResolutionError` with uv's own explanation when there is no solution.
    """
    version, plat = target_python()
    args = [
        uv_binary(), "pip", "compile", "-", "--generate-hashes", "--no-header", "--quiet",
        "--python-version", version, "--python-platform", plat, "--only-binary", ":all:",
        "--annotation-style", "line", "--no-progress",
    ]  # fmt: skip
    if index or (index := pip_index_url()):
        args += ["--index-url", index]
    with tempfile.TemporaryDirectory(prefix="assay-lock-") as scratch:
        if constraints:
            path = Path(scratch) / "constraints.txt"
            path.write_text("\n".join(constraints) + "\n", encoding="utf-8")
            args += ["--constraints", str(path)]
        stdin = ("\n".join(requirements) + "\n").encode()
        command = Command(args, None, uv_env(), timeout, stdin, output_bytes=TOOL_OUTPUT_BYTES)
        proc = run_blocking(command)
    if proc.timed_out:
        raise ResolutionError(f"uv found no resolution within {timeout:.0f} s")
    if proc.exit_code != 0 or proc.stdout_truncated:
        raise ResolutionError(_explain(proc.stderr))
    asked = {canonicalize_name(Requirement(r).name) for r in requirements}
    packages = tuple(
        LockedPackage(p.name, p.version, p.hashes, p.required_by, p.name in asked)
        for p in parse_lock(proc.stdout).packages
    )
    return Lock(packages, proc.stdout, version, plat, tuple(requirements))


def uv_env(**values: str) -> dict[str, str]:
    """uv's environment: the host's without its ``UV_*`` settings (a uv.toml or ``UV_*``
    variable of the user's must not change what gets locked or installed), then `values`."""
    host = {k: v for k, v in os.environ.items() if not k.startswith("UV_")}
    return build_env(explicit={"UV_NO_CONFIG": "1", **values}, host=host, trusted=True)


def pip_index_url() -> str | None:
    """The index pip is configured to use ($PIP_INDEX_URL, else pip's config), if any."""
    if os.environ.get("PIP_INDEX_URL"):
        return os.environ["PIP_INDEX_URL"]
    argv = [sys.executable, "-m", "pip", "config", "get", "global.index-url"]
    proc = run_blocking(Command(argv, cwd=None, env=build_env(trusted=True), timeout=30))
    value = proc.stdout.strip()
    return value if proc.ok and value else None


def _explain(stderr: str) -> str:
    """uv's explanation without its colour codes and hint boilerplate."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", stderr).strip()
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return " ".join(" ".join(lines).split())[:1500] or "uv could not resolve the dependencies"


def parse_lock(text: str, *, python: str = "", platform: str = "") -> Lock:
    """The components of a hashed requirements file as uv writes it (one ``name==version``
    line, its ``--hash`` lines, then ``# via`` comments), resolved for `python` on
    `platform` (default: the sandbox's, `target_python`)."""
    packages: list[LockedPackage] = []
    name = version = ""
    hashes: list[str] = []
    via: list[str] = []

    def flush() -> None:
        if name:
            packages.append(LockedPackage(name, version, tuple(hashes), tuple(v for v in via if v)))

    for raw in text.splitlines():
        line = raw.strip()
        pin = _PIN.match(line)
        if pin:
            flush()
            name, version = canonicalize_name(pin.group(1)), pin.group(3)
            hashes, via = _HASH.findall(line), []
            via += _inline_via(line)
            continue
        if line.startswith("--hash="):
            hashes += _HASH.findall(line)
        elif line.startswith("#") and name:
            via += _comment_via(line)
    flush()
    if not python:
        python, platform = target_python()
    return Lock(tuple(packages), text, python, platform)


def _inline_via(line: str) -> list[str]:
    """``# via a, b`` after the pin (``--annotation-style line``)."""
    if "# via " not in line:
        return []
    return [_who(part) for part in line.split("# via ", 1)[1].split(",") if part.strip()]


def _comment_via(line: str) -> list[str]:
    body = line.lstrip("#").strip()
    if body.startswith("via "):
        body = body[4:]
    return [_who(part) for part in body.split(",") if part.strip()]


def _who(part: str) -> str:
    """A `via` entry: a component's canonical name, or "" for the input itself (``-r -``)."""
    part = part.strip()
    if part.startswith("-r") or part.startswith("-c"):
        return ""
    return canonicalize_name(part.split()[0])
