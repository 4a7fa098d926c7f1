"""Per-customer features: orders, spend, recency, categories and RFM scores, on Spark.

Time is measured against the end of the data (the last purchase seen), not the wall clock, so
a re-run on the same data gives the same answers.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.core.config import AnalyticsConfig

UNKNOWN_CATEGORY = "unknown"


# --------------------------------------------------------------------------- columns


def top_category(category_code: Column) -> Column:
    """The broad category of a dotted category code ("electronics.audio.headphone" -> "electronics")."""
    return F.coalesce(F.nullif(F.split(F.trim(category_code), r"\.").getItem(0), F.lit("")), F.lit(UNKNOWN_CATEGORY))


def price_band(median_item_price: Column, bands: dict[str, float]) -> Column:
    return (
        F.when(median_item_price.isNull(), F.lit(None))
        .when(median_item_price < bands["budget"], "budget")
        .when(median_item_price < bands["mid"], "mid")
        .otherwise("premium")
    )


# --------------------------------------------------------------------------- orders and features


def with_as_of(df: DataFrame, transactions: DataFrame) -> DataFrame:
    """Adds ``as_of``: the time of the last purchase in the data (one value for every row)."""
    end = transactions.agg(F.max("event_time").alias("as_of"))
    return df.crossJoin(F.broadcast(end))


def customer_orders(transactions: DataFrame) -> DataFrame:
    """One row per (customer, order): a checkout is the items sharing a ``session_id``."""
    attributed = transactions.filter(F.col("customer_id").isNotNull())
    return attributed.groupBy("customer_id", "session_id").agg(
        F.min("event_time").alias("order_time"),
        F.count(F.lit(1)).alias("items"),
        F.sum("price").alias("order_value"),
        F.countDistinct(top_category(F.col("category_code"))).alias("order_categories"),
        F.max((F.col("attribution") == "guest").cast("int")).alias("guest_order"),
        F.min_by(top_category(F.col("category_code")), F.col("event_time")).alias("first_item_category"),
    )


def _most_frequent(transactions: DataFrame, value: Column, name: str) -> DataFrame:
    counted = transactions.filter(value.isNotNull()).groupBy("customer_id", value.alias(name)).agg(F.count(F.lit(1)).alias("n"))
    rank = Window.partitionBy("customer_id").orderBy(F.desc("n"), F.asc(name))
    return counted.withColumn("rank", F.row_number().over(rank)).filter("rank = 1").select("customer_id", name)


def customer_features(customers: DataFrame, transactions: DataFrame, config: AnalyticsConfig) -> DataFrame:
    """One row per resolved customer: recency, frequency, monetary value, basket and channel traits.

    Customers without a purchase (an account or CRM record only) are kept with zero orders,
    so the table has exactly one row per customer of ``customers``.
    """
    tx = transactions.filter(F.col("customer_id").isNotNull())
    orders = customer_orders(tx)
    per_order = orders.groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("orders"),
        F.sum("order_value").alias("spend"),
        F.min("order_time").alias("first_purchase"),
        F.max("order_time").alias("last_purchase"),
        F.sum("guest_order").alias("guest_orders"),
    )
    per_item = tx.groupBy("customer_id").agg(
        F.count(F.lit(1)).alias("items"),
        F.percentile_approx("price", 0.5).alias("median_item_price"),
        F.countDistinct(top_category(F.col("category_code"))).alias("n_categories"),
    )
    top_cat = _most_frequent(tx, top_category(F.col("category_code")), "top_category")
    top_brand = _most_frequent(tx, F.col("brand"), "top_brand")
    bought = per_order.join(per_item, "customer_id").join(top_cat, "customer_id", "left").join(top_brand, "customer_id", "left")
    base = customers.select(
        "customer_id", "sources", "n_records",
        F.array_contains("sources", "platform").alias("has_account"),
        F.array_contains("sources", "crm").alias("in_crm"),
    )  # fmt: skip
    out = base.join(bought, "customer_id", "left").transform(lambda df: with_as_of(df, transactions))
    zero = {"orders": 0, "spend": 0.0, "items": 0, "guest_orders": 0, "n_categories": 0}
    out = out.fillna(zero)
    days = 86400.0
    return out.select(
        "customer_id", "sources", "n_records", "has_account", "in_crm",
        (F.col("orders") > 0).alias("is_buyer"),
        F.col("orders").cast("long").alias("orders"),
        F.col("items").cast("long").alias("items"),
        F.round("spend", 2).alias("spend"),
        F.when(F.col("orders") > 0, F.round(F.col("spend") / F.col("orders"), 2)).alias("avg_order_value"),
        F.when(F.col("orders") > 0, F.col("items") / F.col("orders")).alias("items_per_order"),
        "first_purchase", "last_purchase",
        ((F.unix_timestamp("as_of") - F.unix_timestamp("last_purchase")) / days).alias("recency_days"),
        ((F.unix_timestamp("as_of") - F.unix_timestamp("first_purchase")) / days).alias("tenure_days"),
        "median_item_price",
        price_band(F.col("median_item_price"), dict(config.price_bands)).alias("price_band"),
        F.col("n_categories").cast("long").alias("n_categories"),
        "top_category", "top_brand",
        F.when(F.col("orders") > 0, F.col("guest_orders") / F.col("orders")).alias("guest_share"),
        "as_of",
    )  # fmt: skip


# --------------------------------------------------------------------------- RFM


def _score(value: Column, cuts: Column, bins: int, higher_is_better: bool) -> Column:
    """1..bins: one plus the number of quantile cut points the value lies above (or below)."""
    above = F.size(F.filter(cuts, lambda c: value > c)) if higher_is_better else F.size(F.filter(cuts, lambda c: value < c))
    return F.when(value.isNotNull(), F.least(F.lit(bins), above + 1))


RFM_ORDER = ("recent, frequent", "frequent, not recent", "frequent", "recent, few orders", "few orders, not recent", "in between", "no purchase")


def rfm_segment(r: Column, f: Column) -> Column:
    """The usual RFM grid read on recency and frequency scores (5 = best), named by what the
    scores mean rather than by a year's worth of habits ("hibernating" in a one-month shop)."""
    return (
        F.when(r.isNull(), "no purchase")
        .when((r >= 4) & (f >= 4), "recent, frequent")
        .when((r <= 2) & (f >= 3), "frequent, not recent")
        .when(f >= 4, "frequent")
        .when((r >= 4) & (f <= 2), "recent, few orders")
        .when((r <= 2) & (f <= 2), "few orders, not recent")
        .otherwise("in between")
    )


