"""Where state lives: a database URL, SQLite (the embedded default) or PostgreSQL (a fleet).

``sqlite:///relative/path``, ``sqlite:////absolute/path`` (SQLAlchemy's spelling, which DBOS
uses too) or a bare path name a SQLite file; ``postgresql://`` (also ``postgres://`` and
``postgresql+psycopg://``) names a PostgreSQL database in libpq's URL form. Parsing needs no
driver: ``assay[fleet]`` (psycopg) is imported only by what connects.

A password never belongs in the URL of a committed config file: libpq reads ``PGPASSWORD``,
``~/.pgpass`` and ``PGSERVICEFILE``, so `Database.parse` refuses one unless told otherwise, and
`Database.redacted` is what messages show.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = ["Database"]

_POSTGRES_SCHEMES = frozenset({"postgresql", "postgres", "postgresql+psycopg"})


@dataclass(frozen=True, slots=True)
class Database:
    """A parsed database URL."""

    kind: Literal["sqlite", "postgresql"]
    url: str
    """For PostgreSQL the libpq URL (scheme ``postgresql``); for SQLite ``sqlite:///`` + path."""
    path: Path | None = None
    """The SQLite file (relative paths are relative to the current folder); None for PostgreSQL."""

    @classmethod
    def parse(cls, value: str, *, allow_password: bool = True) -> Database:
        """Parse `value`; ValueError says what is wrong with it.

        With `allow_password` False a password in a PostgreSQL URL is refused (config files).
        """
        text = value.strip()
        if not text:
            raise ValueError("a database URL or SQLite path is needed")
        scheme, sep, rest = text.partition("://")
        if not sep:
            if ":" in text.split("/", 1)[0]:
                raise ValueError(f"{text!r}: use sqlite:///PATH or postgresql://HOST/DB")
            return cls._sqlite(text)
        scheme = scheme.lower()
        if scheme == "sqlite":
            if not rest.startswith("/") or rest in ("/", "//"):
                raise ValueError(
                    f"{text!r}: a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path"
                    " (an in-memory database would not survive the process)"
                )
            return cls._sqlite(rest[1:])
        if scheme in _POSTGRES_SCHEMES:
            return cls._postgres(text, allow_password=allow_password)
        raise ValueError(f"{text!r}: unsupported database {scheme!r} (sqlite or postgresql)")

    @classmethod
    def _sqlite(cls, path: str) -> Database:
        if "?" in path or "#" in path:
            raise ValueError(f"{path!r}: a SQLite path takes no query or fragment")
        return cls("sqlite", f"sqlite:///{path}", Path(path))

    @classmethod
    def _postgres(cls, text: str, *, allow_password: bool) -> Database:
        parts = urlsplit(text)
        if parts.fragment:
            raise ValueError(f"{_redact(parts)!r}: a PostgreSQL URL takes no fragment")
        if "," not in parts.netloc:  # libpq's multi-host form has no single port to check
            try:
                parts.port  # noqa: B018 - urllib checks the port only when it is read
            except ValueError as exc:
                raise ValueError(f"{_redact(parts)!r}: {exc}") from None
        if _has_password(parts) and not allow_password:
            raise ValueError(
                f"{_redact(parts)!r}: keep the password out of the config: libpq reads it from "
                "PGPASSWORD or ~/.pgpass"
            )
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError(f"{_redact(parts)!r}: a PostgreSQL URL names a host")
        # The text as given, only the scheme normalised: urlunsplit would drop an empty host
        # (``postgresql:///db?host=/socket`` became ``postgresql:/db``, which libpq misreads).
        return cls("postgresql", "postgresql" + text[text.index("://") :])

    @property
    def has_password(self) -> bool:
        """Whether the URL carries a password (in its user part or as ``?password=``)."""
        return self.kind == "postgresql" and _has_password(urlsplit(self.url))

    def redacted(self) -> str:
        """The URL with any password replaced by ``***``: what messages and records show."""
        return self.url if self.kind == "sqlite" else _redact(urlsplit(self.url))

    def __str__(self) -> str:
        return self.redacted()


def _has_password(parts: SplitResult) -> bool:
    query = parse_qsl(parts.query, keep_blank_values=True)
    return parts.password is not None or any(key == "password" for key, _ in query)


def _unsplit(parts: SplitResult) -> str:
    """`urlunsplit` that keeps an empty host (``postgresql:///db?host=/socket``)."""
    text = urlunsplit(parts)
    if not parts.netloc and parts.scheme:
        text = f"{parts.scheme}://" + text[len(parts.scheme) + 1 :]
    return text


def _redact(parts: SplitResult) -> str:
    if not _has_password(parts):
        return _unsplit(parts)
    if parts.password is not None:
        user, _, host = parts.netloc.rpartition("@")
        name = user.split(":", 1)[0]
        parts = parts._replace(netloc=f"{name}:***@{host}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(key == "password" for key, _ in query):
        redacted = [(key, "***" if key == "password" else value) for key, value in query]
        parts = parts._replace(query=urlencode(redacted, safe="/*"))
    return _unsplit(parts)
