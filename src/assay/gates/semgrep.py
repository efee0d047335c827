"""The semgrep gate: assay's bundled, offline rule pack, plus any rules of the project's own.

semgrep runs with metrics, version checks and the registry all off, and only local rule files as
its configuration. Every changed file is scanned in a single invocation, because semgrep's start-up
costs several seconds. The severity of a finding comes from its rule: the pack uses semgrep's
CRITICAL/HIGH/MEDIUM/LOW scale, and legacy ERROR/WARNING/INFO map to high/medium/low as semgrep
documents them. Inline ``# nosemgrep`` comments are ignored unless the policy allows them, because
in assay a finding is accepted by a waiver with a reason, an owner and an expiry date.

semgrep is an extra (``pip install 'assay[semgrep]'``): the gate runs the ``semgrep`` beside the
running interpreter, else the one on PATH, else it is ``error`` saying how to install it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from assay._extras import SEMGREP
from assay.errors import ToolMissingError
from assay.gates._tool import find_tool, relative, run_tool
from assay.gates.base import Confidence, Finding, GateContext, RuleInfo, Scan, SeverityName
from assay.processes import Command, RunResult, build_env, run_blocking

__all__ = ["RULES_DIR", "SemgrepGate", "SemgrepOptions", "bundled_rule_files", "semgrep_version"]

RULES_DIR = Path(__file__).with_name("rules")
"""The bundled rule pack: one YAML file per category."""

_SEVERITY: dict[str, SeverityName] = {
    "CRITICAL": "critical",
    "HIGH": "high",
    "ERROR": "high",
    "MEDIUM": "medium",
    "WARNING": "medium",
    "LOW": "low",
    "INFO": "low",
}
_CWE = re.compile(r"CWE-\d+")
_CONFIDENCE: dict[str, Confidence] = {"LOW": "low", "MEDIUM": "medium", "HIGH": "high"}
_VERSION = re.compile(r"\d+\.\d+\.\d+\S*")
# semgrep validates rules with jsonschema in Python before the scan (~2.5 s of start-up); the
# scan itself still reports a broken rule. The option is marked internal, so a semgrep that lacks
# it is retried without it.
_FAST_START = "--x-rule-validation=none"
# Keep semgrep from phoning home or writing to $HOME even if a flag is dropped.
_ENV = {"SEMGREP_ENABLE_VERSION_CHECK": "0", "SEMGREP_SEND_METRICS": "off"}


def bundled_rule_files() -> list[Path]:
    """The YAML files of the bundled rule pack, sorted."""
    return sorted(p for p in RULES_DIR.iterdir() if p.suffix in (".yaml", ".yml"))


class SemgrepOptions(BaseModel):
    """Options for ``[tool.assay.gates.semgrep]``."""

    model_config = ConfigDict(extra="forbid")

    bundled: bool = True
    """Run assay's bundled rule pack."""
    rules: list[str] = []
    """Extra rule files or folders, relative to the project root."""
    jobs: int = Field(default=0, ge=0)
    """At most this many semgrep workers (``--jobs``); 0: as many as the gate runner lends it
    (the worker slots no other tool is waiting for), or semgrep's own choice without one."""
    timeout: int = Field(default=10, ge=0)
    """Seconds one rule may spend on one file (``--timeout``; 0: no limit). A file that runs out
    is reported as a ``semgrep.timeout`` finding, not silently passed."""
    nosemgrep: bool = False
    """Honour inline ``# nosemgrep`` comments."""

    @model_validator(mode="after")
    def _something_to_run(self) -> SemgrepOptions:
        if not self.bundled and not self.rules:
            raise ValueError("no rules to run: 'bundled' is false and 'rules' is empty")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def pack_digest(self) -> str:
        """Digest of the bundled rules in use, so a changed pack invalidates cached findings."""
        if not self.bundled:
            return ""
        digest = hashlib.sha256()
        for path in bundled_rule_files():
            digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]


