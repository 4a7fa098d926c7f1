"""Vega-Lite charts rendered to self-contained HTML (no network needed to open them).

The Vega, Vega-Lite and vega-embed scripts are the ones bundled in the Splink wheel, the
same ones Splink's own charts embed, reached through the matching module (the one place
that imports splink).
"""

from __future__ import annotations

from collections.abc import Sequence

from customer_identity.core import fs
from customer_identity.resolution import matching


def vega_html(spec: dict) -> str:
    """A complete HTML page rendering one Vega-Lite ``spec`` with inlined libraries."""
    return matching.vega_chart_html(spec)


def save_chart(spec: dict, path: str) -> str:
    return fs.write_text(path, vega_html(spec))


def threshold_sweep_spec(rows: Sequence[dict], configured: float) -> dict:
    """Precision, recall, F1 and customer count against the match-probability threshold."""
    long = [{"threshold": r["threshold"], "measure": m, "value": r[m]} for r in rows for m in ("precision", "recall", "f1") if r.get(m) is not None]
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


def count_draws_spec(counts: Sequence[int], lower: int, upper: int, estimate: int, golden_count: int) -> dict:
    """Histogram of the sampled customer counts with the estimate, its interval and the golden table's count."""
    marks = [
        {"value": lower, "what": "interval"},
        {"value": upper, "what": "interval"},
        {"value": estimate, "what": "estimate"},
        {"value": golden_count, "what": "golden table"},
    ]
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


def chart_libraries() -> dict[str, str]:
    """The Vega, Vega-Lite and vega-embed scripts (name -> source), to inline once in a page."""
    return matching.vega_libraries()


def _bar(values: Sequence[dict], x: dict, y: dict, title: str, **extra) -> dict:
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title, "width": 560, "height": extra.pop("height", 240),
        "data": {"values": list(values)}, "mark": {"type": "bar", "tooltip": True},
        "encoding": {"x": x, "y": y, **extra},
    }  # fmt: skip


def source_overlap_spec(by_combination: dict[str, int]) -> dict:
    """Resolved customers by the combination of sources they appear in."""
    values = [{"sources": k, "customers": v} for k, v in sorted(by_combination.items(), key=lambda kv: -kv[1])]
    return _bar(values, {"field": "customers", "type": "quantitative"}, {"field": "sources", "type": "nominal", "sort": "-x"},
                "Customers by the sources they appear in", height=200)  # fmt: skip


def count_comparison_spec(rows: Sequence[dict]) -> dict:
    """Customer counts: naive ones from the sources, the estimate of distinct people with its interval as an error bar, the customer table."""
    spec = _bar(rows, {"field": "customers", "type": "quantitative"}, {"field": "count", "type": "nominal", "sort": None},
                "How many customers: naive counts, the estimate of distinct people and the customer table", height=160)  # fmt: skip
    bars = {k: spec.pop(k) for k in ("mark", "encoding")}
    band = [r for r in rows if r.get("lower") is not None]
    spec["layer"] = [bars]
    if band:
        spec["layer"].append({"data": {"values": band}, "mark": {"type": "errorbar", "ticks": True, "color": "black"},
                              "encoding": {"x": {"field": "lower", "type": "quantitative"}, "x2": {"field": "upper"},
                                           "y": {"field": "count", "type": "nominal", "sort": None}}})  # fmt: skip
    return spec


def segment_share_spec(segments: Sequence[dict]) -> dict:
    """Each segment's share of customers and of spend, side by side."""
    values = [{"segment": s["name"], "measure": m, "share": s[f"{m}_share"]} for s in segments for m in ("customer", "spend")]
    return _bar(values, {"field": "share", "type": "quantitative", "axis": {"format": "%"}}, {"field": "segment", "type": "nominal"},
                "Segments: share of customers and of spend", yOffset={"field": "measure"}, color={"field": "measure"})  # fmt: skip


def rfm_spec(counts: Sequence[dict]) -> dict:
    return _bar(counts, {"field": "customers", "type": "quantitative"}, {"field": "rfm_segment", "type": "nominal", "sort": "-x"},
                "Customers by RFM segment", height=200)  # fmt: skip


def mix_spec(rows: Sequence[dict], column: str, title: str) -> dict:
    """Share of spend by category (or brand) for every segment, as stacked bars (the top ones: a bar can stop short of 100%)."""
    return _bar(rows, {"field": "spend_share", "type": "quantitative", "axis": {"format": "%"}, "stack": "zero"},
                {"field": "segment", "type": "nominal"}, title, color={"field": column, "type": "nominal"})  # fmt: skip


def rules_spec(rules: Sequence[dict]) -> dict:
    values = [{**r, "rule": f"{' + '.join(r['antecedent'])} -> {' + '.join(r['consequent'])}"} for r in rules]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": "Association rules between categories bought in one order", "width": 560, "height": 260,
        "data": {"values": values}, "mark": {"type": "circle", "tooltip": True, "opacity": 0.7},
        "encoding": {"x": {"field": "support", "type": "quantitative", "axis": {"format": "%"}},
                     "y": {"field": "confidence", "type": "quantitative", "axis": {"format": "%"}},
                     "size": {"field": "lift", "type": "quantitative"}, "color": {"field": "lift", "type": "quantitative"},
                     "tooltip": [{"field": "rule"}, {"field": "support", "format": ".3%"}, {"field": "confidence", "format": ".1%"}, {"field": "lift", "format": ".2f"}]},
    }  # fmt: skip


def importance_spec(importances: Sequence[dict]) -> dict:
    return _bar(importances, {"field": "importance", "type": "quantitative"}, {"field": "label", "type": "nominal", "sort": "-x", "title": None},
                "What predicts a repeat purchase (random forest importances)", height=220)  # fmt: skip


def data_quality_spec(rows: Sequence[dict]) -> dict:
    values = [{"source": r["source_system"], "rows": r[k], "status": k.replace("rows_", "")} for r in rows for k in ("rows_accepted", "rows_quarantined")]
    return _bar(values, {"field": "rows", "type": "quantitative"}, {"field": "source", "type": "nominal"},
                "Rows per source: accepted and quarantined", height=140, color={"field": "status", "type": "nominal"})  # fmt: skip
