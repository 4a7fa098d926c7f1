"""The count audit: stratified sample, candidates, and the difference estimator against hand-worked figures."""

from __future__ import annotations

import math

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.trust.audit import allocate, audit_queue, audited_count, candidates, draw_sample, record_ambiguity, search_candidates

# person 1: a1 a2 a3 (the golden table split a3 off); person 2: b1 b2 (merged with c1, a different person);
# person 3: c1; person 4: d1, no pair at all (the null row: nothing scored it)
TRUTH = {"a1": 1, "a2": 1, "a3": 1, "b1": 2, "b2": 2, "c1": 3, "d1": 4}
CUSTOMERS = {"a1": "A", "a2": "A", "a3": "X", "b1": "B", "b2": "B", "c1": "B", "d1": "D"}
PAIRS = [("a1", "a2", 0.999), ("a2", "a3", 0.4), ("b1", "b2", 1.0), ("b2", "c1", 0.97)]


def _frames(spark):
    records = spark.createDataFrame([(k,) for k in TRUTH], "record_key string")
    crosswalk = spark.createDataFrame(list(CUSTOMERS.items()), "record_key string, customer_id string")
    pairs = spark.createDataFrame(PAIRS, "record_key_l string, record_key_r string, match_probability double")
    return records, crosswalk, pairs


def _truth_labels(spark, cands):
    rows = [(min(r.record_key, r.candidate_key), max(r.record_key, r.candidate_key), TRUTH[r.record_key] == TRUTH[r.candidate_key]) for r in cands.collect()]
    return spark.createDataFrame(sorted(set(rows)), "record_key_l string, record_key_r string, is_match boolean")