class SemgrepGate:
    """semgrep with the bundled rule pack over the changed Python files."""

    name = "semgrep"
    tool = "semgrep"
    cost = 6
    per_file = True
    parallel = True
    """semgrep starts its own workers (``--jobs``): the runner lends it free worker slots rather
    than running it in batches, each of which would pay semgrep's seconds of start-up again."""
    default_fail_on: SeverityName = "medium"
    options_model = SemgrepOptions

    def applies(self, ctx: GateContext) -> bool:
        """Any Python source file."""
        return bool(self.inputs(ctx))

    def version(self) -> str:
        """semgrep's version (see `semgrep_version`)."""
        return semgrep_version(find_tool("semgrep", extra=SEMGREP))

    def config_files(self, ctx: GateContext) -> Sequence[str]:
        """The project's own rule files: editing one invalidates every cached finding."""
        found: list[str] = []
        for entry in ctx.options["rules"]:
            path = ctx.root / entry
            files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
            found += [f.relative_to(ctx.root).as_posix() for f in files]
        return found

    def inputs(self, ctx: GateContext) -> Sequence[str]:
        """Every ``.py`` file (stubs hold no code to scan)."""
        return [f for f in ctx.files if f.endswith(".py")]

    async def scan(self, ctx: GateContext, files: Sequence[str]) -> Scan:
        """Run semgrep once over `files` and parse its JSON report."""
        configs, missing = _configs(ctx.root, ctx.options)
        if missing:
            return Scan(error=f"semgrep rule file not found: {', '.join(missing)}")
        if not files:
            return Scan()
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        proc = await _run_semgrep(ctx, configs, files)
        return _parse(ctx.root, proc, ctx.report_dir / "semgrep.json")


async def _run_semgrep(ctx: GateContext, configs: Sequence[str], files: Sequence[str]) -> RunResult:
    """One semgrep run over `files`, retried without the fast-start flag if semgrep rejects it."""
    env = {
        **_ENV,
        "SEMGREP_SETTINGS_FILE": str(ctx.report_dir / "semgrep-settings.yml"),
        "SEMGREP_LOG_FILE": str(ctx.report_dir / "semgrep.log"),
    }
    options = ctx.options
    if ctx.workers:  # the runner's lent slots bound the workers (the option may lower them)
        options = {**options, "jobs": min(options["jobs"] or ctx.workers, ctx.workers)}
    argv = [*_command(find_tool("semgrep", extra=SEMGREP), configs, options), "--", *files]
    proc = await run_tool([*argv[:2], _FAST_START, *argv[2:]], cwd=ctx.root, env=env)
    if proc.exit_code != 0 and _FAST_START.split("=")[0] in proc.stderr:
        proc = await run_tool(argv, cwd=ctx.root, env=env)  # a semgrep without the option
    return proc


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _parse(root: Path, proc: RunResult, report: Path) -> Scan:
    """Findings from semgrep's JSON; semgrep's own errors make the scan an error."""
    data = _json_object(proc.stdout)
    if data is None:
        return Scan(error=proc.describe_failure())
    report.write_text(proc.stdout, encoding="utf-8")
    errors = [e for e in data.get("errors") or [] if isinstance(e, dict)]
    fatal = [e for e in errors if e.get("level") == "error"]
    if fatal or proc.exit_code not in (0, 1):
        said = "\n".join(_describe_error(e) for e in fatal) or proc.describe_failure()
        return Scan(error=f"semgrep failed: {said}", raw_report=report)
    findings = [_finding(root, item) for item in data.get("results") or []]
    findings += [_incomplete(root, e) for e in errors if _error_path(e)]
    return Scan(findings=findings, raw_report=report)


@functools.cache
def semgrep_version(executable: str) -> str:
    """The version of the semgrep at `executable`, without semgrep's online version check.

    A plain ``semgrep --version`` asks semgrep.dev for the latest release and, offline, hangs for
    well over a minute; with the check off it still takes seconds to start. The semgrep installed
    beside this interpreter is read from its package metadata instead.
    """
    if Path(executable).parent == Path(sys.executable).parent:
        try:
            return importlib.metadata.version("semgrep")
        except importlib.metadata.PackageNotFoundError:
            pass
    argv = [executable, "--version", "--disable-version-check"]
    env = build_env(explicit=_ENV, trusted=True)
    proc = run_blocking(Command(argv, cwd=None, env=env, timeout=120))
    said = (proc.stdout + proc.stderr).strip()
    match = _VERSION.search(said)
    if not proc.ok or match is None:
        raise ToolMissingError(f"'{executable} --version' exited {proc.exit_code}: {said}")
    return match.group(0)


