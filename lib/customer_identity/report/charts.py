"""The charts of the report and the trust pages, as Altair (Vega-Lite) specifications.

Every chart takes small lists of dicts (already aggregated), names its axes in words, fills
the width of its container, and gives each colour to one value only: a nominal colour never
has more than :data:`MAX_COLOURS` values (callers fold the rest into "other"). The Vega,
Vega-Lite and vega-embed scripts are vl-convert's bundle for the Vega-Lite version Altair
writes, inlined by the pages so they open without a network.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import vl_convert

MAX_COLOURS = 20  # tableau20: twenty distinct colours
OTHER = "other"


def javascript_bundle() -> str:
    """Vega, Vega-Lite and vega-embed in one script (sets ``window.vegaEmbed``)."""
    return vl_convert.javascript_bundle(vl_version=".".join(alt.VEGALITE_VERSION.split(".")[:2]))


def current_schema(spec: dict) -> dict:
    """``spec`` (a Vega-Lite spec written for another version, such as Splink's) declared as the
    version the inlined libraries draw, so the page does not warn about the difference."""
    return {**spec, "$schema": f"https://vega.github.io/schema/vega-lite/v{alt.VEGALITE_VERSION}.json"}


def altair_chart(spec: dict) -> alt.TopLevelMixin:
    """A chart built here as an Altair object again, for a notebook to display."""
    return alt.LayerChart.from_dict(spec) if "layer" in spec else alt.Chart.from_dict(spec)


def _scheme(n: int) -> str:
    if n > MAX_COLOURS:
        raise ValueError(f"{n} colours in one chart: fold all but the top {MAX_COLOURS - 1} into '{OTHER}' first")
    return "tableau10" if n <= 10 else "tableau20"


def _colour(field: str, title: str, values: Sequence[str], **extra) -> alt.Color:
    domain = list(dict.fromkeys(values))
    return alt.Color(f"{field}:N", title=title, scale=alt.Scale(domain=domain, scheme=_scheme(len(domain))), **extra)


def _chart(values: Sequence[dict], title: str, height: int = 240, **props) -> alt.Chart:
    return alt.Chart(alt.Data(values=list(values)), title=title).properties(width="container", height=height, **props)


def fold_to_top(rows: Sequence[dict], key: str, weight: str, keep: int = MAX_COLOURS - 1) -> list[dict]:
    """Rows with ``key`` outside the ``keep`` heaviest values (by total ``weight``) relabelled ``other``."""
    totals: dict[str, float] = {}
    for r in rows:
        totals[r[key]] = totals.get(r[key], 0.0) + (r[weight] or 0.0)
    top = set(sorted(totals, key=lambda k: (-totals[k], str(k)))[:keep])
    return [{**r, key: r[key] if r[key] in top else OTHER} for r in rows]


# --------------------------------------------------------------------------- how many


def count_comparison_spec(rows: Sequence[dict]) -> dict:
    """Every count side by side, labelled: one row per ``count`` (what is counted) with its ``customers``,
    and ``lower``/``upper`` where it is an estimate with an interval."""
    order = [r["count"] for r in rows]
    base = _chart(rows, "How many customers: what each way of counting says", height=max(120, 34 * len(rows)))
    y = alt.Y("count:N", sort=order, title=None, axis=alt.Axis(labelLimit=320))
    x = alt.X("customers:Q", title="customers", scale=alt.Scale(zero=False, nice=True))
    points = base.mark_point(filled=True, size=90).encode(
        x=x, y=y, color=alt.Color("kind:N", title=None, scale=alt.Scale(scheme="tableau10")),
        tooltip=[alt.Tooltip("count:N", title="count"), alt.Tooltip("customers:Q", format=",", title="customers")],
    )  # fmt: skip
    labels = base.mark_text(align="left", dx=8, dy=-9, fontSize=11).encode(x=x, y=y, text=alt.Text("label:N"))
    ranged = [r for r in rows if r.get("lower") is not None]
    if not ranged:
        return alt.layer(points, labels).to_dict()
    ranges = alt.Chart(alt.Data(values=ranged)).mark_rule(strokeWidth=3, opacity=0.6).encode(x="lower:Q", x2="upper:Q", y=y)
    return alt.layer(ranges, points, labels).to_dict()


def count_draws_spec(counts: Sequence[int], lower: int, upper: int, estimate: int, golden_count: int, truth: int | None = None) -> dict:
    """The estimate's draws as a histogram, the estimate and its range marked, and the golden table's
    count (and the true count, on data with true ids) as labelled lines."""
    marks = [{"what": f"estimate {estimate:,}", "customers": estimate}, {"what": f"customer table {golden_count:,}", "customers": golden_count}]
    if truth is not None:
        marks.append({"what": f"true count {truth:,}", "customers": truth})
    step = max(1, (max(counts) - min(counts)) // 15) if counts else 1
    values = [*counts, *(m["customers"] for m in marks), lower, upper]
    span = max(values) - min(values)
    domain = [min(values) - max(1, span // 20), max(values) + step + max(1, span // 20)]
    x = alt.X("customers:Q", title="distinct people in one draw", scale=alt.Scale(domain=domain, nice=False))
    bins: dict[int, int] = {}
    for c in counts:
        bins[c - (c - min(counts)) % step] = bins.get(c - (c - min(counts)) % step, 0) + 1
    draws = (
        _chart([{"customers": b, "end": b + step, "draws": n, "none": 0} for b, n in sorted(bins.items())], f"Distinct people over {len(counts)} draws of the match decisions", height=260)
        .mark_bar(color="#8fb3d9", stroke="white")
        .encode(x=x, x2="end:Q", y=alt.Y("draws:Q", title="draws"), y2="none:Q", tooltip=[alt.Tooltip("customers:Q", title="from", format=","), alt.Tooltip("end:Q", title="to", format=","), "draws:Q"])
    )  # fmt: skip
    band = (
        alt.Chart(alt.Data(values=[{"lower": lower, "upper": upper}]))
        .mark_rect(opacity=0.15, color="#1f77b4")
        .encode(x=alt.X("lower:Q", scale=alt.Scale(domain=domain, nice=False)), x2="upper:Q")
    )
    colour = _colour("what", "line", [m["what"] for m in marks])
    lines = alt.Chart(alt.Data(values=marks)).mark_rule(strokeWidth=2.5).encode(x=x, color=colour)
    text = alt.Chart(alt.Data(values=marks)).mark_text(angle=270, align="right", baseline="bottom", dx=-6, dy=-3, y=0).encode(x=x, text="what:N", color=colour)
    range_label = (
        alt.Chart(alt.Data(values=[{"customers": (lower + upper) / 2, "what": f"95% range {lower:,}-{upper:,}"}]))
        .mark_text(baseline="bottom", y=256, fontWeight="bold")
        .encode(x=x, text="what:N")
    )
    return alt.layer(band, draws, lines, text, range_label).properties(width="container", height=260).to_dict()


def threshold_sweep_spec(rows: Sequence[dict], configured: float) -> dict:
    """The golden table's customers against the match-probability threshold (and, with labels or true
    ids, precision, recall and F1), the configured threshold marked."""
    x = alt.X("threshold:O", title="accept two records as one person when the match probability is at least", axis=alt.Axis(labelAngle=0))
    count_rows = [{**r, "label": f"{r['customers']:,}"} for r in rows]
    customers = _chart(count_rows, "How the customer count moves with the match threshold", height=220)
    line = customers.mark_line(point=True).encode(x=x, y=alt.Y("customers:Q", title="customers in the customer table", scale=alt.Scale(zero=False)),
                                                  tooltip=[alt.Tooltip("threshold:O"), alt.Tooltip("customers:Q", format=",")])  # fmt: skip
    text = customers.mark_text(dy=-10, fontSize=10).encode(x=x, y="customers:Q", text="label:N")
    rule = (
        alt.Chart(alt.Data(values=[{"threshold": configured, "what": f"configured threshold {configured}"}]))
        .mark_rule(strokeDash=[4, 4], color="black")
        .encode(x=x)
    )
    rule_text = (
        alt.Chart(alt.Data(values=[{"threshold": configured, "what": f"configured {configured}"}]))
        .mark_text(align="left", dx=4, y=8)
        .encode(x=x, text="what:N")
    )
    layers = [alt.layer(line, text, rule, rule_text).properties(width="container", height=220)]
    accuracy = [{"threshold": r["threshold"], "measure": m, "value": r[m]} for r in rows for m in ("precision", "recall", "f1") if r.get(m) is not None]
    if accuracy:
        measures = ["precision", "recall", "f1"]
        acc = (
            _chart(accuracy, "Pairwise precision, recall and F1 at each threshold", height=200)
            .mark_line(point=True)
            .encode(x=x, y=alt.Y("value:Q", title="share of pairs", scale=alt.Scale(zero=False), axis=alt.Axis(format="%")),
                    color=_colour("measure", "measure", measures), tooltip=["threshold:O", "measure:N", alt.Tooltip("value:Q", format=".4f")])
        )  # fmt: skip
        layers.append(alt.layer(acc, rule).properties(width="container", height=200))
    return [layer.to_dict() for layer in layers]


# --------------------------------------------------------------------------- who


def source_overlap_spec(by_combination: dict[str, int]) -> dict:
    """Resolved customers by the combination of sources they appear in."""
    values = [{"sources": k.replace("+", " + "), "customers": v} for k, v in sorted(by_combination.items(), key=lambda kv: -kv[1])]
    return (
        _chart(values, "Customers by the sources they appear in", height=max(120, 28 * len(values)))
        .mark_bar(tooltip=True)
        .encode(x=alt.X("customers:Q", title="customers"), y=alt.Y("sources:N", sort="-x", title="found in"))
        .to_dict()
    )


def trend_spec(rows: Sequence[dict], grain: str) -> list[dict]:
    """Orders and revenue per ``period`` (a date), and buyers split into first-time and returning, one chart each."""
    rows = [{**r, "period": r["period"].isoformat() if hasattr(r["period"], "isoformat") else r["period"]} for r in rows]
    x = alt.X("period:T", title=grain, axis=alt.Axis(format="%d %b"))
    orders = (
        _chart(rows, f"Orders and revenue by {grain}", height=220)
        .mark_bar(color="#4c78a8")
        .encode(x=x, y=alt.Y("orders:Q", title="orders"), tooltip=[alt.Tooltip("period:T", title=grain), alt.Tooltip("orders:Q", format=","),
                                                                   alt.Tooltip("revenue:Q", format="$,.0f")])
    )  # fmt: skip
    revenue = (
        _chart(rows, "", height=220)
        .mark_line(point=True, color="#f58518")
        .encode(x=x, y=alt.Y("revenue:Q", title="revenue ($, line)", axis=alt.Axis(format="$,.0f")))
    )
    split = [
        {"period": r["period"], "buyers": kind, "customers": r[key]}
        for r in rows
        for kind, key in (("first order", "new_buyers"), ("returning", "returning_buyers"))
    ]
    buyers = (
        _chart(split, f"Buyers by {grain}: first order or returning", height=200)
        .mark_bar()
        .encode(x=x, y=alt.Y("customers:Q", title="buyers", stack="zero"), color=_colour("buyers", "buyers", ["first order", "returning"]),
                tooltip=[alt.Tooltip("period:T", title=grain), "buyers:N", alt.Tooltip("customers:Q", format=",")])
    )  # fmt: skip
    return [alt.layer(orders, revenue).resolve_scale(y="independent").properties(width="container", height=220).to_dict(), buyers.to_dict()]


def district_spec(rows: Sequence[dict]) -> dict:
    """Customers and spend in the postal districts with most customers."""
    return (
        _chart(rows, "Customers by postal district (the districts with most customers)", height=max(160, 22 * len(rows)))
        .mark_bar()
        .encode(
            x=alt.X("customers:Q", title="customers", axis=alt.Axis(tickMinStep=1, format="d")), y=alt.Y("district:N", sort="-x", title="postal district"),
            color=alt.Color("spend_per_customer:Q", title="spend per customer ($)", scale=alt.Scale(scheme="blues")),
            tooltip=["district:N", alt.Tooltip("customers:Q", format=","), alt.Tooltip("spend:Q", format="$,.0f"), alt.Tooltip("spend_per_customer:Q", format="$,.0f")],
        )
        .to_dict()
    )  # fmt: skip


def age_spec(rows: Sequence[dict], order: Sequence[str]) -> dict:
    """Customers by age band, each bar's colour its spend per customer."""
    values = [{**r, "spend_per_customer": r["spend"] / r["customers"] if r["customers"] else 0.0} for r in rows]
    return (
        _chart(values, "Customers by age at the end of the period", height=max(140, 28 * len(values)))
        .mark_bar()
        .encode(
            x=alt.X("customers:Q", title="customers"), y=alt.Y("age_band:N", sort=list(order), title="age"),
            color=alt.Color("spend_per_customer:Q", title="spend per customer ($)", scale=alt.Scale(scheme="blues")),
            tooltip=["age_band:N", alt.Tooltip("customers:Q", format=","), alt.Tooltip("spend_per_customer:Q", format="$,.0f")],
        )
        .to_dict()
    )  # fmt: skip


