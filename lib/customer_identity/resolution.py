"""The resolve stage: bronze -> silver identity records -> Splink pairs -> clusters -> gold tables.

This is where the stage's reads and writes happen (through ``io``); the logic lives in the
pure transforms of ``identities``, ``matching``, ``clustering`` and ``golden``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_identity import clustering, golden, identities, ids, matching, monitoring, review
from customer_identity.bronze import BATCH, INGESTED_AT, source_row_counts
from customer_identity.config import Config
from customer_identity.errors import RowCountMismatch
from customer_identity.io import delta_exists, read_delta, write_delta
from customer_identity.review import ReviewFileError
from customer_identity.standardise import nickname_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResolvePaths:
    identity_records: str
    transactions: str
    model: str
    match_pairs: str
    clusters: str
    customers: str
    crosswalk: str
    transactions_resolved: str
    customer_counts: str
    review_labels: str
    customer_id_history: str
    run_metrics: str

    @classmethod
    def from_config(cls, config: Config) -> ResolvePaths:
        silver, gold, root = config.tables.silver, config.tables.gold, config.paths.output_root
        return cls(
            identity_records=f"{silver}/identity_records",
            transactions=f"{silver}/transactions",
            model=f"{root}/model/splink_model.json",
            match_pairs=f"{silver}/match_pairs",
            clusters=f"{silver}/clusters",
            customers=f"{gold}/customers",
            crosswalk=f"{gold}/customer_crosswalk",
            transactions_resolved=f"{gold}/transactions_resolved",
            customer_counts=f"{gold}/customer_counts",
            review_labels=f"{silver}/review_labels",
            customer_id_history=f"{gold}/customer_id_history",
            run_metrics=f"{root}/meta/run_metrics",
        )


@dataclass
class ResolveResult:
    customers: int
    identity_records: int
    records_by_source: dict[str, int]
    naive_count: int
    comparisons_upper_bound: int
    pairs_scored_kept: int
    pairs_accepted: int
    transactions: int
    by_source_combination: dict[str, int]
    model_path: str
    id_changes: dict[str, int] = field(default_factory=dict)  # customer_id_history events of this run
    drift_breaches: list[str] = field(default_factory=list)  # bounds this run broke (monitoring)
    stage_seconds: dict[str, float] = field(default_factory=dict)


def latest_per_key(df: DataFrame, key: str) -> DataFrame:
    """One bronze row per source record id: the most recently ingested one."""
    w = Window.partitionBy(F.trim(F.col(key))).orderBy(F.col(INGESTED_AT).desc(), F.col(BATCH).desc())
    return df.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def build_silver(spark: SparkSession, config: Config) -> tuple[DataFrame, DataFrame]:
    """(identity records, typed transactions) from the bronze tables."""
    nicknames = F.broadcast(nickname_table(spark))
    account_source = config.model.account_source
    customer_records = []
    for source in config.sources_of_kind("customers"):
        bronze = latest_per_key(read_delta(spark, config.bronze_path(source.name), what=f"bronze.{source.name}"), source.id_column)
        customer_records.append(identities.standardise_customer_source(bronze, source, nicknames))
    tx_frames = []
    for source in config.sources_of_kind("transactions"):
        bronze = read_delta(spark, config.bronze_path(source.name), what=f"bronze.{source.name}")
        tx_frames.append(identities.typed_transactions(bronze, source, account_source))
    transactions = reduce(DataFrame.unionByName, tx_frames)
    accounts = reduce(DataFrame.unionByName, customer_records)
    records = accounts.unionByName(identities.guest_identities(transactions, nicknames)).unionByName(
        identities.orphan_account_identities(transactions, accounts.filter(F.col("source_system") == account_source), account_source)
    )
    return records, transactions


def review_labels(spark: SparkSession, paths: ResolvePaths) -> DataFrame | None:
    """Reviewers' accepted decisions (record_key_l, record_key_r, is_match, review_batch), if any."""
    return read_delta(spark, paths.review_labels) if delta_exists(spark, paths.review_labels) else None


