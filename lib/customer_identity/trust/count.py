"""How many distinct people: the count estimate and its interval, from the model's probabilities.

All transforms take and return Spark DataFrames; only small summaries (one row per draw)
are collected.

The customer count is an estimate of how many distinct people the records hold, from the
model's own match probabilities, without ground truth: each scored pair is accepted in draw
``k`` with its probability, connected components are recomputed, and the customer count of
every draw is kept. Pairs whose probability is 1.0 are accepted in every draw, so the graph
is first contracted along them and only the uncertain part is replicated ``K`` times (one
connected-components job for all draws). The estimate is the mean of the draws and its
interval their equal-tailed quantiles. The golden table's customers
(connected components at ``model.match_threshold``) are kept beside it. Pairs no blocking
rule generates are never scored, so no draw can join them; each draw is lowered by its own
estimate of the merges those would make (``customer_identity.trust.unseen``). With true ids
the blocking ceiling of ``jobs.evaluate`` measures them, and a count audit
(``customer_identity.trust.audit``) reaches those review can see.

Match probabilities are only as good as the model's calibration. When reviewers have
labelled a calibration sample (a few random pairs per match-weight bin, part of the review
queue), each draw first draws every labelled bin's match rate from its posterior (the
model's probability as a weak prior, updated by the labels) and accepts the bin's pairs at
that rate; so the interval also carries the uncertainty of the calibration itself.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.config import ClusteringConfig
from customer_identity.resolution.clustering import cluster_records
from customer_identity.trust.evaluation import weight_bin

CERTAIN = 1.0  # pairs at this probability are accepted in every draw


@dataclass(frozen=True)
class CountInterval:
    estimate: int  # expected distinct people: the mean of the draws
    golden_count: int  # customers in the golden table (threshold clusters)
    mean: float  # mean count over the draws, unrounded
    lower: int
    upper: int
    level: float
    draws: int
    uncertain_pairs: int
    method: str = "model probabilities"
    unseen_merges: float | None = None  # mean merges taken off the draws for pairs no blocking rule compared

    def as_row(self) -> dict:
        return self.__dict__.copy()


def _uniform(seed: int, *cols: str | F.Column) -> F.Column:
    return (F.pmod(F.xxhash64(F.lit(seed), *cols), F.lit(2**31 - 1)).cast("double")) / float(2**31 - 1)


@dataclass(frozen=True)
class CalibrationBin:
    bin: int  # floor(match_weight / bin_width)
    mean_probability: float  # the model's mean probability over the bin's scored pairs
    labelled: int
    matches: int


def calibration_bins(pairs: DataFrame, labels: DataFrame, bin_width: float) -> list[CalibrationBin]:
    """Per match-weight bin: the model's mean probability and the reviewers' labels in it."""
    binned = (
        pairs.withColumn("bin", weight_bin(bin_width))
        .withColumn("_kl", F.least("record_key_l", "record_key_r"))
        .withColumn("_kr", F.greatest("record_key_l", "record_key_r"))
    )
    lab = labels.select(F.col("record_key_l").alias("_kl"), F.col("record_key_r").alias("_kr"), "is_match")
    rows = (
        binned.join(lab, ["_kl", "_kr"], "left")
        .groupBy("bin")
        .agg(F.avg("match_probability").alias("p"), F.count("is_match").alias("n"), F.sum(F.col("is_match").cast("int")).alias("k"))
        .orderBy("bin")
        .collect()
    )
    return [CalibrationBin(r.bin, r.p, r.n, r.k or 0) for r in rows]


def calibrated_rates(bins: list[CalibrationBin], draws: int, seed: int, prior_strength: float) -> list[tuple[int, int, float]]:
    """(draw, bin, match rate) drawn from each bin's posterior given the reviewers' labels.

    The prior is the model's own mean probability for the bin, worth ``prior_strength``
    labels: Beta(s*p + matches, s*(1-p) + non-matches). Bins without labels keep the
    model's probabilities (no row).
    """
    rng = random.Random(seed)
    eps = 1e-6
    out = []
    for d in range(draws):
        for b in bins:
            if b.labelled == 0:
                continue
            alpha = prior_strength * b.mean_probability + b.matches + eps
            beta = prior_strength * (1 - b.mean_probability) + (b.labelled - b.matches) + eps
            out.append((d, b.bin, rng.betavariate(alpha, beta)))
    return out


def sampled_counts(
    spark: SparkSession,
    records: DataFrame,
    pairs: DataFrame,
    draws: int,
    seed: int,
    config: ClusteringConfig,
    rates: list[tuple[int, int, float]] | None = None,
    bin_width: float = 2.0,
) -> DataFrame:
    """(draw, customers) for ``draws`` samplings of accept/reject of every scored pair.

    With ``rates`` ((draw, bin, rate) from ``calibrated_rates``) a pair in a calibrated bin
    is accepted with its bin's rate of that draw instead of the model's probability. A pair
    the link guard holds back (``link_guarded``) carries the upper bound of the rate at which
    such pairs are one person (relatives' twins agree on date of birth too); with nothing
    to say where below it the rate lies, each draw takes its own, uniformly between 0 and
    the bound, so the draws carry that doubt as well.
    """
    guarded = F.coalesce(F.col("link_guarded"), F.lit(False)) if "link_guarded" in pairs.columns else F.lit(False)
    certain = pairs.filter(F.col("match_probability") >= CERTAIN)
    base = cluster_records(spark, records, certain.select("record_key_l", "record_key_r", "match_probability"), CERTAIN, config).localCheckpoint(eager=True)
    base_count = base.select("cluster_key").distinct().count()
    to_cluster = lambda side: base.select(F.col("record_key").alias(f"record_key_{side}"), F.col("cluster_key").alias(f"c_{side}"))  # noqa: E731
    uncertain = (
        pairs.filter((F.col("match_probability") < CERTAIN) & (F.col("match_probability") > 0))
        .join(to_cluster("l"), "record_key_l")
        .join(to_cluster("r"), "record_key_r")
        .filter(F.col("c_l") != F.col("c_r"))
        .select("record_key_l", "record_key_r", "c_l", "c_r", "match_probability", "match_weight", guarded.alias("link_guarded"))
    )
    draw_ids = spark.range(draws).withColumnRenamed("id", "draw")
    replicated = uncertain.crossJoin(F.broadcast(draw_ids.withColumn("guard_scale", _uniform(seed + 1, F.col("draw")))))
    # a guarded pair's probability is the data's upper bound for such pairs (see
    # model_design.decide_link_guard): each draw takes its own rate between 0 and that bound
    replicated = replicated.withColumn(
        "match_probability", F.when(F.col("link_guarded"), F.col("match_probability") * F.col("guard_scale")).otherwise(F.col("match_probability"))
    )
    if rates:
        table = spark.createDataFrame(rates, "draw long, bin int, rate double")
        replicated = (
            replicated.withColumn("bin", weight_bin(bin_width))
            .join(F.broadcast(table), ["draw", "bin"], "left")
            .withColumn("match_probability", F.coalesce("rate", "match_probability"))
        )
    accepted = (
        replicated.filter(_uniform(seed, F.col("draw"), "record_key_l", "record_key_r") < F.col("match_probability"))
        .select(
            F.concat_ws("#", F.col("draw").cast("string"), "c_l").alias("record_key_l"),
            F.concat_ws("#", F.col("draw").cast("string"), "c_r").alias("record_key_r"),
            F.lit(1.0).alias("match_probability"),
        )
        .localCheckpoint(eager=True)
    )
    nodes = accepted.select(F.col("record_key_l").alias("record_key")).unionByName(accepted.select(F.col("record_key_r").alias("record_key"))).distinct()
    merged = cluster_records(spark, nodes, accepted, 1.0, config)
    merges = (
        merged.withColumn("draw", F.split("record_key", "#").getItem(0).cast("long"))
        .groupBy("draw")
        .agg((F.count("*") - F.countDistinct("cluster_key")).alias("merges"))
    )
    return draw_ids.join(merges, "draw", "left").select("draw", (F.lit(base_count) - F.coalesce("merges", F.lit(0))).alias("customers"))


def count_interval(
    counts: list[int], golden_count: int, level: float, uncertain_pairs: int, method: str = "model probabilities", unseen: list[float] | None = None
) -> CountInterval:
    """The estimate of distinct people (the draws' mean) and its equal-tailed interval at
    ``level`` (e.g. 0.95), which always contains the estimate. Never below one.

    ``unseen`` (one per draw, from ``UnseenMerges.draws``) are the merges each draw misses
    because no blocking rule compared the records; draw k counts ``counts[k] - unseen[k]``."""
    if not counts:
        raise ValueError("count_interval needs at least one draw")
    if unseen is not None and len(unseen) != len(counts):
        raise ValueError(f"count_interval: {len(unseen)} estimates of unseen merges for {len(counts)} draws")
    s = sorted(c - u for c, u in zip(counts, unseen)) if unseen is not None else sorted(counts)
    lo_i = int((1 - level) / 2 * (len(s) - 1))
    mean = sum(s) / len(s)
    estimate = max(1, round(mean))
    lower = max(1, min(math.floor(s[lo_i]), estimate))
    upper = max(math.ceil(s[len(s) - 1 - lo_i]), estimate)
    lost = round(sum(unseen) / len(unseen), 2) if unseen is not None else None
    return CountInterval(estimate, golden_count, round(mean, 2), lower, upper, level, len(s), uncertain_pairs, method, lost)
