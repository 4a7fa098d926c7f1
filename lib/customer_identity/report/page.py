"""The run report and the trust pages: self-contained HTML from Jinja2 templates.

The report takes small, already-aggregated figures (``ReportData``), never a Spark table, and
inlines the chart libraries once, so every page opens without a network. Every number in the
text is formatted from those figures. Each chart records whether it rendered in its
``data-render`` attribute ("ok" or "error"), which the browser test reads.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from customer_identity.analytics.overview import AGE_BANDS
from customer_identity.report import charts

CAVEATS = (
    "Repeat behaviour is measured over a short window after each first order; loyalty over seasons needs more months of data.",
    "The drivers are associations found by a predictive model, not causes: an account holder buys again more often, "
    "but opening accounts for people will not by itself make them buy again.",
    "A guest checkout carries only a name and a postcode, so guest orders are the hardest to join to a customer's earlier orders: "
    "some guests' repeat orders may be counted as another customer's first, which lowers the repeat rate of guests and "
    "makes holding an account look a stronger driver than it is.",
    "Customers are resolved records; a wrongly merged or split customer shifts every per-customer figure a little "
    "(see the match quality section for how often that happens).",
)

NOTABLE_LIFT = 1.2  # a rule with lift in (1 / NOTABLE_LIFT, NOTABLE_LIFT) is read as "no association"
SIGNIFICANT_Z = 1.96  # two repeat rates differ clearly when their difference is this many standard errors
MIN_DISTRICT_CUSTOMERS = 5  # districts with fewer customers are not shown one by one
TOP_DISTRICTS = 15


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
    category_mix: list[dict]  # segment ("all" or a segment number), category, spend_share (top categories)
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
    period: tuple[dt.date, dt.date] | None = None  # first and last purchase day
    trend: list[dict] = field(default_factory=list)  # period (date), orders, revenue, new_buyers, returning_buyers
    trend_grain: str = "day"
    districts: list[dict] = field(default_factory=list)  # district, customers, spend (customers with a postcode)
    repeat_buyers: int = 0  # buyers with two or more orders
    rfm_order: list[str] = field(default_factory=list)  # RFM groups, best first
    rfm_rules: str = ""
    segment_rules: str = ""
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, href relative to the report) of trust pages and model charts
    ages: list[dict] = field(default_factory=list)  # age_band, customers, spend


# --------------------------------------------------------------------------- words


def _golden_note(d: ReportData) -> str:
    """Why the golden table's customers differ from the estimate of distinct people, in plain words."""
    estimate = d.interval["estimate"]
    sure = f"{d.match_threshold:.0%}"
    unseen = d.interval.get("unseen_merges")
    if d.customers > estimate:
        return (f"The customer table holds {d.customers:,} customers because it merges two records only when the matching model puts the chance that they are one person "
                f"at {sure} or more, so some people still appear more than once"
                + (f"; about {unseen:,.0f} of them have records the model never compared, since they share nothing its matching rules look at." if unseen else "."))  # fmt: skip
    if d.customers < estimate:
        return (f"The customer table holds {d.customers:,} customers because it merges records whenever the matching model puts the chance that they are one person "
                f"at {sure} or more, and a few of those merges join different people.")  # fmt: skip
    return f"The customer table holds the same {d.customers:,}."


def _top_segment(d: ReportData) -> dict | None:
    return max(d.segments, key=lambda s: s["spend_share"]) if d.segments else None


def _notable(rule: dict) -> bool:
    return rule["lift"] >= NOTABLE_LIFT or rule["lift"] <= 1 / NOTABLE_LIFT


def driver_direction(imp: dict, examples: int) -> tuple[str, str]:
    """Whether customers with the trait bought again more or less often, by a two-proportion test
    on the repeat rates above and below the trait's cut; and the comparison in words."""
    high, low = imp.get("rate_high"), imp.get("rate_low")
    if high is None or low is None:
        return "no clear direction", "a category: no higher or lower"
    n_high, n_low = imp.get("n_high"), imp.get("n_low")
    words = f"{high:.0%} {imp['high_means']} vs {low:.0%} {imp['low_means']}"
    if n_high and n_low:
        pooled = (high * n_high + low * n_low) / (n_high + n_low)
        se = math.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n_high + 1 / n_low))
        clear = abs(high - low) >= SIGNIFICANT_Z * se
    else:  # group sizes unknown: only a difference of a few points is read as one
        clear = abs(high - low) >= 0.05
    if not clear:
        return "no clear direction", words
    return ("more likely to buy again" if high > low else "less likely to buy again"), words


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
    top = _top_segment(d)
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
    clear = [(imp, *driver_direction(imp, drv["examples"])) for imp in drv["importances"]]
    clear = [c for c in clear if c[1] != "no clear direction"]
    if clear:
        lead, direction, words = clear[0]
        drives += f"The strongest predictor with a clear direction is '{lead['label']}': customers with it are {direction} ({words})"
    elif drv["importances"]:
        drives += "No first-order trait makes a clear difference to buying again"
    drives += f"; the model scores held-out customers with AUC {drv['test_auc']:.2f} (0.5 = chance)."
    return {"How many customers do we have?": how_many, "Who are our customers?": who, "What do they buy?": what, "What drives their purchasing?": drives}


