"""The resolve run ledger: which bronze batches each run processed, and how to recover.

Every resolve appends a ``started`` row to ``meta/resolve_runs`` before it writes anything
and a ``succeeded`` row (with the Delta version of every table it owns) when it is done;
a run that raises appends ``failed``. A run killed outright leaves only its ``started`` row.

Recovery: when the ledger's latest row is a ``started`` run (it was killed), the next run
first compares each owned table's current version with the version the last successful
run recorded, and restores any table that moved (Delta ``RESTORE``, itself an atomic
commit). So whatever the killed run half did is undone, and the batches it was processing
are simply still new. A run that raises restores the tables itself before it records
``failed``. Tables an operator restored by hand after a successful run are left alone.

Planning (:func:`plan_run`) is a pure decision: a full rebuild when there is no good run
yet, when asked, or when something invalidates the stored pairs (a different model or
matching settings, changed review labels, a bronze batch that disappeared because its
file was replaced); otherwise the batches no successful run has processed, incrementally;
otherwise nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame, Row, SparkSession

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config
from customer_identity.core.io import delta_exists, delta_version, last_commit, read_delta, restore_delta, write_delta
from customer_identity.ingestion.contracts import BATCH

log = logging.getLogger(__name__)

LEDGER_SCHEMA = (
    "run_id string, status string, mode string, reason string, recorded_at timestamp, batches array<string>, "
    "model_path string, model_fingerprint string, settings_fingerprint string, labels_version long, "
    "table_versions map<string,long>, message string"
)

FULL, INCREMENTAL, NOTHING = "full", "incremental", "nothing"


def settings_fingerprint(config: Config) -> str:
    """What the stored pairs and clusters depend on besides the model: matching and clustering settings."""
    model = dataclasses.asdict(config.model)
    scoring = {
        k: model[k]
        for k in ("account_source", "link_type", "comparisons", "blocking_rules", "predict_threshold", "match_threshold", "link_guard", "conditional_evidence")
    }
    described = json.dumps({"model": scoring, "clustering": dataclasses.asdict(config.clustering)}, sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()


def bronze_batches(spark: SparkSession, config: Config) -> set[str]:
    """Every batch present in the bronze tables, as ``source/batch_id``."""
    out = set()
    for source in config.sources.values():
        path = Catalog(config).path("bronze.source", source=source.name)
        if delta_exists(spark, path):
            out |= {f"{source.name}/{r[0]}" for r in read_delta(spark, path).select(BATCH).distinct().collect()}
    return out


def batches_by_source(batches: set[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for b in sorted(batches):
        source, batch = b.split("/", 1)
        out.setdefault(source, []).append(batch)
    return out


@dataclass(frozen=True)
class Plan:
    mode: str  # full, incremental or nothing
    reason: str
    batches: frozenset[str]  # the batches this run processes (all of bronze for a full run)


def plan_run(
    last_good: Row | None,
    processed: set[str],
    current: set[str],
    *,
    full_refresh: bool,
    model_fingerprint: str | None,
    settings_fingerprint: str,
    labels_version: int | None,
) -> Plan:
    """What this run must do. ``model_fingerprint`` is None when the run trains a new model."""
    everything = frozenset(current)
    if last_good is None:
        return Plan(FULL, "no successful run yet", everything)
    if full_refresh:
        return Plan(FULL, "full refresh asked for", everything)
    if model_fingerprint is None:
        return Plan(FULL, "a new model is trained, so every pair is scored again", everything)
    if model_fingerprint != last_good.model_fingerprint:
        return Plan(FULL, "the model differs from the last run's", everything)
    if settings_fingerprint != last_good.settings_fingerprint:
        return Plan(FULL, "matching or clustering settings changed since the last run", everything)
    if labels_version != last_good.labels_version:
        return Plan(FULL, "review labels changed since the last run", everything)
    gone = processed - current
    if gone:
        return Plan(FULL, f"{len(gone)} processed batch(es) no longer in bronze (a file was replaced)", everything)
    new = frozenset(current - processed)
    if not new:
        return Plan(NOTHING, f"no new batches since run {last_good.run_id}", new)
    return Plan(INCREMENTAL, f"{len(new)} new batch(es)", new)


class RunLedger:
    """Append-only Delta table of resolve runs (``meta/resolve_runs``)."""

    def __init__(self, spark: SparkSession, path: str):
        self.spark, self.path = spark, path
        self._cache: list[Row] | None = None

    def _rows(self) -> list[Row]:
        """Every ledger row, oldest first, read once (one row per run) until the next record."""
        if self._cache is None:
            exists = delta_exists(self.spark, self.path)
            self._cache = read_delta(self.spark, self.path, what="meta.resolve_runs").orderBy("recorded_at").collect() if exists else []
        return self._cache

    def last_good(self) -> Row | None:
        good = [r for r in self._rows() if r.status == "succeeded"]
        return good[-1] if good else None

    def unfinished(self) -> Row | None:
        """The latest run when it neither succeeded nor failed cleanly (killed, or its restore failed)."""
        rows = self._rows()
        return rows[-1] if rows and rows[-1].status == "started" else None

    def processed_batches(self) -> set[str]:
        """Batches that some successful run processed (a full run processes all of bronze)."""
        # every run since (and including) the last full run contributes its batches
        out: set[str] = set()
        for r in self._rows():
            if r.status == "succeeded":
                out = set(r.batches) if r.mode == FULL else out | set(r.batches)
        return out

    def record(self, run_id: str, status: str, plan: Plan, *, model_path: str | None = None, model_fingerprint: str | None = None,
               settings_fingerprint: str | None = None, labels_version: int | None = None,
               table_versions: Mapping[str, int] | None = None, message: str | None = None) -> None:  # fmt: skip
        row = {
            "run_id": run_id, "status": status, "mode": plan.mode, "reason": plan.reason,
            "recorded_at": dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "batches": sorted(plan.batches),
            "model_path": model_path, "model_fingerprint": model_fingerprint, "settings_fingerprint": settings_fingerprint,
            "labels_version": labels_version, "table_versions": dict(table_versions or {}), "message": message,
        }  # fmt: skip
        write_delta(self.spark.createDataFrame([row], LEDGER_SCHEMA), self.path, mode="append")
        self._cache = None


# The tables a resolve run owns, by the names the ledger records their versions under.
OWNED_TABLES = {
    "identity_records": "silver.identity_records", "transactions": "silver.transactions", "match_pairs": "silver.match_pairs",
    "clusters": "silver.clusters", "customers": "gold.customers", "crosswalk": "gold.customer_crosswalk",
    "transactions_resolved": "gold.transactions_resolved", "customer_counts": "gold.customer_counts",
    "customer_id_history": "gold.customer_id_history", "run_metrics": "meta.run_metrics", "field_issues": "silver.field_issues",
}  # fmt: skip


@dataclass(frozen=True)
class Published:
    """The tables as the latest successful resolve run left them, for every reader of its output.

    A run killed between two of its commits (the crosswalk merged, the customers not yet
    written) leaves the current versions mixed until the next run restores them; reading
    through this snapshot, a consumer sees the previous run whole. Tables no resolve run
    owns are read at their latest version. Build one per consumer run, so that all its
    reads come from the same ledger row.
    """

    catalog: Catalog
    versions: Mapping[str, int]  # catalog name -> Delta version
    run_id: str | None = None

    def read(self, spark: SparkSession, name: str, /, **params) -> DataFrame:
        return self.catalog.read(spark, name, version=self.versions.get(name), **params)


def published(spark: SparkSession, catalog: Catalog) -> Published:
    """The snapshot of the latest successful resolve run (latest versions before the first run)."""
    good = RunLedger(spark, catalog.path("meta.resolve_runs")).last_good()
    if good is None:
        return Published(catalog, {})
    return Published(catalog, {OWNED_TABLES[k]: v for k, v in good.table_versions.items() if k in OWNED_TABLES}, good.run_id)


def table_versions(spark: SparkSession, tables: Mapping[str, str]) -> dict[str, int]:
    """name -> current Delta version of each owned table that exists."""
    return {name: v for name, path in tables.items() if (v := delta_version(spark, path)) is not None}


def restored_to(spark: SparkSession, path: str, version: int) -> bool:
    """Whether the table's latest commit is a restore to ``version`` (same content as that version)."""
    last = last_commit(spark, path)
    return last.operation == "RESTORE" and str(last.operationParameters.get("version")) == str(version)


def recover(spark: SparkSession, last_good: Row | None, tables: Mapping[str, str]) -> list[str]:
    """Restore every owned table that moved since the last successful run; returns their names."""
    if last_good is None:
        return []
    restored = []
    for name, path in tables.items():
        good = last_good.table_versions.get(name)
        current = delta_version(spark, path)
        if good is not None and current is not None and current != good and not restored_to(spark, path, good):
            log.warning(
                "table %s is at version %d but the last successful run left it at %d: restoring it (an unfinished run wrote to it)", name, current, good
            )
            restore_delta(spark, path, good)
            restored.append(name)
    return restored
