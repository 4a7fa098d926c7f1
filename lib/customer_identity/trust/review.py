"""Clerical review: a queue of the least certain decisions, and reviewers' labels coming back.

The queue holds pairs scored near the match threshold and customers held together by weak
links. Reviewers answer per pair (match / non_match) in a CSV; a file is validated as a
whole and either accepted entirely or rejected with a report naming every bad row, so a
bad file changes nothing. Accepted labels force links and splits on the next resolve run,
measure accuracy without ground truth, and can re-estimate the model's m parameters.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_identity.core.errors import CustomerIdentityError
from customer_identity.trust.evaluation import weight_bin

DECISIONS = {"match": True, "non_match": False}
LABEL_COLUMNS = ("record_key_l", "record_key_r", "decision")
MAX_REPORTED = 20


class ReviewFileError(CustomerIdentityError):
    """A reviewer decisions file that cannot be applied; nothing was changed."""


def review_queue(
    pairs: DataFrame,
    crosswalk: DataFrame,
    threshold: float,
    low: float,
    high: float,
    weak_link: float,
    limit: int,
    calibration_per_bin: int = 0,
    bin_width: float = 2.0,
    seed: int = 0,
) -> DataFrame:
    """Pairs worth a reviewer's look, one row per pair with its ``reason``.

    - "near threshold": ``low <= p < high``, closest to the threshold (in match weight) first,
      at most ``limit``;
    - "weak link in a large customer": accepted links below ``weak_link`` inside customers of
      3+ records (within the same ``limit``);
    - "calibration sample": ``calibration_per_bin`` random pairs from every match-weight bin,
      whatever their probability, so labels measure how well the probabilities are calibrated.
    """
    cid = crosswalk.select("record_key", "customer_id")
    sized = cid.groupBy("customer_id").agg(F.count("*").alias("customer_records"))
    scored = pairs.join(cid.toDF("record_key_l", "customer_id_l"), "record_key_l").join(cid.toDF("record_key_r", "customer_id_r"), "record_key_r")
    threshold_weight = F.log2(F.lit(threshold) / F.lit(1 - threshold)) if threshold < 1 else F.lit(float("inf"))
    near = scored.filter((F.col("match_probability") >= low) & (F.col("match_probability") < high)).withColumn("reason", F.lit("near threshold"))
    weak = (
        scored.filter((F.col("customer_id_l") == F.col("customer_id_r")) & (F.col("match_probability") < weak_link))
        .join(sized.withColumnRenamed("customer_id", "customer_id_l"), "customer_id_l")
        .filter(F.col("customer_records") >= 3)
        .drop("customer_records")
        .withColumn("reason", F.lit("weak link in a large customer"))
    )
    both = near.unionByName(weak)
    w = Window.partitionBy("record_key_l", "record_key_r").orderBy("reason")
    uncertain = (
        both.withColumn("_r", F.row_number().over(w))
        .filter("_r = 1")
        .drop("_r")
        .withColumn("distance_to_threshold", F.round(F.abs(F.col("match_weight") - threshold_weight), 3))
        .orderBy("distance_to_threshold", "record_key_l", "record_key_r")
        .limit(limit)
    )
    if calibration_per_bin > 0:
        by_bin = Window.partitionBy("_bin").orderBy(F.xxhash64(F.lit(seed), "record_key_l", "record_key_r"))
        sample = (
            scored.withColumn("_bin", weight_bin(bin_width))
            .withColumn("_r", F.row_number().over(by_bin))
            .filter(F.col("_r") <= calibration_per_bin)
            .drop("_r", "_bin")
            .withColumn("reason", F.lit("calibration sample"))
            .withColumn("distance_to_threshold", F.round(F.abs(F.col("match_weight") - threshold_weight), 3))
            .join(uncertain.select("record_key_l", "record_key_r"), ["record_key_l", "record_key_r"], "left_anti")
        )
        uncertain = uncertain.unionByName(sample)
    return uncertain.withColumn("decision", F.lit(None).cast("string"))


def validate_decisions(decisions: DataFrame, known_keys: DataFrame, source: str) -> DataFrame:
    """(record_key_l, record_key_r, is_match) from a reviewer file, or ReviewFileError.

    Rejected: missing columns, a decision other than match/non_match, unknown record keys,
    a record paired with itself, and one pair labelled both ways. Pairs are stored with the
    smaller key on the left.
    """
    missing = [c for c in LABEL_COLUMNS if c not in decisions.columns]
    if missing:
        raise ReviewFileError(f"{source}: missing column(s) {missing}; expected {list(LABEL_COLUMNS)}")
    # file order; review files are small, so one window over the whole file is fine
    d = decisions.withColumn("_row", F.row_number().over(Window.orderBy(F.monotonically_increasing_id())) - 1)
    d = d.select(
        "_row",
        F.trim("record_key_l").alias("a"),
        F.trim("record_key_r").alias("b"),
        F.lower(F.trim("decision")).alias("decision"),
    )
    keys = known_keys.select(F.col("record_key").alias("_k")).distinct()
    checked = d.join(keys.select(F.col("_k").alias("a"), F.lit(True).alias("a_known")), "a", "left").join(
        keys.select(F.col("_k").alias("b"), F.lit(True).alias("b_known")), "b", "left"
    )
    checked = checked.fillna(False, subset=["a_known", "b_known"])
    problem = (
        F.when(F.col("a").isNull() | F.col("b").isNull(), "missing record key")
        .when(
            ~F.col("decision").isin(*DECISIONS),
            F.concat(F.lit("decision must be one of match/non_match, got '"), F.coalesce("decision", F.lit("")), F.lit("'")),
        )
        .when(F.col("a") == F.col("b"), "a record paired with itself")
        .when(~F.col("a_known"), F.concat(F.lit("unknown record key "), F.col("a")))
        .when(~F.col("b_known"), F.concat(F.lit("unknown record key "), F.col("b")))
    )
    bad = checked.withColumn("problem", problem).filter(F.col("problem").isNotNull())
    pair = checked.withColumn("key_l", F.least("a", "b")).withColumn("key_r", F.greatest("a", "b"))
    contradictory = pair.groupBy("key_l", "key_r").agg(F.countDistinct("decision").alias("n")).filter("n > 1")
    problems = [f"row {r._row + 2}: {r.problem}" for r in bad.orderBy("_row").limit(MAX_REPORTED).collect()]  # +2: header, 1-based
    problems += [
        f"pair {r.key_l} / {r.key_r}: labelled both match and non_match" for r in contradictory.orderBy("key_l", "key_r").limit(MAX_REPORTED).collect()
    ]
    if problems:
        n_bad, n_contra = bad.count(), contradictory.count()
        raise ReviewFileError(f"{source}: {n_bad} bad row(s) and {n_contra} contradictory pair(s); nothing was applied:\n  " + "\n  ".join(problems))
    return pair.select(F.col("key_l").alias("record_key_l"), F.col("key_r").alias("record_key_r"), (F.col("decision") == "match").alias("is_match")).distinct()


def merge_labels(existing: DataFrame | None, new: DataFrame, batch: str) -> DataFrame:
    """All labels, a newer decision on a pair replacing the older one."""
    stamped = new.withColumn("review_batch", F.lit(batch))
    if existing is None:
        return stamped
    kept = existing.join(new.select("record_key_l", "record_key_r"), ["record_key_l", "record_key_r"], "left_anti")
    return kept.unionByName(stamped)


def apply_labels(pairs: DataFrame, labels: DataFrame) -> DataFrame:
    """Scored pairs with reviewers' decisions forced: matches to probability 1, non-matches to 0.

    Labelled matches the model never scored are added as pairs. A labelled non-match removes
    that link only; if other accepted links still join the two records they stay together.
    """
    norm = pairs.withColumn("_kl", F.least("record_key_l", "record_key_r")).withColumn("_kr", F.greatest("record_key_l", "record_key_r"))
    lab = labels.select(F.col("record_key_l").alias("_kl"), F.col("record_key_r").alias("_kr"), "is_match")
    joined = norm.join(lab, ["_kl", "_kr"], "left")
    forced = joined.withColumn(
        "match_probability", F.when(F.col("is_match").isNull(), F.col("match_probability")).when(F.col("is_match"), F.lit(1.0)).otherwise(F.lit(0.0))
    ).drop("_kl", "_kr", "is_match")
    unscored = lab.filter("is_match").join(norm.select("_kl", "_kr"), ["_kl", "_kr"], "left_anti")
    added = unscored.select(F.col("_kl").alias("record_key_l"), F.col("_kr").alias("record_key_r"), F.lit(1.0).alias("match_probability"))
    return forced.unionByName(added, allowMissingColumns=True)


def model_accuracy_on_labels(pairs: DataFrame, labels: DataFrame, threshold: float) -> dict:
    """The model's own pair decisions (before any forcing) against reviewers' labels.

    A labelled pair the model never scored counts as a predicted non-match.
    """
    norm = pairs.select(
        F.least("record_key_l", "record_key_r").alias("record_key_l"), F.greatest("record_key_l", "record_key_r").alias("record_key_r"), "match_probability"
    )
    c = (
        labels.join(norm, ["record_key_l", "record_key_r"], "left")
        .select("is_match", (F.coalesce(F.col("match_probability"), F.lit(0.0)) >= threshold).alias("predicted"))
        .agg(
            F.count("*").alias("n"),
            F.sum((F.col("is_match") & F.col("predicted")).cast("int")).alias("tp"),
            F.sum((~F.col("is_match") & F.col("predicted")).cast("int")).alias("fp"),
            F.sum((F.col("is_match") & ~F.col("predicted")).cast("int")).alias("fn"),
            F.sum((F.col("is_match") == F.col("predicted")).cast("int")).alias("agree"),
        )
        .first()
    )
    n, tp, fp, fn = c.n, c.tp or 0, c.fp or 0, c.fn or 0
    return {
        "labelled": n,
        "precision": round(tp / (tp + fp), 4) if tp + fp else None,
        "recall": round(tp / (tp + fn), 4) if tp + fn else None,
        "agreement": round((c.agree or 0) / n, 4) if n else None,
    }


# --------------------------------------------------------------------------- the review page

# The fields a reviewer compares, in reading order, with their labels; those a run lacks are skipped.
REVIEW_FIELDS = (
    ("full_name_std", "name"),
    ("date_of_birth", "date of birth"),
    ("email_std", "e-mail"),
    ("phone_e164", "phone"),
    ("address_line_1_std", "address"),
    ("city_std", "town"),
    ("postcode_std", "postcode"),
)


def review_fields(records: DataFrame) -> list[str]:
    """The :data:`REVIEW_FIELDS` the identity records carry, in reading order."""
    return [f for f, _ in REVIEW_FIELDS if f in records.columns]


def with_record_details(pairs: DataFrame, records: DataFrame, fields: list[str]) -> DataFrame:
    """``pairs`` with both sides' ``fields`` from the identity records (``<field>_l``, ``<field>_r``)."""

    def side(s: str) -> DataFrame:
        return records.select(F.col("record_key").alias(f"record_key_{s}"), *[F.col(f).alias(f"{f}_{s}") for f in fields])

    return pairs.join(side("l"), "record_key_l", "left").join(side("r"), "record_key_r", "left")


