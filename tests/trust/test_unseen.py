"""Merges between records no blocking rule compared: capture probability, agreement among
linked pairs, and an oracle where the truth of what blocking missed is known."""

from __future__ import annotations

import itertools
import random

import pytest
from pyspark.sql import functions as F

from customer_identity.core.config import ComparisonSpec
from customer_identity.trust.count import count_interval
from customer_identity.trust.unseen import (
    Agreement,
    _Model,
    agreement_counts,
    capture_probability,
    deviation_shares,
    fit_agreement,
    pattern_shares,
    rule_factors,
    unseen_merges,
)

SHARES = {"a": {(1,): 0.9, (0,): 0.1}, "b+c": {(1, 1): 0.6, (1, 0): 0.2, (0, 1): 0.15, (0, 0): 0.05}}
FACTORS = {"a": ("a",), "b+c": ("b", "c")}


def test_capture_probability_by_hand():
    rules = [("a",), ("b", "c")]
    assert capture_probability(rules, FACTORS, SHARES, frozenset("abc")) == pytest.approx(1 - 0.1 * 0.4)
    assert capture_probability(rules, FACTORS, SHARES, frozenset("ab")) == pytest.approx(0.9)  # c missing: only rule a can fire
    assert capture_probability(rules, FACTORS, SHARES, frozenset("bc")) == pytest.approx(0.6)
    assert capture_probability(rules, FACTORS, SHARES, frozenset()) == pytest.approx(0.0)


def test_a_bounded_rule_fires_only_where_both_records_are_within_the_bound():
    rules = [("block__a__b__max5",), ("c",)]
    factors = {"a": ("a",), "b+c": ("b", "c")}
    p_c = 0.6 + 0.15
    assert capture_probability(rules, factors, SHARES, frozenset("abc")) == pytest.approx(p_c)  # a block above the bound: no key
    expected = 0.0  # by enumeration: the bounded rule fires when a and b agree, the other when c does
    for (pa,), qa in SHARES["a"].items():
        for (pb, pc), qbc in SHARES["b+c"].items():
            if (pa and pb) or pc:
                expected += qa * qbc
    assert capture_probability(rules, factors, SHARES, frozenset({"a", "b", "c", "block__a__b__max5"})) == pytest.approx(expected)
    assert expected == pytest.approx(p_c + 0.9 * 0.2)  # a and b agree while c does not: 0.9 * 0.2


def test_customers_no_rule_could_join_stand_for_nobody():
    model = _Model((("a",), ("b", "c")), FACTORS)
    clean = {"a": {"": {(0,): 0.9, (1,): 0.1}}, "b+c": {"": {(0, 0): 0.8, (0, 1): 0.1, (1, 0): 0.05, (1, 1): 0.05}}}
    agreement = Agreement({f: {("", ""): shares} for f, shares in SHARES.items()}, SHARES, clean)
    only_a, only_b = ("", 0b001), ("", 0b010)  # bits of a, b, c: records that share no rule between them
    assert model.lost({(only_a, only_b): 5}, agreement, 100, seed=1) == (0.0, 0.0)
    lost, _ = model.lost({(only_a, only_a): 5}, agreement, 100, seed=1)
    assert lost == pytest.approx(5 * 0.1 / 0.9)  # two records: rule a alone, the pair's own shares miss it with 0.1
    lost, _ = model.lost({(only_a, only_a, only_b): 3}, agreement, 4000, seed=1)
    assert lost == 0.0  # the third record can never be joined: such customers are left out


def test_two_records_take_their_pair_of_sources_shares_and_others_the_pooled_ones():
    model = _Model((("a",),), {"a": ("a",)})
    pooled = {(1,): 0.8, (0,): 0.2}
    agreement = Agreement({"a": {("s", "t"): {(1,): 0.95, (0,): 0.05}}}, {"a": pooled}, {"a": {}})
    lost, _ = model.lost({(("s", 1), ("t", 1)): 10, (("s", 1), ("s", 1)): 4}, agreement, 100, seed=1)
    assert lost == pytest.approx(10 * 0.05 / 0.95 + 4 * 0.2 / 0.8)
    counts = {"a": {("s", "t"): {(1,): 95.0, (0,): 5.0}, ("s", "s"): {(1,): 10.0}}}
    fitted = fit_agreement(counts, {"a": ("a",)}, ["s", "t", "u"])
    pooled_disagree = 5.5 / 111  # pooled counts 105 and 5, half a pair per pattern
    assert fitted.shares("s", "t")["a"][(0,)] == pytest.approx((5 + pooled_disagree) / 101)  # one pair of prior, spread as the pooled shares
    assert fitted.shares("t", "u") == {"a": fitted.pooled["a"]} and set(fitted.deviations["a"]) == {"s", "t", "u"}


