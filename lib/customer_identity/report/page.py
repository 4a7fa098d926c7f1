"""The run report: one self-contained HTML page answering Ebuy's four questions.

It takes small, already-aggregated figures (``ReportData``), never a Spark table, and inlines
the chart libraries once, so the page opens without a network. Every number in the text is
formatted from those figures. Each chart records whether it rendered in its ``data-render``
attribute ("ok" or "error"), which the report test reads in a headless browser.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from typing import Any

from customer_identity.report import charts

CAVEATS = (
    "One month of data: repeat behaviour is measured over a 14-day window, so loyalty over seasons cannot be seen yet.",
    "The drivers are associations found by a predictive model, not causes: an account holder buys again more often, "
    "but opening accounts for people will not by itself make them buy again.",
    "Customers are resolved records; a wrongly merged or split customer shifts every per-customer figure a little "
    "(see the match quality section for how often that happens).",
)


NOTABLE_LIFT = 1.2  # a rule below this lift is read as "no association"


@dataclass
class ReportData:
    generated_at: dt.datetime
    env: str
    customers: int
    naive_count: int
    records_by_source: dict[str, int]
    by_source_combination: dict[str, int]
    interval: dict | None  # estimate, lower, upper, level, method, ... (latest gold.count_interval), if assessed
    buyers: int
    spend: float
    orders: int
    segments: list[dict]  # describe_segments output
    segment_k: int
    silhouettes: dict[int, float]
    segment_criterion: str
    rfm_counts: list[dict]  # rfm_segment, customers
    category_mix: list[dict]  # segment, category, spend_share (top categories)
    brand_mix: list[dict]  # segment ("all" or a segment number), brand, items, spend, spend_share (top brands)
    rules: list[dict]  # antecedent, consequent, support, confidence, lift
    orders_with_two_categories: float  # share of orders with 2+ distinct categories
    drivers: dict  # DriverModel as dict + reading
    ingestion: list[dict]  # source_system, rows_read, rows_accepted, rows_quarantined
    quarantine_reasons: list[dict]  # source_system, reason, rows
    match_threshold: float
    accepted_pairs: int | None
    evaluation: dict | None  # latest gold.evaluation when ground truth exists
    sweep: list[dict] | None  # gold.threshold_sweep rows
    largest_customers: list[dict]  # masked unless masked is False
    masked: bool
    extra_notes: list[str] = field(default_factory=list)
    audit: dict | None = None  # estimate, lower, upper, audited_records, golden_error (latest gold.count_audit), if audited


def _golden_note(d: ReportData) -> str:
    """Why the golden table's customers differ from the estimate of distinct people, in plain words."""
    estimate = d.interval["estimate"]
    sure = f"{d.match_threshold:.0%}"
    if d.customers > estimate:
        return (f"The customer table holds {d.customers:,} customers because it merges two records only when the matching model puts the chance that they are one person "
                f"at {sure} or more, so some people still appear more than once.")  # fmt: skip
    if d.customers < estimate:
        return (f"The customer table holds {d.customers:,} customers because it merges records whenever the matching model puts the chance that they are one person "
                f"at {sure} or more, and a few of those merges join different people.")  # fmt: skip
    return f"The customer table holds the same {d.customers:,}."


