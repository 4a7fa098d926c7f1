"""The resolve stage: bronze -> silver identity records -> Splink pairs -> clusters -> gold tables.

A run is either a full rebuild (every bronze batch, tables overwritten) or incremental
(only the batches no successful run has processed: their records are scored against the
existing ones with the saved model, the customers they touch are re-clustered, and the
tables are updated with Delta ``MERGE``). The run ledger (``runs``) decides which, records
every run, and undoes what an unfinished run left behind before the next one starts.

This is where the stage's reads and writes happen (through ``io``); the logic lives in the
pure transforms of ``identities``, ``matching``, ``incremental``, ``clustering``, ``ids``
and ``golden``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass, field
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_identity.core import fs, monitoring, runs
from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config, ConfigError, ModelConfig, SourceConfig
from customer_identity.core.errors import RowCountMismatch
from customer_identity.core.io import delete_pairs_of, delete_rows_of, delta_exists, delta_version, read_delta, remap_and_append, upsert_delta, write_delta
from customer_identity.ingestion.contracts import BATCH, INGESTED_AT
from customer_identity.ingestion.stage import source_row_counts
from customer_identity.resolution import blocking, clustering, golden, identities, ids, incremental, matching, model_design, profile
from customer_identity.resolution.standardise import nickname_table
from customer_identity.trust import review
from customer_identity.trust.review import ReviewFileError

log = logging.getLogger(__name__)


# ResolvePaths field -> catalog entry (conf/catalog.yaml)
CATALOG_NAMES = {
    "identity_records": "silver.identity_records", "transactions": "silver.transactions", "model": "model.splink",
    "match_pairs": "silver.match_pairs", "clusters": "silver.clusters", "customers": "gold.customers",
    "crosswalk": "gold.customer_crosswalk", "transactions_resolved": "gold.transactions_resolved",
    "customer_counts": "gold.customer_counts", "review_labels": "silver.review_labels",
    "customer_id_history": "gold.customer_id_history", "run_metrics": "meta.run_metrics",
    "run_ledger": "meta.resolve_runs", "field_issues": "silver.field_issues",
}  # fmt: skip


@dataclass(frozen=True)
class ResolvePaths:
    """Where the resolve stage's tables and model are (from the catalog)."""

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
    run_ledger: str
    field_issues: str

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> ResolvePaths:
        """The resolve stage's tables and model, located by the catalog."""
        return cls(**{field: catalog.path(name) for field, name in CATALOG_NAMES.items()})

    @classmethod
    def from_config(cls, config: Config) -> ResolvePaths:
        return cls.from_catalog(Catalog(config))

    def owned_tables(self) -> dict[str, str]:
        """The tables a resolve run writes: restored together when a run did not finish."""
        return {n: getattr(self, n) for n in runs.OWNED_TABLES}


@dataclass
class ResolveResult:
    mode: str  # full, incremental or nothing (see runs.plan_run)
    reason: str
    run_id: str
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
    model_design: list[str] = field(default_factory=list)  # what the model was derived to compare and block on, and why


def latest_per_key(df: DataFrame, key: str) -> DataFrame:
    """One bronze row per source record id: the most recently ingested one."""
    w = Window.partitionBy(F.trim(F.col(key))).orderBy(F.col(INGESTED_AT).desc(), F.col(BATCH).desc())
    return df.withColumn("_rn", F.row_number().over(w)).filter("_rn = 1").drop("_rn")


def _bronze(spark: SparkSession, config: Config, name: str, batches: dict[str, list[str]] | None) -> DataFrame:
    df = read_delta(spark, Catalog(config).path("bronze.source", source=name), what=f"bronze.{name}")
    return df if batches is None else df.filter(F.col(BATCH).isin(batches.get(name, [])))