def pair_shares(x, y):
    """Agreement shares of two records of one person whose deviation patterns have chances ``x`` and ``y``."""
    out = {}
    for (dx, qx), (dy, qy) in itertools.product(x.items(), y.items()):
        g = tuple(int(not a and not b) for a, b in zip(dx, dy))
        out[g] = out.get(g, 0.0) + qx * qy
    return out


def test_deviations_are_fitted_per_source():
    x, y = {(0,): 0.95, (1,): 0.05}, {(0,): 0.7, (1,): 0.3}
    counts = {
        ("s", "s"): {g: 1000 * share for g, share in pair_shares(x, x).items()},
        ("s", "t"): {g: 1000 * share for g, share in pair_shares(x, y).items()},
        ("t", "t"): {g: 200 * share for g, share in pair_shares(y, y).items()},
    }
    fitted = deviation_shares(counts, 1)
    assert fitted["s"][(1,)] == pytest.approx(0.05, abs=1e-3) and fitted["t"][(1,)] == pytest.approx(0.3, abs=1e-3)
    pooled = deviation_shares({("", ""): {g: sum(c.get(g, 0) for c in counts.values()) for g in [(0,), (1,)]}}, 1)[""]
    assert 0.05 < pooled[(1,)] < 0.3  # one rate for both sources lies between them


def test_factors_follow_the_comparisons_that_read_the_attributes():
    comparisons = [
        ComparisonSpec("PersonNameComparison", ("first_name_canonical", "surname_std", "full_name_std")),
        ComparisonSpec("LocationComparison", (), {"address": "address_line_1_std", "postcode": "postcode_std", "district": "postcode_outward"}),
    ]
    rules = [("block__first_name_canonical__surname_std__max100",), ("surname_std", "postcode_outward"), ("address_line_1_std", "postcode_std"), ("email_std",)]
    assert rule_factors(rules, comparisons) == {
        "first_name_canonical+surname_std": ("first_name_canonical", "surname_std"),
        "address_line_1_std+postcode_outward+postcode_std": ("address_line_1_std", "postcode_outward", "postcode_std"),
        "email_std": ("email_std",),  # no comparison reads it: a factor of its own
    }


def test_agreement_is_counted_on_linked_pairs_another_rule_compared(spark):
    rows = [
        # a_l, a_r, b_l, b_r, p
        ("x", "x", "u", "u", 1.0),  # both rules: counts for a (b caught it) and for b (a caught it)
        ("x", "y", "u", "u", 0.5),  # caught by b only: counts for a (disagrees), not for b
        ("x", "x", "u", "v", 0.8),  # caught by a only: counts for b (disagrees), not for a
        ("x", None, "u", "u", 1.0),  # a missing on one side: not for a; for b only if a caught it (it did not)
        ("x", "x", "u", "u", 0.2),  # below the threshold
    ]
    pairs = spark.createDataFrame(rows, "a_l string, a_r string, b_l string, b_r string, match_probability double")
    got = agreement_counts(pairs, [("a",), ("b",)], {"a": ("a",), "b": ("b",)}, threshold=0.5)
    assert got == {"a": {("", ""): {(1,): 1.0, (0,): 0.5}}, "b": {("", ""): {(1,): 1.0, (0,): 0.8}}}
    # pairs of sources count apart, in one order whichever side a source is on
    sourced = pairs.withColumn("source_system_l", F.lit("t")).withColumn("source_system_r", F.when(F.col("a_r") == "y", "s").otherwise("t"))
    got = agreement_counts(sourced, [("a",), ("b",)], {"a": ("a",), "b": ("b",)}, threshold=0.5)
    assert got["a"] == {("t", "t"): {(1,): 1.0}, ("s", "t"): {(0,): 0.5}}
    # a factor every rule keys on cannot be estimated
    assert agreement_counts(pairs, [("a", "b")], {"a": ("a",), "b": ("b",)}, threshold=0.5) == {}