def with_differences(pairs: DataFrame, fields: list[str]) -> DataFrame:
    """Adds ``differs_<field>`` (the two sides differ, a missing value counting as different
    from a present one) for each reviewed field, computed before any masking."""
    return pairs.select("*", *[(~F.col(f"{f}_l").eqNullSafe(F.col(f"{f}_r"))).alias(f"differs_{f}") for f in fields])


def review_cards(rows: list[dict], fields: list[str], levels: dict[tuple[str, int], str], threshold: float) -> list[dict]:
    """One card per pair for the review page: both records' fields side by side with where
    they differ, and the model's evidence comparison by comparison (level and weight in
    bits, the prior making up the rest of the pair's weight), from collected pair rows."""
    labels = dict(REVIEW_FIELDS)
    cards = []
    for r in rows:
        comparisons = sorted(k[len("gamma_") :] for k in r if k.startswith("gamma_"))
        evidence, total = [], 0.0
        for c in comparisons:
            weight = (r.get(f"mw_{c}") or 0.0) + (r.get(f"mw_tf_adj_{c}") or 0.0)
            given = r.get(f"mw_given_{c}") or 0.0
            total += weight
            note = f"{given:+.2f} of it taken off: shared with the other record's home or name" if given else ""
            name = c.removesuffix("_std").removesuffix("_e164").replace("_", " ").replace("email", "e-mail")
            evidence.append({"comparison": name, "level": levels.get((c, r[f"gamma_{c}"])), "weight": weight + given, "note": note})
        model_weight = r.get("model_match_weight", r.get("match_weight"))
        probability = r.get("match_probability")
        cards.append({
            "record_key_l": r["record_key_l"], "record_key_r": r["record_key_r"], "reason": r.get("reason") or "audit candidate",
            "match_probability": probability, "match_weight": r.get("match_weight"),
            "accepted": None if probability is None else probability >= threshold,
            "source_l": r.get("source_dataset_l") or "left record", "source_r": r.get("source_dataset_r") or "right record",
            "fields": [{"label": labels.get(f, f), "left": r.get(f"{f}_l"), "right": r.get(f"{f}_r"), "differs": bool(r.get(f"differs_{f}"))} for f in fields],
            "evidence": evidence, "prior": (model_weight - total) if model_weight is not None and evidence else 0.0, "decision": r.get("decision"),
        })  # fmt: skip
    return cards
