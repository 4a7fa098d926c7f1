"""Accuracy figures and the blocking ceiling on small inline tables, worked out by hand."""

from __future__ import annotations

import itertools

import pytest
from chispa import assert_df_equality

from customer_identity.core.config import ClusteringConfig
from customer_identity.trust.evaluation import blocked_by, blocking_ceiling, evaluate, reliability

CLUSTERING = ClusteringConfig(engine="dataframe", max_iterations=40, checkpoint_interval=2)
RULES = (("email_std",), ("surname_std", "postcode_std"))
RECORDS = [
    # record_key, person_id, email_std, surname_std, postcode_std
    ("a1", 1, "ann@x.com", "cole", "LS1 1AA"),
    ("a2", 1, "ann@x.com", None, None),  # same e-mail as a1: generated
    ("a3", 1, None, "cole", "YO1 1AA"),  # moved: nothing in common with a1 or a2 on any rule
    ("b1", 2, None, "dunn", "M1 1AA"),
    ("b2", 2, None, "dunn", "M1 1AA"),  # same surname and postcode as b1: generated
    ("b3", 2, None, None, None),  # the null row: no rule can generate a pair with it
    ("c1", 3, None, "cole", "LS1 1AA"),  # a relative of person 1: generated with a1, but not a true pair
]


def _records(spark):
    return spark.createDataFrame(RECORDS, "record_key string, person_id long, email_std string, surname_std string, postcode_std string")


def _truth(spark):
    return _records(spark).select("record_key", "person_id")


def _relations(spark):
    return spark.createDataFrame([(1, 3, "household")], "person_a long, person_b long, relation string")


def test_blocked_by_needs_every_column_of_a_rule_equal_and_present(spark):
    rows = [
        # email_l, email_r, surname_l, surname_r, postcode_l, postcode_r, expected
        ("e", "e", None, None, None, None, True),
        (None, None, "cole", "cole", "P", "P", True),
        (None, None, "cole", "cole", "P", "Q", False),  # half a rule is no rule
        (None, None, None, None, None, None, False),  # null equals nothing
        ("e", "f", "cole", "cole", None, "P", False),
    ]
    schema = (
        "email_std_l string, email_std_r string, surname_std_l string, surname_std_r string, postcode_std_l string, postcode_std_r string, expected boolean"
    )
    df = spark.createDataFrame(rows, schema).withColumn("got", blocked_by(RULES))
    assert_df_equality(df.select("got"), df.select("expected").withColumnRenamed("expected", "got"), ignore_nullable=True)


def test_evaluate_against_hand_worked_figures(spark):
    # predicted customers: X = {a1, a2, c1} (merges the relative), Y = {a3}, Z = {b1, b2, b3}
    crosswalk = spark.createDataFrame(
        [("a1", "X"), ("a2", "X"), ("c1", "X"), ("a3", "Y"), ("b1", "Z"), ("b2", "Z"), ("b3", "Z")], "record_key string, customer_id string"
    )
    ev = evaluate(crosswalk, _truth(spark), _relations(spark))
    # true pairs: 3 for person 1, 3 for person 2; predicted pairs: 3 in X, 3 in Z; correct: a1a2 and Z's 3
    assert (ev.true_pairs, ev.predicted_pairs, ev.true_positive_pairs) == (6, 6, 4)
    assert ev.pairwise_precision == pytest.approx(4 / 6, abs=1e-5)
    assert ev.pairwise_recall == pytest.approx(4 / 6, abs=1e-5)
    assert (ev.true_customers, ev.predicted_customers, ev.count_error) == (3, 3, 0)
    # B-cubed precision: a1, a2 see 2/3 of X as theirs, c1 1/3, the rest 1: (2/3 + 2/3 + 1/3 + 4) / 7
    assert ev.bcubed_precision == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 4) / 7, abs=1e-5)
    # B-cubed recall: a1, a2 hold 2/3 of person 1, a3 1/3, the rest all of theirs
    assert ev.bcubed_recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 4) / 7, abs=1e-5)
    assert (ev.hard_negative_pairs, ev.hard_negatives_merged, ev.merged_by_relation) == (1, 1, {"household": 1})


def test_blocking_ceiling_links_only_the_true_pairs_the_rules_generate(spark):
    ceiling = blocking_ceiling(spark, _records(spark), _truth(spark), _relations(spark), RULES, CLUSTERING)
    # true pairs: a1a2, a1a3, a2a3, b1b2, b1b3, b2b3; the rules generate a1a2 and b1b2 among them
    # (and a1c1, which is false and so never linked)
    assert (ceiling.true_pairs, ceiling.blocked_true_pairs) == (6, 2)
    assert ceiling.pair_completeness == pytest.approx(2 / 6, abs=1e-5)
    # {a1, a2}, {a3}, {b1, b2}, {b3}, {c1}: 5 customers for 3 people
    assert ceiling.customers == 5
    assert ceiling.count_error_pct == pytest.approx(100 * 2 / 3, abs=1e-3)
    assert ceiling.pairwise_recall == pytest.approx(2 / 6, abs=1e-5)
    assert ceiling.pairwise_f1 == pytest.approx(2 * (2 / 6) / (1 + 2 / 6), abs=1e-5)


def test_blocking_ceiling_of_rules_that_generate_every_true_pair_has_no_error(spark):
    records = _records(spark)
    # a rule on person_id itself generates exactly the true pairs
    ceiling = blocking_ceiling(spark, records, _truth(spark), _relations(spark), [("person_id",)], CLUSTERING)
    n_people = len({r[1] for r in RECORDS})
    n_pairs = sum(len(list(itertools.combinations(g, 2))) for _, g in itertools.groupby(sorted(RECORDS, key=lambda r: r[1]), key=lambda r: r[1]))
    assert (ceiling.true_pairs, ceiling.blocked_true_pairs, ceiling.customers) == (n_pairs, n_pairs, n_people)
    assert ceiling.count_error_pct == 0.0
    assert ceiling.pairwise_f1 == 1.0


def test_reliability_sets_expected_against_true_matches_by_weight_bin(spark):
    pairs = spark.createDataFrame(
        [
            ("a1", "a2", 0.99, 6.6),  # true, bin 3 (weight 6 to 8)
            ("a1", "a3", 0.98, 7.9),  # true, bin 3
            ("a1", "c1", 0.98, 6.1),  # a relative, bin 3
            ("b1", "b2", 0.5, 0.0),  # true, bin 0
            ("b2", "b3", 0.2, -2.0),  # true, bin -1
            ("b1", "c1", 0.2, None),  # no weight: a bin of its own, not dropped
        ],
        "record_key_l string, record_key_r string, match_probability double, match_weight double",
    )
    got = {r.weight_bin: (r.pairs, round(r.probability_sum, 6), r.true_matches, r.match_rate) for r in reliability(pairs, _truth(spark), 2.0).collect()}
    assert got == {3: (3, 2.95, 2, 2 / 3), 0: (1, 0.5, 1, 1.0), -1: (1, 0.2, 1, 1.0), None: (1, 0.2, 0, 0.0)}
