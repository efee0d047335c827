"""The dependency-audit gate: pip-audit over the project's declared dependencies.

Declarations are ``requirements*.txt`` files (each passed with ``-r``) or, when there are none, a
``pyproject.toml`` with a ``[project]`` table (pip-audit audits the project path). By default
pip-audit resolves them, including transitive dependencies, in a throw-away virtualenv; with
``no_deps`` only exactly pinned requirements are audited, without pip. A lock (every requirements
file audited pins each requirement with ``==`` and a ``--hash``, as assay's and pip-compile's
do) already lists every transitive component: it is audited as it stands, ``--no-deps
--disable-pip``, whatever ``no_deps`` says (no virtualenv, no pip, no index).

The verdict needs the vulnerability service. When it (or the package index) cannot be reached the
gate reports ``not-evaluated`` with the cause, never ``passed``; pip-audit exits 1 both for that and
for "vulnerabilities found", so the two are told apart by its JSON report and its error output.
The gate is advisory by default (``default_required = False``): an advisory published today should
not break yesterday's build without a human deciding so.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from assay.gates._tool import find_tool, run_tool, tool_version
from assay.gates.base import Finding, GateContext, RuleInfo, Scan, SeverityName, fingerprint
from assay.processes import RunResult

__all__ = [
    "DepAuditGate",
    "DepAuditOptions",
    "is_lock",
    "is_network_failure",
    "not_audited",
]

_REQUIREMENTS = re.compile(r"(^|/)requirements[^/]*\.txt$")

# What pip-audit, requests, urllib3 and pip print when the network is the problem.
_NETWORK = re.compile(
    r"ConnectionError|ConnectTimeout|ReadTimeout|ProxyError|NewConnectionError|"
    r"NameResolutionError|Max retries exceeded|Temporary failure in name resolution|"
    r"Network is unreachable|Connection refused|Could not connect|timed out|"
    r"No matching distribution found|Failed to install packages|internal pip failure",
)


_UNREACHABLE = "no verdict: the package index or vulnerability service was unreachable (offline?): "


class DepAuditOptions(BaseModel):
    """Options for ``[tool.assay.gates.depaudit]``."""

    model_config = ConfigDict(extra="forbid")

    no_deps: bool = False
    """Audit only the declared, exactly pinned requirements, without resolving them with pip."""
    service: Literal["pypi", "osv"] = "pypi"
    """Where pip-audit looks vulnerabilities up."""
    osv_url: str | None = None
    """An OSV-compatible endpoint, e.g. an internal mirror (implies ``service = "osv"``)."""
    socket_timeout: int = Field(default=15, gt=0)
    """Seconds pip-audit waits on one network request."""
    ignore: list[str] = []
    """Vulnerability ids to ignore (prefer waivers, which carry a reason and an expiry)."""


class DepAuditGate:
    """pip-audit over requirements files or pyproject.toml."""

    name = "depaudit"
    tool = "pip-audit"
    executable = "pip-audit"
    distribution = "pip-audit"
    cost = 8
    per_file = False
    default_required = False
    default_fail_on: SeverityName = "low"
    options_model = DepAuditOptions

    def applies(self, ctx: GateContext) -> bool:
        """Only when the project declares dependencies."""
        return bool(self.inputs(ctx))

    def version(self) -> str:
        """pip-audit's version."""
        return tool_version(self.executable, distribution=self.distribution)

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """requirements*.txt files, or else pyproject.toml when it has a [project] table."""
        reqs = [f for f in ctx.all_files if _REQUIREMENTS.search(f)]
        if reqs:
            return reqs
        return ["pyproject.toml"] if _has_project(ctx.root / "pyproject.toml") else []

    def argv(self, ctx: GateContext, files: Sequence[str]) -> list[str]:
        """The pip-audit command line."""
        opts = ctx.options
        argv = [find_tool(self.executable), "-f", "json", "--progress-spinner", "off"]
        argv += ["--desc", "on", "--timeout", str(opts["socket_timeout"])]
        if ctx.tool_cache:
            argv += ["--cache-dir", str(ctx.tool_cache)]
        if opts["service"] == "osv" or opts["osv_url"]:
            argv += ["-s", "osv"]
        if opts["osv_url"]:
            argv += ["--osv-url", opts["osv_url"]]
        if opts["no_deps"] or is_lock(ctx.root, files):
            argv += ["--no-deps", "--disable-pip"]
        for vuln in opts["ignore"]:
            argv += ["--ignore-vuln", vuln]
        if files == ["pyproject.toml"]:
            return [*argv, "."]
        return [*argv, *(x for f in files for x in ("-r", f))]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run pip-audit and report each known vulnerability of each dependency."""
        env = {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_RETRIES": "1", "PIP_NO_INPUT": "1"}
        proc = await run_tool(self.argv(ctx, files), cwd=ctx.root, env=env)
        data = _report(proc)
        if data is None:
            if is_network_failure(proc):
                return Scan(not_evaluated=_UNREACHABLE + _said(proc))
            return Scan(error=proc.describe_failure())
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        report = ctx.report_dir / "pip-audit.json"
        report.write_text(proc.stdout, encoding="utf-8")
        findings = [
            _finding(ctx.root, files, dep, vuln)
            for dep in data.get("dependencies", [])
            for vuln in dep.get("vulns", [])
        ]
        unaudited = not_audited(data)
        if unaudited and not findings:  # "no vulnerabilities" would be a claim about unaudited code
            return Scan(not_evaluated=unaudited, raw_report=report, metrics=_metrics(data))
        return Scan(findings=findings, raw_report=report, metrics=_metrics(data))


_PINNED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?\s*===?\s*[^\s;=<>!~]+")


def is_lock(root: Path, files: Sequence[str]) -> bool:
    """Whether every requirements file in `files` is a lock: each requirement pinned exactly
    and hashed, and nothing pulled in from elsewhere (``-r``, ``-c``, ``-e``)."""
    if not files or files == ["pyproject.toml"]:
        return False
    for file in files:
        try:
            text = (root / file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return False
        # One logical line per requirement: continuations joined, comments dropped.
        logical = re.sub(r"\\\r?\n", " ", text).splitlines()
        entries = [re.sub(r"(^|\s)#.*", "", line).strip() for line in logical]
        entries = [e for e in entries if e]
        if not entries:
            return False
        for entry in entries:
            if entry.startswith("-") or not _PINNED.match(entry) or "--hash=" not in entry:
                return False
    return True


def not_audited(data: dict[str, Any]) -> str | None:
    """Why some dependencies in pip-audit's report were not audited (its ``skip_reason``), or
    None when every one was."""
    deps = [d for d in data.get("dependencies", []) if isinstance(d, dict)]
    skipped = [d for d in deps if d.get("skip_reason")]
    if not skipped:
        return None
    named = "; ".join(f"{d.get('name', '?')}: {d['skip_reason']}" for d in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return f"{len(skipped)} of {len(deps)} dependencies could not be audited ({named}{more})"


def is_network_failure(proc: RunResult) -> bool:
    """Whether a failed pip-audit run failed because the network could not be reached."""
    return proc.exit_code != 0 and bool(_NETWORK.search(proc.stderr + proc.stdout))


def _report(proc: RunResult) -> dict[str, Any] | None:
    """pip-audit's JSON report, or None when it did not produce one."""
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        return None
    return data if isinstance(data, dict) and "dependencies" in data else None


