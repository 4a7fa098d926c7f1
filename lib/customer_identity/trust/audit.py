"""An audit of the customer count from a labelled sample of records.

The number of distinct people is the sum over identity records of 1/|C(r)|, C(r) being the
records of r's person; the golden table's count is the same sum over its own customers
Ĉ(r). So the golden table's error is the sum of d(r) = 1/|Ĉ(r)| - 1/|C(r)|, and a random
sample of records, each labelled with its whole person, estimates it without bias whatever
the model got wrong (Binette et al., 2024, "Estimating the performance of entity
resolution algorithms"; a difference estimator with a stratified design):

    people = golden count - sum over strata of N_h * mean_h(d),
    variance = sum over strata of N_h^2 (1 - n_h / N_h) var_h(d) / n_h.

Records are stratified by how ambiguous the model finds them (``ambiguity``: the largest
p(1 - p) over a record's scored pairs; a record no pair leaves in doubt has 0): "settled"
(no pair between about 0.01 and 0.99), "doubtful" (a pair between 0.01 and 0.1 or 0.9 and
0.99) and "ambiguous" (a pair between 0.1 and 0.9). Half the sample is allocated in
proportion to the strata's sizes and half in proportion to size times the square root of
the mean ambiguity (Neyman allocation with the model's doubt standing in for the unknown
spread of d; the half in proportion keeps the settled records, where the model may be
wrong without doubting, well sampled), at least ``MIN_PER_STRATUM`` per stratum. Its
coverage comes from the sampling design, not from the model.

For each sampled record a reviewer sees its candidates (its own customer's records, the
records any of them was scored against, those records' customers, and the records that share
a surname, date of birth, e-mail, phone or postcode with it, unless that value is common) and
marks which are the same person. The search reaches matches no blocking rule compared, which
the model's own estimate cannot see; a matching record sharing none of those is still
invisible to the reviewer, so the audit counts what review can find.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

# strata by the record's ambiguity: p(1 - p) of 0.0099 is p = 0.01 or 0.99, of 0.09 is p = 0.1 or 0.9
STRATA = (("ambiguous", 0.09), ("doubtful", 0.0099))  # else "settled"
MIN_PER_STRATUM = 10
Z95 = 1.959964


def record_ambiguity(records: DataFrame, pairs: DataFrame) -> DataFrame:
    """(record_key, ambiguity): the largest p(1 - p) over the record's scored pairs, 0 without any."""
    doubt = (F.col("match_probability") * (1 - F.col("match_probability"))).alias("doubt")
    sides = pairs.select(F.col("record_key_l").alias("record_key"), doubt).unionByName(pairs.select(F.col("record_key_r").alias("record_key"), doubt))
    worst = sides.groupBy("record_key").agg(F.max("doubt").alias("ambiguity"))
    return records.select("record_key").join(worst, "record_key", "left").fillna(0.0, subset=["ambiguity"])


def _stratum() -> F.Column:
    out = F.lit("settled")
    for name, floor in reversed(STRATA):
        out = F.when(F.col("ambiguity") >= floor, F.lit(name)).otherwise(out)
    return out


def allocate(sizes: dict[str, int], spreads: dict[str, float], n: int) -> dict[str, int]:
    """Sample size per stratum: half in proportion to N_h, half to N_h * spread_h, at least
    ``MIN_PER_STRATUM`` (or the whole stratum), never more than the stratum, adding up to
    ``n`` where possible."""
    n = min(n, sum(sizes.values()))
    alloc = {h: min(N, MIN_PER_STRATUM) for h, N in sizes.items()}
    total_n = sum(sizes.values()) or 1
    total_ns = sum(sizes[h] * spreads.get(h, 0.0) for h in sizes) or 1.0
    weights = {h: 0.5 * sizes[h] / total_n + 0.5 * sizes[h] * spreads.get(h, 0.0) / total_ns + 1e-9 for h in sizes}
    while sum(alloc.values()) < n:
        open_ = {h: w for h, w in weights.items() if alloc[h] < sizes[h]}
        total = sum(open_.values())
        left = n - sum(alloc.values())
        step = {h: max(1, math.floor(left * w / total)) if total else 1 for h, w in open_.items()}
        for h, k in sorted(step.items(), key=lambda kv: -kv[1]):
            take = min(k, sizes[h] - alloc[h], n - sum(alloc.values()))
            alloc[h] += take
    return alloc


