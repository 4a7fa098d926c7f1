"""Bronze ingestion: read each source, keep raw values, write its bronze and quarantine slices.

:func:`ingest_source` is the one place that reads a source and writes them; which rows
break the contract and why is decided in :mod:`customer_identity.ingestion.contracts`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config, ConfigError, SourceConfig
from customer_identity.core.errors import CustomerIdentityError, RowCountMismatch
from customer_identity.core.io import SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, delete_from_delta, delta_exists, read_delta, read_table_source, write_delta
from customer_identity.ingestion.contracts import (
    BATCH,
    derive_batch_id,
    filter_accepted,
    quarantine_rows,
    with_lineage,
    with_reject_reason,
)  # fmt: skip
from customer_identity.ingestion.files import FILE_FORMATS, FileReport, contract_notices, hidden_to_spark, list_source_files, read_files, source_contract

log = logging.getLogger(__name__)

TABLE_FORMATS = ("delta", "jdbc")  # read whole on every run; no files to keep a ledger of


@dataclass(frozen=True)
class IngestResult:
    source: str
    batch_id: str
    rows_read: int
    rows_accepted: int
    rows_quarantined: int
    reasons: dict[str, int]
    status: str = "succeeded"  # "unchanged" (no new files), "no_files", or "failed" with ``error`` saying why
    error: str | None = None
    exit_code: int = 0

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


def _with_contract_columns(raw: DataFrame, source: SourceConfig) -> DataFrame:
    """Every column the contract names is present (empty where a file lacks it)."""
    missing = sorted(c for c in source_contract(source).columns if c not in raw.columns)
    return raw.select("*", *[F.lit(None).cast("string").alias(c) for c in missing])


def _mismatch_detail(checked: DataFrame, reports: list[FileReport] | None) -> str:
    if not reports:
        return ""
    produced = {r[SOURCE_FILE_COLUMN]: r["count"] for r in checked.groupBy(SOURCE_FILE_COLUMN).count().collect()}
    for r in reports:
        if produced.get(r.path, 0) != r.counted:
            return f"; file {r.path} holds {r.counted} record(s) by an independent count, the parser produced {produced.get(r.path, 0)}"
    return ""


def ingest_source(spark: SparkSession, config: Config, source: SourceConfig, batch_id: str | None = None) -> IngestResult:
    """Ingest the files of one source not ingested before, as one batch, and prove no row was lost.

    Files already in the ledger (same path, size and modification time) are skipped, so
    re-running changes nothing; a file that changed in place replaces its earlier rows.
    Rows read are counted from the files themselves (:mod:`customer_identity.ingestion.counting`),
    not taken from the parser, and must equal the rows written to bronze and quarantine.
    """
    reports: list[FileReport] | None = None
    parsed: DataFrame | None = None  # the cached parse of file sources
    fresh: list[tuple[str, int, int]] = []
    changed: list[tuple[str, int, int]] = []
    if source.format in TABLE_FORMATS:
        raw = read_table_source(spark, source)
    else:
        files = list_source_files(source)
        if not files:
            log.warning("source=%s: %s holds no files; its bronze table stays empty", source.name, source.path)
            _ensure_bronze(spark, config, source)
            return IngestResult(source.name, "", 0, 0, 0, {}, status="no_files")
        fresh, changed = new_files(spark, config, source, files)
        if not fresh:
            log.info("source=%s: no new files since the last ingestion; nothing to do", source.name)
            return IngestResult(source.name, "", 0, 0, 0, {}, status="unchanged")
        paths = [p for p, _, _ in fresh]
        if source.format in FILE_FORMATS:
            raw, reports, parsed = read_files(spark, source, paths)
            for notice in contract_notices(source, reports):
                log.warning(notice)
        else:
            for path in [p for p in paths if hidden_to_spark(p)]:
                log.warning("source=%s: file %s is not read: Spark's %s reader skips names starting with '_' or '.'", source.name, path, source.format)
            raw = read_table_source(spark, source, [p for p in paths if not hidden_to_spark(p)] or paths)
    batch = batch_id or derive_batch_id(source.name, fresh)
    checked = with_lineage(with_reject_reason(_with_contract_columns(raw, source), source), batch).cache()
    rows_read = sum(r.counted for r in reports) if reports is not None else checked.count()
    if rows_read == 0:
        log.warning("source=%s: %s holds no rows (empty or header-only files); its bronze table stays empty", source.name, source.path)

    catalog = Catalog(config)
    bronze_path = catalog.path("bronze.source", source=source.name)
    before = set(read_delta(spark, bronze_path).columns) if delta_exists(spark, bronze_path) else None
    for path, _, _ in changed:
        _delete_file_rows(spark, config, source.name, path)
    accepted_rows = filter_accepted(checked)
    if before is not None and (gained := [c for c in accepted_rows.columns if c not in before]):
        log.warning("source=%s: bronze gains column(s) %s from this batch (earlier rows have them empty)", source.name, gained)
    write_delta(accepted_rows, bronze_path, replace_where=f"{BATCH} = '{batch}'", merge_schema=True)
    write_delta(
        quarantine_rows(checked, source.name),
        catalog.path("quarantine"),
        replace_where=f"source_system = '{source.name}' AND batch_id = '{batch}'",
        partition_by=["source_system"],
        merge_schema=True,
    )
    accepted = read_delta(spark, bronze_path).filter(F.col(BATCH) == batch).count()
    quarantined_df = read_delta(spark, catalog.path("quarantine")).filter((F.col("source_system") == source.name) & (F.col("batch_id") == batch))
    reasons = {r["reason"]: r["count"] for r in quarantined_df.groupBy("reason").count().collect()}
    result = IngestResult(source.name, batch, rows_read, accepted, sum(reasons.values()), reasons)
    detail = "" if result.balanced else _mismatch_detail(checked, reports)
    checked.unpersist()
    if parsed is not None:
        parsed.unpersist()
    log.info(
        "ingested source=%s batch=%s files=%d read=%d accepted=%d quarantined=%d reasons=%s",
        source.name, batch, len(fresh), result.rows_read, result.rows_accepted, result.rows_quarantined, reasons,
    )  # fmt: skip
    if not result.balanced:
        raise RowCountMismatch(
            f"source '{source.name}' batch {batch}: read {rows_read} rows but wrote {accepted} to bronze "
            f"and {result.rows_quarantined} to quarantine{detail}; the batch must be re-run"
        )
    if fresh:
        ledger = spark.createDataFrame(
            [(source.name, p, size, mtime, batch) for p, size, mtime in fresh],
            "source_system string, file_path string, file_size long, file_mtime long, batch_id string",
        )
        write_delta(ledger, files_ledger_path(config), replace_where=f"source_system = '{source.name}' AND batch_id = '{batch}'")
    return result


def _ensure_bronze(spark: SparkSession, config: Config, source: SourceConfig) -> None:
    """An empty bronze table with the contract's columns, so later stages read an empty source, not a missing one."""
    path = Catalog(config).path("bronze.source", source=source.name)
    if not delta_exists(spark, path):
        columns = sorted(source_contract(source).columns)
        schema = ", ".join([*(f"`{c}` string" for c in columns), f"{SOURCE_FILE_COLUMN} string", f"{SOURCE_LINE_COLUMN} long"])
        write_delta(filter_accepted(with_lineage(with_reject_reason(spark.createDataFrame([], schema), source), "")), path)


