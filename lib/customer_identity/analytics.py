"""Who the customers are, what they buy and what drives their purchases, per resolved customer.

Everything here works on the gold tables (``customers``, ``transactions_resolved``) and runs on
Spark: features and scores are column expressions and aggregations, segments come from Spark
MLlib k-means, baskets from FP-Growth and the purchase drivers from a random forest. The only
things that reach the driver are small aggregates (one row per segment, rule or feature).

Time is measured against the end of the data (the last purchase seen), not the wall clock, so
a re-run on the same data gives the same answers.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from pyspark.ml import Pipeline
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.clustering import KMeans
from pyspark.ml.evaluation import BinaryClassificationEvaluator, ClusteringEvaluator
from pyspark.ml.feature import StandardScaler, StringIndexer, VectorAssembler
from pyspark.ml.fpm import FPGrowth
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.config import AnalyticsConfig

UNKNOWN_CATEGORY = "unknown"
SEGMENT_FEATURES = ("log_orders", "log_spend", "recency_days", "log_avg_order_value", "guest_share", "n_categories")


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


def mask_name(name: Column) -> Column:
    """Each word reduced to its initial: "jane smith" -> "J*** S****" (the length is not kept)."""
    words = F.filter(F.split(F.trim(name), r"\s+"), lambda w: w != "")
    masked = F.transform(words, lambda w: F.concat(F.upper(F.substring(w, 1, 1)), F.lit("***")))
    return F.when(F.size(words) > 0, F.array_join(masked, " "))


def mask_postcode(postcode: Column) -> Column:
    """Only the outward code survives: "SW1A 1AA" -> "SW1A ***"."""
    outward = F.split(F.trim(postcode), r"\s+").getItem(0)
    return F.when(F.length(F.trim(postcode)) > 0, F.concat(F.upper(outward), F.lit(" ***")))


def mask_email(email: Column) -> Column:
    """The first letter of the mailbox only: "jane.smith@example.com" -> "j***@***"."""
    return F.when(F.length(F.trim(email)) > 0, F.concat(F.substring(F.trim(email), 1, 1), F.lit("***@***")))


def mask_phone(phone: Column) -> Column:
    """The last two digits only: "+447700900123" -> "***23"."""
    digits = F.regexp_replace(phone, r"\D", "")
    return F.when(F.length(digits) > 0, F.concat(F.lit("***"), F.substring(digits, -2, 2)))


def masked_personal_columns(df: DataFrame) -> DataFrame:
    """Every column holding a person's details (pair sides ``*_l``/``*_r`` or plain) masked.

    Names and addresses keep initials, postcodes their outward code, e-mails the first
    letter, phones the last two digits, dates of birth the year; other columns unchanged.
    """
    out = []
    for name, dtype in df.dtypes:
        base = name[:-2] if name.endswith(("_l", "_r")) else name
        col = F.col(name)
        if base.startswith(("gamma_", "mw_", "bf_", "tf_", "record_key", "source_dataset")):
            out.append(col)
        elif "postcode" in base:
            out.append(mask_postcode(col).alias(name))
        elif "email" in base:
            out.append(mask_email(col).alias(name))
        elif "phone" in base:
            out.append(mask_phone(col).alias(name))
        elif "date_of_birth" in base or "birth" in base:
            out.append(F.year(col).cast("string").alias(name))
        elif dtype.startswith("array") and "name" in base:
            out.append(mask_name(F.array_join(col, " ")).alias(name))
        elif any(k in base for k in ("name", "address", "street")):
            out.append(mask_name(col.cast("string")).alias(name))
        else:
            out.append(col)
    return df.select(*out)


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


def rfm_segment(r: Column, f: Column) -> Column:
    """The usual RFM grid read on recency and frequency scores (5 = best)."""
    return (
        F.when(r.isNull(), "no purchase")
        .when((r >= 4) & (f >= 4), "champions")
        .when((r <= 2) & (f >= 3), "at risk")
        .when(f >= 4, "loyal")
        .when((r >= 4) & (f <= 2), "new")
        .when((r <= 2) & (f <= 2), "hibernating")
        .otherwise("needs attention")
    )


def with_rfm(features: DataFrame, bins: int) -> DataFrame:
    """Adds ``r_score``, ``f_score``, ``m_score`` (quantiles over buyers) and ``rfm_segment``.

    Quantile cut points are computed once over all buyers (``percentile_approx``), so the scores
    need no global sort; tied values always share a score.
    """
    probs = [i / bins for i in range(1, bins)]
    cuts = features.filter("is_buyer").agg(
        F.percentile_approx("recency_days", probs, 10000).alias("_r_cuts"),
        F.percentile_approx("orders", probs, 10000).alias("_f_cuts"),
        F.percentile_approx("spend", probs, 10000).alias("_m_cuts"),
    )
    buyer = F.col("is_buyer")
    scored = (
        features.crossJoin(F.broadcast(cuts))
        .withColumn("r_score", F.when(buyer, _score(F.col("recency_days"), F.col("_r_cuts"), bins, higher_is_better=False)))
        .withColumn("f_score", F.when(buyer, _score(F.col("orders").cast("double"), F.col("_f_cuts").cast("array<double>"), bins, True)))
        .withColumn("m_score", F.when(buyer, _score(F.col("spend"), F.col("_m_cuts"), bins, True)))
        .drop("_r_cuts", "_f_cuts", "_m_cuts")
    )
    return scored.withColumn("rfm_segment", rfm_segment(F.col("r_score"), F.col("f_score")))


# --------------------------------------------------------------------------- segments (k-means)


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


def describe_segments(profiles: list[dict]) -> list[dict]:
    """A short name and a plain-words description for each segment profile (rows as dicts).

    Names compare each segment with the buyers as a whole: spend per customer, orders per
    customer, recency and the channel its purchases came through.
    """
    n = sum(p["customers"] for p in profiles)
    spend_per_customer = sum(p["spend"] for p in profiles) / n
    orders_per_customer = sum(p["avg_orders"] * p["customers"] for p in profiles) / n
    recency = statistics.median(p["median_recency_days"] for p in profiles)
    out = []
    for p in sorted(profiles, key=lambda p: -p["spend"] / p["customers"]):
        relative_spend = (p["spend"] / p["customers"]) / spend_per_customer
        value = "high-value" if relative_spend >= 1.5 else "low-value" if relative_spend <= 0.67 else "mid-value"
        habit = "repeat buyers" if p["avg_orders"] >= max(1.5, 1.2 * orders_per_customer) else "one-off buyers"
        when = "recent" if p["median_recency_days"] < recency else "lapsing" if p["median_recency_days"] > recency else "steady"
        channel = "mostly guest checkouts" if p["guest_order_share"] >= 0.5 else "mostly registered"
        name = f"{value} {habit}, {when}"
        text = (
            f"{p['customers']:,} customers ({p['customer_share']:.0%} of buyers) bringing {p['spend_share']:.0%} of spend; "
            f"{p['avg_orders']:.1f} orders each, a typical basket of {p['items_per_order']:.1f} items for ${p['avg_order_value']:,.0f}, "
            f"mostly {p['top_category'] or UNKNOWN_CATEGORY}; last bought a median {p['median_recency_days']:.0f} days before the end of the data; "
            f"{channel} ({p['guest_order_share']:.0%} of orders as a guest), {p['account_share']:.0%} hold an account, "
            f"{p['crm_share']:.0%} are known to the CRM."
        )
        out.append({**p, "name": name, "description": text})
    return out


# --------------------------------------------------------------------------- what they buy


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
    return transactions.filter(F.col("session_id").isNotNull()).groupBy("session_id").agg(
        F.array_sort(F.collect_set(F.when(value.isNotNull() & (F.trim(value) != ""), value))).alias("items")
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


# --------------------------------------------------------------------------- what drives purchases


DRIVER_FEATURES = {
    "first_order_value": "value of the first order",
    "first_order_items": "items in the first order",
    "first_order_categories": "categories in the first order",
    "first_order_guest": "first order placed as a guest",
    "first_order_weekend": "first order at a weekend",
    "first_order_hour": "hour of the first order",
    "has_account": "holds a platform account",
    "in_crm": "known to the CRM",
    "first_category_index": "category of the first order",
}


def repeat_purchase_examples(features: DataFrame, transactions: DataFrame, window_days: int) -> DataFrame:
    """One row per buyer whose first order is at least ``window_days`` before the end of the data.

    ``repeat`` (0/1) says whether they ordered again within ``window_days`` of the first order.
    The inputs describe only what was known at the first order (its basket, time and channel,
    and whether the customer held an account or CRM record), so the outcome cannot leak in.
    """
    orders = customer_orders(transactions)
    first = Window.partitionBy("customer_id").orderBy("order_time", "session_id")
    ranked = orders.withColumn("n", F.row_number().over(first))
    firsts = ranked.filter("n = 1").drop("n")
    horizon = window_days * 86400
    later = ranked.filter("n > 1").select("customer_id", F.col("order_time").alias("later_time"))
    repeat = (
        firsts.join(later, "customer_id", "left")
        .groupBy("customer_id")
        .agg(
            F.max(
                (
                    F.col("later_time").isNotNull()
                    & (F.unix_timestamp("later_time") - F.unix_timestamp("order_time") <= horizon)
                ).cast("int")
            ).alias("repeat")
        )
    )
    examples = (
        firsts.join(repeat, "customer_id")
        .join(features.select("customer_id", "has_account", "in_crm", "as_of"), "customer_id")
        .filter(F.unix_timestamp("as_of") - F.unix_timestamp("order_time") >= horizon)
    )
    return examples.select(
        "customer_id",
        F.col("repeat").cast("double").alias("repeat"),
        F.col("order_value").alias("first_order_value"),
        F.col("items").cast("double").alias("first_order_items"),
        F.col("order_categories").cast("double").alias("first_order_categories"),
        F.col("guest_order").cast("double").alias("first_order_guest"),
        F.dayofweek("order_time").isin(1, 7).cast("double").alias("first_order_weekend"),
        F.hour("order_time").cast("double").alias("first_order_hour"),
        F.col("has_account").cast("double").alias("has_account"),
        F.col("in_crm").cast("double").alias("in_crm"),
        F.col("first_item_category").alias("first_category"),
    )


@dataclass(frozen=True)
class DriverModel:
    outcome: str
    examples: int
    positive_rate: float
    train_rows: int
    test_rows: int
    test_auc: float
    importances: list[dict]  # feature, label, importance, rate_high, rate_low (sorted by importance)

    def reading(self) -> list[str]:
        """Plain-language sentences about the strongest drivers, with their observed direction."""
        lines = []
        for imp in self.importances[:3]:
            if imp["rate_high"] is None or imp["rate_low"] is None:
                continue
            lines.append(
                f"{imp['label']} (importance {imp['importance']:.2f}): {imp['rate_high']:.0%} repeat "
                f"{imp['high_means']} versus {imp['rate_low']:.0%} {imp['low_means']}."
            )
        return lines


def _directions(examples: DataFrame, features: list[str]) -> dict[str, dict]:
    """Observed repeat rate for high versus low values of each numeric input (binary: 1 versus 0),
    in two passes over the examples whatever the number of inputs."""
    stats = examples.agg(
        *[F.min(f).alias(f"{f}__lo") for f in features],
        *[F.max(f).alias(f"{f}__hi") for f in features],
        *[F.percentile_approx(f, 0.5).alias(f"{f}__mid") for f in features],
        *[F.sum((~F.col(f).isin(0, 1)).cast("int")).alias(f"{f}__other") for f in features],
    ).first()
    cuts, binary = {}, {}
    for f in features:
        binary[f] = stats[f"{f}__lo"] == 0 and stats[f"{f}__hi"] == 1 and not stats[f"{f}__other"]
        cuts[f] = 0.5 if binary[f] else stats[f"{f}__mid"]
    rates = examples.agg(
        *[F.avg(F.when(F.col(f) > cuts[f], F.col("repeat"))).alias(f"{f}__high") for f in features],
        *[F.avg(F.when(F.col(f) <= cuts[f], F.col("repeat"))).alias(f"{f}__low") for f in features],
    ).first()
    out = {}
    for f in features:
        means = ("when yes", "when no") if binary[f] else (f"above the median ({cuts[f]:g})", "at or below it")
        out[f] = {"rate_high": rates[f"{f}__high"], "rate_low": rates[f"{f}__low"], "high_means": means[0], "low_means": means[1]}
    return out


def fit_drivers(examples: DataFrame, test_fraction: float, seed: int) -> DriverModel:
    """A random forest of repeat purchase on first-order facts, validated on a held-out split.

    Reports the held-out area under the ROC curve (0.5 = no better than chance) and the
    forest's feature importances, each with the repeat rates observed above and below it.
    """
    examples = examples.cache()
    train, test = examples.randomSplit([1 - test_fraction, test_fraction], seed=seed)
    inputs = [f for f in DRIVER_FEATURES if f != "first_category_index"] + ["first_category_index"]
    pipeline = Pipeline(
        stages=[
            StringIndexer(inputCol="first_category", outputCol="first_category_index", handleInvalid="keep"),
            VectorAssembler(inputCols=inputs, outputCol="features"),
            RandomForestClassifier(labelCol="repeat", featuresCol="features", numTrees=60, maxDepth=5, seed=seed, maxBins=64),
        ]
    )
    model = pipeline.fit(train)
    evaluator = BinaryClassificationEvaluator(labelCol="repeat", rawPredictionCol="rawPrediction", metricName="areaUnderROC")
    auc = float(evaluator.evaluate(model.transform(test)))
    forest = model.stages[-1]
    numeric = [f for f in inputs if f != "first_category_index"]
    directions = _directions(examples, numeric)
    no_direction = {"rate_high": None, "rate_low": None, "high_means": "", "low_means": ""}  # a category has no high and low
    importances = []
    for name, weight in zip(inputs, forest.featureImportances.toArray(), strict=True):
        importances.append({"feature": name, "label": DRIVER_FEATURES[name], "importance": float(weight), **directions.get(name, no_direction)})
    importances.sort(key=lambda d: -d["importance"])
    summary = examples.agg(F.count(F.lit(1)).alias("n"), F.avg("repeat").alias("rate")).first()
    result = DriverModel(
        outcome="another order within the window after the first",
        examples=int(summary.n),
        positive_rate=float(summary.rate or 0.0),
        train_rows=train.count(),
        test_rows=test.count(),
        test_auc=auc if not math.isnan(auc) else 0.5,
        importances=importances,
    )
    examples.unpersist()
    return result