def build_silver(
    spark: SparkSession, config: Config, batches: dict[str, list[str]] | None = None, known_accounts: DataFrame | None = None
) -> tuple[DataFrame, DataFrame]:
    """(identity records, typed transactions) from the bronze tables, or from the given batches only.

    ``known_accounts`` (record keys) are accounts already resolved: purchases that reference
    them do not create an orphan-account record. Identity records carry ``field_issues``
    (fields nulled during standardisation); :func:`identities.field_issues` lists them.
    """
    nicknames = F.broadcast(nickname_table(spark))
    account_source = config.model.account_source
    country = config.locale.country
    customer_records = []
    for source in config.sources_of_kind("customers"):
        bronze = _bronze(spark, config, source.name, batches)
        check_mapped_columns(source, bronze.columns)
        bronze = latest_per_key(bronze, source.id_column)
        customer_records.append(identities.standardise_customer_source(bronze, source, nicknames, country))
    tx_frames = []
    for source in config.sources_of_kind("transactions"):
        tx_frames.append(identities.typed_transactions(_bronze(spark, config, source.name, batches), source, account_source, country))
    if not tx_frames:
        tx_frames.append(identities.empty_transactions(spark, account_source))
    # materialised once: guest identities, orphan accounts and the silver table all read it,
    # and each read would otherwise standardise every purchase's guest name again
    transactions = reduce(DataFrame.unionByName, tx_frames).localCheckpoint(eager=True)
    accounts = reduce(DataFrame.unionByName, customer_records)
    no_issues = F.array().cast(identities.FIELD_ISSUE_TYPE).alias("field_issues")
    records = accounts.unionByName(identities.guest_identities(transactions, nicknames, country).select("*", no_issues))
    if account_source:
        known = accounts.filter(F.col("source_system") == account_source).select("record_key")
        if known_accounts is not None:
            known = known.unionByName(known_accounts.select("record_key"))
        records = records.unionByName(identities.orphan_account_identities(transactions, known, account_source).select("*", no_issues))
    return records, transactions


def check_mapped_columns(source: SourceConfig, columns: list[str]) -> None:
    """The id column must be in the export; a mapped column that is not is warned about and treated as empty."""
    if source.id_column not in columns:
        raise ConfigError(
            f"sources.{source.name}.id_column: column '{source.id_column}' is not in the export at {source.path}; its columns are {sorted(c for c in columns if not c.startswith('_'))}"
        )
    missing = sorted(f"{attr} -> '{raw}'" for attr, raw in source.columns.items() if raw not in columns)
    if missing:
        log.warning("sources.%s.columns: %s not in the export; treated as empty", source.name, ", ".join(missing))


def review_labels(spark: SparkSession, paths: ResolvePaths) -> DataFrame | None:
    """Reviewers' accepted decisions (record_key_l, record_key_r, is_match, review_batch), if any."""
    return read_delta(spark, paths.review_labels) if delta_exists(spark, paths.review_labels) else None


def scored_pairs(spark: SparkSession, paths: ResolvePaths) -> tuple[DataFrame, DataFrame | None]:
    """``match_pairs`` with reviewers' forced links and splits applied, and the labels."""
    pairs = read_delta(spark, paths.match_pairs, what="silver.match_pairs")
    labels = review_labels(spark, paths)
    return (review.apply_labels(pairs, labels) if labels is not None else pairs), labels


def _labels_version(spark: SparkSession, paths: ResolvePaths) -> int | None:
    return delta_version(spark, paths.review_labels)


