"""The threshold sweep: customers and accuracy at each match threshold, from one
connected-components run over all thresholds."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.config import ClusteringConfig
from customer_identity.resolution.clustering import cluster_records
from customer_identity.resolution.stage import golden
from customer_identity.trust.evaluation import evaluate


def clusters_at_thresholds(spark: SparkSession, records: DataFrame, pairs: DataFrame, thresholds: list[float], config: ClusteringConfig) -> DataFrame:
    """(threshold_index, record_key, source_system, source_record_id, customer_id) for every
    record at every threshold, from one connected-components run: the graph is copied once per
    threshold (its nodes tagged with the threshold's index), each copy keeping the pairs at or
    above its threshold. Same partitions as clustering at each threshold on its own."""
    index = spark.createDataFrame([(i, float(t)) for i, t in enumerate(thresholds)], "threshold_index int, threshold double")
    tag = lambda column: F.concat_ws("#", F.col("threshold_index").cast("string"), column)  # noqa: E731
    nodes = records.select("record_key").crossJoin(F.broadcast(index.select("threshold_index"))).select(tag(F.col("record_key")).alias("record_key"))
    edges = (
        pairs.select("record_key_l", "record_key_r", "match_probability")
        .join(F.broadcast(index), F.col("match_probability") >= F.col("threshold"))
        .select(tag(F.col("record_key_l")).alias("record_key_l"), tag(F.col("record_key_r")).alias("record_key_r"), F.lit(1.0).alias("match_probability"))
    )
    clusters = cluster_records(spark, nodes, edges, 1.0, config)
    parts = F.split("record_key", "#", 2)
    untagged = clusters.select(
        parts.getItem(0).cast("int").alias("threshold_index"),
        parts.getItem(1).alias("record_key"),
        F.split("cluster_key", "#", 2).getItem(1).alias("cluster_key"),
    )
    with_ids = golden.with_customer_id(untagged).select("threshold_index", "record_key", "customer_id")
    return records.select("record_key", "source_system", "source_record_id").join(with_ids, "record_key").localCheckpoint(eager=True)


def threshold_sweep(
    spark: SparkSession,
    records: DataFrame,
    pairs: DataFrame,
    thresholds: list[float],
    config: ClusteringConfig,
    truth: DataFrame | None = None,
    relations: DataFrame | None = None,
    labels: DataFrame | None = None,
) -> DataFrame:
    """One row per threshold: customers, and precision/recall/F1 from truth or from labels.

    With ``truth`` (record_key, person_id) the figures are pairwise over all records; with
    ``labels`` (record_key_l, record_key_r, is_match) they are over the labelled pairs only:
    a labelled pair counts as predicted-matched when its two records share a customer.
    """
    ordered = sorted(thresholds)
    every = clusters_at_thresholds(spark, records, pairs, ordered, config)
    rows = []
    for i, t in enumerate(ordered):
        crosswalk = every.filter(F.col("threshold_index") == i).drop("threshold_index").cache()
        customers = crosswalk.select("customer_id").distinct().count()
        row = {"threshold": float(t), "customers": customers, "basis": "none", "precision": None, "recall": None, "f1": None, "hard_negatives_merged_pct": None}
        if truth is not None:
            e = evaluate(crosswalk, truth, relations if relations is not None else spark.createDataFrame([], "person_a long, person_b long, relation string"))
            row.update(
                basis="ground truth",
                precision=e.pairwise_precision,
                recall=e.pairwise_recall,
                f1=e.pairwise_f1,
                hard_negatives_merged_pct=e.hard_negatives_merged_pct,
            )
        elif labels is not None:
            row.update(basis="review labels", **label_accuracy(crosswalk, labels))
        rows.append(row)
        crosswalk.unpersist()
    schema = "threshold double, customers long, basis string, precision double, recall double, f1 double, hard_negatives_merged_pct double"
    return spark.createDataFrame(
        [tuple(r[c] for c in ("threshold", "customers", "basis", "precision", "recall", "f1", "hard_negatives_merged_pct")) for r in rows], schema
    )


def label_accuracy(crosswalk: DataFrame, labels: DataFrame) -> dict:
    """Pairwise precision/recall/F1 of the clustering over reviewer-labelled pairs."""
    cid = crosswalk.select("record_key", "customer_id")
    scored = (
        labels.join(cid.toDF("record_key_l", "cid_l"), "record_key_l")
        .join(cid.toDF("record_key_r", "cid_r"), "record_key_r")
        .select(F.col("is_match"), (F.col("cid_l") == F.col("cid_r")).alias("linked"))
    )
    c = scored.agg(
        F.sum((F.col("is_match") & F.col("linked")).cast("int")).alias("tp"),
        F.sum((~F.col("is_match") & F.col("linked")).cast("int")).alias("fp"),
        F.sum((F.col("is_match") & ~F.col("linked")).cast("int")).alias("fn"),
    ).first()
    tp, fp, fn = c.tp or 0, c.fp or 0, c.fn or 0
    p = tp / (tp + fp) if tp + fp else None
    r = tp / (tp + fn) if tp + fn else None
    f1 = 2 * p * r / (p + r) if p and r else None
    return {"precision": p, "recall": r, "f1": f1}


def best_threshold(sweep: DataFrame) -> float | None:
    """Threshold with the highest F1 (the higher threshold on ties), None when the sweep has no F1."""
    row = sweep.filter(F.col("f1").isNotNull()).orderBy(F.desc("f1"), F.desc("threshold")).first()
    return row.threshold if row else None
