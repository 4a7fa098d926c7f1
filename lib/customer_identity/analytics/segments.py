"""Customer segments: Spark MLlib k-means over the customers' features, each segment profiled
and named from its own figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, VectorAssembler
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.analytics.features import UNKNOWN_CATEGORY, top_category

SEGMENT_FEATURES = ("log_orders", "log_spend", "recency_days", "log_avg_order_value", "guest_share", "n_categories")


def with_segment_inputs(features: DataFrame) -> DataFrame:
    """The behavioural inputs k-means clusters on; spend-like measures on a log scale."""
    return features.select(
        "*",
        F.log1p("orders").alias("log_orders"),
        F.log1p("spend").alias("log_spend"),
        F.log1p("avg_order_value").alias("log_avg_order_value"),
    )


@dataclass(frozen=True)
class SegmentModel:
    k: int
    silhouettes: dict[int, float]  # candidate k -> silhouette on the buyers
    model: Any  # fitted pyspark PipelineModel (assembler, scaler, k-means)

    criterion = "highest silhouette (squared Euclidean, standardised inputs) over the candidate k"

    def transform(self, features: DataFrame) -> DataFrame:
        """Adds ``segment`` (0..k-1) to buyers; other customers get a null segment."""
        buyers = features.filter("is_buyer").transform(with_segment_inputs)
        assigned = self.model.transform(buyers).select("customer_id", F.col("prediction").cast("int").alias("segment"))
        return features.join(assigned, "customer_id", "left")


def fit_segments(features: DataFrame, candidate_k: tuple[int, ...], seed: int) -> SegmentModel:
    """K-means on the buyers for each candidate k; keeps the k with the highest silhouette."""
    buyers = features.filter("is_buyer").transform(with_segment_inputs).cache()
    n = buyers.count()
    if n < 2 * max(candidate_k):
        candidate_k = tuple(k for k in candidate_k if 2 * k <= n) or (2,)
    assembler = VectorAssembler(inputCols=list(SEGMENT_FEATURES), outputCol="raw_features", handleInvalid="keep")
    scaler = StandardScaler(inputCol="raw_features", outputCol="features", withMean=True, withStd=True)
    evaluator = ClusteringEvaluator(featuresCol="features", predictionCol="prediction", metricName="silhouette")
    fitted, scores = {}, {}
    for k in candidate_k:
        model = Pipeline(stages=[assembler, scaler, KMeans(k=k, seed=seed, featuresCol="features", maxIter=50)]).fit(buyers)
        scores[k] = float(evaluator.evaluate(model.transform(buyers)))
        fitted[k] = model
    best = max(scores, key=lambda k: (scores[k], -k))
    buyers.unpersist()
    return SegmentModel(k=best, silhouettes=scores, model=fitted[best])


def segment_profiles(segmented: DataFrame, transactions: DataFrame) -> DataFrame:
    """One row per segment: size, spend share, typical basket, channel mix and top category."""
    buyers = segmented.filter(F.col("segment").isNotNull())
    totals = buyers.agg(F.count(F.lit(1)).alias("_n"), F.sum("spend").alias("_spend"))
    buyers = buyers.withColumn("_guest_orders", F.col("guest_share") * F.col("orders"))
    profile = buyers.groupBy("segment").agg(
        F.count(F.lit(1)).alias("customers"),
        F.sum("spend").alias("spend"),
        F.avg("orders").alias("avg_orders"),
        F.avg((F.col("orders") >= 2).cast("double")).alias("repeat_share"),
        (F.sum("spend") / F.sum("orders")).alias("avg_order_value"),
        (F.sum("items") / F.sum("orders")).alias("items_per_order"),
        F.percentile_approx("recency_days", 0.5).alias("median_recency_days"),
        (F.sum("_guest_orders") / F.sum("orders")).alias("guest_order_share"),
        F.avg(F.col("has_account").cast("double")).alias("account_share"),
        F.avg(F.col("in_crm").cast("double")).alias("crm_share"),
    )
    seg_tx = transactions.join(buyers.select("customer_id", "segment"), "customer_id")
    top_cat = (
        seg_tx.groupBy("segment", top_category(F.col("category_code")).alias("category"))
        .agg(F.sum("price").alias("cat_spend"))
        .withColumn("rank", F.row_number().over(Window.partitionBy("segment").orderBy(F.desc("cat_spend"), "category")))
        .filter("rank = 1")
        .select("segment", F.col("category").alias("top_category"))
    )
    return (
        profile.join(top_cat, "segment", "left")
        .crossJoin(F.broadcast(totals))
        .withColumn("customer_share", F.col("customers") / F.col("_n"))
        .withColumn("spend_share", F.col("spend") / F.col("_spend"))
        .drop("_n", "_spend")
    )


HIGH_SPEND, LOW_SPEND = 1.5, 0.67  # spend per customer against all buyers
REPEAT_MAJORITY = 0.5  # share of a segment's buyers with two or more orders


def _suggestion(value: str, habit: str, when: str, category: str) -> str:
    """A first thing to try with a segment, from what its name says (a starting point for the shop, not a measured effect)."""
    if habit == "mostly repeat buyers" and when == "bought recently":
        return f"keep them: early access or loyalty perks, and new {category} lines first."
    if habit == "mostly repeat buyers":
        return f"they bought often and have gone quiet: a reminder with what is new in {category}."
    if when == "bought recently":
        return f"turn a first order into a second: a follow-up offer in {category} while the first is fresh."
    if value == "high spend":
        return f"a personal win-back offer: one order, a large one, and nothing since; lead with {category}."
    return f"a low-cost reminder (e-mail) with {category} offers; expect few to return."


def naming_rules(profiles: list[dict], span_days: float) -> str:
    """How :func:`describe_segments` names segments, with the figures the rules compare against."""
    n = sum(p["customers"] for p in profiles)
    per_customer = sum(p["spend"] for p in profiles) / n if n else 0.0
    return (
        f"spend is high at {HIGH_SPEND}x or more the spend per buyer across all segments (${per_customer:,.0f}) and low at {LOW_SPEND}x or less; "
        f"'mostly repeat buyers' when {REPEAT_MAJORITY:.0%} or more of the segment ordered more than once; 'bought recently' when the segment's "
        f"median time since its last purchase is under a third of the period ({span_days / 3:.0f} days), 'not lately' when over two thirds "
        f"({2 * span_days / 3:.0f} days). Where two segments would share a name, their main category is added."
    )


def describe_segments(profiles: list[dict], span_days: float) -> list[dict]:
    """A short name and a plain-words description for each segment profile (rows as dicts).

    Names compare each segment with the buyers as a whole and with the data's own period
    (``span_days``), by the rules :func:`naming_rules` states: spend per customer, the share
    who ordered more than once, and how long ago the segment last bought. Every figure a name
    rests on is in its description.
    """
    n = sum(p["customers"] for p in profiles)
    spend_per_customer = sum(p["spend"] for p in profiles) / n
    out = []
    for p in sorted(profiles, key=lambda p: -p["spend"] / p["customers"]):
        per_customer = p["spend"] / p["customers"]
        relative_spend = per_customer / spend_per_customer
        value = "high spend" if relative_spend >= HIGH_SPEND else "low spend" if relative_spend <= LOW_SPEND else "mid spend"
        habit = "mostly repeat buyers" if p["repeat_share"] >= REPEAT_MAJORITY else "mostly one order"
        recency = p["median_recency_days"]
        when = "bought recently" if recency < span_days / 3 else "not lately" if recency > 2 * span_days / 3 else "mid-period"
        name = f"{value}, {habit}, {when}"
        text = (
            f"{p['customers']:,} customers ({p['customer_share']:.0%} of buyers) bringing {p['spend_share']:.0%} of spend; "
            f"${per_customer:,.0f} per customer against ${spend_per_customer:,.0f} for all buyers; {p['avg_orders']:.1f} orders each, "
            f"{p['repeat_share']:.0%} ordered more than once; a typical basket of {p['items_per_order']:.1f} items for ${p['avg_order_value']:,.0f}, "
            f"mostly {p['top_category'] or UNKNOWN_CATEGORY}; last bought a median {recency:.0f} days before the end of the data; "
            f"{p['guest_order_share']:.0%} of their orders placed as a guest, {p['account_share']:.0%} hold an account, "
            f"{p['crm_share']:.0%} are known to the CRM."
        )
        out.append({**p, "name": name, "description": text, "suggestion": _suggestion(value, habit, when, p["top_category"] or UNKNOWN_CATEGORY)})
    for suffix in (lambda d: f", mostly {d['top_category'] or UNKNOWN_CATEGORY}", lambda d: f" (segment {d['segment']})"):  # until names are unique
        names = [d["name"] for d in out]
        for d in out:
            if names.count(d["name"]) > 1:
                d["name"] += suffix(d)
    return out
