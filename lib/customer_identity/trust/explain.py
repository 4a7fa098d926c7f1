"""Why a customer is what it is: every scored pair inside it, comparison by comparison."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_identity.resolution.dependence import change_column


def customer_evidence(customer_id: str, crosswalk: DataFrame, pairs: DataFrame, levels: DataFrame, threshold: float) -> DataFrame:
    """Every scored pair inside one customer, one row per comparison: level, weight, accepted.

    ``levels`` is (comparison, gamma, level) for the saved model; ``pairs`` needs the
    ``gamma_*`` and ``mw_*`` columns Splink keeps for each pair. ``link_guarded`` says the
    model's probability was capped by the link guard (``matching.with_link_guard``);
    ``given_change`` is what a comparison lost because the pair shares the evidence it
    depends on, such as a home (``mw_given_<comparison>``, ``resolution.dependence``).
    """
    keys = crosswalk.filter(F.col("customer_id") == customer_id).select("record_key")
    inside = pairs.join(keys.toDF("record_key_l"), "record_key_l").join(keys.toDF("record_key_r"), "record_key_r")
    comparisons = [c[len("gamma_") :] for c in pairs.columns if c.startswith("gamma_")]
    guarded = F.col("link_guarded") if "link_guarded" in pairs.columns else F.lit(False)
    long = None
    for c in comparisons:
        tf = F.col(f"mw_tf_adj_{c}") if f"mw_tf_adj_{c}" in pairs.columns else F.lit(0.0)
        given = F.coalesce(F.col(change_column(c)), F.lit(0.0)) if change_column(c) in pairs.columns else F.lit(0.0)
        part = inside.select(
            "record_key_l", "record_key_r", "match_weight", "match_probability", guarded.alias("link_guarded"),
            F.lit(c).alias("comparison"), F.col(f"gamma_{c}").cast("int").alias("gamma"),
            F.col(f"mw_{c}").alias("weight"), tf.alias("tf_adjustment"), given.alias("given_change"),
        )  # fmt: skip
        long = part if long is None else long.unionByName(part)
    if long is None:
        raise ValueError("pairs carry no gamma_* columns: re-run resolve to keep per-comparison levels")
    return (
        long.join(levels, ["comparison", "gamma"], "left")
        .withColumn("accepted", F.col("match_probability") >= threshold)
        .select(
            "record_key_l",
            "record_key_r",
            "accepted",
            "link_guarded",
            "match_probability",
            "match_weight",
            "comparison",
            "level",
            "weight",
            "tf_adjustment",
            "given_change",
        )
        .orderBy(F.desc("match_probability"), "record_key_l", "record_key_r", "comparison")
    )