# --------------------------------------------------------------------------- pages


def _cell(value: Any, fmt: str | None = None) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return format(value, fmt) if fmt else str(value)


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("customer_identity.report", "templates"), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)  # fmt: skip
    env.filters["cell"] = _cell
    return env


@cache
def _javascript() -> str:
    return charts.javascript_bundle()


class _Charts:
    """Specs in page order; ``add`` returns the placeholder the page's script draws into."""

    def __init__(self) -> None:
        self.specs: list[dict] = []

    def add(self, spec: dict | None) -> str:
        if spec is None:
            return ""
        self.specs.append(spec)
        return f'<div class="chart" id="chart-{len(self.specs) - 1}" data-render="pending"></div>'

    def add_all(self, specs: list[dict]) -> list[str]:
        return [self.add(s) for s in specs]


def _render(template: str, c: _Charts, **context: Any) -> str:
    return _environment().get_template(template).render(javascript=_javascript(), specs=c.specs, **context)


def chart_page(title: str, specs: list[dict], intro: list[str] = (), notes: list[str] = (), back: str | None = None) -> str:
    """One trust page: a title, a few paragraphs and its charts, self-contained."""
    c = _Charts()
    drawn = c.add_all(list(specs))
    generated = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    return _render("chart_page.html.j2", c, title=title, intro=list(intro), notes=list(notes), charts=drawn, generated_at=generated, back=back)


def _count_rows(d: ReportData) -> list[dict]:
    rows = [{"count": f"{k} records", "customers": v, "kind": "records in one source", "label": f"{v:,}"} for k, v in sorted(d.records_by_source.items())]
    rows.append({"count": "all records added up", "customers": d.naive_count, "kind": "records added up", "label": f"{d.naive_count:,}"})
    if d.interval:
        i = d.interval
        rows.append({"count": "distinct people (model estimate)", "customers": i["estimate"], "lower": i["lower"], "upper": i["upper"],
                     "kind": "estimate of distinct people", "label": f"{i['estimate']:,} (95%: {i['lower']:,} to {i['upper']:,})"})  # fmt: skip
    if d.audit:
        a = d.audit
        rows.append({"count": "distinct people (audit)", "customers": round(a["estimate"]), "lower": a["lower"], "upper": a["upper"],
                     "kind": "estimate of distinct people", "label": f"{a['estimate']:,.0f} (95%: {a['lower']:,.0f} to {a['upper']:,.0f})"})  # fmt: skip
    rows.append({"count": "customer table", "customers": d.customers, "kind": "customer table", "label": f"{d.customers:,}"})
    if d.evaluation and d.evaluation.get("true_customers"):
        t = d.evaluation["true_customers"]
        rows.append({"count": "true count (synthetic data)", "customers": t, "kind": "truth", "label": f"{t:,}"})
    return rows


def _mix_rows(d: ReportData, rows: list[dict], column: str) -> tuple[list[dict], list[str]]:
    """Segment numbers replaced by names, values beyond the palette folded into "other"."""
    names = {str(s["segment"]): s["name"] for s in d.segments}
    named = [{**r, "segment": "all buyers" if r["segment"] == "all" else names.get(str(r["segment"]), f"segment {r['segment']}")} for r in rows]
    folded: dict[tuple[str, str], float] = {}
    for r in charts.fold_to_top(named, column, "spend_share"):
        folded[(r["segment"], r[column])] = folded.get((r["segment"], r[column]), 0.0) + (r["spend_share"] or 0.0)
    order = ["all buyers", *[s["name"] for s in d.segments]]
    return [{"segment": s, column: v, "spend_share": share} for (s, v), share in folded.items()], order


def _tiles(d: ReportData) -> list[dict]:
    people = d.interval["estimate"] if d.interval else d.customers
    tiles = [{"value": f"{people:,}", "label": "distinct people (estimate)" if d.interval else "customers"}]
    if d.interval:
        tiles[0]["label"] += f", 95%: {d.interval['lower']:,} to {d.interval['upper']:,}"
    tiles += [
        {"value": f"${d.spend:,.0f}", "label": "revenue"},
        {"value": f"{d.orders:,}", "label": f"orders by {d.buyers:,} buyers"},
        {"value": f"${d.spend / d.orders:,.2f}" if d.orders else "-", "label": "average order value"},
        {"value": f"{d.repeat_buyers / d.buyers:.0%}" if d.buyers else "-", "label": "of buyers ordered more than once"},
    ]
    return tiles