def _cut_points(features: DataFrame, bins: int) -> DataFrame:
    """One row over the buyers: ``_span`` (the data's period in days: the longest tenure, or the
    oldest last purchase) and the quantile cut points of orders and spend."""
    probs = [i / bins for i in range(1, bins)]
    span = F.col("tenure_days") if "tenure_days" in features.columns else F.col("recency_days")
    return features.filter("is_buyer").agg(
        F.greatest(F.max(span), F.max("recency_days"), F.lit(1e-9)).alias("_span"),
        F.percentile_approx("orders", probs, 10000).alias("_f_cuts"),
        F.percentile_approx("spend", probs, 10000).alias("_m_cuts"),
    )


def with_rfm(features: DataFrame, bins: int) -> DataFrame:
    """Adds ``r_score``, ``f_score``, ``m_score`` and ``rfm_segment``.

    Recency is scored on the data's own span (the longest tenure among buyers, or the oldest
    last purchase): ``bins`` equal slices of it, the latest slice scoring ``bins``, so a score
    means the same share of the period whatever its length. Frequency and spend are scored
    on quantile cut points computed once over all buyers (``percentile_approx``), so the
    scores need no global sort; tied values always share a score.
    """
    cuts = _cut_points(features, bins)
    buyer = F.col("is_buyer")
    slice_of_span = F.floor(F.col("recency_days") / F.col("_span") * bins)
    scored = (
        features.crossJoin(F.broadcast(cuts))
        .withColumn("r_score", F.when(buyer & F.col("recency_days").isNotNull(), F.greatest(F.lit(1), F.lit(bins) - slice_of_span).cast("int")))
        .withColumn("f_score", F.when(buyer, _score(F.col("orders").cast("double"), F.col("_f_cuts").cast("array<double>"), bins, True)))
        .withColumn("m_score", F.when(buyer, _score(F.col("spend"), F.col("_m_cuts"), bins, True)))
        .drop("_span", "_f_cuts", "_m_cuts")
    )
    return scored.withColumn("rfm_segment", rfm_segment(F.col("r_score"), F.col("f_score")))


def rfm_rules(features: DataFrame, bins: int) -> str:
    """The RFM groups' rules in words and days, from the same cut points as :func:`with_rfm`."""
    row = _cut_points(features, bins).first()
    if row is None or row._f_cuts is None:
        return "No purchases to score."
    slice_days = row._span / bins
    frequent = int(row._f_cuts[bins - 3]) + 1  # f_score >= 4 <=> orders above the (bins-3)th cut (0-based)
    few = int(row._f_cuts[1])  # f_score <= 2 <=> orders at or below the second cut
    return (
        f"Scored on the data's own period ({row._span:.0f} days, in {bins} slices of {slice_days:.0f} days): recent means the last purchase fell in "
        f"the latest {2 * slice_days:.0f} days, not recent that it did not fall in the latest {3 * slice_days:.0f}; frequent means "
        f"{frequent} orders or more (the top of the buyers by orders), few orders means {few} or fewer."
    )