def draw_sample(records: DataFrame, crosswalk: DataFrame, pairs: DataFrame, n: int, seed: int) -> DataFrame:
    """A stratified random sample of about ``n`` identity records: (record_key, stratum,
    stratum_records, stratum_sample, customer_records, golden_count), the last two being
    |Ĉ(r)| and the customer count of the golden table the sample was drawn against."""
    amb = record_ambiguity(records, pairs).withColumn("stratum", _stratum())
    stats = {r.stratum: (r.n, r.spread) for r in amb.groupBy("stratum").agg(F.count(F.lit(1)).alias("n"), F.sqrt(F.avg("ambiguity")).alias("spread")).collect()}
    alloc = allocate({h: v[0] for h, v in stats.items()}, {h: v[1] for h, v in stats.items()}, n)
    spark = records.sparkSession
    plan = spark.createDataFrame([(h, stats[h][0], alloc[h]) for h in stats], "stratum string, stratum_records long, stratum_sample long")
    ranked = amb.withColumn("_u", F.xxhash64(F.lit(seed), "record_key")).join(F.broadcast(plan), "stratum")
    picked = ranked.withColumn("_r", F.row_number().over(Window.partitionBy("stratum").orderBy("_u", "record_key"))).filter(
        F.col("_r") <= F.col("stratum_sample")
    )
    sizes = crosswalk.groupBy("customer_id").agg(F.count(F.lit(1)).alias("customer_records"))
    with_size = crosswalk.select("record_key", "customer_id").join(sizes, "customer_id")
    golden_count = crosswalk.select("customer_id").distinct().count()
    return picked.join(with_size, "record_key").select(
        "record_key", "stratum", "stratum_records", "stratum_sample", "customer_records", F.lit(golden_count).cast("long").alias("golden_count")
    )


# Values a reviewer searches the records on, beyond the pairs the model scored: a record that
# shares one of them with the audited one is shown too, so a match blocking never compared can
# still be found. A value shared by more records than this is too common to review.
SEARCH_COLUMNS = ("surname_std", "date_of_birth", "email_std", "phone_e164", "postcode_std")
MAX_SHARED = 30


def search_candidates(sample: DataFrame, records: DataFrame, columns: tuple[str, ...] = SEARCH_COLUMNS, max_shared: int = MAX_SHARED) -> DataFrame:
    """(record_key, candidate_key): for each sampled record, every other record holding the
    same value in one of ``columns`` (those the records have), unless that value is held by
    more than ``max_shared`` records; nulls never match."""
    found = None
    for column in (c for c in columns if c in records.columns):
        values = records.select("record_key", F.col(column).alias("_v")).filter(F.col("_v").isNotNull())
        sizes = values.groupBy("_v").agg(F.count(F.lit(1)).alias("_n")).filter(F.col("_n") <= max_shared)
        held = values.join(sizes.select("_v"), "_v")
        part = (
            sample.select("record_key").join(held, "record_key")
            .join(held.withColumnRenamed("record_key", "candidate_key"), "_v")
            .filter(F.col("record_key") != F.col("candidate_key"))
            .select("record_key", "candidate_key")
        )  # fmt: skip
        found = part if found is None else found.unionByName(part)
    return found.distinct() if found is not None else sample.select("record_key", F.col("record_key").alias("candidate_key")).limit(0)