def _delete_file_rows(spark: SparkSession, config: Config, source_name: str, path: str) -> None:
    log.warning("source=%s: a file changed since it was ingested; replacing its earlier rows", source_name)
    catalog = Catalog(config)
    delete_from_delta(spark, catalog.path("bronze.source", source=source_name), F.col(SOURCE_FILE_COLUMN) == path)
    delete_from_delta(spark, catalog.path("quarantine"), (F.col("source_system") == source_name) & (F.col("source_file") == path))
    delete_from_delta(spark, files_ledger_path(config), (F.col("source_system") == source_name) & (F.col("file_path") == path))


def ingestion_log(results: list[IngestResult], spark: SparkSession, run_id: str) -> DataFrame:
    """One row per source of an ingest run: its batch, status, reason and row counts."""
    rows = [(run_id, r.source, r.batch_id, r.status, r.error, r.rows_read, r.rows_accepted, r.rows_quarantined) for r in results]
    schema = "run_id string, source_system string, batch_id string, status string, error string, rows_read long, rows_accepted long, rows_quarantined long"
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
    """Ingest each named source on its own and record each one in meta/ingestion_log as it ends.

    A source that fails (unreadable, a count that does not add up, a bad option) is logged
    with its reason and the others still run; its result says ``failed`` with an exit code.
    """
    log_path = Catalog(config).path("meta.ingestion_log")
    run_id = uuid.uuid4().hex[:12]
    results = []
    for name in names:
        try:
            result = ingest_source(spark, config, config.source(name), batch_id)
        except (CustomerIdentityError, ConfigError, AnalysisException) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
            log.error("source=%s: ingestion failed: %s", name, reason)
            code = exc.exit_code if isinstance(exc, CustomerIdentityError) else 2
            result = IngestResult(name, "", 0, 0, 0, {}, status="failed", error=reason, exit_code=code)
        results.append(result)
        row = ingestion_log([result], spark, run_id)
        if result.batch_id:  # a batch re-run after a kill replaces its row
            write_delta(row, log_path, replace_where=f"source_system = '{result.source}' AND batch_id = '{result.batch_id}'", merge_schema=True)
        else:
            write_delta(row, log_path, mode="append", merge_schema=True)
    return results
