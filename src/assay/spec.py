"""Loading a spec: Markdown with an optional YAML front-matter header.

    ---
    name: hello-api
    language: python
    ---
    # Hello API
    ...

The header is optional. The spec's name (the run's and the generated project's) is the front
matter's ``name``, else its first ``#`` heading slugified ("Items REST API" -> ``items-rest-api``),
else the file's stem; never the folder the file happens to sit in (``input/spec.md`` is not a
project called ``input``).
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from assay.errors import UserError
from assay.messages import Spec

__all__ = ["load_spec", "parse_spec", "slugify"]

_FRONT = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.DOTALL)
_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_SLUG_MAX = 64


def slugify(text: str) -> str:
    """`text` as a project name: ASCII letters and digits joined by single hyphens, at most 64
    characters, cut at a hyphen; empty when nothing is left ("Café API!" -> ``cafe-api``)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = "-".join(re.findall(r"[a-z0-9]+", ascii_text.lower()))
    if len(slug) > _SLUG_MAX:
        cut = slug[: _SLUG_MAX + 1]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else slug[:_SLUG_MAX]
    return slug


def load_spec(path: Path) -> Spec:
    """Read and validate the spec at `path`."""
    if not path.is_file():
        raise UserError(f"spec not found: {path}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read spec: {exc}") from None
    return parse_spec(text, source=str(path), default_name=slugify(path.stem) or "service")


def _front_matter(text: str, source: str) -> tuple[dict[str, object], str]:
    """The front matter's keys and the body after it (no front matter: none, and all of it)."""
    match = _FRONT.match(text)
    if not match:
        return {}, text
    try:
        loaded = YAML(typ="safe").load(match.group(1))
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = (mark.line + 2) if mark is not None else 1
        raise UserError(f"{source}:{line}: front matter is not valid YAML") from None
    if loaded is not None and not isinstance(loaded, dict):
        raise UserError(f"{source}:2: front matter must be a mapping of keys to values")
    return dict(loaded or {}), text[match.end() :]


def _check_meta(meta: dict[str, object], source: str) -> None:
    for key, value in meta.items():
        ok = isinstance(value, str | int | float | bool) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        if not ok:
            raise UserError(f"{source}: front matter key {key!r} must be a scalar or a list")


def parse_spec(text: str, *, source: str = "<spec>", default_name: str = "service") -> Spec:
    """Parse spec text; errors name `source` and the line.

    The name is the front matter's ``name``, else the heading's slug, else `default_name`.
    """
    meta, body = _front_matter(text, source)
    if not body.strip():
        raise UserError(f"{source}: spec is empty")
    heading = _HEADING.search(body)
    fallback = (slugify(heading.group(1)) if heading else "") or default_name
    name = str(meta.pop("name", fallback)).strip().lower().replace(" ", "-")
    if not _NAME.match(name):
        raise UserError(f"{source}:1: spec name {name!r} must be lower-case letters, digits, -._")
    _check_meta(meta, source)
    return Spec.model_validate(
        {
            "name": name,
            "title": heading.group(1) if heading else name,
            "body": body.strip() + "\n",
            "meta": meta,
            "source": source,
        }
    )