def candidates(sample: DataFrame, crosswalk: DataFrame, pairs: DataFrame, records: DataFrame | None = None) -> DataFrame:
    """(record_key, candidate_key): what the reviewer of each sampled record looks at: the
    records of its customer, every record scored against one of them, and those records'
    customers; with ``records``, also every record :func:`search_candidates` finds, so the
    audit can see matches that no blocking rule compared."""
    cid = crosswalk.select("record_key", "customer_id")
    members = lambda keyed: keyed.join(cid, "customer_id").select("audited", F.col("record_key").alias("candidate_key"))  # noqa: E731
    own = members(sample.select(F.col("record_key").alias("audited")).join(cid.withColumnRenamed("record_key", "audited"), "audited"))
    both = pairs.select("record_key_l", "record_key_r").unionByName(
        pairs.select(F.col("record_key_r").alias("record_key_l"), F.col("record_key_l").alias("record_key_r"))
    )
    partners = own.join(both.withColumnRenamed("record_key_l", "candidate_key"), "candidate_key").select(
        "audited", F.col("record_key_r").alias("candidate_key")
    )
    theirs = members(partners.join(cid.withColumnRenamed("record_key", "candidate_key"), "candidate_key").select("audited", "customer_id"))
    found = (
        own.unionByName(partners).unionByName(theirs)
        .filter(F.col("audited") != F.col("candidate_key"))
        .select(F.col("audited").alias("record_key"), "candidate_key")
    )  # fmt: skip
    if records is not None:
        found = found.unionByName(search_candidates(sample, records))
    return found.distinct()


def audit_queue(sample: DataFrame, cands: DataFrame) -> DataFrame:
    """The pairs a reviewer answers: (record_key_l, record_key_r, audited_record, decision)."""
    return cands.select(
        F.least("record_key", "candidate_key").alias("record_key_l"),
        F.greatest("record_key", "candidate_key").alias("record_key_r"),
        F.col("record_key").alias("audited_record"),
        F.lit(None).cast("string").alias("decision"),
    ).join(sample.select(F.col("record_key").alias("audited_record")), "audited_record")


@dataclass(frozen=True)
class AuditEstimate:
    estimate: float  # distinct people
    se: float
    lower: float
    upper: float
    golden_count: int  # the golden table's count the sample was drawn against
    golden_error: float  # estimated golden count minus people
    audited_records: int  # sampled records whose every candidate pair is labelled
    sampled_records: int
    records: int  # identity records the sample was drawn from


def audited_count(sample: DataFrame, cands: DataFrame, labels: DataFrame) -> AuditEstimate | None:
    """The stratified difference estimate of distinct people from the labelled sample, or
    None until every stratum has at least two audited records.

    A sampled record counts once every one of its candidate pairs carries a label; the
    stratum's audited records stand for it (a record left unanswered is assumed missing
    at random within its stratum).
    """
    first = sample.first()
    if first is None:
        return None
    golden_count = first.golden_count
    lab = labels.select(F.least("record_key_l", "record_key_r").alias("_a"), F.greatest("record_key_l", "record_key_r").alias("_b"), "is_match")
    judged = cands.select("record_key", F.least("record_key", "candidate_key").alias("_a"), F.greatest("record_key", "candidate_key").alias("_b")).join(
        lab, ["_a", "_b"], "left"
    )
    per_record = judged.groupBy("record_key").agg(
        F.count(F.lit(1)).alias("n_candidates"), F.count("is_match").alias("n_labelled"), F.sum(F.col("is_match").cast("int")).alias("same")
    )
    rows = (
        sample.join(per_record, "record_key", "left")
        .fillna(0, subset=["n_candidates", "n_labelled", "same"])
        .filter(F.col("n_labelled") == F.col("n_candidates"))
        .withColumn("d", 1.0 / F.col("customer_records") - 1.0 / (1 + F.col("same")))
        .groupBy("stratum", "stratum_records")
        .agg(F.count(F.lit(1)).alias("n"), F.avg("d").alias("mean_d"), F.var_samp("d").alias("var_d"))
        .collect()
    )
    strata = {r.stratum: r.stratum_records for r in sample.select("stratum", "stratum_records").distinct().collect()}
    if {r.stratum for r in rows if r.n >= 2} != set(strata):
        return None
    error = sum(r.stratum_records * r.mean_d for r in rows)
    variance = sum(r.stratum_records**2 * (1 - r.n / r.stratum_records) * (r.var_d or 0.0) / r.n for r in rows if r.n > 0)
    se = math.sqrt(variance)
    people = golden_count - error
    return AuditEstimate(people, se, people - Z95 * se, people + Z95 * se, golden_count, error, sum(r.n for r in rows), sample.count(), sum(strata.values()))
