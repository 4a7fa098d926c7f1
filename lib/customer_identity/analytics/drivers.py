"""What drives a repeat purchase: examples from each buyer's first order and a random forest
over them, with the direction of each feature."""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.ml import Pipeline
from pyspark.ml.classification import RandomForestClassifier
from pyspark.ml.evaluation import BinaryClassificationEvaluator
from pyspark.ml.feature import StringIndexer, VectorAssembler
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.analytics.features import customer_orders

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
            F.max((F.col("later_time").isNotNull() & (F.unix_timestamp("later_time") - F.unix_timestamp("order_time") <= horizon)).cast("int")).alias("repeat")
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
    importances: list[dict]  # feature, label, importance, rate_high, rate_low, n_high, n_low (sorted by importance)

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
    """Observed repeat rate (and number of examples) for high versus low values of each numeric
    input (binary: 1 versus 0), in two passes over the examples whatever the number of inputs."""
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
        *[F.count(F.when(F.col(f) > cuts[f], F.col("repeat"))).alias(f"{f}__n_high") for f in features],
        *[F.count(F.when(F.col(f) <= cuts[f], F.col("repeat"))).alias(f"{f}__n_low") for f in features],
    ).first()
    out = {}
    for f in features:
        means = ("when yes", "when no") if binary[f] else (f"above the median ({cuts[f]:g})", "at or below it")
        out[f] = {"rate_high": rates[f"{f}__high"], "rate_low": rates[f"{f}__low"], "n_high": rates[f"{f}__n_high"], "n_low": rates[f"{f}__n_low"],
                  "high_means": means[0], "low_means": means[1]}  # fmt: skip
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
    no_direction = {"rate_high": None, "rate_low": None, "n_high": None, "n_low": None, "high_means": "", "low_means": ""}  # a category has no high and low
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
