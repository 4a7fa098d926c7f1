"""Bronze ingestion: enforce each source's contract, keep raw values, quarantine the rest.

Pure transforms decide which rows break the contract and why; :func:`ingest_source`
is the one place that reads a source and writes its bronze and quarantine slices.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.config import Config, SourceConfig
from customer_identity.errors import RowCountMismatch
from customer_identity.io import CORRUPT_COLUMN, SOURCE_FILE_COLUMN, delta_exists, read_delta, read_source, source_files, write_delta

log = logging.getLogger(__name__)

REASON = "_reject_reason"
BATCH = "_batch_id"
INGESTED_AT = "_ingested_at"
LINEAGE_COLUMNS = (SOURCE_FILE_COLUMN, BATCH, INGESTED_AT)


def blank_to_null(col: Column) -> Column:
    """Strings that are empty or only whitespace count as missing."""
    return F.when(F.trim(col) == "", F.lit(None)).otherwise(col)


def typed_column(raw: Column, spark_type: str, fmt: str | None = None) -> Column:
    """Parse a raw string into the declared type; null when it does not parse (or is NaN or infinite)."""
    raw = F.trim(blank_to_null(raw))
    if spark_type == "string":
        return raw
    if spark_type == "timestamp":
        return F.try_to_timestamp(raw, F.lit(fmt)) if fmt else raw.try_cast("timestamp")
    if spark_type == "date":
        return F.to_date(F.try_to_timestamp(raw, F.lit(fmt))) if fmt else raw.try_cast("date")
    value = raw.try_cast(spark_type)
    if spark_type in ("double", "float"):  # "NaN" and "Infinity" parse, but are no amount: they do not parse here
        return F.when(~F.isnan(value) & (F.abs(value) != F.lit(float("inf"))), value)
    return value


def with_reject_reason(df: DataFrame, source: SourceConfig) -> DataFrame:
    """Add ``_reject_reason``: null for good rows, else ``malformed``, ``missing:<col>``, ``bad_value:<col>`` (a number that is NaN or infinite) or ``bad_type:<col>``.

    In a customers source only the id and required columns can reject a row: any other
    field that does not parse is nulled later and recorded in ``silver.field_issues``.
    """
    checks: list[tuple[Column, str]] = []
    if CORRUPT_COLUMN in df.columns:
        checks.append((F.col(CORRUPT_COLUMN).isNotNull(), "malformed"))
    for col in source.required_columns:
        if col not in df.columns:
            checks.append((F.lit(True), f"missing:{col}"))
        else:
            checks.append((blank_to_null(F.col(col)).isNull(), f"missing:{col}"))
    for col, spark_type in source.types.items():
        if source.kind == "customers" and col not in (*source.required_columns, source.id_column):
            continue  # a bad field is nulled and recorded at standardisation (silver.field_issues), the record kept
        if col in df.columns:
            present = blank_to_null(F.col(col)).isNotNull()
            if spark_type in ("double", "float"):  # NaN or infinite: a number, but not a value the contract allows
                parsed = F.trim(blank_to_null(F.col(col))).try_cast(spark_type)
                checks.append((present & parsed.isNotNull() & typed_column(F.col(col), spark_type).isNull(), f"bad_value:{col}"))
            checks.append((present & typed_column(F.col(col), spark_type, source.formats.get(col)).isNull(), f"bad_type:{col}"))
    reason: Column = F.lit(None).cast("string")
    for cond, code in reversed(checks):
        reason = F.when(cond, F.lit(code)).otherwise(reason)
    return df.withColumn(REASON, reason)


def with_lineage(df: DataFrame, batch_id: str) -> DataFrame:
    return df.withColumn(BATCH, F.lit(batch_id)).withColumn(INGESTED_AT, F.current_timestamp())


def filter_accepted(df: DataFrame) -> DataFrame:
    return df.filter(F.col(REASON).isNull()).drop(REASON, CORRUPT_COLUMN)


def quarantine_rows(df: DataFrame, source_name: str) -> DataFrame:
    """Rejected rows as quarantine records: the raw line (or raw values as JSON) and the reason."""
    raw_cols = [c for c in df.columns if c not in (REASON, CORRUPT_COLUMN, *LINEAGE_COLUMNS)]
    raw_record = F.coalesce(F.col(CORRUPT_COLUMN), F.to_json(F.struct(*raw_cols))) if CORRUPT_COLUMN in df.columns else F.to_json(F.struct(*raw_cols))
    return df.filter(F.col(REASON).isNotNull()).select(
        F.lit(source_name).alias("source_system"),
        F.col(BATCH).alias("batch_id"),
        F.col(SOURCE_FILE_COLUMN).alias("source_file"),
        F.col(REASON).alias("reason"),
        raw_record.alias("raw_record"),
        F.col(INGESTED_AT).alias("ingested_at"),
    )


def derive_batch_id(source_name: str, files: list[tuple[str, int, int]]) -> str:
    """A batch id that is the same whenever the same files (path, size, mtime) are ingested again."""
    digest = hashlib.sha256(source_name.encode())
    for path, size, mtime in files:
        digest.update(f"|{path}|{size}|{mtime}".encode())
    return digest.hexdigest()[:16]


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
    return f"{config.paths.output_root}/meta/ingested_files"


def new_files(spark: SparkSession, config: Config, source: SourceConfig, files: list[tuple[str, int, int]]) -> tuple[list, list]:
    """Split a source's files into (new or changed files, changed files) against the ledger."""
    ledger_path = files_ledger_path(config)
    if not delta_exists(spark, ledger_path):
        return files, []
    seen = {
        (r.file_path, r.file_size, r.file_mtime)
        for r in read_delta(spark, ledger_path).filter(F.col("source_system") == source.name).collect()
    }
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

    bronze_path = config.bronze_path(source.name)
    for path, _, _ in changed:
        _delete_file_rows(spark, config, source.name, path)
    where = f"{BATCH} = '{batch}'"
    write_delta(filter_accepted(checked), bronze_path, replace_where=where)
    write_delta(
        quarantine_rows(checked, source.name),
        config.tables.quarantine,
        replace_where=f"source_system = '{source.name}' AND batch_id = '{batch}'",
        partition_by=["source_system"],
    )
    accepted = read_delta(spark, bronze_path).filter(F.col(BATCH) == batch).count()
    quarantined_df = read_delta(spark, config.tables.quarantine).filter((F.col("source_system") == source.name) & (F.col("batch_id") == batch))
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
    path = config.bronze_path(source.name)
    if not delta_exists(spark, path):
        write_delta(filter_accepted(with_lineage(with_reject_reason(raw.limit(0), source), "")), path)