def segment_share_spec(segments: Sequence[dict]) -> dict:
    """Each segment's share of buyers and of spend, side by side."""
    values = [
        {"segment": s["name"], "measure": label, "share": s[key]}
        for s in segments
        for key, label in (("customer_share", "share of buyers"), ("spend_share", "share of spend"))
    ]
    return (
        _chart(values, "Segments: share of buyers and of spend", height=max(160, 56 * len(segments)))
        .mark_bar(tooltip=True)
        .encode(x=alt.X("share:Q", title="share", axis=alt.Axis(format="%")), y=alt.Y("segment:N", title=None, axis=alt.Axis(labelLimit=360)),
                yOffset="measure:N", color=_colour("measure", None, ["share of buyers", "share of spend"]))
        .to_dict()
    )  # fmt: skip


def rfm_spec(counts: Sequence[dict], order: Sequence[str]) -> dict:
    return (
        _chart(counts, "Customers by recency and frequency of purchase", height=max(140, 28 * len(counts)))
        .mark_bar(tooltip=True)
        .encode(x=alt.X("customers:Q", title="customers"), y=alt.Y("rfm_segment:N", sort=list(order), title=None, axis=alt.Axis(labelLimit=320)))
        .to_dict()
    )  # fmt: skip


# --------------------------------------------------------------------------- what


