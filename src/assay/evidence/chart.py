"""An inline SVG line chart of scores per iteration (no script, no external asset)."""

from __future__ import annotations

from html import escape

from assay.evidence.summary import IterationRow

__all__ = ["CHART_KEYS", "scores_chart"]

_COLOURS = ("#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c", "#0891b2", "#4b5563")
CHART_KEYS = ("score", "satisfaction", "gates", "scenarios", "judge")
"""Scores on a 0-100 scale; other numbers (counts) appear in the table, not the chart."""
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 720, 280, 48, 150, 16, 36


def scores_chart(rows: list[IterationRow]) -> str:
    """SVG markup: one line per score in `CHART_KEYS`, x = iteration, y = 0..100 (clamped)."""
    names = sorted({n for r in rows for n in r.scores if n in CHART_KEYS})
    if not rows or not names:
        return '<p class="muted">No scores were recorded.</p>'
    its = [r.iteration for r in rows]
    lo, hi = min(its), max(its)
    span = max(hi - lo, 1)
    plot_w, plot_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(it: int) -> float:
        return _PAD_L + (it - lo) / span * plot_w if hi > lo else _PAD_L + plot_w / 2

    def y(v: float) -> float:
        return _PAD_T + (1 - min(max(v, 0.0), 100.0) / 100) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" '
        'aria-label="Scores per iteration" xmlns="http://www.w3.org/2000/svg">'
    ]
    for v in range(0, 101, 25):
        parts.append(
            f'<line x1="{_PAD_L}" x2="{_PAD_L + plot_w}" y1="{y(v):.1f}" y2="{y(v):.1f}" '
            f'class="grid"/><text x="{_PAD_L - 6}" y="{y(v) + 4:.1f}" class="tick" '
            f'text-anchor="end">{v}</text>'
        )
    for it in its:
        parts.append(
            f'<text x="{x(it):.1f}" y="{_H - _PAD_B + 18}" class="tick" '
            f'text-anchor="middle">{it}</text>'
        )
    parts.append(
        f'<text x="{_PAD_L + plot_w / 2:.0f}" y="{_H - 4}" class="tick" '
        'text-anchor="middle">iteration</text>'
    )
    for i, name in enumerate(names):
        colour = _COLOURS[i % len(_COLOURS)]
        points = [(x(r.iteration), y(r.scores[name])) for r in rows if name in r.scores]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}"/>')
        parts.extend(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3.5" fill="{colour}"/>' for px, py in points
        )
        ly = _PAD_T + 14 + i * 20
        parts.append(
            f'<rect x="{_W - _PAD_R + 16}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{_W - _PAD_R + 34}" y="{ly + 1}" class="legend">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