def run_resolve(spark: SparkSession, config: Config, model_path: str | None = None, m_from_labels: bool = False, full_refresh: bool = False) -> ResolveResult:
    """Resolve what is new since the last successful run (or everything; see ``runs.plan_run``).

    ``model_path``: a saved model to score with (no training). Without it, an incremental
    run uses the last successful run's model and a full run trains a new one.
    ``m_from_labels`` re-estimates m from reviewers' confirmed matches after EM (a full run).
    """
    paths = ResolvePaths.from_config(config)
    ledger = runs.RunLedger(spark, paths.run_ledger)
    last_good = ledger.last_good()
    if ledger.unfinished() is not None:
        log.warning("the last resolve run did not finish: restoring the tables it may have written")
        runs.recover(spark, last_good, paths.owned_tables())
    labels = review_labels(spark, paths)
    if m_from_labels and labels is None:
        raise ReviewFileError(f"m from labels was asked for but there are no review labels at {paths.review_labels}: run jobs.review first")
    full_refresh = full_refresh or m_from_labels
    if model_path is None and last_good is not None and not full_refresh and last_good.model_path and fs.is_file(last_good.model_path):
        model_path = last_good.model_path
    settings_fp, labels_version = runs.settings_fingerprint(config), _labels_version(spark, paths)
    current = runs.bronze_batches(spark, config)
    plan = runs.plan_run(
        last_good, ledger.processed_batches(), current, full_refresh=full_refresh,
        model_fingerprint=monitoring.model_fingerprint(model_path) if model_path else None,
        settings_fingerprint=settings_fp, labels_version=labels_version,
    )  # fmt: skip
    if plan.mode == runs.INCREMENTAL and not matching.has_term_frequencies(model_path):
        plan = runs.Plan(runs.FULL, "the model has no saved term frequencies, which incremental scoring needs", frozenset(current))
    run_time = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    run_id = f"resolve-{run_time:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    log.info("resolve run %s: %s (%s)", run_id, plan.mode, plan.reason)
    if plan.mode == runs.NOTHING:
        return _nothing_to_do(spark, paths, plan, run_id, model_path)

    ledger.record(run_id, "started", plan, model_path=model_path, settings_fingerprint=settings_fp, labels_version=labels_version)
    try:
        if plan.mode == runs.FULL:
            result = _resolve_full(spark, config, paths, run_id, run_time, model_path, labels, m_from_labels, first_run=last_good is None)
        else:
            result = _resolve_incremental(spark, config, paths, plan, run_id, run_time, model_path, labels)
        result.mode, result.reason = plan.mode, plan.reason
        _record_metrics(spark, config, paths, result, run_id, first_run=last_good is None)
    except BaseException as exc:
        log.error("resolve run %s failed (%s): restoring the tables to the last successful run", run_id, type(exc).__name__)
        try:
            runs.recover(spark, last_good, paths.owned_tables())
            ledger.record(run_id, "failed", plan, model_path=model_path, message=type(exc).__name__)
        except Exception:  # the next run recovers; the original error matters more
            log.exception("could not restore after the failure; the next run will")
        raise
    ledger.record(
        run_id, "succeeded", plan, model_path=result.model_path, model_fingerprint=monitoring.model_fingerprint(result.model_path),
        settings_fingerprint=settings_fp, labels_version=labels_version, table_versions=runs.table_versions(spark, paths.owned_tables()),
    )  # fmt: skip
    return result


class _Clock:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._t = time.monotonic()

    def lap(self, stage: str) -> None:
        now = time.monotonic()
        self.seconds[stage] = round(now - self._t, 1)
        self._t = now
        log.info("stage %s took %.1fs", stage, self.seconds[stage])


def _nothing_to_do(spark: SparkSession, paths: ResolvePaths, plan: runs.Plan, run_id: str, model_path: str | None) -> ResolveResult:
    counts = read_delta(spark, paths.customer_counts).first()
    return ResolveResult(
        mode=plan.mode, reason=plan.reason, run_id=run_id, customers=int(counts["customers"]), identity_records=int(counts["naive_count"]),
        records_by_source=dict(counts["records_by_source"]), naive_count=int(counts["naive_count"]), comparisons_upper_bound=0, pairs_scored_kept=0,
        pairs_accepted=0, transactions=0, by_source_combination=dict(counts["by_source_combination"]), model_path=model_path or "",
    )  # fmt: skip


def _check_unique_keys(records: DataFrame) -> None:
    duplicated = records.groupBy("record_key").count().filter("count > 1").count()
    if duplicated:
        raise RowCountMismatch(f"silver.identity_records: {duplicated} record keys appear more than once")


