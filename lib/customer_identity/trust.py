"""How far the customer count can be trusted: threshold sweep, count interval, error analysis.

All transforms take and return Spark DataFrames; only small summaries (one row per threshold
or per draw) are collected.

The customer count is an estimate of how many distinct people the records hold, from the
model's own match probabilities, without ground truth: each scored pair is accepted in draw
``k`` with its probability, connected components are recomputed, and the customer count of
every draw is kept. Pairs whose probability is 1.0 are accepted in every draw, so the graph
is first contracted along them and only the uncertain part is replicated ``K`` times (one
connected-components job for all draws). The estimate is the mean of the draws and its
interval their equal-tailed quantiles. The golden table's customers
(connected components at ``model.match_threshold``) are kept beside it. Pairs no blocking
rule generates are never scored, so any matches among them are missing from the estimate,
which leans high by the merges they would make. The scored pairs cannot say how many those
are (the blocking rules share fields, so they are not independent lists for capture-recapture);
with true ids the blocking ceiling of ``jobs.evaluate`` measures it, and without them a count
audit (``customer_identity.audit``) covers what review can reach.

Match probabilities are only as good as the model's calibration. When reviewers have
labelled a calibration sample (a few random pairs per match-weight bin, part of the review
queue), each draw first draws every labelled bin's match rate from its posterior (the
model's probability as a weak prior, updated by the labels) and accepts the bin's pairs at
that rate; so the interval also carries the uncertainty of the calibration itself.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity import golden
from customer_identity.clustering import cluster_records
from customer_identity.config import ClusteringConfig
from customer_identity.evaluation import evaluate, weight_bin

CERTAIN = 1.0  # pairs at this probability are accepted in every draw


# --------------------------------------------------------------------------- threshold sweep


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
        parts.getItem(0).cast("int").alias("threshold_index"), parts.getItem(1).alias("record_key"), F.split("cluster_key", "#", 2).getItem(1).alias("cluster_key")
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
            row.update(basis="ground truth", precision=e.pairwise_precision, recall=e.pairwise_recall, f1=e.pairwise_f1, hard_negatives_merged_pct=e.hard_negatives_merged_pct)
        elif labels is not None:
            row.update(basis="review labels", **label_accuracy(crosswalk, labels))
        rows.append(row)
        crosswalk.unpersist()
    schema = "threshold double, customers long, basis string, precision double, recall double, f1 double, hard_negatives_merged_pct double"
    return spark.createDataFrame([tuple(r[c] for c in ("threshold", "customers", "basis", "precision", "recall", "f1", "hard_negatives_merged_pct")) for r in rows], schema)


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


# --------------------------------------------------------------------------- count interval


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

    def as_row(self) -> dict:
        return self.__dict__.copy()


def possible_pairs(records_by_source: dict[str, int], link_type: str) -> int:
    """How many record pairs the model could compare: within and across sources for
    ``dedupe_only`` and ``link_and_dedupe``, across sources only for ``link_only``."""
    n = sum(records_by_source.values())
    if link_type == "link_only":
        return (n * n - sum(k * k for k in records_by_source.values())) // 2
    return n * (n - 1) // 2


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
    binned = pairs.withColumn("bin", weight_bin(bin_width)).withColumn("_kl", F.least("record_key_l", "record_key_r")).withColumn(
        "_kr", F.greatest("record_key_l", "record_key_r")
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


def count_interval(counts: list[int], golden_count: int, level: float, uncertain_pairs: int, method: str = "model probabilities") -> CountInterval:
    """The estimate of distinct people (the draws' mean) and its equal-tailed interval at
    ``level`` (e.g. 0.95), which always contains the estimate. Never below one."""
    if not counts:
        raise ValueError("count_interval needs at least one draw")
    s = sorted(counts)
    lo_i = int((1 - level) / 2 * (len(s) - 1))
    mean = sum(s) / len(s)
    estimate = max(1, round(mean))
    lower = max(1, min(s[lo_i], estimate))
    upper = max(s[len(s) - 1 - lo_i], estimate)
    return CountInterval(estimate, golden_count, round(mean, 2), lower, upper, level, len(s), uncertain_pairs, method)


# --------------------------------------------------------------------------- error analysis


def record_tags(truth_records: DataFrame, truth_sessions: DataFrame, transactions_resolved: DataFrame, crosswalk: DataFrame) -> DataFrame:
    """(record_key, tag) for every corruption the generator applied to an identity record.

    Guest identities take the corruptions of all their checkouts; records with none get "clean".
    """
    accounts = crosswalk.join(truth_records.select("source_system", "source_record_id", "corruptions"), ["source_system", "source_record_id"]).select(
        "record_key", F.explode_outer("corruptions").alias("tag")
    )
    sessions = transactions_resolved.filter(F.col("attribution") == "guest").select("record_key", "session_id").distinct()
    guests = sessions.join(truth_sessions.select("session_id", "corruptions"), "session_id").select("record_key", F.explode_outer("corruptions").alias("tag"))
    tags = accounts.unionByName(guests).filter(F.col("tag").isNotNull()).distinct()
    clean = crosswalk.select("record_key").join(tags, "record_key", "left_anti").withColumn("tag", F.lit("clean"))
    return tags.unionByName(clean)


def error_analysis(crosswalk: DataFrame, truth: DataFrame, tags: DataFrame, relations: DataFrame) -> DataFrame:
    """Missed and false merges of record pairs, by corruption tag and by hard-negative relation.

    Rows: (kind, category, pairs, errors, error_rate). ``missed_merge`` rows count true pairs
    (same person) carrying the tag on either record and how many ended in different
    customers; ``false_merge`` rows count record pairs put in one customer that belong to
    different people, by the relation between those people (unrelated when none).
    """
    rec = crosswalk.select("record_key", "customer_id").join(truth, "record_key")
    a, b = rec.toDF("key_a", "cid_a", "person_a"), rec.toDF("key_b", "cid_b", "person_b")
    true_pairs = a.join(b, (F.col("person_a") == F.col("person_b")) & (F.col("key_a") < F.col("key_b"))).withColumn("missed", F.col("cid_a") != F.col("cid_b"))
    tagged = true_pairs.join(tags.toDF("key_a", "tag"), "key_a").select("key_a", "key_b", "missed", "tag").unionByName(
        true_pairs.join(tags.toDF("key_b", "tag"), "key_b").select("key_a", "key_b", "missed", "tag")
    ).distinct()
    missed = tagged.groupBy(F.col("tag").alias("category")).agg(F.count("*").alias("pairs"), F.sum(F.col("missed").cast("long")).alias("errors")).withColumn(
        "kind", F.lit("missed_merge")
    )
    linked = a.join(b, (F.col("cid_a") == F.col("cid_b")) & (F.col("key_a") < F.col("key_b")) & (F.col("person_a") != F.col("person_b")))
    rel = relations.select("person_a", "person_b", "relation").unionByName(relations.select(F.col("person_b").alias("person_a"), F.col("person_a").alias("person_b"), "relation"))
    false = (
        linked.join(rel, ["person_a", "person_b"], "left")
        .groupBy(F.coalesce("relation", F.lit("unrelated")).alias("category"))
        .agg(F.count("*").alias("errors"))
        .withColumn("pairs", F.lit(None).cast("long"))
        .withColumn("kind", F.lit("false_merge"))
    )
    out = missed.unionByName(false)
    return out.select("kind", "category", "pairs", "errors", F.round(F.col("errors") / F.col("pairs"), 4).alias("error_rate")).orderBy("kind", F.desc_nulls_last("error_rate"), F.desc("errors"))


# --------------------------------------------------------------------------- per-customer evidence


def customer_evidence(customer_id: str, crosswalk: DataFrame, pairs: DataFrame, levels: DataFrame, threshold: float) -> DataFrame:
    """Every scored pair inside one customer, one row per comparison: level, weight, accepted.

    ``levels`` is (comparison, gamma, level) for the saved model; ``pairs`` needs the
    ``gamma_*`` and ``mw_*`` columns Splink keeps for each pair. ``link_guarded`` says the
    model's probability was capped by the link guard (``matching.with_link_guard``).
    """
    keys = crosswalk.filter(F.col("customer_id") == customer_id).select("record_key")
    inside = pairs.join(keys.toDF("record_key_l"), "record_key_l").join(keys.toDF("record_key_r"), "record_key_r")
    comparisons = [c[len("gamma_"):] for c in pairs.columns if c.startswith("gamma_")]
    guarded = F.col("link_guarded") if "link_guarded" in pairs.columns else F.lit(False)
    long = None
    for c in comparisons:
        tf = F.col(f"mw_tf_adj_{c}") if f"mw_tf_adj_{c}" in pairs.columns else F.lit(0.0)
        part = inside.select(
            "record_key_l", "record_key_r", "match_weight", "match_probability", guarded.alias("link_guarded"),
            F.lit(c).alias("comparison"), F.col(f"gamma_{c}").cast("int").alias("gamma"),
            F.col(f"mw_{c}").alias("weight"), tf.alias("tf_adjustment"),
        )  # fmt: skip
        long = part if long is None else long.unionByName(part)
    if long is None:
        raise ValueError("pairs carry no gamma_* columns: re-run resolve to keep per-comparison levels")
    return (
        long.join(levels, ["comparison", "gamma"], "left")
        .withColumn("accepted", F.col("match_probability") >= threshold)
        .select("record_key_l", "record_key_r", "accepted", "link_guarded", "match_probability", "match_weight", "comparison", "level", "weight", "tf_adjustment")
        .orderBy(F.desc("match_probability"), "record_key_l", "record_key_r", "comparison")
    )