def mix_spec(rows: Sequence[dict], column: str, noun: str, segment_order: Sequence[str]) -> dict:
    """Share of spend by ``column`` (category or brand) for all buyers and each segment, stacked; rows
    carry ``segment`` (a name), ``column`` and ``spend_share``; at most :data:`MAX_COLOURS` values."""
    values = list(dict.fromkeys(r[column] for r in sorted(rows, key=lambda r: -(r["spend_share"] or 0))))
    if OTHER in values:
        values = [v for v in values if v != OTHER] + [OTHER]
    return (
        _chart(rows, f"Share of spend by {noun}: all buyers and each segment", height=max(160, 40 * len(segment_order)))
        .mark_bar(tooltip=True)
        .encode(
            x=alt.X("spend_share:Q", title="share of the segment's spend", axis=alt.Axis(format="%"), stack="zero"),
            y=alt.Y("segment:N", sort=list(segment_order), title=None, axis=alt.Axis(labelLimit=360)),
            color=_colour(column, noun, values), order=alt.Order("spend_share:Q", sort="descending"),
            tooltip=["segment:N", f"{column}:N", alt.Tooltip("spend_share:Q", format=".1%")],
        )
        .to_dict()
    )  # fmt: skip


def rules_spec(rules: Sequence[dict]) -> dict:
    """Association rules as bars of lift (1 = no association), one per rule."""
    values = [{**r, "rule": f"{' + '.join(r['antecedent'])} -> {' + '.join(r['consequent'])}", "chance": 1.0} for r in rules]
    bars = (
        _chart(values, "Categories bought together: lift of each rule (1 = as often as chance)", height=max(140, 24 * len(values)))
        .mark_bar()
        .encode(x=alt.X("lift:Q", title="lift (bars start at 1: as often as chance)", scale=alt.Scale(zero=False)), x2="chance:Q",
                y=alt.Y("rule:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
                tooltip=["rule:N", alt.Tooltip("support:Q", format=".2%", title="orders with all"), alt.Tooltip("confidence:Q", format=".1%"),
                         alt.Tooltip("lift:Q", format=".2f")])
    )  # fmt: skip
    one = alt.Chart(alt.Data(values=[{"lift": 1.0}])).mark_rule(strokeDash=[4, 4], color="black").encode(x="lift:Q")
    return alt.layer(bars, one).properties(width="container", height=max(140, 24 * len(values))).to_dict()


# --------------------------------------------------------------------------- drivers


def importance_spec(importances: Sequence[dict]) -> dict:
    """Random-forest importances, each bar coloured by the direction of the association."""
    values = [{**d, "direction": d["direction"]} for d in importances]
    directions = ["more likely to buy again", "less likely to buy again", "no clear direction"]
    return (
        _chart(values, "What predicts a repeat purchase (importance in the model; colour: direction)", height=max(140, 26 * len(values)))
        .mark_bar()
        .encode(x=alt.X("importance:Q", title="importance (share of the model's splits)"), y=alt.Y("label:N", sort="-x", title=None, axis=alt.Axis(labelLimit=360)),
                color=alt.Color("direction:N", title="customers with the trait are", scale=alt.Scale(domain=directions, range=["#4c78a8", "#f58518", "#b0b0b0"])),
                tooltip=["label:N", alt.Tooltip("importance:Q", format=".3f"), "direction:N", "comparison:N"])
        .to_dict()
    )  # fmt: skip


# --------------------------------------------------------------------------- data quality


def data_quality_spec(rows: Sequence[dict]) -> dict:
    values = [{"source": r["source_system"], "rows": r[k], "status": k.replace("rows_", "")} for r in rows for k in ("rows_accepted", "rows_quarantined")]
    return (
        _chart(values, "Rows per source: accepted and quarantined", height=max(100, 40 * len(rows)))
        .mark_bar(tooltip=True)
        .encode(x=alt.X("rows:Q", title="rows"), y=alt.Y("source:N", title="source"), color=_colour("status", "rows", ["accepted", "quarantined"]))
        .to_dict()
    )  # fmt: skip
