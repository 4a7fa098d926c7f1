"""Vega-Lite charts rendered to self-contained HTML (no network needed to open them).

The Vega, Vega-Lite and vega-embed scripts are the ones bundled in the Splink wheel, the
same ones Splink's own charts embed; this module is the only place that reaches for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


def vega_html(spec: dict) -> str:
    """A complete HTML page rendering one Vega-Lite ``spec`` with inlined libraries."""
    from splink.internals.html_utils import chart_html  # noqa: PLC0415

    return chart_html(spec, inline=True, fullhtml=True)


def save_chart(spec: dict, path: str) -> str:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(vega_html(spec), encoding="utf-8")
    return path


def threshold_sweep_spec(rows: Sequence[dict], configured: float) -> dict:
    """Precision, recall, F1 and customer count against the match-probability threshold."""
    long = [
        {"threshold": r["threshold"], "measure": m, "value": r[m]} for r in rows for m in ("precision", "recall", "f1") if r.get(m) is not None
    ]
    x = {"field": "threshold", "type": "quantitative", "scale": {"zero": False}, "title": "match probability threshold"}
    rule = {"mark": {"type": "rule", "strokeDash": [4, 4]}, "data": {"values": [{"threshold": configured}]}, "encoding": {"x": x}}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Threshold sweep",
        "vconcat": [
            {
                "width": 520, "height": 200, "data": {"values": long},
                "layer": [
                    {"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": {"field": "value", "type": "quantitative", "scale": {"zero": False}}, "color": {"field": "measure"}}},
                    rule,
                ],
            },
            {
                "width": 520, "height": 160, "data": {"values": [dict(r) for r in rows]},
                "layer": [
                    {"mark": {"type": "line", "point": True}, "encoding": {"x": x, "y": {"field": "customers", "type": "quantitative", "scale": {"zero": False}}}},
                    rule,
                ],
            },
        ],
    }  # fmt: skip


def count_draws_spec(counts: Sequence[int], lower: int, upper: int, point: int) -> dict:
    """Histogram of the sampled customer counts with the interval and the point estimate."""
    marks = [{"value": lower, "what": "interval"}, {"value": upper, "what": "interval"}, {"value": point, "what": "at threshold"}]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Customer count over sampled match decisions",
        "width": 520, "height": 220,
        "layer": [
            {"data": {"values": [{"customers": c} for c in counts]}, "mark": "bar",
             "encoding": {"x": {"field": "customers", "bin": {"maxbins": 30}, "type": "quantitative"}, "y": {"aggregate": "count", "type": "quantitative", "title": "draws"}}},
            {"data": {"values": marks}, "mark": {"type": "rule", "strokeWidth": 2},
             "encoding": {"x": {"field": "value", "type": "quantitative"}, "color": {"field": "what"}}},
        ],
    }  # fmt: skip
