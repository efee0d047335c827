"""The human-readable report: one self-contained HTML file (inline CSS and SVG, no script)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from assay.evidence.chart import scores_chart
from assay.evidence.summary import ModelCost, RunSummary
from assay.plugins import ReportSection

__all__ = ["render_html"]

TIMELINE_LIMIT = 400
FINDINGS_LIMIT = 300

_CSS = """
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--ok:#15803d;--bad:#b91c1c;--warn:#b45309}
*{box-sizing:border-box}body{font:14px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;
color:var(--fg);margin:0;background:#f9fafb}main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid
var(--line);padding-bottom:4px}section{background:#fff;border:1px solid var(--line);
border-radius:8px;padding:4px 16px 16px;margin-bottom:16px}table{border-collapse:collapse;
width:100%;font-size:13px}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid
var(--line);vertical-align:top}th{background:#f3f4f6}code{font:12px ui-monospace,monospace;
word-break:break-all}.muted{color:var(--muted)}.badge{display:inline-block;padding:1px 8px;
border-radius:10px;font-weight:600;font-size:12px;color:#fff}.ok{background:var(--ok)}
.bad{background:var(--bad)}.warn{background:var(--warn)}.cards{display:flex;gap:12px;
flex-wrap:wrap;margin:12px 0}.card{background:#fff;border:1px solid var(--line);border-radius:8px;
padding:8px 14px;min-width:130px}.card b{display:block;font-size:20px}.chart{width:100%;
max-width:720px;height:auto}.chart .grid{stroke:#e5e7eb}.chart .tick,.chart .legend{font-size:11px;
fill:#374151}
"""

_STATUS_CLASS = {
    "passed": "ok",
    "approve": "ok",
    "converged": "ok",
    "failed": "bad",
    "error": "bad",
    "reject": "bad",
    "not-evaluated": "warn",
    "not-applicable": "warn",
}


def _badge(text: str, cls: str | None = None) -> str:
    return f'<span class="badge {cls or _STATUS_CLASS.get(text, "warn")}">{escape(text)}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], empty: str) -> str:
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="muted">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _e(value: object) -> str:
    return escape(str(value))


def _header(s: RunSummary) -> str:
    release = _badge("releasable", "ok") if s.releasable else _badge("not releasable", "bad")
    total = s.total_cost
    findings = len(s.gate_report.findings) if s.gate_report else 0
    cards = [
        ("outcome", _badge(s.outcome)),
        ("iterations", _e(len(s.iterations))),
        ("ledger events", _e(s.events)),
        ("findings (last)", _e(findings)),
        ("tokens", _e(f"{total.tokens_in + total.tokens_out:,}")),
        ("cost", _e(f"${total.cost_usd:.4f}")),
        ("approvals", _e(sum(a.valid for a in s.approvals))),
    ]
    reasons = "".join(f"<li>{_e(r)}</li>" for r in s.releasable_reasons)
    return (
        f"<h1>assay run {_e(s.run_id)} {release}</h1>"
        + _incomplete(s)
        + f'<p class="muted">{_e(s.spec_title)} · spec <code>{_e(s.spec_digest[:16])}</code> · '
        f"started {_e(s.started)} by {_e(s.user or '?')} · finished {_e(s.finished or '-')} · "
        + "".join(f"trace <code>{_e(t)}</code> · " for t in s.traces)
        + (
            f"config <code>{_e(s.config_file)}</code> (sha256 {_e(s.config_sha256[:16])})"
            if s.config_file
            else "config: defaults"
        )
        + "</p>"
        + '<div class="cards">'
        + "".join(
            f'<div class="card"><span class="muted">{k}</span><b>{v}</b></div>' for k, v in cards
        )
        + "</div>"
        + (f"<p>Stopped: {_e(s.outcome_reason)}</p>" if s.outcome_reason else "")
        + (f"<ul>{reasons}</ul>" if reasons else "")
    )


def _incomplete(s: RunSummary) -> str:
    """The first thing an auditor must see about a run that never finished."""
    sealed = ", ".join(str(seq) for seq in s.sealed_by_report)
    seal = (
        f" Checkpoint {_e(sealed)} was signed by <code>assay report</code> over events the run "
        "had not sealed itself."
        if sealed
        else ""
    )
    if s.complete:
        return f"<p>{seal.strip()}</p>" if seal else ""
    return (
        f"<p>{_badge('incomplete', 'bad')} The run did not finish: it crashed, was killed or is "
        f"still running. Its ledger verifies up to event {_e(s.events)}.{seal}</p>"
    )


def _timeline(s: RunSummary) -> str:
    shown = s.timeline[-TIMELINE_LIMIT:]
    note = (
        f'<p class="muted">Showing the last {len(shown)} of {len(s.timeline)} events; '
        "report.json and ledger.jsonl hold all of them.</p>"
        if len(shown) < len(s.timeline)
        else ""
    )
    rows = [
        (_e(t.seq), _e(t.time), f"<code>{_e(t.kind)}</code>", _e(t.iteration or ""), _e(t.label))
        for t in shown
    ]
    return note + _table(("seq", "time", "kind", "iter", "what"), rows, "No events.")


def _iterations(s: RunSummary) -> str:
    rows = [
        (
            _e(r.iteration),
            ", ".join(f"{_e(k)} {v:.1f}" for k, v in sorted(r.scores.items())),
            " ".join(_badge(st, _STATUS_CLASS.get(st)) + f" {_e(g)}" for g, st in r.gates.items()),
            _e(r.decision),
            _e(r.reason),
        )
        for r in s.iterations
    ]
    return scores_chart(s.iterations) + _table(
        ("iteration", "scores", "gates", "decision", "reason"), rows, "No iterations."
    )


def _gates(s: RunSummary) -> str:
    if s.gate_report is None:
        return '<p class="muted">No gate results were recorded.</p>'
    rows = [
        (
            _e(r.gate),
            _badge(str(r.status)),
            "required" if r.required else "advisory",
            f"{_e(r.tool)} {_e(r.tool_version)}",
            _e(len(r.findings)),
            _e(r.message),
        )
        for r in s.gate_report.results
    ]
    findings = s.gate_report.findings
    frows = [
        (
            _e(f.gate),
            _e(f.severity),
            f"<code>{_e(f.rule_id)}</code>",
            f"<code>{_e(f.file)}:{f.line}</code>",
            _e(f.message),
            _e(f"waived: {f.waived_by}") if f.waived_by else "",
        )
        for f in findings[:FINDINGS_LIMIT]
    ]
    more = len(findings) - FINDINGS_LIMIT
    tail = f'<p class="muted">... and {more} more in findings.sarif.</p>' if more > 0 else ""
    verdict = _badge("passed" if s.gate_report.passed else "failed")
    return (
        f"<p>{verdict} {_e(s.gate_report.summary)}</p>"
        + _table(("gate", "status", "policy", "tool", "findings", "detail"), rows, "No gates.")
        + "<h3>Findings</h3>"
        + _table(("gate", "severity", "rule", "where", "message", ""), frows, "No findings.")
        + tail
    )


def _security(s: RunSummary) -> str:
    parts = []
    for r in s.security_reviews:
        rows = [
            (
                _e(f.get("severity", "")),
                _e(f.get("cwe", "")),
                f"<code>{_e(f.get('file', ''))}:{_e(f.get('line', 0))}</code>",
                _e(f.get("message", "")),
            )
            for f in r.findings
        ]
        parts.append(
            f"<p>iteration {_e(r.iteration)}: {_badge(r.verdict)} {_e(r.summary)}</p>"
            + _table(("severity", "CWE", "where", "finding"), rows, "No findings.")
        )
    return "".join(parts) or '<p class="muted">No security review was recorded.</p>'


def _scenarios(s: RunSummary) -> str:
    rows = [
        (
            _e(x.id),
            _e("" if x.tier is None else x.tier),
            _badge("passed" if x.passed else "failed"),
            _e("" if x.score is None else f"{x.score:.1f}"),
            _e(x.detail),
        )
        for x in s.scenarios
    ]
    score = "" if s.scenario_score is None else f"<p>Satisfaction {s.scenario_score:.1f} / 100</p>"
    return (
        score
        + _table(("scenario", "tier", "result", "score", "detail"), rows, "No scenario results.")
        + _strata(s)
    )


def _strata(s: RunSummary) -> str:
    """How tiers and regressions governed convergence (``--stratified``,
    ``--block-on-regression``)."""
    policy = (
        f"<p>Stratified: {'on' if s.stratified else 'off'}"
        + (" (tiers converged in order; higher tiers not run until the lower passed)"
           if s.stratified else "")
        + f" · block on regression: {'on' if s.block_on_regression else 'off'}</p>"
    )  # fmt: skip
    tiers = [(_e(r.iteration), f"tier {_e(r.tier)}") for r in s.iterations if r.tier is not None]
    advances = [
        (_e(a.iteration), _e(a.from_tier), _e(a.to_tier), _e(f"{a.satisfaction:.1f}"))
        for a in s.tier_advances
    ]
    regressions = [(_e(r.iteration), _e(r.scenario), _e(r.passed_in)) for r in s.regressions]
    parts = [policy]
    if s.stratified:
        parts += [
            "<h3>Tier per iteration</h3>",
            _table(("iteration", "tier (tiers <= it counted)"), tiers, "No iteration decided."),
            "<h3>Tier advances</h3>",
            _table(
                ("iteration", "from tier", "to tier", "satisfaction"), advances,
                "No tier advanced.",
            ),
        ]  # fmt: skip
    if s.block_on_regression or regressions:
        parts += [
            "<h3>Regressions</h3>",
            _table(
                ("iteration", "scenario", "passed in iteration"), regressions,
                "No scenario regressed.",
            ),
        ]  # fmt: skip
    return "".join(parts)


def _cost_rows(costs: list[ModelCost]) -> list[tuple[str, ...]]:
    return [
        (
            _e(c.model),
            _e(c.requests),
            _e(f"{c.tokens_in:,}"),
            _e(f"{c.cache_read_tokens:,}"),
            _e(f"{c.tokens_out:,}"),
            _e(f"${c.cost_usd:.4f}"),
            _e(f"${c.saved_usd:.4f}"),
            _e(f"{c.stable_share:.0%}"),
        )
        for c in costs
    ]


def _costs(s: RunSummary) -> str:
    heads = (
        "tokens in",
        "of which cached",
        "tokens out",
        "cost",
        "saved by cache",
        "stable prefix",
    )
    by_model = _table(
        ("model", "responses", *heads), _cost_rows([*s.costs, s.total_cost]), "No model use."
    )
    if not s.role_costs:
        return by_model
    by_role = _table(("role", "responses", *heads), _cost_rows(s.role_costs), "")
    return by_model + "<h3>By role</h3>" + by_role


def _dependencies(s: RunSummary) -> str:
    d = s.dependencies
    if d is None:
        return "<p>The design names no third-party dependency.</p>"
    audit = (
        f"<p>{_badge('not audited', 'bad')} {_e(d.not_audited)}</p>"
        if d.not_audited
        else "<p>pip-audit found no known vulnerability in any locked component.</p>"
        if d.components
        else ""
    )
    rows = [
        (
            _e(c.name), _e(c.version), "direct" if c.direct else _e(", ".join(c.required_by)),
            _e(c.licence or "?"), _e(c.hashes),
        )
        for c in d.components
    ]  # fmt: skip
    refused = "".join(f"<li>{_e(r)}</li>" for r in d.refusals)
    lock = f"<p>Lock <code>requirements.txt</code>, sha256 <code>{_e(d.lock_sha256[:16])}</code>: "
    return (
        (lock + f"{len(d.components)} components pinned by hash.</p>" if d.components else "")
        + audit
        + _table(("component", "version", "needed by", "licence", "hashes"), rows, "None locked.")
        + (f"<p>Sent back to the architect:</p><ul>{refused}</ul>" if refused else "")
    )


def _approvals(s: RunSummary) -> str:
    policy = (
        f"Policy: {s.min_approvals} approval(s) required before release."
        if s.approval_required
        else "Policy: approval is not required."
    )
    rows = [
        (
            _e(a.time),
            _e(a.approver),
            _e(a.reason) + ("" if a.converged else " " + _badge("run had not converged", "bad")),
            _e(a.os_user),
            f"<code>{_e(a.keyid[:16])}</code>",
            _badge("valid", "ok") if a.valid else _badge("invalid", "bad"),
        )
        for a in s.approvals
    ]
    problems = "".join(f"<li>{_e(p)}</li>" for p in s.approval_problems)
    return (
        f"<p>{policy}</p>"
        + _table(("time", "approver", "reason", "OS user", "key", ""), rows, "No approvals.")
        + (f"<ul>{problems}</ul>" if problems else "")
    )


def _controls(s: RunSummary) -> str:
    rows = [
        (
            f"<b>{_e(c['id'])}</b>",
            _e(c["framework"]),
            _e(c["title"]),
            _e(c["evidence"]),
            " ".join(f'<a href="{_e(f)}"><code>{_e(f)}</code></a>' for f in c["files"]),
        )
        for c in s.controls
    ]
    return _table(("control", "framework", "title", "evidence", "files"), rows, "No mapping.")


def _integrity(s: RunSummary) -> str:
    rejected = [
        (
            _e(r.get("seq")),
            _e(r.get("iteration", "")),
            f"<code>{_e(r.get('path', ''))}</code>",
            _e(r.get("reason", "")),
        )
        for r in s.rejected_edits
    ]
    return (
        f"<p>{s.events} events; head <code>{_e(s.head)}</code>; {s.checkpoints} signed "
        "checkpoint(s). Check with <code>assay verify</code> on this folder.</p>"
        + "<h3>Rejected edits</h3>"
        + _table(("seq", "iteration", "path", "reason"), rejected, "No edit was rejected.")
    )


def _plugin_section(p: ReportSection) -> str:
    """A section a plugin added: plain text and a table, escaped."""
    rows = [[_e(c) for c in row] for row in p.rows]
    table = _table(p.columns, rows, "") if p.columns and rows else ""
    return (f"<p>{_e(p.summary)}</p>" if p.summary else "") + table


def render_html(s: RunSummary) -> str:
    """The whole report page."""
    sections = [
        ("Scores per iteration", _iterations(s)),
        ("Gate results and findings", _gates(s)),
        ("Security review", _security(s)),
        ("Holdout scenarios", _scenarios(s)),
        ("Cost", _costs(s)),
        ("Dependencies", _dependencies(s)),
        ("Approvals", _approvals(s)),
        ("Control mapping", _controls(s)),
        ("Ledger", _integrity(s)),
        ("Timeline", _timeline(s)),
    ]
    sections += [(p.title, _plugin_section(p)) for p in s.plugin_sections]
    body = "".join(f"<section><h2>{escape(t)}</h2>{html}</section>" for t, html in sections)
    csp = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>assay run {_e(s.run_id)}</title><style>{_CSS}</style></head>"
        f"<body><main>{_header(s)}{body}</main></body></html>\n"
    )