def _resolve_full(
    spark: SparkSession, config: Config, paths: ResolvePaths, run_id: str, run_time: dt.datetime, model_path: str | None,
    labels: DataFrame | None, m_from_labels: bool, first_run: bool,
) -> ResolveResult:  # fmt: skip
    clock = _Clock()
    previous = None if first_run else _previous_crosswalk(spark, paths)  # read before the crosswalk is replaced
    if previous is not None:
        previous = previous.localCheckpoint(eager=True)
    records, transactions = build_silver(spark, config)
    records = records.localCheckpoint(eager=True)
    write_delta(identities.field_issues(records), paths.field_issues)
    records = records.drop("field_issues")
    _check_unique_keys(records)
    clock.lap("standardise")

    # the model is designed and the budget checked before anything is written: a bad rule changes no table
    design = None
    if model_path is None:
        design = design_model(config, records)
        model = design.apply(config.model)
    else:
        model = scoring_model(config, model_path)
    counts = design.blocking_counts if design is not None else matching.count_comparisons(records, model.blocking_rules)
    upper_bound = matching.check_comparison_budget(counts, model.max_comparisons)
    clock.lap("blocking")

    write_delta(records, paths.identity_records)
    write_delta(transactions, paths.transactions)
    records = read_delta(spark, paths.identity_records)
    transactions = read_delta(spark, paths.transactions)
    n_records = records.count()
    by_source = {r.source_system: r["count"] for r in records.groupBy("source_system").count().collect()}
    clock.lap("silver tables")

    records_by_source = {name: records.filter(F.col("source_system") == name) for name in sorted(by_source)}
    if model_path is None:
        match_labels = labels.filter("is_match") if m_from_labels and labels is not None else None
        model_path = matching.train_model(spark, model, records_by_source, paths.model, match_labels)
        model_design.save_design(design, model_path)
        clock.lap("train")

    pairs = matching.predict_pairs(spark, model, records_by_source, model_path, config.model.predict_threshold)
    write_delta(pairs, paths.match_pairs)
    pairs = read_delta(spark, paths.match_pairs)
    n_pairs = pairs.count()
    if labels is not None:
        pairs = review.apply_labels(pairs, labels)  # reviewers' links and splits win over the model
        log.info("review labels applied: %d pairs", labels.count())
    clock.lap("predict")

    # materialised: the clusters and the id history are both written from it
    clusters = clustering.cluster_records(spark, records, pairs, config.model.match_threshold, config.clustering).localCheckpoint(eager=True)
    clusters, history = _assign_ids(clusters, previous, run_id, run_time)
    write_delta(clusters, paths.clusters)
    clusters = read_delta(spark, paths.clusters)
    write_delta(history, paths.customer_id_history, mode="overwrite" if first_run else "append")
    id_changes = _id_changes(spark, paths, run_id)
    n_accepted = pairs.filter(F.col("match_probability") >= config.model.match_threshold).count()
    clock.lap("cluster")

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
    clock.lap("golden")

    n_transactions = transactions.count()
    _check_conservation(spark, paths, n_records, n_transactions)
    result = _result(run_id, counts_row, n_records, by_source, upper_bound, n_pairs, n_accepted, n_transactions, model_path, id_changes, clock)
    result.model_design = design.summary_lines() if design is not None else []
    return result


def design_model(config: Config, records: DataFrame) -> model_design.ModelDesign:
    """Profile the identity records and derive what the configured model leaves unpinned."""
    rows = [r.asDict() for r in profile.profile_records(records, config.locale.country).collect()]
    summary = profile.summarise(rows)
    home = model_design.household_home(model_design.usable_attributes(summary))
    households = profile.household_evidence(records, home) if config.model.link_guard is not None and home else None
    return model_design.derive_design(
        config.model, summary, len(summary.records_by_source), lambda rules: matching.count_comparisons(records, rules), households
    )  # fmt: skip


