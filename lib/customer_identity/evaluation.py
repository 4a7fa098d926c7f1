"""Accuracy of the resolved customers against ground truth.

Everything is computed from the contingency table n(cluster, person) of identity records,
so no pairs are materialised: pairwise precision/recall/F1 over record pairs, B-cubed
precision/recall over records, the error of the customer count, and the share of
hard-negative pairs (family members, twins, common names) wrongly merged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window


@dataclass(frozen=True)
class Evaluation:
    identity_records: int
    true_customers: int
    predicted_customers: int
    count_error: int
    count_error_pct: float
    pairwise_precision: float
    pairwise_recall: float
    pairwise_f1: float
    bcubed_precision: float
    bcubed_recall: float
    true_pairs: int
    predicted_pairs: int
    true_positive_pairs: int
    hard_negative_pairs: int
    hard_negatives_merged: int
    hard_negatives_merged_pct: float
    merged_by_relation: dict[str, int]

    def as_row(self) -> dict:
        return asdict(self)


def record_truth(crosswalk: DataFrame, truth_records: DataFrame, truth_sessions: DataFrame, transactions_resolved: DataFrame) -> DataFrame:
    """(record_key, person_id) for every identity record.

    Platform and CRM records take the person of their source record; a guest identity takes
    the person behind most of its checkouts (a name and postcode shared by two people is
    one identity record, and counts against the resolution as it should).
    """
    accounts = crosswalk.join(
        truth_records.select("source_system", "source_record_id", "person_id"), ["source_system", "source_record_id"], "inner"
    ).select("record_key", "person_id")
    sessions = transactions_resolved.filter(F.col("attribution") == "guest").select("record_key", "session_id").distinct()
    votes = sessions.join(truth_sessions.select("session_id", "person_id"), "session_id").groupBy("record_key", "person_id").count()
    w = Window.partitionBy("record_key").orderBy(F.col("count").desc(), F.col("person_id"))
    guests = votes.withColumn("_r", F.row_number().over(w)).filter("_r = 1").select("record_key", "person_id")
    return accounts.unionByName(guests)


def contingency(crosswalk: DataFrame, truth: DataFrame) -> DataFrame:
    """n(customer_id, person_id): identity records shared by a predicted customer and a true person."""
    return crosswalk.select("record_key", "customer_id").join(truth, "record_key").groupBy("customer_id", "person_id").count().withColumnRenamed("count", "n")


def evaluate(crosswalk: DataFrame, truth: DataFrame, relations: DataFrame) -> Evaluation:
    table = contingency(crosswalk, truth).cache()
    pairs = lambda c: F.col(c) * (F.col(c) - 1) / 2  # noqa: E731
    per_cluster = table.groupBy("customer_id").agg(F.sum("n").alias("a"))
    per_person = table.groupBy("person_id").agg(F.sum("n").alias("b"))
    tp = table.agg(F.sum(pairs("n"))).first()[0] or 0
    pred = per_cluster.agg(F.sum(pairs("a"))).first()[0] or 0
    true = per_person.agg(F.sum(pairs("b"))).first()[0] or 0
    n_records = table.agg(F.sum("n")).first()[0] or 0
    b3 = (
        table.join(per_cluster, "customer_id")
        .join(per_person, "person_id")
        .agg(F.sum(F.col("n") * F.col("n") / F.col("a")).alias("p"), F.sum(F.col("n") * F.col("n") / F.col("b")).alias("r"))
        .first()
    )
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n_true = per_person.count()
    n_pred = per_cluster.count()

    # hard negatives: pairs of distinct people (both present in the data) put in one customer
    person_customers = table.select("person_id", "customer_id").distinct()
    present = per_person.select("person_id")
    rel = relations.join(present.withColumnRenamed("person_id", "person_a"), "person_a").join(present.withColumnRenamed("person_id", "person_b"), "person_b")
    merged = (
        rel.join(person_customers.withColumnRenamed("person_id", "person_a"), "person_a")
        .join(person_customers.select(F.col("person_id").alias("person_b"), F.col("customer_id").alias("customer_b")), "person_b")
        .filter(F.col("customer_id") == F.col("customer_b"))
        .select("person_a", "person_b", "relation")
        .distinct()
    )
    by_relation = {r.relation: r["count"] for r in merged.groupBy("relation").count().collect()}
    n_rel = rel.count()
    n_merged = sum(by_relation.values())
    table.unpersist()
    return Evaluation(
        identity_records=int(n_records),
        true_customers=n_true,
        predicted_customers=n_pred,
        count_error=n_pred - n_true,
        count_error_pct=round(100.0 * (n_pred - n_true) / n_true, 3) if n_true else 0.0,
        pairwise_precision=round(precision, 5),
        pairwise_recall=round(recall, 5),
        pairwise_f1=round(f1, 5),
        bcubed_precision=round(b3["p"] / n_records, 5) if n_records else 1.0,
        bcubed_recall=round(b3["r"] / n_records, 5) if n_records else 1.0,
        true_pairs=int(true),
        predicted_pairs=int(pred),
        true_positive_pairs=int(tp),
        hard_negative_pairs=n_rel,
        hard_negatives_merged=n_merged,
        hard_negatives_merged_pct=round(100.0 * n_merged / n_rel, 4) if n_rel else 0.0,
        merged_by_relation=by_relation,
    )