def _said(proc: RunResult) -> str:
    lines = [ln for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
    return lines[-1].strip()[:400] if lines else f"exit {proc.exit_code}"


def _has_project(pyproject: Path) -> bool:
    try:
        with pyproject.open("rb") as fh:
            return isinstance(tomllib.load(fh).get("project"), dict)
    except (OSError, tomllib.TOMLDecodeError):
        return False


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _locate(root: Path, files: Sequence[str], name: str) -> tuple[str, int]:
    """The declaring file and line of dependency `name`, best effort."""
    wanted = _canonical(name)
    token = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
    for file in files:
        try:
            lines = (root / file).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for number, text in enumerate(lines, start=1):
            match = token.search(text.strip().strip("\"'"))
            if match and _canonical(match.group(0)) == wanted:
                return file, number
    return (files[0] if files else ""), 0


def _finding(
    root: Path, files: Sequence[str], dep: dict[str, Any], vuln: dict[str, Any]
) -> Finding:
    name, version = str(dep.get("name", "?")), str(dep.get("version", "?"))
    file, line = _locate(root, files, name)
    fixes = ", ".join(vuln.get("fix_versions") or []) or "none published"
    aliases = ", ".join(vuln.get("aliases") or [])
    summary = " ".join(str(vuln.get("description") or "").split())[:300]
    return Finding(
        gate="depaudit",
        rule_id=str(vuln.get("id", "vulnerability")),
        severity="high",
        file=file,
        line=line,
        message=f"{name} {version}: {summary} (fixed in: {fixes}"
        + (f"; aka {aliases})" if aliases else ")"),
        fingerprint=_fingerprint(name, version, str(vuln.get("id", ""))),
        rule=_rule(vuln),
    )


def _rule(vuln: dict[str, Any]) -> RuleInfo:
    """A vulnerability as a rule: its id, aliases and OSV's page for it (OSV serves every id
    pip-audit reports, PYSEC and GHSA alike)."""
    vuln_id = str(vuln.get("id", "vulnerability"))
    aliases = tuple(str(a) for a in vuln.get("aliases") or [])
    summary = " ".join(str(vuln.get("description") or "").split())
    return RuleInfo(
        name=vuln_id,
        summary=f"Known vulnerability {vuln_id}" + (f" ({', '.join(aliases)})" if aliases else ""),
        description=summary,
        help_uri=f"https://osv.dev/vulnerability/{quote(vuln_id)}",
        tags=("dependency", *aliases),
        security=True,
    )


def _fingerprint(name: str, version: str, vuln_id: str) -> str:
    """Stable per (vulnerability, package, version), wherever the package is declared."""
    return fingerprint(vuln_id, _canonical(name), version)


def _metrics(data: dict[str, Any]) -> dict[str, float]:
    deps = data.get("dependencies", [])
    return {
        "dependencies": float(len(deps)),
        "skipped": float(sum(1 for d in deps if d.get("skip_reason"))),
        "vulnerable": float(sum(1 for d in deps if d.get("vulns"))),
    }
