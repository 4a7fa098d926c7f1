"""The analyse stage: customer analytics tables and the run report, from the gold tables.

Reads ``customers``, ``transactions_resolved`` and ``customer_counts`` (and, when present, the
trust and evaluation tables), writes the analytics tables to gold and one HTML report per run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import posixpath
import time
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.analytics.baskets import association_rules, category_mix, session_baskets
from customer_identity.analytics.drivers import fit_drivers, repeat_purchase_examples
from customer_identity.analytics.features import RFM_ORDER, customer_features, rfm_rules, with_rfm
from customer_identity.analytics.overview import customers_by_age, customers_by_district, orders_over_time, trend_grain
from customer_identity.analytics.pseudonymise import PERSONAL_COLUMNS, pseudonymise
from customer_identity.analytics.segments import describe_segments, fit_segments, naming_rules, segment_profiles
from customer_identity.core import fs, runs
from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config
from customer_identity.core.errors import RowCountMismatch
from customer_identity.core.io import delta_exists, read_delta, write_delta
from customer_identity.core.masking import mask_name, mask_postcode
from customer_identity.ingestion.stage import source_row_counts
from customer_identity.report.page import ReportData, headline_answers, render_report
from customer_identity.resolution.stage import ResolvePaths

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnalysisPaths:
    """Where the analyse stage's tables are (from the catalog)."""

    customer_features: str
    segment_profiles: str
    category_mix: str
    brand_mix: str
    association_rules: str
    purchase_drivers: str
    analysis_runs: str

    @classmethod
    def from_config(cls, config: Config) -> AnalysisPaths:
        catalog = Catalog(config)
        return cls(**{f.name: catalog.path(f"gold.{f.name}") for f in dataclasses.fields(cls)})


@dataclass
class AnalysisResult:
    report_path: str
    answers: dict[str, str]
    customers: int
    buyers: int
    segment_k: int
    rules: int
    driver_auc: float
    stage_seconds: dict[str, float] = field(default_factory=dict)


def _latest(spark: SparkSession, path: str, order: str) -> dict | None:
    if not delta_exists(spark, path):
        return None
    row = spark.read.format("delta").load(path).orderBy(F.desc(order)).first()
    return row.asDict() if row else None


def largest_customers(customers: DataFrame, features: DataFrame, masked: bool, n: int = 10) -> list[dict]:
    name = F.concat_ws(" ", "first_name", "surname")
    shown = (mask_name(name), mask_postcode(F.col("postcode"))) if masked else (name, F.col("postcode"))
    top = (
        customers.select("customer_id", shown[0].alias("name"), shown[1].alias("postcode"), "sources", "n_records")
        .join(features.select("customer_id", "orders", "spend"), "customer_id")
        .orderBy(F.desc("n_records"), F.desc("spend"), "customer_id")
        .limit(n)
    )
    return [r.asDict() for r in top.collect()]


def _links(cat: Catalog) -> list[tuple[str, str]]:
    """The trust pages and model charts that exist, as links relative to the report's folder."""
    report_dir = fs.parent(cat.path("report.html", generated_at="x"))
    pages = [("trust.count_interval_chart", "The count and its range: every draw, the estimate, the customer table"),
             ("trust.threshold_sweep_chart", "How the count moves with the match threshold"),
             ("trust.review_queue_html", "Pairs for a reviewer to decide (review queue)"),
             ("trust.audit_queue_html", "Records drawn for a count audit (audit queue)")]  # fmt: skip
    links = [(label, posixpath.relpath(cat.path(key), report_dir)) for key, label in pages if fs.exists(cat.path(key))]
    explain_dir = fs.parent(cat.path("explain.chart", chart="x"))
    if fs.is_dir(explain_dir):
        for name in sorted(fs.name(path) for path, _, _ in fs.list_files(explain_dir)):
            if name.endswith(".html"):
                links.append((f"Model chart: {name[: -len('.html')].replace('_', ' ')}", posixpath.relpath(fs.join(explain_dir, name), report_dir)))
    return links