def scored_pairs(spark: SparkSession, paths: ResolvePaths) -> tuple[DataFrame, DataFrame | None]:
    """``match_pairs`` with reviewers' forced links and splits applied, and the labels."""
    pairs = read_delta(spark, paths.match_pairs, what="silver.match_pairs")
    labels = review_labels(spark, paths)
    return (review.apply_labels(pairs, labels) if labels is not None else pairs), labels


def run_resolve(spark: SparkSession, config: Config, model_path: str | None = None, m_from_labels: bool = False) -> ResolveResult:
    """``m_from_labels`` re-estimates m from reviewers' confirmed matches after EM (training only)."""
    paths = ResolvePaths.from_config(config)
    labels = review_labels(spark, paths)
    if m_from_labels and labels is None:
        raise ReviewFileError(f"m from labels was asked for but there are no review labels at {paths.review_labels}: run jobs.review first")
    timings: dict[str, float] = {}
    run_time = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    run_id = f"resolve-{run_time:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"

    def timed(stage: str, started: float) -> None:
        timings[stage] = round(time.monotonic() - started, 1)
        log.info("stage %s took %.1fs", stage, timings[stage])

    t = time.monotonic()
    records, transactions = build_silver(spark, config)
    write_delta(records, paths.identity_records)
    write_delta(transactions, paths.transactions)
    records = read_delta(spark, paths.identity_records)
    transactions = read_delta(spark, paths.transactions)
    n_records = records.count()
    by_source = {r.source_system: r["count"] for r in records.groupBy("source_system").count().collect()}
    duplicated = records.groupBy("record_key").count().filter("count > 1").count()
    if duplicated:
        raise RowCountMismatch(f"silver.identity_records: {duplicated} record keys appear more than once")
    timed("standardise", t)

    t = time.monotonic()
    counts = matching.count_comparisons(records, config.model.blocking_rules)
    upper_bound = matching.check_comparison_budget(counts, config.model.max_comparisons)
    timed("blocking", t)

    records_by_source = {name: records.filter(F.col("source_system") == name) for name in sorted(by_source)}
    if model_path is None:
        t = time.monotonic()
        match_labels = labels.filter("is_match") if m_from_labels and labels is not None else None
        model_path = matching.train_model(spark, config.model, records_by_source, paths.model, match_labels)
        timed("train", t)

    t = time.monotonic()
    pairs = matching.predict_pairs(spark, config.model, records_by_source, model_path, config.model.predict_threshold)
    write_delta(pairs, paths.match_pairs)
    pairs = read_delta(spark, paths.match_pairs)
    n_pairs = pairs.count()
    if labels is not None:
        pairs = review.apply_labels(pairs, labels)  # reviewers' links and splits win over the model
        log.info("review labels applied: %d pairs", labels.count())
    timed("predict", t)

    t = time.monotonic()
    clusters = clustering.cluster_records(spark, records, pairs, config.model.match_threshold, config.clustering)
    clusters, history = ids.assign_customer_ids(clusters, _previous_crosswalk(spark, paths), run_id, F.lit(run_time))
    write_delta(clusters, paths.clusters)  # the previous crosswalk is read here, before it is replaced below
    clusters = read_delta(spark, paths.clusters)
    write_delta(history, paths.customer_id_history, mode="append")
    id_changes = {r.event: r["count"] for r in read_delta(spark, paths.customer_id_history).filter(F.col("run_id") == run_id).groupBy("event").count().collect()}
    log.info("customer ids: %s", ", ".join(f"{k} {v}" for k, v in sorted(id_changes.items())) or "no changes")
    n_accepted = pairs.filter(F.col("match_probability") >= config.model.match_threshold).count()
    timed("cluster", t)

    t = time.monotonic()
    records_with_ids = records.join(clusters.select("record_key", "customer_id"), "record_key")
    resolved = golden.resolve_transactions(transactions, clusters)
    write_delta(golden.crosswalk(records, clusters), paths.crosswalk)
    write_delta(resolved, paths.transactions_resolved)
    resolved = read_delta(spark, paths.transactions_resolved)
    sources = sorted(set(by_source) | {s.name for s in config.sources_of_kind("customers")})
    write_delta(golden.golden_customers(records_with_ids, resolved, config.survivorship, sources), paths.customers)
    customers = read_delta(spark, paths.customers)
    write_delta(golden.customer_counts(customers, records), paths.customer_counts)
    counts_row = read_delta(spark, paths.customer_counts).first()
    timed("golden", t)

    n_transactions = transactions.count()
    _check_conservation(spark, paths, n_records, n_transactions)

    # run metrics and drift against the previous run
    source_rows = source_row_counts(spark, config)
    figures = monitoring.RunFigures(
        customers=int(counts_row["customers"]), identity_records=n_records, accepted_pairs=n_accepted,
        rows_read={r["source_system"]: r["rows_read"] for r in source_rows}, rows_quarantined={r["source_system"]: r["rows_quarantined"] for r in source_rows},
    )  # fmt: skip
    previous = None
    if delta_exists(spark, paths.run_metrics):
        last = read_delta(spark, paths.run_metrics).orderBy(F.desc("finished_at")).first()
        if last is not None:
            previous = monitoring.RunFigures(last.customers, last.identity_records, last.accepted_pairs, dict(last.rows_read), dict(last.rows_quarantined))
    breaches = monitoring.drift_breaches(figures, previous, config.monitoring)
    for breach in breaches:
        log.warning("drift: %s", breach)
    metrics = {
        "run_id": run_id, "finished_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "rows_read": figures.rows_read,
        "rows_accepted": {r["source_system"]: r["rows_accepted"] for r in source_rows}, "rows_quarantined": figures.rows_quarantined,
        "identity_records": n_records, "comparisons": upper_bound, "pairs_kept": n_pairs, "accepted_pairs": n_accepted,
        "customers": figures.customers, "id_changes": id_changes, "stage_seconds": timings,
        "model_fingerprint": monitoring.model_fingerprint(model_path), "drift_breaches": breaches,
    }  # fmt: skip
    write_delta(spark.createDataFrame([metrics], monitoring.RUN_METRICS_SCHEMA), paths.run_metrics, mode="append")
    return ResolveResult(
        customers=int(counts_row["customers"]),
        identity_records=n_records,
        records_by_source=by_source,
        naive_count=int(counts_row["naive_count"]),
        comparisons_upper_bound=upper_bound,
        pairs_scored_kept=n_pairs,
        pairs_accepted=n_accepted,
        transactions=n_transactions,
        by_source_combination=dict(counts_row["by_source_combination"]),
        model_path=model_path,
        id_changes=id_changes,
        drift_breaches=breaches,
        stage_seconds=timings,
    )