def headline_answers(d: ReportData) -> dict[str, str]:
    """The four questions, each answered in one or two sentences from the figures."""
    naive_off = (d.naive_count - d.customers) / d.customers if d.customers else 0.0
    if d.interval:
        i = d.interval
        how_many = (f"About {i['estimate']:,} distinct people, and {i['level']:.0%} sure it is between {i['lower']:,} and {i['upper']:,} "
                    f"(from the matching model's own probabilities{'' if i['method'] == 'model probabilities' else ', ' + i['method']}). {_golden_note(d)}")  # fmt: skip
    else:
        how_many = f"{d.customers:,} distinct customers (no count estimate yet: run jobs.assess)."
    if d.audit:
        how_many += (f" A reviewer's audit of {d.audit['audited_records']:,} records chosen at random puts it at {d.audit['estimate']:,.0f} "
                     f"(95% between {d.audit['lower']:,.0f} and {d.audit['upper']:,.0f}).")  # fmt: skip
    how_many += f" Adding up the sources' records would have said {d.naive_count:,}, {naive_off:+.0%} off the customer table."
    top = max(d.segments, key=lambda s: s["spend_share"]) if d.segments else None
    who = f"{d.buyers:,} of them bought in the period ({d.buyers / d.customers:.0%})." if d.customers else "No customers."
    if top:
        who += f" The biggest-spending segment, {top['name']}, is {top['customer_share']:.0%} of buyers and brings {top['spend_share']:.0%} of spend."
    overall = [m for m in d.category_mix if m["segment"] == "all"]
    what = ", ".join(f"{m['category']} {m['spend_share']:.0%}" for m in overall[:3])
    what = f"Spend by category: {what}." if what else "No purchases."
    if d.rules:
        best = max(d.rules, key=lambda r: r["lift"])
        what += (f" {d.orders_with_two_categories:.0%} of orders span two or more categories; the strongest rule, "
                 f"{' + '.join(best['antecedent'])} -> {' + '.join(best['consequent'])}, has lift {best['lift']:.2f} "
                 f"(in {best['support']:.2%} of orders)")  # fmt: skip
        what += (": categories are bought together no more often than chance would give." if best["lift"] < NOTABLE_LIFT
                 else ", so those categories go together more often than chance would give.")  # fmt: skip
    drv = d.drivers
    drives = f"Of buyers whose first order left a {drv['window_days']}-day window, {drv['positive_rate']:.0%} ordered again within it. "
    if drv["importances"]:
        lead = drv["importances"][0]
        drives += f"The strongest predictor is '{lead['label']}'"
        if lead.get("rate_high") is not None:
            drives += f" ({lead['rate_high']:.0%} {lead['high_means']} vs {lead['rate_low']:.0%} {lead['low_means']})"
        drives += f"; the model scores held-out customers with AUC {drv['test_auc']:.2f} (0.5 = chance)."
    return {"How many customers do we have?": how_many, "Who are our customers?": who, "What do they buy?": what, "What drives their purchasing?": drives}


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _table(rows: list[dict], columns: list[tuple[str, str]], formats: dict[str, str] | None = None) -> str:
    formats = formats or {}
    head = "".join(f"<th>{_e(title)}</th>" for _, title in columns)
    body = []
    for r in rows:
        cells = []
        for key, _ in columns:
            value = r.get(key)
            if isinstance(value, (list, tuple)):
                value = ", ".join(map(str, value))
            elif key in formats and value is not None:
                value = format(value, formats[key])
            cells.append(f"<td>{_e(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


class _Charts:
    def __init__(self) -> None:
        self.specs: list[dict] = []

    def add(self, spec: dict) -> str:
        self.specs.append(spec)
        return f'<div class="chart" id="chart-{len(self.specs) - 1}" data-render="pending"></div>'


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#222;line-height:1.45}
h1{margin-bottom:.2rem} h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2.2rem}
.meta{color:#666;font-size:.9rem} .answers dt{font-weight:600;margin-top:.6rem} .answers dd{margin-left:1rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.88rem} th,td{border:1px solid #ddd;padding:.25rem .5rem;text-align:left}
th{background:#f4f4f4} .chart{margin:1rem 0} .note{color:#555;font-size:.9rem}
"""

_BOOT = """
window.__reportErrors = [];
window.addEventListener('error', function (e) { window.__reportErrors.push(String(e.message)); document.body.dataset.errors = window.__reportErrors.length; });
var SPECS = @@SPECS@@;
SPECS.forEach(function (spec, i) {
  var el = document.getElementById('chart-' + i);
  vegaEmbed(el, spec, {actions: false, renderer: 'svg'})
    .then(function () { el.dataset.render = 'ok'; })
    .catch(function (err) { el.dataset.render = 'error'; el.textContent = 'chart failed: ' + err; console.error('chart ' + i + ': ' + err); });
});
"""


def render_report(d: ReportData) -> str:
    """The complete HTML page."""
    c = _Charts()
    answers = headline_answers(d)
    parts = [
        f"<h1>Ebuy Emporium: who our customers are</h1><p class='meta'>Generated {d.generated_at:%Y-%m-%d %H:%M} UTC, environment '{_e(d.env)}'. "
        f"Personal data is {'masked' if d.masked else '<b>shown unmasked</b>'} in this report.</p>",
        "<h2>The answers</h2><dl class='answers'>" + "".join(f"<dt>{_e(q)}</dt><dd>{_e(a)}</dd>" for q, a in answers.items()) + "</dl>",
    ]

    # how many
    rows = [{"count": f"sum of {k} records", "customers": v} for k, v in sorted(d.records_by_source.items())]
    rows.append({"count": "naive: all records", "customers": d.naive_count})
    if d.interval:
        rows.append({"count": "distinct people (estimate)", "customers": d.interval["estimate"], "lower": d.interval["lower"], "upper": d.interval["upper"]})
    rows.append({"count": "customer table", "customers": d.customers})
    interval = (
        f"<p>An estimated {d.interval['estimate']:,} distinct people; {d.interval['level']:.0%} interval {d.interval['lower']:,} to {d.interval['upper']:,} "
        f"({_e(d.interval['method'])}: each scored pair accepted with its match probability in {d.interval['draws']} draws, "
        f"not counting matches between records no blocking rule compared).</p>"
        if d.interval else "<p class='note'>No count estimate yet: run <code>jobs.assess</code> to add one.</p>"
    )  # fmt: skip
    if d.audit:
        interval += (f"<p>Count audit: {d.audit['audited_records']:,} records drawn at random (more of them where the model is unsure), each checked by a "
                     f"reviewer against every record that could be the same person, estimate {d.audit['estimate']:,.0f} distinct people "
                     f"(95% interval {d.audit['lower']:,.0f} to {d.audit['upper']:,.0f}); by the same audit the customer table is off by "
                     f"{d.audit['golden_error']:+,.0f}.</p>")  # fmt: skip
        rows.insert(-1, {"count": "distinct people (audit)", "customers": round(d.audit["estimate"]), "lower": d.audit["lower"], "upper": d.audit["upper"]})
    parts += [
        "<h2>How many customers</h2>",
        f"<p>{d.customers:,} customers in the customer table after resolving {d.naive_count:,} identity records from {len(d.records_by_source)} sources.</p>",
        interval, c.add(charts.count_comparison_spec(rows)), c.add(charts.source_overlap_spec(d.by_source_combination)),
    ]  # fmt: skip

    # who
    sil = ", ".join(f"k={k}: {v:.3f}" for k, v in sorted(d.silhouettes.items()))
    parts += [
        "<h2>Who the customers are</h2>",
        f"<p>{d.buyers:,} buyers placed {d.orders:,} orders worth ${d.spend:,.0f}. They fall into {d.segment_k} segments, "
        f"k chosen by {_e(d.segment_criterion)} ({sil}).</p>",
        "<ul>" + "".join(f"<li><b>{_e(s['name'])}</b>: {_e(s['description'])}</li>" for s in d.segments) + "</ul>",
        c.add(charts.segment_share_spec(d.segments)),
        c.add(charts.rfm_spec(d.rfm_counts)),
        "<p>Largest resolved customers (records joined from several sources):</p>",
        _table(d.largest_customers, [("customer_id", "customer"), ("name", "name"), ("postcode", "postcode"), ("sources", "sources"),
                                     ("n_records", "records"), ("orders", "orders"), ("spend", "spend")], {"spend": ",.2f"}),
    ]  # fmt: skip

    # what
    parts += [
        "<h2>What they buy</h2>",
        c.add(charts.mix_spec(d.category_mix, "category", "Share of spend by category, overall and per segment")),
        c.add(charts.mix_spec(d.brand_mix, "brand", "Share of spend by brand (top brands), overall and per segment")),
        f"<p>{d.orders_with_two_categories:.0%} of orders contain two or more categories. Rules with lift near 1 mean the "
        "categories are bought together no more often than chance would give.</p>",
        c.add(charts.rules_spec(d.rules)) if d.rules else "<p class='note'>No rule reaches the configured support and confidence.</p>",
        _table(sorted(d.rules, key=lambda r: -r["lift"])[:10], [("antecedent", "if an order has"), ("consequent", "it also has"),
               ("support", "support"), ("confidence", "confidence"), ("lift", "lift")], {"support": ".3%", "confidence": ".1%", "lift": ".2f"}),
    ]  # fmt: skip

    # drivers
    drv = d.drivers
    parts += [
        "<h2>What drives purchasing</h2>",
        f"<p>Outcome: {_e(drv['outcome'])} ({drv['window_days']} days), for the {drv['examples']:,} buyers whose first order was at least "
        f"{drv['window_days']} days before the end of the data; {drv['positive_rate']:.0%} of them did. A random forest trained on "
        f"{drv['train_rows']:,} of them scores the {drv['test_rows']:,} held out with AUC {drv['test_auc']:.3f} (0.5 = chance).</p>",
        c.add(charts.importance_spec(drv["importances"])),
        "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in drv["reading"]) + "</ul>",
        "<p><b>Caveats.</b></p><ul>" + "".join(f"<li>{_e(x)}</li>" for x in CAVEATS) + "</ul>",
    ]  # fmt: skip

    # data quality and match quality
    parts += [
        "<h2>Data quality</h2>", c.add(charts.data_quality_spec(d.ingestion)),
        _table(d.ingestion, [("source_system", "source"), ("rows_read", "read"), ("rows_accepted", "accepted"), ("rows_quarantined", "quarantined")], {
            "rows_read": ",", "rows_accepted": ",", "rows_quarantined": ","}),
        _table(d.quarantine_reasons, [("source_system", "source"), ("reason", "quarantine reason"), ("rows", "rows")], {"rows": ","}),
        "<h2>Match quality</h2>",
        f"<p>Pairs are accepted at match probability {d.match_threshold}"
        + (f"; {d.accepted_pairs:,} pairs were accepted." if d.accepted_pairs is not None else ".") + "</p>",
    ]  # fmt: skip
    if d.evaluation:
        ev = d.evaluation
        parts.append(
            f"<p>Against ground truth: pairwise precision {ev['pairwise_precision']:.3f}, recall {ev['pairwise_recall']:.3f}, F1 {ev['pairwise_f1']:.3f}; "
            f"{ev['true_customers']:,} true customers, so the count is off by {ev['count_error_pct']:+.2f}%; "
            f"{ev['hard_negatives_merged_pct']:.2f}% of look-alike pairs (family, twins, common names) were wrongly merged.</p>"
        )
    if d.sweep:
        parts.append(c.add(charts.threshold_sweep_spec(d.sweep, d.match_threshold)))
    parts += [f"<p class='note'>{_e(n)}</p>" for n in d.extra_notes]

    libraries = charts.chart_libraries()
    scripts = "".join(f"<script>{libraries[name]}</script>" for name in ("vega", "vega-lite", "vega-embed"))
    boot = _BOOT.replace("@@SPECS@@", json.dumps(c.specs, default=_json_default).replace("</", "<\\/"))
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Ebuy customer report</title>"
        f"<style>{_STYLE}</style>{scripts}</head><body>{''.join(parts)}<script>{boot}</script></body></html>"
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