def run_analysis(spark: SparkSession, config: Config, masked: bool | None = None) -> AnalysisResult:
    """Compute every analytics table, write them, and write the report; returns where and the answers."""
    a = config.analytics
    masked = a.mask_pii if masked is None else masked
    cat = Catalog(config)
    rp, ap = ResolvePaths.from_catalog(cat), AnalysisPaths.from_config(config)
    timings: dict[str, float] = {}
    started = time.monotonic()

    def timed(stage: str) -> None:
        nonlocal started
        timings[stage] = round(time.monotonic() - started, 1)
        started = time.monotonic()
        log.info("analyse stage %s took %.1fs", stage, timings[stage])

    gold = runs.published(spark, cat)  # the last successful resolve, never a half-finished one
    customers = gold.read(spark, "gold.customers")
    transactions = gold.read(spark, "gold.transactions_resolved")
    counts = gold.read(spark, "gold.customer_counts").orderBy(F.desc("computed_at")).first()

    # who: features, RFM and k-means segments
    features = customer_features(customers, transactions, a).transform(lambda df: with_rfm(df, a.rfm_bins)).cache()
    n_customers = features.count()
    if n_customers != counts.customers:
        raise RowCountMismatch(f"customer_features has {n_customers:,} rows but gold.customer_counts says {counts.customers:,} customers: re-run jobs.resolve")
    timed("features")
    segments = fit_segments(features, a.segment_k, a.seed)
    segmented = segments.transform(features)
    span_days = features.filter("is_buyer").agg(F.max("tenure_days")).first()[0] or 0.0
    profile_rows = [r.asDict() for r in segment_profiles(segmented, transactions).collect()]
    profiles = describe_segments(profile_rows, span_days)
    names = spark.createDataFrame([(p["segment"], p["name"]) for p in profiles], "segment int, segment_name string")
    segmented = segmented.join(F.broadcast(names), "segment", "left")
    write_delta(segmented, ap.customer_features)
    features.unpersist()
    features = read_delta(spark, ap.customer_features)
    write_delta(spark.createDataFrame(profiles), ap.segment_profiles)
    timed("segments")

    # what: category and brand mix, association rules on orders
    cat_mix = category_mix(transactions, segmented, "category")
    write_delta(cat_mix, ap.category_mix)
    brand_mix = category_mix(transactions, segmented, "brand")
    write_delta(brand_mix, ap.brand_mix)
    baskets = session_baskets(transactions, a.basket_item).cache()
    rules = association_rules(baskets, a.min_support, a.min_confidence).orderBy(F.desc("lift"), F.desc("support")).limit(a.max_rules)
    write_delta(rules, ap.association_rules)
    rule_rows = [r.asDict() for r in read_delta(spark, ap.association_rules).collect()]
    multi = baskets.agg(F.avg((F.size("items") >= 2).cast("double")).alias("share")).first().share or 0.0
    baskets.unpersist()
    timed("baskets")

    # what drives purchases
    examples = repeat_purchase_examples(features, transactions, a.repeat_window_days)
    drivers = fit_drivers(examples, a.test_fraction, a.seed)
    write_delta(spark.createDataFrame([{k: v for k, v in d.items() if k not in ("high_means", "low_means")} for d in drivers.importances],
                                      "feature string, label string, importance double, rate_high double, rate_low double, n_high long, n_low long")
                .withColumn("test_auc", F.lit(drivers.test_auc)), ap.purchase_drivers)  # fmt: skip
    timed("drivers")

    # report
    interval = _latest(spark, cat.path("gold.count_interval"), "assessed_at")
    notes = []
    if interval and (interval.get("estimate") is None or interval["assessed_at"] < counts.computed_at or interval["golden_count"] != counts.customers):
        notes.append("The latest count interval was computed before the latest resolve and is left out; run jobs.assess again.")
        interval = None
    if interval:
        interval.setdefault("method", "model probabilities")
    audit = _latest(spark, cat.path("gold.count_audit"), "assessed_at")
    if audit and audit.get("records") != counts.naive_count:
        notes.append(
            "The latest count audit was drawn from other identity records than the latest resolve's and is left out; draw a new one (jobs.review --audit)."
        )
        audit = None
    evaluation = _latest(spark, cat.path("gold.evaluation"), "evaluated_at")
    if evaluation and evaluation["predicted_customers"] != counts.customers:
        notes.append("The latest evaluation does not describe the latest resolve and is left out; run jobs.evaluate again.")
        evaluation = None
    sweep_path = cat.path("gold.threshold_sweep")
    sweep = [r.asDict() for r in spark.read.format("delta").load(sweep_path).orderBy("threshold").collect()] if delta_exists(spark, sweep_path) else None
    accepted = None
    if delta_exists(spark, rp.match_pairs):
        accepted = gold.read(spark, "silver.match_pairs").filter(F.col("match_probability") >= config.model.match_threshold).count()
    quarantine = (
        cat.read(spark, "quarantine").groupBy("source_system", "reason").agg(F.count(F.lit(1)).alias("rows")).orderBy("source_system", "reason")
        if cat.exists(spark, "quarantine") else None
    )  # fmt: skip
    reasons = [r.asDict() for r in quarantine.collect()] if quarantine is not None else []
    ingestion = source_row_counts(spark, config)
    totals = features.agg(
        F.sum(F.col("is_buyer").cast("int")).alias("buyers"), F.sum("spend").alias("spend"), F.sum("orders").alias("orders"),
        F.sum((F.col("orders") >= 2).cast("int")).alias("repeat_buyers"),
    ).first()  # fmt: skip
    rfm_counts = [r.asDict() for r in features.groupBy("rfm_segment").agg(F.count(F.lit(1)).alias("customers")).collect()]
    days = (
        transactions.filter(F.col("customer_id").isNotNull())
        .agg(F.min(F.to_date("event_time")).alias("first"), F.max(F.to_date("event_time")).alias("last"))
        .first()
    )
    period = (days["first"], days["last"]) if days["first"] is not None else None
    grain = trend_grain(*period) if period else "day"
    trend = [r.asDict() for r in orders_over_time(transactions, grain).collect()]
    districts = (
        [r.asDict() for r in customers_by_district(customers, features, config.locale.country).orderBy("rank").collect()]
        if "postcode" in customers.columns
        else []
    )
    cat_rows = [r.asDict() for r in read_delta(spark, ap.category_mix).filter(F.col("rank") <= a.top_n).orderBy("segment", "rank").collect()]
    brand_rows = [r.asDict() for r in read_delta(spark, ap.brand_mix).filter(F.col("rank") <= a.top_n).orderBy("segment", "rank").collect()]
    data = ReportData(
        generated_at=dt.datetime.now(dt.timezone.utc),
        env=config.env,
        customers=counts.customers,
        naive_count=counts.naive_count,
        records_by_source=dict(counts.records_by_source),
        by_source_combination=dict(counts.by_source_combination),
        interval=interval,
        audit=audit,
        buyers=int(totals.buyers or 0),
        spend=float(totals.spend or 0.0),
        orders=int(totals.orders or 0),
        segments=profiles,
        segment_k=segments.k,
        silhouettes=segments.silhouettes,
        segment_criterion=segments.criterion,
        rfm_counts=rfm_counts,
        category_mix=cat_rows,
        brand_mix=brand_rows,
        rules=rule_rows,
        orders_with_two_categories=float(multi),
        drivers={**drivers.__dict__, "reading": drivers.reading(), "window_days": a.repeat_window_days},
        ingestion=ingestion,
        quarantine_reasons=reasons,
        match_threshold=config.model.match_threshold,
        accepted_pairs=accepted,
        evaluation=evaluation,
        sweep=sweep,
        largest_customers=largest_customers(customers, features, masked),
        masked=masked,
        extra_notes=notes,
        period=period,
        trend=trend,
        trend_grain=grain,
        districts=districts,
        repeat_buyers=int(totals.repeat_buyers or 0),
        rfm_order=[g for g in RFM_ORDER if g in {r["rfm_segment"] for r in rfm_counts}],
        rfm_rules=rfm_rules(features, a.rfm_bins),
        segment_rules=naming_rules(profile_rows, span_days) if profile_rows else "",
        links=_links(cat),
        ages=[r.asDict() for r in customers_by_age(customers, features).collect()] if "date_of_birth" in customers.columns else [],
    )
    report_path = cat.write_text(render_report(data), "report.html", generated_at=f"{data.generated_at:%Y%m%dT%H%M%SZ}")
    answers = headline_answers(data)
    run_row = {
        "analysed_at": data.generated_at.replace(tzinfo=None), "customers": counts.customers, "buyers": data.buyers, "segment_k": segments.k,
        "rules": len(rule_rows), "driver_auc": drivers.test_auc, "report_path": report_path, **{f"answer_{i}": v for i, v in enumerate(answers.values())},
    }  # fmt: skip
    write_delta(spark.createDataFrame([run_row]), ap.analysis_runs, mode="append")
    timed("report")
    return AnalysisResult(
        report_path=report_path, answers=answers, customers=counts.customers, buyers=data.buyers, segment_k=segments.k,
        rules=len(rule_rows), driver_auc=drivers.test_auc, stage_seconds=timings,
    )  # fmt: skip


def write_pseudonymised(spark: SparkSession, config: Config, key: str) -> dict[str, int]:
    """Every gold table holding personal data, pseudonymised with ``key`` under
    <output_root>/gold_pseudonymised; rows written per table, checked against rows read."""
    cat, written = Catalog(config), {}
    gold = runs.published(spark, cat)  # one run's tables, never a mix of two
    for table in PERSONAL_COLUMNS:
        if table == "customer_features" and not cat.exists(spark, "gold.customer_features"):
            continue
        source = gold.read(spark, f"gold.{table}")
        cat.write(pseudonymise(source, table, key), "gold_pseudonymised.table", table=table)
        n_in, n_out = source.count(), cat.read(spark, "gold_pseudonymised.table", table=table).count()
        if n_in != n_out:
            raise RowCountMismatch(f"gold_pseudonymised.{table}: {n_out:,} rows written for {n_in:,} read")
        written[table] = n_out
    return written
