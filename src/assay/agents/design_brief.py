"""The design as the roles read it: a compact text form of `Design`, sent in every prompt.

The tester's and the coder's prompts carry the design on every call, so its form is paid for on
every call. JSON pays for its keys, its quoting and the escapes inside every quoted signature
(``\\"``) and repeats ``"path"``/``"purpose"``/``"interface"`` per module. This form keeps every
field a role acts on, in the design's own order, one item per line, and leaves empty fields out
(`benchmarks/prompt_cache.py` prints the sizes of both forms for the recorded designs). The
architect, who returns a whole `Design`, still gets the JSON of the design it amends.
"""

from __future__ import annotations

from assay.messages import Design

__all__ = ["design_brief"]


def _section(title: str, lines: list[str]) -> list[str]:
    return [f"{title}:", *lines] if lines else []


def design_brief(design: Design, *, test_strategy: bool = True) -> str:
    """`design` as compact text: a header of one-line fields, then one section per list. The
    file plan lists only files that are not modules (those are listed with their interface);
    `test_strategy=False` leaves the test strategy out (the coder gets the tests themselves)."""
    out = [f"package: {design.package}"]
    if design.start_command:
        out.append(f"start: {design.start_command}")
    out += ["summary:", *(f"  {line}" for line in design.summary.splitlines() if line.strip())]
    modules = []
    for m in design.modules:
        modules.append(f"- {m.path}: {m.purpose}")
        modules += [f"    {sig}" for sig in m.interface]
    out += _section("modules", modules)
    endpoints = []
    for e in design.endpoints:
        endpoints.append(f"- {e.method} {e.path}" + (f": {e.summary}" if e.summary else ""))
        endpoints += [f"    {status}: {body}" for status, body in e.responses.items()]
    out += _section("endpoints", endpoints)
    out += _section("data model", [f"- {d}" for d in design.data_model])
    out += _section("dependencies", [f"- {d.name}{d.spec}" for d in design.dependencies])
    module_paths = {m.path for m in design.modules}
    others = [f"- {p}" for p in design.file_plan if p not in module_paths]
    out += _section("other files", others)
    out += _section("threat model", [f"- {t}" for t in design.threat_model])
    if design.test_strategy and test_strategy:
        out += ["test strategy:", *(f"  {ln}" for ln in design.test_strategy.splitlines())]
    if design.amendment:
        out += ["amendment:", *(f"  {ln}" for ln in design.amendment.splitlines())]
    out += _section("unmet requirements", [f"- {u}" for u in design.unmet_requirements])
    return "\n".join(out)