def scoring_model(config: Config, model_path: str) -> ModelConfig:
    """The configured model with the blocking rules and link-guard decision a saved model was designed with."""
    model = dataclasses.replace(config.model, blocking_rules=model_design.saved_blocking_rules(model_path, config.model))
    return dataclasses.replace(model, link_guard=model_design.saved_link_guard(model_path, model.link_guard))


def _resolve_incremental(
    spark: SparkSession, config: Config, paths: ResolvePaths, plan: runs.Plan, run_id: str, run_time: dt.datetime,
    model_path: str, labels: DataFrame | None,
) -> ResolveResult:  # fmt: skip
    clock = _Clock()
    threshold = config.model.match_threshold
    existing = read_delta(spark, paths.identity_records, what="silver.identity_records")
    known_accounts = existing.filter(F.col("source_system") == config.model.account_source).select("record_key")
    incoming, new_tx = build_silver(spark, config, runs.batches_by_source(set(plan.batches)), known_accounts)
    incoming = incoming.localCheckpoint(eager=True)
    _replace_field_issues(spark, paths, incoming)
    classified = incremental.classify_incoming(incoming.drop("field_issues"), existing).localCheckpoint(eager=True)
    new_tx = new_tx.localCheckpoint(eager=True)
    changes = {r.change: r["count"] for r in classified.groupBy("change").count().collect()}
    log.info("incoming identity records: %s; new transaction rows: %d", ", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "none", new_tx.count())
    upsert_delta(classified.drop("change"), paths.identity_records, ["record_key"])
    write_delta(new_tx, paths.transactions, mode="append")
    records = read_delta(spark, paths.identity_records)
    n_records = records.count()
    by_source = {r.source_system: r["count"] for r in records.groupBy("source_system").count().collect()}
    _check_unique_keys(records)
    to_score = classified.filter(F.col("change") != incremental.SAME).select("record_key")
    changed = classified.filter(F.col("change") == incremental.CHANGED).select("record_key")
    clock.lap("standardise")

    model = scoring_model(config, model_path)
    rules = model.blocking_rules
    # bounded keys are sized over every record, not over those this run scores
    keyed = blocking.with_block_keys(records, rules)
    scored = keyed.join(to_score, "record_key", "left_semi")
    partners = incremental.blocking_partners(keyed.join(to_score, "record_key", "left_anti"), scored, rules)
    flagged = to_score.withColumn(matching.NEW_FLAG, F.lit(True))
    inputs = (
        keyed.join(to_score.unionByName(partners).distinct(), "record_key", "left_semi")
        .join(flagged, "record_key", "left")
        .withColumn(matching.NEW_FLAG, F.coalesce(matching.NEW_FLAG, F.lit(False)))
        .localCheckpoint(eager=True)
    )
    upper_bound = matching.check_comparison_budget(matching.count_comparisons(inputs, rules, matching.NEW_FLAG), model.max_comparisons)
    clock.lap("blocking")

    n_pairs = 0
    pair_schema = read_delta(spark, paths.match_pairs).schema
    new_pairs = spark.createDataFrame([], pair_schema)
    if changes.get(incremental.NEW, 0) + changes.get(incremental.CHANGED, 0):
        present = sorted(r[0] for r in inputs.select("source_system").distinct().collect())
        by_input_source = {name: inputs.filter(F.col("source_system") == name) for name in present}
        new_pairs = matching.predict_pairs(spark, model, by_input_source, model_path, config.model.predict_threshold)
        n_pairs = new_pairs.count()
        if changes.get(incremental.CHANGED, 0):
            delete_pairs_of(spark, paths.match_pairs, changed)  # their old pairs were scored on old values
        write_delta(new_pairs.select(*pair_schema.fieldNames()), paths.match_pairs, mode="append")
    clock.lap("predict")

    previous_clusters = read_delta(spark, paths.clusters)
    accepted_new = new_pairs.filter(F.col("match_probability") >= threshold)
    affected = incremental.affected_customers(previous_clusters, accepted_new, changed).localCheckpoint(eager=True)
    regroup = incremental.records_to_recluster(records, previous_clusters, affected, to_score).localCheckpoint(eager=True)
    all_pairs = read_delta(spark, paths.match_pairs)
    edges = incremental.pairs_within(all_pairs, regroup)
    if labels is not None:
        edges = review.apply_labels(edges, incremental.pairs_within(labels, regroup))
    clusters = clustering.cluster_records(spark, regroup, edges, threshold, config.clustering).localCheckpoint(eager=True)
    clusters, history = _assign_ids(clusters, _previous_crosswalk(spark, paths), run_id, run_time)
    clusters = clusters.localCheckpoint(eager=True)
    upsert_delta(clusters, paths.clusters, ["record_key"])
    write_delta(history, paths.customer_id_history, mode="append")
    id_changes = _id_changes(spark, paths, run_id)
    n_accepted = all_pairs.filter(F.col("match_probability") >= threshold).count()
    log.info("re-clustered %d records of %d affected customers", regroup.count(), affected.count())
    clock.lap("cluster")

    upsert_delta(golden.crosswalk(regroup, clusters), paths.crosswalk, ["record_key"])
    crosswalk = read_delta(spark, paths.crosswalk)
    new_resolved = golden.resolve_transactions(new_tx, crosswalk)
    remap_and_append(clusters.select("record_key", "customer_id"), new_resolved, paths.transactions_resolved, key="record_key", set_columns=["customer_id"])
    # golden rows to refresh: the re-clustered customers and everyone with new purchases
    refresh = clusters.select("customer_id").unionByName(new_resolved.filter(F.col("customer_id").isNotNull()).select("customer_id")).distinct()
    refresh = refresh.localCheckpoint(eager=True)
    members = crosswalk.join(refresh, "customer_id").select("record_key", "customer_id")
    records_with_ids = records.join(members, "record_key")
    resolved = read_delta(spark, paths.transactions_resolved).join(refresh, "customer_id")
    sources = sorted(set(by_source) | {s.name for s in config.sources_of_kind("customers")})
    fresh_rows = golden.golden_customers(records_with_ids, resolved, config.survivorship, sources).withColumn("_retired", F.lit(False))
    retired = affected.join(clusters.select("customer_id").distinct(), "customer_id", "left_anti").withColumn("_retired", F.lit(True))
    upsert_delta(fresh_rows.unionByName(retired, allowMissingColumns=True), paths.customers, ["customer_id"], delete_flag="_retired")
    customers = read_delta(spark, paths.customers)
    write_delta(golden.customer_counts(customers, records), paths.customer_counts)
    counts_row = read_delta(spark, paths.customer_counts).first()
    clock.lap("golden")

    n_transactions = read_delta(spark, paths.transactions).count()
    _check_conservation(spark, paths, n_records, n_transactions)
    return _result(run_id, counts_row, n_records, by_source, upper_bound, n_pairs, n_accepted, n_transactions, model_path, id_changes, clock)


def _replace_field_issues(spark: SparkSession, paths: ResolvePaths, incoming: DataFrame) -> None:
    """The field issues of the incoming records replace any earlier ones of the same records."""
    if delta_exists(spark, paths.field_issues):
        delete_rows_of(spark, paths.field_issues, incoming.select("record_key"))
        write_delta(identities.field_issues(incoming), paths.field_issues, mode="append")
    else:
        write_delta(identities.field_issues(incoming), paths.field_issues)


def _id_changes(spark: SparkSession, paths: ResolvePaths, run_id: str) -> dict[str, int]:
    history = read_delta(spark, paths.customer_id_history).filter(F.col("run_id") == run_id)
    changes = {r.event: r["count"] for r in history.groupBy("event").count().collect()}
    log.info("customer ids: %s", ", ".join(f"{k} {v}" for k, v in sorted(changes.items())) or "no changes")
    return changes


def _result(run_id, counts_row, n_records, by_source, upper_bound, n_pairs, n_accepted, n_transactions, model_path, id_changes, clock) -> ResolveResult:
    return ResolveResult(
        mode="", reason="", run_id=run_id, customers=int(counts_row["customers"]), identity_records=n_records, records_by_source=by_source,
        naive_count=int(counts_row["naive_count"]), comparisons_upper_bound=upper_bound, pairs_scored_kept=n_pairs, pairs_accepted=n_accepted,
        transactions=n_transactions, by_source_combination=dict(counts_row["by_source_combination"]), model_path=model_path,
        id_changes=id_changes, stage_seconds=clock.seconds,
    )  # fmt: skip


def _record_metrics(spark: SparkSession, config: Config, paths: ResolvePaths, result: ResolveResult, run_id: str, first_run: bool) -> None:
    """Append the run's figures to ``run_metrics`` and check them against the previous run's (drift)."""
    source_rows = source_row_counts(spark, config)
    figures = monitoring.RunFigures(
        customers=result.customers, identity_records=result.identity_records, accepted_pairs=result.pairs_accepted,
        rows_read={r["source_system"]: r["rows_read"] for r in source_rows}, rows_quarantined={r["source_system"]: r["rows_quarantined"] for r in source_rows},
    )  # fmt: skip
    previous = None
    if not first_run and delta_exists(spark, paths.run_metrics):
        last = read_delta(spark, paths.run_metrics).orderBy(F.desc("finished_at")).first()
        if last is not None:
            previous = monitoring.RunFigures(last.customers, last.identity_records, last.accepted_pairs, dict(last.rows_read), dict(last.rows_quarantined))
    result.drift_breaches = monitoring.drift_breaches(figures, previous, config.monitoring)
    for breach in result.drift_breaches:
        log.warning("drift: %s", breach)
    metrics = {
        "run_id": run_id, "finished_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "mode": result.mode, "rows_read": figures.rows_read,
        "rows_accepted": {r["source_system"]: r["rows_accepted"] for r in source_rows}, "rows_quarantined": figures.rows_quarantined,
        "identity_records": result.identity_records, "comparisons": result.comparisons_upper_bound, "pairs_kept": result.pairs_scored_kept,
        "accepted_pairs": result.pairs_accepted, "customers": result.customers, "id_changes": result.id_changes, "stage_seconds": result.stage_seconds,
        "model_fingerprint": monitoring.model_fingerprint(result.model_path), "drift_breaches": result.drift_breaches,
        "field_issues": _field_issue_counts(spark, paths),
    }  # fmt: skip
    write_delta(
        spark.createDataFrame([metrics], monitoring.RUN_METRICS_SCHEMA), paths.run_metrics, mode="overwrite" if first_run else "append", merge_schema=True
    )


def _field_issue_counts(spark: SparkSession, paths: ResolvePaths) -> dict[str, int]:
    """Fields nulled during standardisation, by ``source.attribute:reason``."""
    if not delta_exists(spark, paths.field_issues):
        return {}
    grouped = read_delta(spark, paths.field_issues).groupBy("source_system", "attribute", "reason").count().collect()
    counts = {f"{r.source_system}.{r.attribute}:{r.reason}": r["count"] for r in grouped}
    if counts:
        log.info("fields nulled and recorded in silver.field_issues: %s", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return counts


def _assign_ids(clusters: DataFrame, previous: DataFrame | None, run_id: str, run_time: dt.datetime) -> tuple[DataFrame, DataFrame]:
    """:func:`ids.assign_customer_ids`, with the overlap both the ids and their history read materialised once."""
    overlap = ids.id_overlap(clusters, previous).localCheckpoint(eager=True) if previous is not None else None
    return ids.assign_customer_ids(clusters, previous, run_id, F.lit(run_time), overlap)


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