def test_pattern_shares_are_the_posterior_mean_and_draws_sum_to_one():
    shares = pattern_shares({(1,): 9.5, (0,): 0.5}, 1)
    assert shares == {(0,): pytest.approx(1 / 11), (1,): pytest.approx(10 / 11)}
    drawn = pattern_shares({(1, 1): 3.0}, 2, random.Random(1))
    assert set(drawn) == {(0, 0), (0, 1), (1, 0), (1, 1)} and sum(drawn.values()) == pytest.approx(1.0)


def _oracle_population(n: int, seed: int):
    """People of two or three records. Each record carries the person's own x, y and z or, with
    chances 0.1, 0.15 and 0.05, a value of its own; z is missing from 30% of the later records.
    Rules [x] and [y, z] compare records; a person whose records they do not all connect is
    split into the pieces they do connect, and each extra piece is a merge blocking lost."""
    rng = random.Random(seed)
    records, pairs, clusters, lost = [], [], [], 0
    for i in range(n):
        keys = [f"s:{i}{r}" for r in "abc"[: 2 + i % 2]]
        values = []
        for r, key in enumerate(keys):
            x, y, z = (f"{a}{i}" if rng.random() >= d else f"{a}{i}{key}" for a, d in zip("xyz", (0.1, 0.15, 0.05)))
            values.append((x, y, None if r and rng.random() < 0.3 else z))
            records.append((key, *values[-1]))
        piece = list(range(len(keys)))
        for a, b in itertools.combinations(range(len(keys)), 2):
            (xa, ya, za), (xb, yb, zb) = values[a], values[b]
            if xa == xb or (ya == yb and za is not None and za == zb):
                pairs.append((keys[a], keys[b], 1.0))
                low, high = sorted((piece[a], piece[b]))
                piece = [low if p == high else p for p in piece]
        lost += len(set(piece)) - 1
        clusters += [(key, f"C{i}-{piece[r]}") for r, key in enumerate(keys)]
    return records, pairs, clusters, lost


def test_estimate_recovers_the_merges_blocking_missed(spark):
    records, pairs, clusters, lost = _oracle_population(3000, seed=11)
    got = unseen_merges(
        spark.createDataFrame(records, "record_key string, x string, y string, z string"),
        spark.createDataFrame(pairs, "record_key_l string, record_key_r string, match_probability double"),
        spark.createDataFrame(clusters, "record_key string, customer_id string"),
        [("x",), ("y", "z")],
        [ComparisonSpec("ExactMatch", ("x",)), ComparisonSpec("ExactMatch", ("y",)), ComparisonSpec("ExactMatch", ("z",))],
        threshold=0.5,
    )
    assert 250 < lost < 500 and got.customers > 2500
    draws = got.draws(50, seed=3)
    mean = sum(draws) / len(draws)
    sd = (sum((d - mean) ** 2 for d in draws) / (len(draws) - 1)) ** 0.5
    assert got.se < sd < 2 * got.se  # the draws add the doubt about the shares to the sampling error
    assert abs(mean - got.estimate) < got.se and min(draws) >= 0
    assert abs(got.estimate - lost) < 2.5 * sd, (got.estimate, sd, lost)


def test_the_count_is_lowered_draw_by_draw():
    counts = [100, 104, 102, 101, 103]
    got = count_interval(counts, golden_count=105, level=0.9, uncertain_pairs=3, unseen=[2.0, 3.0, 1.0, 2.0, 2.0])
    assert (got.estimate, got.lower, got.upper, got.unseen_merges) == (100, 98, 101, 2.0)  # 98, 101, 101, 99, 101
    assert got.lower <= got.estimate <= got.upper
    with pytest.raises(ValueError, match="2 estimates of unseen merges for 5 draws"):
        count_interval(counts, golden_count=105, level=0.9, uncertain_pairs=3, unseen=[1.0, 2.0])
