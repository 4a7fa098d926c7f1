"""Stable customer ids: kept, merged (older id survives), split (largest part keeps it), created."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.resolution.ids import assign_customer_ids, hashed_id, id_overlap

OLD, OLDER, NOW = dt.datetime(2026, 10, 2), dt.datetime(2026, 10, 1), dt.datetime(2026, 11, 1)


def _previous(spark):
    rows = [
        ("r1", "CA", OLD), ("r2", "CA", OLD),             # A and B merge; B is older and survives
        ("r3", "CB", OLDER),
        ("r4", "CC", OLD), ("r5", "CC", OLD), ("r6", "CC", OLD),  # C splits 2 + 1
        ("r7", "CD", OLD),                                 # D is untouched
        ("r9", "CE", None),                                # E came from a run before ids had a date
    ]  # fmt: skip
    return spark.createDataFrame(rows, "record_key string, customer_id string, customer_since timestamp")


def _clusters(spark):
    rows = [("r1", "r1"), ("r2", "r1"), ("r3", "r1"), ("r4", "r4"), ("r5", "r4"), ("r6", "r6"), ("r7", "r7"), ("r8", "r8"), ("r9", "r9"), (None, None)]
    return spark.createDataFrame(rows, "record_key string, cluster_key string").filter(F.col("record_key").isNotNull())


@pytest.mark.parametrize("overlap_given", [False, True], ids=["overlap computed", "overlap materialised by the caller"])
def test_ids_follow_the_merge_and_split_rules(spark, overlap_given):
    clusters, previous = _clusters(spark), _previous(spark)
    overlap = id_overlap(clusters, previous).localCheckpoint(eager=True) if overlap_given else None
    assigned, history = assign_customer_ids(clusters, previous, "run-2", F.lit(NOW), overlap)
    new_r6 = spark.range(1).select(hashed_id(F.lit("r6"))).first()[0]
    new_r8 = spark.range(1).select(hashed_id(F.lit("r8"))).first()[0]
    expected = spark.createDataFrame(
        [("r1", "CB", OLDER), ("r2", "CB", OLDER), ("r3", "CB", OLDER), ("r4", "CC", OLD), ("r5", "CC", OLD), ("r6", new_r6, NOW),
         ("r7", "CD", OLD), ("r8", new_r8, NOW), ("r9", "CE", None)],
        "record_key string, customer_id string, customer_since timestamp",
    )  # fmt: skip
    assert_df_equality(assigned.select("record_key", "customer_id", "customer_since"), expected, ignore_row_order=True, ignore_nullable=True)
    expected_history = spark.createDataFrame(
        [("run-2", "merged", "CA", "CB", 2, NOW), ("run-2", "split", "CC", new_r6, 1, NOW), ("run-2", "created", None, new_r8, 1, NOW)],
        "run_id string, event string, old_customer_id string, new_customer_id string, records long, recorded_at timestamp",
    )
    assert_df_equality(history, expected_history, ignore_row_order=True, ignore_nullable=True)


def test_unchanged_records_keep_their_ids_and_make_no_history(spark):
    previous = _previous(spark)
    same = previous.select("record_key", F.col("customer_id").alias("cluster_key"))
    assigned, history = assign_customer_ids(same, previous, "run-3", F.lit(NOW))
    assert_df_equality(assigned.select("record_key", "customer_id"), previous.select("record_key", "customer_id"), ignore_row_order=True, ignore_nullable=True)
    assert history.count() == 0


def test_a_new_id_never_reuses_an_old_one(spark):
    """The split-off part holds the record whose hash named the old customer: it must get another id."""
    old_id = spark.range(1).select(hashed_id(F.lit("r1"))).first()[0]
    previous = spark.createDataFrame(
        [("r1", old_id, OLD), ("r2", old_id, OLD), ("r3", old_id, OLD)], "record_key string, customer_id string, customer_since timestamp"
    )
    clusters = spark.createDataFrame([("r1", "r1"), ("r2", "r2"), ("r3", "r2")], "record_key string, cluster_key string")
    assigned = {r.record_key: r.customer_id for r in assign_customer_ids(clusters, previous, "run-4", F.lit(NOW))[0].collect()}
    assert assigned["r2"] == assigned["r3"] == old_id
    assert assigned["r1"] != old_id and assigned["r1"].startswith("C") and len(assigned["r1"]) == 16


def test_first_run_creates_every_id_from_the_cluster_key(spark):
    assigned, history = assign_customer_ids(_clusters(spark), None, "run-1", F.lit(NOW))
    assert assigned.filter(F.col("customer_id") != hashed_id(F.col("cluster_key"))).count() == 0
    assert history.filter("event = 'created'").agg(F.sum("records")).first()[0] == 9
