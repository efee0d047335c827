"""The one environment builder: what every process assay starts sees.

Untrusted commands (exec steps, services, anything in a sandbox) get `BASE_ENV`, host values
named in an allow-list unless they look like a secret (`SECRET_PATTERNS`), then explicit values;
an explicit secret-looking name is refused. assay's own tools (the gates' linters, run on the
user's machine as the user asked) are ``trusted``: they start from the whole host environment.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from assay.errors import UserError

__all__ = ["BASE_ENV", "SECRET_PATTERNS", "build_env", "is_secret", "search_path"]

BASE_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    # inside a sandbox its own private tmpfs, never the host's /tmp
    "HOME": "/tmp",  # noqa: S108  # nosec B108
    "LANG": "C.UTF-8",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONUNBUFFERED": "1",
}
"""What every untrusted command sees, before the allow-list and explicit values."""

SECRET_PATTERNS: tuple[str, ...] = (
    "*_API_KEY",
    "*_APIKEY",
    "*_TOKEN",
    "*_SECRET",
    "*_SECRET_*",
    "*PASSWORD*",
    "*_CREDENTIALS",
    "AWS_*",
    "ANTHROPIC_*",
    "OPENAI_*",
    "GEMINI_*",
    "GOOGLE_APPLICATION_CREDENTIALS",
)
"""Variable names that never reach an untrusted command, whatever the allow-list says."""


def is_secret(name: str) -> bool:
    """Whether `name` looks like a variable holding a secret (`SECRET_PATTERNS`)."""
    upper = name.upper()
    return any(fnmatch.fnmatchcase(upper, pat) for pat in SECRET_PATTERNS)


def search_path(*first: str | Path) -> str:
    """A ``PATH``: the folders in `first`, then `BASE_ENV`'s."""
    return os.pathsep.join([*(str(p) for p in first), BASE_ENV["PATH"]])


def build_env(
    allow: Sequence[str] = (),
    explicit: Mapping[str, str] | None = None,
    *,
    host: Mapping[str, str] | None = None,
    dependencies: str | None = None,
    home: str | None = None,
    trusted: bool = False,
) -> dict[str, str]:
    """The environment of a process: base values, allowed host values, explicit ones.

    The base is `BASE_ENV` with ``HOME`` set to `home` when given, or, when `trusted`, the
    whole host environment (`host`, default ``os.environ``) and no secret check at all.
    `dependencies`, the service's installed dependency folder as the command sees it, is put on
    ``PYTHONPATH`` after whatever the command set there (``src`` first, so the project's own
    package wins).

    Names in `allow` are copied from the host environment when set, unless they look like a
    secret (`SECRET_PATTERNS`), which are silently dropped. An explicit secret-looking name is a
    `UserError`: assay never hands a provider key to generated code.
    """
    source = os.environ if host is None else host
    if trusted:
        return {**source, **(explicit or {})}
    env = dict(BASE_ENV)
    if home is not None:
        env["HOME"] = home
    for name in allow:
        if name in source and not is_secret(name):
            env[name] = source[name]
    for name, value in (explicit or {}).items():
        if is_secret(name):
            raise UserError(f"refusing to pass '{name}' into a sandbox: it looks like a secret")
        env[name] = value
    if dependencies:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), dependencies) if p)
    return env