def _configs(root: Path, options: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The ``--config`` paths to pass, and the user's rule paths that do not exist."""
    configs = [str(p) for p in bundled_rule_files()] if options["bundled"] else []
    missing = []
    for entry in options["rules"]:
        path = root / entry
        if path.exists():
            configs.append(str(path))
        else:
            missing.append(entry)
    return configs, missing


def _command(semgrep: str, configs: Sequence[str], options: dict[str, Any]) -> list[str]:
    argv = [
        semgrep, "scan", "--json", "--quiet", "--metrics=off", "--disable-version-check",
        "--no-rewrite-rule-ids", "--no-git-ignore", "--oss-only",
        f"--timeout={options['timeout']}",
    ]  # fmt: skip
    if options["jobs"]:
        argv.append(f"--jobs={options['jobs']}")
    if not options["nosemgrep"]:
        argv.append("--disable-nosem")
    for config in configs:
        argv += ["--config", config]
    return argv


def _finding(root: Path, item: dict[str, Any]) -> Finding:
    extra = item.get("extra") or {}
    start = item.get("start") or {}
    message = " ".join(str(extra.get("message", "")).split())
    metadata = extra.get("metadata") or {}
    cwe = _cwe(metadata)
    rule_id = str(item.get("check_id", "semgrep"))
    return Finding(
        gate="semgrep",
        rule_id=rule_id,
        severity=_SEVERITY.get(str(extra.get("severity", "")).upper(), "info"),
        file=relative(root, str(item.get("path", ""))),
        line=int(start.get("line") or 0),
        column=int(start.get("col") or 0),
        message=f"{message} [{cwe}]" if cwe else message,
        confidence=_CONFIDENCE.get(str(metadata.get("confidence", "")).upper()),
        rule=_rule(rule_id, message, metadata),
    )


def _rule(rule_id: str, message: str, metadata: dict[str, Any]) -> RuleInfo:
    """The rule as its metadata describes it (``shortDescription``, ``cwe``, ``references``,
    ``source``, ``category``), with its message as the description, as semgrep's SARIF has it."""
    cwes = metadata.get("cwe")
    cwe_list = cwes if isinstance(cwes, list) else [cwes] if cwes else []
    references = metadata.get("references")
    links = [str(r) for r in references] if isinstance(references, list) else []
    category = str(metadata.get("category") or "")
    return RuleInfo(
        name=rule_id,
        summary=str(metadata.get("shortDescription") or ""),
        description=message,
        help_uri=str(metadata.get("source") or (links[0] if links else "")),
        tags=(category,) if category and category != "security" else (),
        security=category == "security" or bool(cwe_list),
        cwe=tuple(int(m.group(0)[4:]) for c in cwe_list if (m := _CWE.search(str(c)))),
        references=tuple(links),
    )


def _cwe(metadata: dict[str, Any]) -> str:
    raw = metadata.get("cwe")
    first = raw[0] if isinstance(raw, list) and raw else raw
    match = _CWE.search(str(first or ""))
    return match.group(0) if match else ""


def _error_path(error: dict[str, Any]) -> str:
    if error.get("path"):
        return str(error["path"])
    spans = error.get("spans") or [{}]
    return str(spans[0].get("file") or "")


def _error_type(error: dict[str, Any]) -> str:
    """semgrep's error type: a string, or a list whose head is the name (``["PartialParsing",
    [spans]]``)."""
    kind = error.get("type")
    if isinstance(kind, list) and kind:
        kind = kind[0]
    return str(kind or "error")


def _describe_error(error: dict[str, Any]) -> str:
    text = str(error.get("long_msg") or error.get("message") or error.get("short_msg") or "")
    where = _error_path(error)
    line = ((error.get("spans") or [{}])[0].get("start") or {}).get("line")
    at = f"{where}:{line}: " if where and line else (f"{where}: " if where else "")
    return f"{at}{_error_type(error)}: {text.strip()}"


def _incomplete(root: Path, error: dict[str, Any]) -> Finding:
    """A file semgrep could not fully analyse (timeout, parse error): a finding, not a pass."""
    kind = _error_type(error)
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "-", kind)
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-") or "error"
    line = ((error.get("spans") or [{}])[0].get("start") or {}).get("line") or 0
    detail = " ".join(str(error.get("message") or error.get("long_msg") or kind).split())
    return Finding(
        gate="semgrep",
        rule_id=f"semgrep.{slug}",
        severity="low",
        file=relative(root, _error_path(error)),
        line=int(line),
        message=f"semgrep could not fully analyse this file: {detail}",
    )
