"""Source contracts: which rows break a source's contract and why, as pure transforms.

:mod:`customer_identity.ingestion.stage` reads each source and writes its bronze and
quarantine slices with these.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_identity.core.config import SourceConfig
from customer_identity.core.io import PARSE_ERROR, RAW_RECORD, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN

REASON = "_reject_reason"
BATCH = "_batch_id"
INGESTED_AT = "_ingested_at"
LINEAGE_COLUMNS = (SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN, BATCH, INGESTED_AT)


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
    """Add ``_reject_reason``: null for good rows, else the parser's reason (``malformed``,
    ``bad_encoding``, ``duplicate_key:<k>``, ``no_header``, … see
    :mod:`customer_identity.ingestion.parsing`), ``missing:<col>``, ``bad_value:<col>`` (a
    number that is NaN or infinite) or ``bad_type:<col>``, in that order of precedence.

    In a customers source only the id and required columns can reject a row: any other
    field that does not parse is nulled later and recorded in ``silver.field_issues``.
    """
    checks: list[tuple[Column, Column | str]] = []
    if PARSE_ERROR in df.columns:
        checks.append((F.col(PARSE_ERROR).isNotNull(), F.col(PARSE_ERROR)))
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
        reason = F.when(cond, code if isinstance(code, Column) else F.lit(code)).otherwise(reason)
    return df.withColumn(REASON, reason)


def with_lineage(df: DataFrame, batch_id: str) -> DataFrame:
    return df.withColumn(BATCH, F.lit(batch_id)).withColumn(INGESTED_AT, F.current_timestamp())


def filter_accepted(df: DataFrame) -> DataFrame:
    return df.filter(F.col(REASON).isNull()).drop(REASON, PARSE_ERROR, RAW_RECORD)


def quarantine_rows(df: DataFrame, source_name: str) -> DataFrame:
    """Rejected rows as quarantine records: file, line, the raw record (or the raw values as JSON) and the reason."""
    raw_cols = [c for c in df.columns if c not in (REASON, PARSE_ERROR, RAW_RECORD, *LINEAGE_COLUMNS)]
    values_json = F.to_json(F.struct(*raw_cols))
    raw_record = F.coalesce(F.col(RAW_RECORD), values_json) if RAW_RECORD in df.columns else values_json
    line = F.col(SOURCE_LINE_COLUMN) if SOURCE_LINE_COLUMN in df.columns else F.lit(None).cast("long")
    return df.filter(F.col(REASON).isNotNull()).select(
        F.lit(source_name).alias("source_system"),
        F.col(BATCH).alias("batch_id"),
        F.col(SOURCE_FILE_COLUMN).alias("source_file"),
        line.alias("source_line"),
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
