"""What customers buy: category and brand mix by segment, baskets and FP-Growth association rules."""

from __future__ import annotations

from pyspark.ml.fpm import FPGrowth
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.analytics.features import top_category


def category_mix(transactions: DataFrame, segmented: DataFrame | None = None, column: str = "category") -> DataFrame:
    """Items, spend and share of spend per broad category (or brand), overall and per segment.

    ``segment`` is "all" for the overall mix. Unattributed purchases count in "all" only.
    """
    value = top_category(F.col("category_code")) if column == "category" else F.coalesce(F.col("brand"), F.lit("no brand"))
    tx = transactions.withColumn("item_value", value)
    parts = [tx.withColumn("segment", F.lit("all"))]
    if segmented is not None:
        seg = segmented.filter(F.col("segment").isNotNull()).select("customer_id", F.col("segment").cast("string").alias("segment"))
        parts.append(tx.join(seg, "customer_id"))
    mixed = parts[0]
    for part in parts[1:]:
        mixed = mixed.unionByName(part)
    grouped = mixed.groupBy("segment", F.col("item_value").alias(column)).agg(F.count(F.lit(1)).alias("items"), F.round(F.sum("price"), 2).alias("spend"))
    total = Window.partitionBy("segment")
    return grouped.withColumn("spend_share", F.col("spend") / F.sum("spend").over(total)).withColumn(
        "rank", F.row_number().over(total.orderBy(F.desc("spend"), column))
    )


def session_baskets(transactions: DataFrame, item: str = "category_code") -> DataFrame:
    """One row per order with the distinct items in it (``items``: array), orders with no item kept empty."""
    value = F.col(item)
    return (
        transactions.filter(F.col("session_id").isNotNull())
        .groupBy("session_id")
        .agg(F.array_sort(F.collect_set(F.when(value.isNotNull() & (F.trim(value) != ""), value))).alias("items"))
    )


def association_rules(baskets: DataFrame, min_support: float, min_confidence: float) -> DataFrame:
    """FP-Growth rules ``antecedent -> consequent`` with support, confidence and lift.

    Support is the share of all orders containing antecedent and consequent together.
    """
    model = FPGrowth(itemsCol="items", minSupport=min_support, minConfidence=min_confidence).fit(baskets)
    rules = model.associationRules
    if "support" not in rules.columns:  # older Spark: derive from the frequent itemsets
        n = baskets.count()
        sets = model.freqItemsets.select(F.array_sort("items").alias("itemset"), (F.col("freq") / n).alias("support"))
        rules = rules.join(sets, F.array_sort(F.concat("antecedent", "consequent")) == F.col("itemset")).drop("itemset")
    return rules.select("antecedent", "consequent", "support", "confidence", "lift")