def render_report(d: ReportData) -> str:
    """The complete HTML page."""
    c = _Charts()
    answers = headline_answers(d)
    how_many = []
    if d.interval:
        how_many.append(
            f"How the estimate is made: the matching model gives every pair of records it compared a chance that they are one person. "
            f"Deciding every pair by that chance, {d.interval['draws']} times over, and counting the people each time gives the "
            f"range; the estimate is their average. "
            + (
                f"Records that no matching rule compared are never joined in a draw; from how often one person's records agree on what the rules "
                f"look at, about {d.interval['unseen_merges']:,.0f} people are still counted twice that way, and each draw is lowered by its own estimate of that."
                if d.interval.get("unseen_merges") is not None
                else "Records that no matching rule compared are not joined in any draw."
            )
        )
    else:
        how_many.append("No count estimate yet: run jobs.assess to add one.")
    if d.audit:
        how_many.append(
            f"Count audit: {d.audit['audited_records']:,} records drawn at random (more of them where the model is unsure), each checked by a "
            f"reviewer against every record that could be the same person, estimate {d.audit['estimate']:,.0f} distinct people "
            f"(95% interval {d.audit['lower']:,.0f} to {d.audit['upper']:,.0f}); by the same audit the customer table is off by {d.audit['golden_error']:+,.0f}."
        )
    how_many.append(
        f"{d.customers:,} customers in the customer table after resolving {d.naive_count:,} identity records from {len(d.records_by_source)} sources."
    )

    drawn: dict[str, Any] = {
        "count": c.add(charts.count_comparison_spec(_count_rows(d))),
        "overlap": c.add(charts.source_overlap_spec(d.by_source_combination)),
    }
    trend_text = ""
    if d.trend:
        drawn["trend"] = c.add_all(charts.trend_spec(d.trend, d.trend_grain))
        best = max(d.trend, key=lambda r: r["revenue"])
        when = f"was {best['period']:%d %b}" if d.trend_grain == "day" else f"began {best['period']:%d %b}"
        trend_text = (f"{d.orders:,} orders worth ${d.spend:,.0f} over {len(d.trend)} {d.trend_grain}s with orders; the busiest {d.trend_grain} by revenue "
                      f"{when} (${best['revenue']:,.0f} from {best['orders']:,} orders).")  # fmt: skip
    else:
        drawn["trend"] = []
    drawn["segments"] = c.add(charts.segment_share_spec(d.segments)) if d.segments else ""
    drawn["rfm"] = c.add(charts.rfm_spec(d.rfm_counts, d.rfm_order or [r["rfm_segment"] for r in d.rfm_counts]))
    order = ["under 18", *(label for _, label in AGE_BANDS), "unknown"]
    drawn["ages"] = c.add(charts.age_spec(d.ages, order)) if d.ages else ""
    known = [r for r in d.ages if r["age_band"] != "unknown"]
    age_text = ""
    if known:
        top = max(known, key=lambda r: r["customers"])
        unknown = sum(r["customers"] for r in d.ages if r["age_band"] == "unknown")
        age_text = (f"The largest age band is {top['age_band']} ({top['customers'] / sum(r['customers'] for r in known):.0%} of customers with a known date of birth); "
                    f"{unknown:,} customers have no date of birth in any source.")  # fmt: skip
    shown = [r for r in d.districts if r["customers"] >= MIN_DISTRICT_CUSTOMERS][:TOP_DISTRICTS]
    if shown:
        rows = [{**r, "spend_per_customer": r["spend"] / r["customers"]} for r in shown]
        drawn["districts"] = c.add(charts.district_spec(rows))
        total = sum(r["customers"] for r in d.districts)
        district_text = (f"{total:,} customers have a postcode with a known district, in {len(d.districts):,} districts; the {len(shown)} with most customers "
                         f"hold {sum(r['customers'] for r in shown) / total:.0%} of them. Districts with fewer than {MIN_DISTRICT_CUSTOMERS} customers are not shown.")  # fmt: skip
    else:
        drawn["districts"] = ""
        district_text = "No postal district has enough customers to show (the country's postcodes may not name districts)."
    cat_rows, order = _mix_rows(d, d.category_mix, "category")
    brand_rows, _ = _mix_rows(d, d.brand_mix, "brand")
    drawn["categories"] = c.add(charts.mix_spec(cat_rows, "category", "category", order)) if cat_rows else ""
    drawn["brands"] = c.add(charts.mix_spec(brand_rows, "brand", "brand (top brands)", order)) if brand_rows else ""
    notable = sorted((r for r in d.rules if _notable(r)), key=lambda r: -r["lift"])
    basket_text = f"{d.orders_with_two_categories:.0%} of orders contain two or more categories. "
    if notable:
        basket_text += f"{len(notable)} of {len(d.rules)} rules found show categories bought together at least {NOTABLE_LIFT}x (or at most 1/{NOTABLE_LIFT}) as often as chance would give:"
        drawn["rules"] = c.add(charts.rules_spec(notable[:20]))
    else:
        lifts = [r["lift"] for r in d.rules]
        basket_text += (f"The {len(d.rules)} rules found all have lift between {min(lifts):.2f} and {max(lifts):.2f}: categories are bought together about as often as "
                        "chance would give, so there is no pairing to act on yet." if lifts else "No rule reaches the configured support and confidence.")  # fmt: skip
        drawn["rules"] = ""
    drv = d.drivers
    importances = [{**imp, **dict(zip(("direction", "comparison"), driver_direction(imp, drv["examples"]), strict=True))} for imp in drv["importances"]]
    drawn["drivers"] = c.add(charts.importance_spec(importances)) if importances else ""
    driver_lines = [f"{imp['label']}: {imp['comparison']} ({imp['direction']})." for imp in importances[:5]]
    drawn["quality"] = c.add(charts.data_quality_spec(d.ingestion)) if d.ingestion else ""
    match_text = [
        f"Pairs are accepted at match probability {d.match_threshold}"
        + (f"; {d.accepted_pairs:,} pairs were accepted." if d.accepted_pairs is not None else ".")
    ]
    if d.evaluation:
        ev = d.evaluation
        match_text.append(
            f"Against the true ids: pairwise precision {ev['pairwise_precision']:.3f}, recall {ev['pairwise_recall']:.3f}, F1 {ev['pairwise_f1']:.3f}; "
            f"{ev['true_customers']:,} true customers, so the customer table is off by {ev['count_error_pct']:+.2f}%; "
            f"{ev['hard_negatives_merged_pct']:.2f}% of look-alike pairs (family, twins, common names) were wrongly merged."
        )
    drawn["sweep"] = c.add_all(charts.threshold_sweep_spec(d.sweep, d.match_threshold)) if d.sweep else []
    top = _top_segment(d)
    who_text = f"{d.buyers:,} buyers placed {d.orders:,} orders worth ${d.spend:,.0f}. They fall into {d.segment_k} segments (k-means; k chosen by {d.segment_criterion})"
    who_text += f"; the biggest-spending is {top['name']}." if top else "."
    period = None
    if d.period:
        period = {"start": f"{d.period[0]:%d %b %Y}", "end": f"{d.period[1]:%d %b %Y}", "days": (d.period[1] - d.period[0]).days + 1}
    return _render(
        "report.html.j2", c, title="Ebuy customer report", generated_at=f"{d.generated_at:%Y-%m-%d %H:%M} UTC", env=d.env, masked=d.masked,
        period=period, tiles=_tiles(d), answers=answers, how_many=how_many, charts=drawn, trend_text=trend_text, who_text=who_text,
        segments=d.segments, segment_rules=d.segment_rules, age_text=age_text, rfm_text=d.rfm_rules, district_text=district_text, largest_customers=d.largest_customers,
        basket_text=basket_text, notable_rules=notable[:10], drivers_text=_drivers_text(drv), driver_lines=driver_lines, caveats=CAVEATS,
        ingestion=d.ingestion, quarantine_reasons=d.quarantine_reasons, match_text=match_text, notes=d.extra_notes, links=d.links,
    )  # fmt: skip


def _drivers_text(drv: dict) -> str:
    return (f"Outcome: {drv['outcome']} ({drv['window_days']} days), for the {drv['examples']:,} buyers whose first order was at least "
            f"{drv['window_days']} days before the end of the data; {drv['positive_rate']:.0%} of them did. A random forest trained on "
            f"{drv['train_rows']:,} of them scores the {drv['test_rows']:,} held out with AUC {drv['test_auc']:.3f} (0.5 = chance). "
            "A trait's direction is stated only where the repeat rates with and without it differ by more than chance would explain (two-proportion test, 95%).")  # fmt: skip


def review_page(title: str, cards: list[dict], intro: list[str], masked: bool, download_name: str) -> str:
    """The review tool: each pair's records side by side, differences highlighted, the model's
    evidence per comparison, and a decision control whose answers download as the CSV
    ``jobs.review --decisions`` takes. Personal values arrive already masked unless asked."""
    generated = f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"
    return (
        _environment()
        .get_template("review.html.j2")
        .render(javascript="", specs=[], title=title, rows=cards, intro=intro, masked=masked, download_name=download_name, generated_at=generated)
    )