def test_ambiguity_is_the_most_doubtful_pair_and_zero_without_pairs(spark):
    records, _, pairs = _frames(spark)
    got = record_ambiguity(records, pairs).withColumn("ambiguity", F.round("ambiguity", 6))
    expected = spark.createDataFrame(
        [("a1", 0.000999), ("a2", 0.24), ("a3", 0.24), ("b1", 0.0), ("b2", 0.0291), ("c1", 0.0291), ("d1", 0.0)], "record_key string, ambiguity double"
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_candidates_include_own_customer_partners_and_their_customers(spark):
    _, crosswalk, pairs = _frames(spark)
    sample = spark.createDataFrame([("a3",), ("a1",), ("d1",)], "record_key string")
    got = {(r.record_key, r.candidate_key) for r in candidates(sample, crosswalk, pairs).collect()}
    # a3 was scored against a2, whose customer brings a1; a1's customer holds a2, which was
    # scored against a3 (a1 never was); d1 has no candidate at all
    assert got == {("a3", "a2"), ("a3", "a1"), ("a1", "a2"), ("a1", "a3")}
    sample = sample.filter("record_key = 'a3'")
    queue = audit_queue(sample, candidates(sample, crosswalk, pairs))
    assert {(r.record_key_l, r.record_key_r, r.audited_record) for r in queue.collect()} == {("a2", "a3", "a3"), ("a1", "a3", "a3")}
    assert {r.decision for r in queue.collect()} == {None}


def test_allocation_follows_size_and_doubt_within_bounds():
    alloc = allocate({"settled": 10_000, "ambiguous": 500}, {"settled": 0.001, "ambiguous": 0.4}, 300)
    # half of 300 by size: 143 settled, 7 ambiguous; half by size x doubt: 7 settled, 143 ambiguous
    assert sum(alloc.values()) == 300 and alloc["settled"] == pytest.approx(150, abs=3) and alloc["ambiguous"] == pytest.approx(150, abs=3)
    assert allocate({"settled": 5, "ambiguous": 3}, {"settled": 0.0, "ambiguous": 0.5}, 300) == {"settled": 5, "ambiguous": 3}  # everything, no more
    assert sum(allocate({"settled": 1000, "ambiguous": 1000}, {"settled": 0.0, "ambiguous": 0.0}, 101).values()) == 101


def test_a_census_of_every_record_gives_the_true_count_exactly(spark):
    records, crosswalk, pairs = _frames(spark)
    sample = draw_sample(records, crosswalk, pairs, 100, seed=1)  # asks for more than there are: every record
    assert sample.count() == len(TRUTH) and sample.first().golden_count == 4
    cands = candidates(sample, crosswalk, pairs)
    got = audited_count(sample, cands, _truth_labels(spark, cands))
    assert got is not None
    assert got.estimate == pytest.approx(4.0) and got.se == pytest.approx(0.0)  # 4 people; the golden table also says 4 by luck of errors
    # golden d(r) = 1/|Ĉ| - 1/|C|: a1, a2: 1/2 - 1/3; a3: 1 - 1/3; b1, b2: 1/3 - 1/2; c1: 1/3 - 1; d1: 0
    assert got.golden_error == pytest.approx(2 * (1 / 2 - 1 / 3) + (1 - 1 / 3) + 2 * (1 / 3 - 1 / 2) + (1 / 3 - 1))
    assert (got.audited_records, got.sampled_records, got.records) == (7, 7, 7)


def test_stratified_estimate_and_its_standard_error_by_hand(spark):
    _, crosswalk, pairs = _frames(spark)
    cands = candidates(spark.createDataFrame([(k,) for k in TRUTH], "record_key string"), crosswalk, pairs)
    labels = _truth_labels(spark, cands)
    # a hand-made sample: 2 of 4 settled records (a1, d1), 2 of 3 ambiguous ones (a3, c1)
    sample = spark.createDataFrame(
        [("a1", "settled", 4, 2, 2, 4), ("d1", "settled", 4, 2, 1, 4), ("a3", "ambiguous", 3, 2, 1, 4), ("c1", "ambiguous", 3, 2, 3, 4)],
        "record_key string, stratum string, stratum_records long, stratum_sample long, customer_records long, golden_count long",
    )
    got = audited_count(sample, cands, labels)
    d = {"a1": 1 / 2 - 1 / 3, "d1": 0.0, "a3": 1 - 1 / 3, "c1": 1 / 3 - 1}
    mean_s, mean_a = (d["a1"] + d["d1"]) / 2, (d["a3"] + d["c1"]) / 2
    var = lambda xs: sum((x - sum(xs) / len(xs)) ** 2 for x in xs) / (len(xs) - 1)  # noqa: E731
    error = 4 * mean_s + 3 * mean_a
    variance = 4**2 * (1 - 2 / 4) * var([d["a1"], d["d1"]]) / 2 + 3**2 * (1 - 2 / 3) * var([d["a3"], d["c1"]]) / 2
    assert got.golden_error == pytest.approx(error) and got.estimate == pytest.approx(4 - error)
    assert got.se == pytest.approx(math.sqrt(variance)) and got.lower < got.estimate < got.upper
    # a stratum with fewer than two answered records: no estimate yet
    assert audited_count(sample, cands, labels.filter(~F.col("record_key_r").isin("c1") & ~F.col("record_key_l").isin("c1", "a3"))) is None


def test_the_search_finds_matches_no_pair_scored_and_skips_common_values(spark):
    """d1 was never scored against anything; the reviewer still sees e1, who shares its date of birth,
    but not everyone called smith (too many to review) and never a record for sharing a null."""
    records = spark.createDataFrame(
        [("d1", "oyelaran", "1980-02-03", None), ("e1", "oyelaran-hart", "1980-02-03", None), ("s1", "smith", None, None),
         ("s2", "smith", None, None), ("s3", "smith", None, None), ("n1", None, None, None), ("n2", None, None, None)],
        "record_key string, surname_std string, date_of_birth string, email_std string",
    )  # fmt: skip
    sample = spark.createDataFrame([("d1",), ("s1",), ("n1",)], "record_key string")
    got = {(r.record_key, r.candidate_key) for r in search_candidates(sample, records, max_shared=2).collect()}
    assert got == {("d1", "e1")}
    got = {(r.record_key, r.candidate_key) for r in search_candidates(sample, records, max_shared=3).collect()}
    assert got == {("d1", "e1"), ("s1", "s2"), ("s1", "s3")}
    _, crosswalk, pairs = _frames(spark)
    with_search = {(r.record_key, r.candidate_key) for r in candidates(sample.filter("record_key = 'd1'"), crosswalk, pairs, records).collect()}
    assert with_search == {("d1", "e1")}  # without the search d1 has no candidate at all (see above)
