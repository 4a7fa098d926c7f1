"""Bronze ingestion: read each source, keep raw values, write its bronze and quarantine slices.

:func:`ingest_source` is the one place that reads a source and writes them; which rows
break the contract and why is decided in :mod:`customer_identity.ingestion.contracts`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config, SourceConfig
from customer_identity.core.errors import RowCountMismatch
from customer_identity.core.io import SOURCE_FILE_COLUMN, delete_from_delta, delta_exists, read_delta, read_source, source_files, write_delta
from customer_identity.ingestion.contracts import (
    BATCH,
    derive_batch_id,
    filter_accepted,
    quarantine_rows,
    with_lineage,
    with_reject_reason,
)  # fmt: skip

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IngestResult:
    source: str
    batch_id: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int]

    @property
    def balanced(self) -> bool:
        return self.rows_read == self.rows_accepted + self.rows_quarantined


def files_ledger_path(config: Config) -> str:
    return Catalog(config).path("meta.ingested_files")


def new_files(spark: SparkSession, config: Config, source: SourceConfig, files: list[tuple[str, int, int]]) -> tuple[list, list]:
    """Split a source's files into (new or changed files, changed files) against the ledger."""
    ledger_path = files_ledger_path(config)
    if not delta_exists(spark, ledger_path):
        return files, []
    seen = {(r.file_path, r.file_size, r.file_mtime) for r in read_delta(spark, ledger_path).filter(F.col("source_system") == source.name).collect()}
    seen_paths = {p for p, _, _ in seen}
    fresh = [f for f in files if f not in seen]
    return fresh, [f for f in fresh if f[0] in seen_paths]


def ingest_source(spark: SparkSession, config: Config, source: SourceConfig, batch_id: str | None = None) -> IngestResult:
    """Ingest the files of one source not ingested before, as one batch, and prove no row was lost.

    Files already in the ledger (same path, size and modification time) are skipped, so
    re-running changes nothing; a file that changed in place replaces its earlier rows.
    """
    everything = read_source(spark, source)
    files = source_files(everything) if source.format != "jdbc" else []
    fresh, changed = (files, []) if source.format == "jdbc" else new_files(spark, config, source, files)
    if source.format != "jdbc" and not files:
        log.warning("source=%s: %s holds no rows (empty or header-only); its bronze table stays empty", source.name, source.path)
        _ensure_bronze(spark, config, source, everything)
        return IngestResult(source.name, "", 0, 0, 0, {})
    if source.format != "jdbc" and not fresh:
        log.info("source=%s: no new files since the last ingestion; nothing to do", source.name)
        return IngestResult(source.name, "", 0, 0, 0, {})
    batch = batch_id or derive_batch_id(source.name, fresh)
    raw = everything
    if source.format != "jdbc":
        raw = everything.filter(F.col(SOURCE_FILE_COLUMN).isin([p for p, _, _ in fresh]))
    raw = raw.cache()
    checked = with_lineage(with_reject_reason(raw, source), batch).cache()
    rows_read = raw.count()

    bronze_path = Catalog(config).path("bronze.source", source=source.name)
    for path, _, _ in changed:
        _delete_file_rows(spark, config, source.name, path)
    where = f"{BATCH} = '{batch}'"
    write_delta(filter_accepted(checked), bronze_path, replace_where=where)
    write_delta(
        quarantine_rows(checked, source.name),
        Catalog(config).path("quarantine"),
        replace_where=f"source_system = '{source.name}' AND batch_id = '{batch}'",
        partition_by=["source_system"],
    )
    accepted = read_delta(spark, bronze_path).filter(F.col(BATCH) == batch).count()
    quarantined_df = read_delta(spark, Catalog(config).path("quarantine")).filter((F.col("source_system") == source.name) & (F.col("batch_id") == batch))
    reasons = {r["reason"]: r["count"] for r in quarantined_df.groupBy("reason").count().collect()}
    result = IngestResult(source.name, batch, rows_read, accepted, sum(reasons.values()), reasons)
    checked.unpersist()
    raw.unpersist()
    log.info(
        "ingested source=%s batch=%s files=%d read=%d accepted=%d quarantined=%d reasons=%s",
        source.name, batch, len(fresh), result.rows_read, result.rows_accepted, result.rows_quarantined, reasons,
    )  # fmt: skip
    if not result.balanced:
        raise RowCountMismatch(
            f"source '{source.name}' batch {batch}: read {rows_read} rows but wrote {accepted} to bronze "
            f"and {result.rows_quarantined} to quarantine; the batch must be re-run"
        )
    if fresh:
        ledger = spark.createDataFrame(
            [(source.name, p, size, mtime, batch) for p, size, mtime in fresh],
            "source_system string, file_path string, file_size long, file_mtime long, batch_id string",
        )
        write_delta(ledger, files_ledger_path(config), replace_where=f"source_system = '{source.name}' AND batch_id = '{batch}'")
    return result


