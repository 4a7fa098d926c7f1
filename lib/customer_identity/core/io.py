"""All reading and writing: source exports, Delta tables, generator output.

Which table lives where is declared in ``conf/``; this module only knows how.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.utils import AnalysisException

from customer_identity.core.config import SourceConfig
from customer_identity.core.errors import SourceReadError, TableNotFound

log = logging.getLogger(__name__)

SOURCE_FILE_COLUMN = "_source_file"
SOURCE_LINE_COLUMN = "_source_line"
PARSE_ERROR = "_parse_error"  # why a record could not be read, for file sources parsed by ingestion
RAW_RECORD = "_raw_record"  # a record's text as the file holds it


# --------------------------------------------------------------------------- sources


def read_table_source(spark: SparkSession, source: SourceConfig, paths: list[str] | None = None) -> DataFrame:
    """Read a typed source (JDBC, Parquet, ORC, Delta…) with every column as a string.

    Files that need parsing (CSV, JSON Lines) are read by :mod:`customer_identity.ingestion.files`.
    Rows carry the file or table they came from; a typed format has no parse errors or raw text.
    ``paths`` restricts a Parquet source to those files.
    """
    try:
        if source.format == "jdbc":
            df = spark.read.format("jdbc").options(**source.options).load()
        else:
            if "://" not in source.path and not source.path.startswith("dbfs:") and not Path(source.path).exists():
                raise SourceReadError(f"source '{source.name}': path {source.path} does not exist (sources.{source.name}.path)")
            df = spark.read.options(**source.options).format(source.format).load(paths or source.path)
    except AnalysisException as exc:
        raise SourceReadError(
            f"source '{source.name}' ({source.format} at {source.path}) could not be read: {(str(exc).splitlines() or [''])[0][:300]}"
        ) from exc
    file_col = F.col("_metadata.file_path") if source.format != "jdbc" else F.lit(f"jdbc:{source.options.get('dbtable', '')}")
    return df.select(
        *[F.col(c).cast("string").alias(c) for c in df.columns],
        F.lit(None).cast("string").alias(PARSE_ERROR),
        F.lit(None).cast("string").alias(RAW_RECORD),
        file_col.alias(SOURCE_FILE_COLUMN),
        F.lit(None).cast("long").alias(SOURCE_LINE_COLUMN),
    )


# --------------------------------------------------------------------------- delta


def delta_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable  # noqa: PLC0415

    try:
        return DeltaTable.isDeltaTable(spark, path)
    except Exception:  # a missing bucket or folder means "not a table"
        return False


def read_delta(spark: SparkSession, path: str, *, what: str = "", version: int | None = None) -> DataFrame:
    """A Delta table, or with ``version`` the table as it was at that version (time travel)."""
    if not delta_exists(spark, path):
        raise TableNotFound(f"Delta table {what or path} not found at {path}: run the stage that writes it first")
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


def delta_version(spark: SparkSession, path: str) -> int | None:
    """The table's latest committed version, or None when there is no table."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    if not delta_exists(spark, path):
        return None
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])


def restore_delta(spark: SparkSession, path: str, version: int) -> None:
    """Put a table back to an earlier version (a new commit; the later versions stay in its history)."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    DeltaTable.forPath(spark, path).restoreToVersion(version)


def delete_from_delta(spark: SparkSession, path: str, condition: Column) -> None:
    """Delete the rows matching ``condition`` (one commit); nothing when there is no table."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    if delta_exists(spark, path):
        DeltaTable.forPath(spark, path).delete(condition)


def last_commit(spark: SparkSession, path: str) -> Row:
    """The table's latest commit as Delta's history describes it (operation, parameters, version)."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    return DeltaTable.forPath(spark, path).history(1).first()


def upsert_delta(df: DataFrame, path: str, keys: list[str], *, delete_flag: str | None = None) -> None:
    """MERGE ``df`` into the table at ``path`` on ``keys`` in one atomic commit: matching rows
    are updated, new rows inserted; rows whose ``delete_flag`` column is true delete their match."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    spark = df.sparkSession
    if not delta_exists(spark, path):
        write_delta(df.filter(~F.col(delete_flag)).drop(delete_flag) if delete_flag else df, path)
        return
    columns = [c for c in df.columns if c != delete_flag]
    values = {c: F.col(f"s.`{c}`") for c in columns}
    merge = DeltaTable.forPath(spark, path).alias("t").merge(df.alias("s"), " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys))
    if delete_flag:
        merge = (
            merge.whenMatchedDelete(F.col(f"s.{delete_flag}"))
            .whenMatchedUpdate(set=values)
            .whenNotMatchedInsert(condition=~F.col(f"s.{delete_flag}"), values=values)
        )
    else:
        merge = merge.whenMatchedUpdate(set=values).whenNotMatchedInsert(values=values)
    merge.execute()


def write_delta(
    df: DataFrame, path: str, *, mode: str = "overwrite", replace_where: str | None = None, partition_by: list[str] | None = None, merge_schema: bool = False
) -> None:
    """Write atomically to Delta. With ``replace_where`` only the matching slice is replaced
    (idempotent batches); ``merge_schema`` lets an append add columns a newer release writes."""
    writer = df.write.format("delta").mode(mode)
    if merge_schema:
        writer = writer.option("mergeSchema", "true")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if replace_where is not None and delta_exists(df.sparkSession, path):
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    writer.save(path)


def remap_and_append(remap: DataFrame, new_rows: DataFrame, path: str, *, key: str, set_columns: list[str]) -> None:
    """One atomic MERGE: existing rows whose ``key`` is in ``remap`` take its ``set_columns``
    (``remap`` has one row per key), and ``new_rows`` are inserted."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    flag = "_remap"
    source = new_rows.withColumn(flag, F.lit(False)).unionByName(remap.withColumn(flag, F.lit(True)), allowMissingColumns=True)
    (
        DeltaTable.forPath(new_rows.sparkSession, path).alias("t")
        .merge(source.alias("s"), f"s.{flag} AND t.`{key}` = s.`{key}`")
        .whenMatchedUpdate(set={c: F.col(f"s.`{c}`") for c in set_columns})
        .whenNotMatchedInsert(condition=~F.col(f"s.{flag}"), values={c: F.col(f"s.`{c}`") for c in new_rows.columns})
        .execute()
    )  # fmt: skip


def delete_pairs_of(spark: SparkSession, path: str, keys: DataFrame) -> None:
    """Delete the pairs (``record_key_l``, ``record_key_r``) of which either record is in ``keys``."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    k = keys.select("record_key").distinct()
    for side in ("l", "r"):
        DeltaTable.forPath(spark, path).alias("t").merge(k.alias("s"), f"t.record_key_{side} = s.record_key").whenMatchedDelete().execute()


def delete_rows_of(spark: SparkSession, path: str, keys: DataFrame, key: str = "record_key") -> None:
    """Delete the rows whose ``key`` is in ``keys``."""
    from delta.tables import DeltaTable  # noqa: PLC0415

    DeltaTable.forPath(spark, path).alias("t").merge(keys.select(key).distinct().alias("s"), f"t.{key} = s.{key}").whenMatchedDelete().execute()
