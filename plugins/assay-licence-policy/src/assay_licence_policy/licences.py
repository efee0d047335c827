"""Reading a distribution's licence, and judging an SPDX expression against a policy."""

from __future__ import annotations

import fnmatch
import re
from importlib.metadata import PackageMetadata
from typing import Literal

from packaging.licenses import InvalidLicenseExpression, canonicalize_license_expression

__all__ = ["Verdict", "judge", "licence_of"]

# The trove classifiers in common use, mapped to SPDX ids.
_CLASSIFIERS = {
    "License :: OSI Approved :: MIT License": "MIT",
    "License :: OSI Approved :: MIT No Attribution License (MIT-0)": "MIT-0",
    "License :: OSI Approved :: BSD License": "BSD-3-Clause",
    "License :: OSI Approved :: Apache Software License": "Apache-2.0",
    "License :: OSI Approved :: ISC License (ISCL)": "ISC",
    "License :: OSI Approved :: Python Software Foundation License": "PSF-2.0",
    "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "License :: OSI Approved :: GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)": (
        "GPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "License :: OSI Approved :: GNU General Public License v3 or later (GPLv3+)": (
        "GPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v2 or later (LGPLv2+)": (
        "LGPL-2.0-or-later"
    ),
    "License :: OSI Approved :: GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "License :: OSI Approved :: GNU Lesser General Public License v3 or later (LGPLv3+)": (
        "LGPL-3.0-or-later"
    ),
    "License :: OSI Approved :: GNU Affero General Public License v3": "AGPL-3.0-only",
    "License :: OSI Approved :: GNU Affero General Public License v3 or later (AGPLv3+)": (
        "AGPL-3.0-or-later"
    ),
    "License :: OSI Approved :: The Unlicense (Unlicense)": "Unlicense",
    "License :: OSI Approved :: zlib/libpng License": "Zlib",
    "License :: OSI Approved :: Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "License :: CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}

# Free-text `License:` values seen in the wild that are not SPDX ids themselves.
_FREE_TEXT = {
    "apache 2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "bsd": "BSD-3-Clause",
    "bsd license": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "mit license": "MIT",
    "the mit license": "MIT",
    "psf": "PSF-2.0",
    "psf license": "PSF-2.0",
}

Verdict = Literal["ok", "denied", "not-allowed"]


def licence_of(metadata: PackageMetadata) -> str | None:
    """The distribution's licence as an SPDX expression, or None when it cannot be told."""
    expression = _field(metadata, "License-Expression")
    if expression:
        return _canonical(expression) or expression.strip()
    classifiers = metadata.get_all("Classifier") or []
    ids = sorted({_CLASSIFIERS[c] for c in classifiers if c in _CLASSIFIERS})
    if ids:
        return " OR ".join(ids)
    text = (_field(metadata, "License") or "").strip()
    if not text or len(text) > 80 or "\n" in text:
        return None  # empty, or the whole licence text pasted in
    return _FREE_TEXT.get(text.lower()) or _canonical(text)


def _field(metadata: PackageMetadata, key: str) -> str | None:
    values = metadata.get_all(key)
    return str(values[0]) if values else None


def _canonical(text: str) -> str | None:
    try:
        return str(canonicalize_license_expression(text))
    except InvalidLicenseExpression:
        return None


_TOKEN = re.compile(r"\(|\)|[^\s()]+")


def judge(expression: str, *, allow: list[str], deny: list[str]) -> Verdict:
    """Whether `expression` is acceptable: OR needs one acceptable side, AND needs both.

    `allow` and `deny` hold globs over SPDX ids (``GPL-*``); an empty `allow` allows every id
    not denied. ``X WITH exception`` is judged as ``X``.
    """
    tokens = _TOKEN.findall(expression)
    verdict, rest = _or(tokens, allow, deny)
    if rest:
        raise ValueError(f"cannot parse licence expression {expression!r}")
    return verdict


_RANK: dict[Verdict, int] = {"ok": 0, "not-allowed": 1, "denied": 2}


def _or(tokens: list[str], allow: list[str], deny: list[str]) -> tuple[Verdict, list[str]]:
    verdict, tokens = _and(tokens, allow, deny)
    while tokens and tokens[0].upper() == "OR":
        other, tokens = _and(tokens[1:], allow, deny)
        verdict = min(verdict, other, key=_RANK.__getitem__)
    return verdict, tokens


def _and(tokens: list[str], allow: list[str], deny: list[str]) -> tuple[Verdict, list[str]]:
    verdict, tokens = _atom(tokens, allow, deny)
    while tokens and tokens[0].upper() == "AND":
        other, tokens = _atom(tokens[1:], allow, deny)
        verdict = max(verdict, other, key=_RANK.__getitem__)
    return verdict, tokens


def _atom(tokens: list[str], allow: list[str], deny: list[str]) -> tuple[Verdict, list[str]]:
    if not tokens:
        raise ValueError("licence expression ends too early")
    if tokens[0] == "(":
        verdict, rest = _or(tokens[1:], allow, deny)
        if not rest or rest[0] != ")":
            raise ValueError("unbalanced parentheses in licence expression")
        return verdict, rest[1:]
    licence, rest = tokens[0], tokens[1:]
    if len(rest) >= 2 and rest[0].upper() == "WITH":
        rest = rest[2:]
    if any(fnmatch.fnmatchcase(licence, pattern) for pattern in deny):
        return "denied", rest
    if allow and not any(fnmatch.fnmatchcase(licence, pattern) for pattern in allow):
        return "not-allowed", rest
    return "ok", rest