def _ensure_bronze(spark: SparkSession, config: Config, source: SourceConfig, raw: DataFrame) -> None:
    """An empty bronze table with the source's columns, so later stages read an empty source, not a missing one."""
    path = Catalog(config).path("bronze.source", source=source.name)
    if not delta_exists(spark, path):
        write_delta(filter_accepted(with_lineage(with_reject_reason(raw.limit(0), source), "")), path)


def _delete_file_rows(spark: SparkSession, config: Config, source_name: str, path: str) -> None:
    log.warning("source=%s: a file changed since it was ingested; replacing its earlier rows", source_name)
    catalog = Catalog(config)
    delete_from_delta(spark, catalog.path("bronze.source", source=source_name), F.col(SOURCE_FILE_COLUMN) == path)
    delete_from_delta(spark, catalog.path("quarantine"), (F.col("source_system") == source_name) & (F.col("source_file") == path))
    delete_from_delta(spark, files_ledger_path(config), (F.col("source_system") == source_name) & (F.col("file_path") == path))


def ingestion_log(results: list[IngestResult], spark: SparkSession) -> DataFrame:
    """One row per (source, batch) with its row counts, for the run history table."""
    rows = [(r.source, r.batch_id, r.rows_read, r.rows_accepted, r.rows_quarantined) for r in results]
    schema = "source_system string, batch_id string, rows_read long, rows_accepted long, rows_quarantined long"
    return spark.createDataFrame(rows, schema).withColumn("ingested_at", F.current_timestamp())


def source_row_counts(spark: SparkSession, config: Config) -> list[dict]:
    """Per configured source, the rows now in bronze and in quarantine (read = accepted + quarantined)."""
    quarantined: dict[str, int] = {}
    if delta_exists(spark, Catalog(config).path("quarantine")):
        quarantined = {r.source_system: r["count"] for r in read_delta(spark, Catalog(config).path("quarantine")).groupBy("source_system").count().collect()}
    rows = []
    for name in config.sources:
        accepted = (
            read_delta(spark, Catalog(config).path("bronze.source", source=name)).count()
            if delta_exists(spark, Catalog(config).path("bronze.source", source=name))
            else 0
        )
        bad = quarantined.get(name, 0)
        rows.append({"source_system": name, "rows_read": accepted + bad, "rows_accepted": accepted, "rows_quarantined": bad})
    return rows


def ingest_sources(spark: SparkSession, config: Config, names: list[str], batch_id: str | None = None) -> list[IngestResult]:
    """Ingest each named source and record every batch in meta/ingestion_log."""
    results = [ingest_source(spark, config, config.source(n), batch_id) for n in names]
    log_path = Catalog(config).path("meta.ingestion_log")
    for r in results:
        if r.batch_id:
            write_delta(ingestion_log([r], spark), log_path, replace_where=f"source_system = '{r.source}' AND batch_id = '{r.batch_id}'")
    return results
