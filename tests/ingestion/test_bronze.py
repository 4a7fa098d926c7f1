from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.core.config import load_config
from customer_identity.ingestion.contracts import derive_batch_id, filter_accepted, quarantine_rows, typed_column, with_lineage, with_reject_reason

RAW_SCHEMA = "event_time string, product_id string, price string, session_id string, _parse_error string, _raw_record string, _source_file string"


def _transactions_source():
    return load_config("local").source("transactions")


def test_reject_reasons_in_precedence_order(spark):
    rows = [
        ("2026-10-01 10:00:00 UTC", "1", "9.99", "s1", None, None, "f"),  # good
        ("2026-10-01 10:00:00 UTC", "1", "N/A", "s2", None, None, "f"),  # bad price
        ("2026-10-01 10:00:00 UTC", "1", "NaN", "s2n", None, None, "f"),  # not a number, though Spark parses it
        ("2026-10-41 10:00:00 UTC", "1", "9.99", "s3", None, None, "f"),  # impossible date
        ("2026-10-01 10:00:00 UTC", "1", "9.99", "  ", None, None, "f"),  # blank key
        (None, None, None, None, "malformed", "garbage,line", "f"),  # unparseable line
        (None, None, None, None, None, None, "f"),  # all null
    ]
    df = spark.createDataFrame(rows, RAW_SCHEMA)
    got = with_reject_reason(df, _transactions_source()).select("session_id", "_reject_reason")
    expected = spark.createDataFrame(
        [("s1", None), ("s2", "bad_type:price"), ("s2n", "bad_value:price"), ("s3", "bad_type:event_time"), ("  ", "missing:session_id"),
         (None, "malformed"), (None, "missing:event_time")],
        "session_id string, _reject_reason string",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True)


def test_typed_column_parses_or_returns_null(spark):
    df = spark.createDataFrame([(" 12.50 ",), ("",), (None,), ("x",), ("٣",), ("NaN",), ("Infinity",), ("-Infinity",), ("-1e3",)], "v string")
    got = df.select(typed_column(F.col("v"), "double").alias("d"))
    expected = spark.createDataFrame([(12.5,), (None,), (None,), (None,), (None,), (None,), (None,), (None,), (-1000.0,)], "d double")
    assert_df_equality(got, expected, ignore_row_order=True)
    dates = spark.createDataFrame([("31/12/1990",), ("31/02/1990",), (None,)], "v string")
    got = dates.select(typed_column(F.col("v"), "date", "dd/MM/yyyy").cast("string").alias("d"))
    assert sorted(r.d or "" for r in got.collect()) == ["", "", "1990-12-31"]


def test_accepted_and_quarantined_partition_the_input(spark):
    rows = [
        ("2026-10-01 10:00:00 UTC", "1", "9.99", "s1", None, None, "f1"),
        ("2026-10-01 10:00:00 UTC", "1", "oops", "s2", None, None, "f1"),
        (None, None, None, None, "malformed", '{"broken', "f2"),
        (None, None, None, None, None, None, "f2"),
    ]
    df = with_lineage(with_reject_reason(spark.createDataFrame(rows, RAW_SCHEMA), _transactions_source()), "b1")
    accepted = filter_accepted(df)
    quarantined = quarantine_rows(df, "transactions")
    assert accepted.count() + quarantined.count() == df.count()
    assert [r.session_id for r in accepted.collect()] == ["s1"]
    got = {(r.reason, r.raw_record, r.source_file, r.batch_id) for r in quarantined.collect()}
    assert ("malformed", '{"broken', "f2", "b1") in got
    assert ("bad_type:price", '{"event_time":"2026-10-01 10:00:00 UTC","product_id":"1","price":"oops","session_id":"s2"}', "f1", "b1") in got
    assert ("missing:event_time", "{}", "f2", "b1") in got


def test_batch_id_is_stable_for_the_same_files_and_changes_with_them():
    files = [("a.csv", 10, 1), ("b.csv", 20, 2)]
    assert derive_batch_id("crm", files) == derive_batch_id("crm", list(files))
    assert derive_batch_id("crm", files) != derive_batch_id("crm", [("a.csv", 11, 1), ("b.csv", 20, 2)])
    assert derive_batch_id("crm", files) != derive_batch_id("platform", files)
