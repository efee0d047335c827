"""The house style as text: `markdown` for the person who reviews it, `brief` for the roles.

Both are rendered from the `HouseStyle` alone, so the committed ``house-style.md`` always says
what the JSON beside it says, and a run's prompt holds exactly what was recorded for it.
"""

from __future__ import annotations

from collections.abc import Sequence

from assay.housestyle.model import Count, HouseStyle

__all__ = ["brief", "markdown"]


def _count_line(c: Count) -> str:
    seen = ", ".join(f"`{w}`" for w in c.examples)
    return f"- `{c.name}`: {c.count} in {c.files} file(s); e.g. {seen}"


def _counts(title: str, counts: Sequence[Count]) -> list[str]:
    if not counts:
        return [f"{title}: none found.", ""]
    return [f"{title}:", "", *(_count_line(c) for c in counts), ""]


def _fence(code: str) -> list[str]:
    ticks = "````" if "```" in code else "```"
    return [f"{ticks}python", code.rstrip("\n"), ticks]


def markdown(style: HouseStyle) -> str:
    """The readable document, every finding with its count and where it was seen."""
    src = style.source
    commit = src.commit or "not a git work tree"
    if src.dirty:
        commit += " (with uncommitted changes)"
    out = [
        "# House style",
        "",
        f"Extracted by `assay extract` from `{src.path}` ({src.python_files} Python files; "
        f"commit {commit}; content sha256 `{src.digest}`). Schema version "
        f"{style.schema_version}. Rendered from the JSON beside it: review that file, edit its "
        "`notes` to add rules in words, and render again with `assay extract --render`.",
        "",
    ]
    out += [f"Not analysed: {s}" for s in src.skipped] + ([""] if src.skipped else [])
    lay = style.layout
    out += ["## Layout", "", f"Package layout: **{lay.package_layout}** "
            f"(packages: {', '.join(lay.packages) or 'none'}); tests in "
            f"{', '.join(f'`{d}`' for d in lay.test_dirs) or 'no folder'}.", ""]  # fmt: skip
    out += _counts("Module names", lay.module_naming)
    out += _counts("Test files", lay.test_file_naming)
    fw = style.frameworks
    out += ["## Frameworks", "", f"Web framework: **{fw.web or 'none found'}**.", ""]
    out += _counts("Web framework imports (files importing it)", fw.web_imports)
    out += _counts("Libraries (files importing it)", fw.libraries)
    out += [f"Declared dependencies: {', '.join(fw.declared) or 'none found'}.", ""]
    err = style.errors
    out += ["## Error handling", ""]
    if err.exception_classes:
        out += ["Exception classes defined:", ""]
        out += [f"- `{c.name}({', '.join(c.bases)})` at `{c.where}`" for c in err.exception_classes]
        out += [""]
    else:
        out += ["Exception classes defined: none.", ""]
    out += _counts("Raised (by exception)", err.raised)
    out += _counts("HTTP errors returned by", err.http_errors)
    log = style.logging
    out += ["## Logging", "", f"Style: **{log.style}**.", ""]
    out += _counts("Usage", log.usage)
    out += _counts("Logger naming", log.logger_naming)
    out += _counts("Calls by level", log.levels)
    ts = style.tests
    out += [
        "## Tests",
        "",
        f"Framework: **{ts.framework}**, {ts.test_functions} test functions.",
        "",
    ]
    out += _counts("Evidence", ts.usage)
    out += _counts("Fixtures", ts.fixtures)
    out += _counts("Parametrized", [ts.parametrize] if ts.parametrize else [])
    out += _counts("Naming", ts.naming)
    out += ["## Snippets", ""]
    for snip in style.snippets:
        article = "An" if snip.kind[0] in "aeiou" else "A"
        out += [f"{article} {snip.kind}, `{snip.where}`:", "", *_fence(snip.code), ""]
    if not style.snippets:
        out += ["None found.", ""]
    out += ["## Notes", ""]
    out += [f"- {n}" for n in style.notes] or ["None yet."]
    return "\n".join(out).rstrip("\n") + "\n"


def _top(counts: Sequence[Count], n: int = 4) -> str:
    return ", ".join(f"{c.name} ({c.count})" for c in counts[:n]) or "none"


def brief(style: HouseStyle) -> str:
    """What a role is told: the conventions to follow, in a few lines, then the snippets. Fixed
    for a run, so it belongs to the stable opening of every prompt."""
    lay, fw, err, log, ts = style.layout, style.frameworks, style.errors, style.logging, style.tests
    classes = ", ".join(f"{c.name}({', '.join(c.bases)})" for c in err.exception_classes[:6])
    naming = log.logger_naming[0].name if log.logger_naming else "none seen"
    fixtures = _top(ts.fixtures, 3)
    lines = [
        "Follow the team's house style, learnt from its own codebase (counts are occurrences "
        "there). It does not override the spec, the design or the gates.",
        f"- layout: {lay.package_layout} layout; tests in {', '.join(lay.test_dirs) or '-'}; "
        f"module names: {_top(lay.module_naming, 2)}; test files: {_top(lay.test_file_naming, 2)}",
        f"- web framework: {fw.web or 'none'}; libraries: {_top(fw.libraries, 6)}",
        f"- errors: own exception classes: {classes or 'none'}; HTTP errors via: "
        f"{_top(err.http_errors)}; raised most: {_top(err.raised)}",
        f"- logging: {log.style}; loggers from {naming}; levels: {_top(log.levels)}",
        f"- tests: {ts.framework}; fixtures: {fixtures}; parametrize: "
        f"{ts.parametrize.count if ts.parametrize else 0}; naming: {_top(ts.naming, 2)}",
    ]
    lines += [f"- note: {n}" for n in style.notes]
    for snip in style.snippets:
        lines += ["", f"Example {snip.kind} ({snip.where}):", *_fence(snip.code)]
    return "<house-style>\n" + "\n".join(lines) + "\n</house-style>"