def _previous_crosswalk(spark: SparkSession, paths: ResolvePaths) -> DataFrame | None:
    """record_key, customer_id, customer_since of the last good run (None on the first run)."""
    if not delta_exists(spark, paths.crosswalk):
        return None
    previous = read_delta(spark, paths.crosswalk)
    since = F.col("customer_since") if "customer_since" in previous.columns else F.lit(None).cast("timestamp")
    return previous.select("record_key", "customer_id", since.alias("customer_since"))


def _check_conservation(spark: SparkSession, paths: ResolvePaths, n_records: int, n_transactions: int) -> None:
    """Every identity record has one customer; every transaction row appears exactly once."""
    crosswalk = read_delta(spark, paths.crosswalk)
    n_crosswalk = crosswalk.count()
    if n_crosswalk != n_records or crosswalk.filter(F.col("customer_id").isNull()).count():
        raise RowCountMismatch(f"gold.customer_crosswalk has {n_crosswalk} rows for {n_records} identity records")
    n_resolved = read_delta(spark, paths.transactions_resolved).count()
    if n_resolved != n_transactions:
        raise RowCountMismatch(f"gold.transactions_resolved has {n_resolved} rows but silver.transactions has {n_transactions}")
    n_customers = read_delta(spark, paths.customers).count()
    n_ids = crosswalk.select("customer_id").distinct().count()
    if n_customers != n_ids:
        raise RowCountMismatch(f"gold.customers has {n_customers} rows for {n_ids} distinct customer ids")
    log.info("row conservation ok: %d identity records, %d transactions, %d customers", n_records, n_transactions, n_customers)
