"""All reading and writing: source exports, Delta tables, generator output.

Which table lives where is declared in ``conf/``; this module only knows how.
"""

from __future__ import annotations

import logging
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.utils import AnalysisException

from customer_identity.config import Config, SourceConfig
from customer_identity.errors import SourceReadError, TableNotFound
from customer_identity.synthetic import Generated

log = logging.getLogger(__name__)

CORRUPT_COLUMN = "_corrupt_record"
SOURCE_FILE_COLUMN = "_source_file"


# --------------------------------------------------------------------------- sources


def _local_path_missing(path: str) -> bool:
    return "://" not in path and not path.startswith("dbfs:") and not Path(path).exists()


def read_source(spark: SparkSession, source: SourceConfig) -> DataFrame:
    """Read one source export with every column as a string (types are enforced at ingestion).

    Unreadable lines are kept in ``_corrupt_record`` for csv/json; each row carries the
    file it came from in ``_source_file``.
    """
    if source.format != "jdbc" and _local_path_missing(source.path):
        raise SourceReadError(f"source '{source.name}': path {source.path} does not exist (sources.{source.name}.path)")
    try:
        if source.format in ("csv", "json"):
            reader = spark.read.options(**source.options)
            header_df = reader.format(source.format).load(source.path)
            raw_columns = [c for c in header_df.columns if c != CORRUPT_COLUMN]
            schema = T.StructType([T.StructField(c, T.StringType()) for c in raw_columns] + [T.StructField(CORRUPT_COLUMN, T.StringType())])
            df = (
                reader.schema(schema)
                .option("mode", "PERMISSIVE")
                .option("columnNameOfCorruptRecord", CORRUPT_COLUMN)
                .format(source.format)
                .load(source.path)
            )
            if source.format == "json":
                # a JSON line that fails to parse still yields a row: keep its raw text only
                df = df.select(*[F.when(F.col(CORRUPT_COLUMN).isNull(), F.col(c)).alias(c) for c in raw_columns], CORRUPT_COLUMN)
        elif source.format == "jdbc":
            df = spark.read.format("jdbc").options(**source.options).load()
            df = df.select(*[F.col(c).cast("string").alias(c) for c in df.columns], F.lit(None).cast("string").alias(CORRUPT_COLUMN))
        else:
            df = spark.read.options(**source.options).format(source.format).load(source.path)
            df = df.select(*[F.col(c).cast("string").alias(c) for c in df.columns], F.lit(None).cast("string").alias(CORRUPT_COLUMN))
    except AnalysisException as exc:
        raise SourceReadError(f"source '{source.name}' ({source.format} at {source.path}) could not be read: {exc}") from exc
    file_col = F.col("_metadata.file_path") if source.format != "jdbc" else F.lit(f"jdbc:{source.options.get('dbtable', '')}")
    return df.withColumn(SOURCE_FILE_COLUMN, file_col)


def source_files(df: DataFrame) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of the files behind a source DataFrame; small, one row per file."""
    meta = df.select("_metadata.file_path", "_metadata.file_size", F.col("_metadata.file_modification_time").cast("long")).distinct()
    return sorted(tuple(r) for r in meta.collect())


# --------------------------------------------------------------------------- delta


def delta_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable  # noqa: PLC0415

    try:
        return DeltaTable.isDeltaTable(spark, path)
    except Exception:  # a missing bucket or folder means "not a table"
        return False


def read_delta(spark: SparkSession, path: str, *, what: str = "") -> DataFrame:
    if not delta_exists(spark, path):
        raise TableNotFound(f"Delta table {what or path} not found at {path}: run the stage that writes it first")
    return spark.read.format("delta").load(path)


def write_delta(df: DataFrame, path: str, *, mode: str = "overwrite", replace_where: str | None = None, partition_by: list[str] | None = None) -> None:
    """Write atomically to Delta. With ``replace_where`` only the matching slice is replaced (idempotent batches)."""
    writer = df.write.format("delta").mode(mode)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    if replace_where is not None and delta_exists(df.sparkSession, path):
        writer = writer.option("replaceWhere", replace_where)
    elif mode == "overwrite":
        writer = writer.option("overwriteSchema", "true")
    writer.save(path)


# --------------------------------------------------------------------------- generator output


def write_generated(generated: Generated, config: Config, *, files_per_source: int = 1) -> dict[str, str]:
    """Write the three exports where the configured sources expect them, and the truth beside them."""
    out = {}
    platform, crm, tx = config.source("platform"), config.source("crm"), config.source("transactions")
    generated.platform.coalesce(files_per_source).write.mode("overwrite").option("header", "true").csv(platform.path)
    generated.crm.coalesce(files_per_source).write.mode("overwrite").text(crm.path)
    generated.transactions.coalesce(files_per_source).write.mode("overwrite").option("header", "true").csv(tx.path)
    out.update(platform=platform.path, crm=crm.path, transactions=tx.path)
    truth = config.tables.truth
    for name in ("people", "records", "sessions", "relations", "bad_rows"):
        path = f"{truth}/{name}"
        getattr(generated, f"truth_{name}").write.mode("overwrite").parquet(path)
        out[f"truth_{name}"] = path
    return out


def read_truth(spark: SparkSession, config: Config, name: str) -> DataFrame:
    path = f"{config.tables.truth}/{name}"
    if _local_path_missing(path):
        raise TableNotFound(f"ground truth '{name}' not found at {path}: generate the sources first")
    return spark.read.parquet(path)


def truth_exists(spark: SparkSession, config: Config) -> bool:
    """Whether generator ground truth sits beside the sources (synthetic runs only)."""
    path = f"{config.tables.truth}/records"
    if _local_path_missing(path):
        return False
    try:
        spark.read.parquet(path).schema  # noqa: B018  resolving the schema proves it is there
        return True
    except AnalysisException:
        return False


def write_csv_file(df: DataFrame, path: str, html_path: str | None = None) -> str:
    """A small table as one CSV file with a header (review exports), through the driver;
    also as an HTML table at ``html_path`` when given, from the same single collect."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame = df.toPandas()
    frame.to_csv(path, index=False)
    if html_path is not None:
        frame.to_html(html_path, index=False, na_rep="")
    return path
