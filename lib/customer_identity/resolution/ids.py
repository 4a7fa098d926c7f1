"""Stable customer ids across runs, and the history of every merge and split.

Downstream systems key on ``customer_id``, so a run keeps the id of every customer whose
records did not change. Ids are carried over from the previous crosswalk by these rules:

- an old id stays with the new cluster holding most of its records (ties: the smallest
  cluster key), so when a customer splits the largest part keeps the id;
- a cluster that keeps several old ids (a merge) keeps the oldest one (earliest
  ``customer_since``, then the smallest id); the others are retired and map to it;
- a cluster that keeps no old id gets a new id: a hash of its smallest record key, salted
  with the run id if the previous crosswalk already uses that hash. A retired id can thus
  come back when the very records it was named after split off again; the history shows
  both events in order. Ids are opaque: no personal data.

Every change is a row of ``customer_id_history``: ``merged`` (old id retired into new id),
``split`` (records of old id now belong to new id) and ``created`` (a new customer).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

HISTORY_SCHEMA = "run_id string, event string, old_customer_id string, new_customer_id string, records long, recorded_at timestamp"


def hashed_id(key: Column) -> Column:
    """An opaque customer id from a record key (no personal data)."""
    return F.concat(F.lit("C"), F.upper(F.substring(F.sha2(key, 256), 1, 15)))


def id_overlap(clusters: DataFrame, previous: DataFrame) -> DataFrame:
    """(cluster_key, old_id, old_since, shared, wins): how many records each new cluster shares
    with each customer id of ``previous``, and whether the cluster holds most of that id's
    records (ties to the lowest cluster key). Both the ids and their history read it, so a
    caller that materialises it once saves a join of every record."""
    prev = previous.select("record_key", F.col("customer_id").alias("old_id"), F.col("customer_since").alias("old_since"))
    shared = (
        clusters.select("record_key", "cluster_key")
        .join(prev, "record_key")
        .groupBy("cluster_key", "old_id", "old_since")
        .agg(F.count(F.lit(1)).alias("shared"))
    )
    # each old id goes to the cluster holding most of its records
    by_old = Window.partitionBy("old_id").orderBy(F.desc("shared"), "cluster_key")
    return shared.withColumn("wins", F.row_number().over(by_old) == 1)


def assign_customer_ids(
    clusters: DataFrame, previous: DataFrame | None, run_id: str, run_time: Column, overlap: DataFrame | None = None
) -> tuple[DataFrame, DataFrame]:
    """(clusters with ``customer_id`` and ``customer_since``, history rows of this run).

    ``clusters``: record_key, cluster_key (any extra columns are kept).
    ``previous``: record_key, customer_id, customer_since of the last good crosswalk, or None.
    ``overlap``: :func:`id_overlap` of the two, when the caller has it already.
    """
    if previous is None:
        assigned = clusters.withColumn("customer_id", hashed_id(F.col("cluster_key"))).withColumn("customer_since", run_time)
        created = assigned.groupBy("customer_id").agg(F.count(F.lit(1)).alias("records"))
        history = created.select(
            F.lit(run_id).alias("run_id"), F.lit("created").alias("event"), F.lit(None).cast("string").alias("old_customer_id"),
            F.col("customer_id").alias("new_customer_id"), "records", run_time.alias("recorded_at"),
        )  # fmt: skip
        return assigned, history

    shared = overlap if overlap is not None else id_overlap(clusters, previous)
    # each cluster keeps the oldest of the ids it won
    by_cluster = Window.partitionBy("cluster_key").orderBy("old_since", "old_id")
    won = shared.filter("wins").withColumn("n", F.row_number().over(by_cluster))
    kept = won.filter("n = 1").select("cluster_key", F.col("old_id").alias("kept_id"), F.col("old_since").alias("kept_since"))

    keys = clusters.select("cluster_key").distinct().join(kept, "cluster_key", "left")
    candidate = hashed_id(F.col("cluster_key"))
    used = previous.select(F.col("customer_id").alias("used_id")).distinct()
    keys = keys.withColumn("candidate", candidate).join(used, F.col("candidate") == F.col("used_id"), "left")
    fresh = F.when(F.col("used_id").isNull(), F.col("candidate")).otherwise(hashed_id(F.concat_ws("#", F.col("cluster_key"), F.lit(run_id))))
    keys = keys.select(
        "cluster_key",
        F.coalesce("kept_id", fresh).alias("customer_id"),
        F.when(F.col("kept_id").isNotNull(), F.col("kept_since")).otherwise(run_time).alias("customer_since"),
        F.col("kept_id").isNull().alias("is_new"),
    )
    assigned = clusters.join(keys.drop("is_new"), "cluster_key")

    ids = keys.select("cluster_key", F.col("customer_id").alias("new_id"), "is_new")
    moves = shared.join(ids, "cluster_key")
    merged = moves.filter("wins AND old_id != new_id").select(F.lit("merged").alias("event"), "old_id", "new_id", "shared")
    split = moves.filter("NOT wins").select(F.lit("split").alias("event"), "old_id", "new_id", "shared")
    sizes = assigned.groupBy("customer_id").agg(F.count(F.lit(1)).alias("records"))
    fresh_ids = ids.filter("is_new").join(sizes, F.col("new_id") == F.col("customer_id"))
    with_records = moves.select("new_id").distinct()
    created = fresh_ids.join(with_records, "new_id", "left_anti").select(
        F.lit("created").alias("event"), F.lit(None).cast("string").alias("old_id"), "new_id", F.col("records").alias("shared")
    )
    history = merged.unionByName(split).unionByName(created).select(
        F.lit(run_id).alias("run_id"), "event", F.col("old_id").alias("old_customer_id"), F.col("new_id").alias("new_customer_id"),
        F.col("shared").cast("long").alias("records"), run_time.alias("recorded_at"),
    )  # fmt: skip
    return assigned, history