def _delete_file_rows(spark: SparkSession, config: Config, source_name: str, path: str) -> None:
    from delta.tables import DeltaTable  # noqa: PLC0415

    log.warning("source=%s: a file changed since it was ingested; replacing its earlier rows", source_name)
    bronze = config.bronze_path(source_name)
    if delta_exists(spark, bronze):
        DeltaTable.forPath(spark, bronze).delete(F.col(SOURCE_FILE_COLUMN) == path)
    if delta_exists(spark, config.tables.quarantine):
        DeltaTable.forPath(spark, config.tables.quarantine).delete((F.col("source_system") == source_name) & (F.col("source_file") == path))
    ledger = files_ledger_path(config)
    DeltaTable.forPath(spark, ledger).delete((F.col("source_system") == source_name) & (F.col("file_path") == path))


def ingestion_log(results: list[IngestResult], spark: SparkSession) -> DataFrame:
    """One row per (source, batch) with its row counts, for the run history table."""
    rows = [(r.source, r.batch_id, r.rows_read, r.rows_accepted, r.rows_quarantined) for r in results]
    schema = "source_system string, batch_id string, rows_read long, rows_accepted long, rows_quarantined long"
    return spark.createDataFrame(rows, schema).withColumn("ingested_at", F.current_timestamp())


def source_row_counts(spark: SparkSession, config: Config) -> list[dict]:
    """Per configured source, the rows now in bronze and in quarantine (read = accepted + quarantined)."""
    quarantined: dict[str, int] = {}
    if delta_exists(spark, config.tables.quarantine):
        quarantined = {r.source_system: r["count"] for r in read_delta(spark, config.tables.quarantine).groupBy("source_system").count().collect()}
    rows = []
    for name in config.sources:
        accepted = read_delta(spark, config.bronze_path(name)).count() if delta_exists(spark, config.bronze_path(name)) else 0
        bad = quarantined.get(name, 0)
        rows.append({"source_system": name, "rows_read": accepted + bad, "rows_accepted": accepted, "rows_quarantined": bad})
    return rows
