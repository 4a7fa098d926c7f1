"""Daily arrivals from generated exports: how incremental runs are exercised on synthetic data.

The generator writes a whole month at once. :func:`release_days` copies the rows of a range
of days from such a "staged" export into the live source folders as new files, the way a
platform drops each day's sign-ups, CRM records and purchases. Each release becomes one
ingestion batch per source. A row's day is its source's ``record_time_column``; rows whose
time cannot be read (the generator's contract breakers) arrive with the first release.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_identity.core.config import Config, SourceConfig
from customer_identity.ingestion.contracts import typed_column


def _day(value: Column, source: SourceConfig) -> Column:
    raw_type = source.types.get(source.record_time_column, "timestamp")
    return F.to_date(typed_column(value, raw_type, source.formats.get(source.record_time_column)))


def _read_staged(spark: SparkSession, source: SourceConfig) -> tuple[DataFrame, Column]:
    """The staged export as written (every field a string) and the day of each row."""
    if source.format == "json":
        lines = spark.read.text(source.path)
        return lines, _day(F.get_json_object("value", f"$.{source.record_time_column}"), source)
    header = spark.read.options(**source.options).csv(source.path)
    schema = T.StructType([T.StructField(c, T.StringType()) for c in header.columns])
    rows = spark.read.options(**source.options).schema(schema).csv(source.path)
    return rows, _day(F.col(source.record_time_column), source)


def release_days(spark: SparkSession, staged: Config, live: Config, after: dt.date | None, through: dt.date) -> dict[str, int]:
    """Append the staged rows dated after ``after`` and up to ``through`` to the live sources.

    ``after=None`` releases everything up to ``through``, undated rows included. Returns the
    rows released per source; a source with none gets no file.
    """
    released = {}
    for name, source in staged.sources.items():
        if source.format not in ("csv", "json"):
            raise ValueError(f"source '{name}': only csv and json exports can be released by day, not {source.format}")
        rows, day = _read_staged(spark, source)
        window = day <= F.lit(through)
        window = (window | day.isNull()) if after is None else (window & (day > F.lit(after)))
        chosen = rows.filter(window)
        n = chosen.count()
        released[name] = n
        if not n:
            continue
        target = live.source(name).path
        if source.format == "json":
            chosen.coalesce(1).write.mode("append").text(target)
        else:
            chosen.coalesce(1).write.mode("append").options(**source.options).csv(target)
    return released
