"""Conditional evidence: a name's shares among housemates, and the caps on weights where evidence is shared."""

from __future__ import annotations

import math

import pytest
from chispa import assert_approx_df_equality

from customer_identity.resolution.dependence import MIN_EXPECTED_NON_MATCHES, estimate_from_sums, level_sums, with_conditional_caps

# gamma -> (label, m, u) of a name comparison
LEVELS = {9: ("exact", 0.86, 3.7e-5), 5: ("similar first name", 0.03, 3.3e-5), 2: ("same surname only", 0.005, 0.0044), 0: ("no name in common", 0.004, 0.98)}


def _home_pairs(spark):
    rows = (
        [(2, 0.0)] * 150  # family: same surname, different first names
        + [(5, 0.0)] * 2  # sisters with similar first names
        + [(9, 1.0)] * 48  # one person twice
        + [(9, 0.5)]  # the model cannot tell: half a non-match
        + [(None, 0.0), (-1, 0.0)]  # no name to compare: counted nowhere
    )
    return spark.createDataFrame(rows, "gamma_name int, match_probability double")


def test_shares_among_housemates_come_from_one_minus_p(spark):
    out = estimate_from_sums(level_sums(_home_pairs(spark), "name"), LEVELS)
    total = 152.5
    assert out["active"] is True
    assert out["expected_non_matches"] == pytest.approx(total)
    levels = out["levels"]
    assert levels["2"]["u_given"] == pytest.approx(150 / total)
    assert levels["5"]["u_given"] == pytest.approx(2 / total)
    assert levels["9"]["u_given"] == pytest.approx(0.5 / total)
    assert levels["5"]["max_weight"] == pytest.approx(math.log2(0.03 / (2 / total)))
    # never below the share among all pairs: no level gains weight at home
    assert levels["0"]["u_given"] == 0.98


def test_too_few_housemates_say_nothing(spark):
    out = estimate_from_sums(level_sums(_home_pairs(spark), "name"), LEVELS, scale=0.5)  # 76 expected non-matches
    assert out["expected_non_matches"] < MIN_EXPECTED_NON_MATCHES
    assert out["active"] is False


SCHEMA = (
    "record_key_l string, gamma_name int, gamma_location int, gamma_email int, mw_name double, mw_tf_adj_name double, mw_email double, "
    "match_weight double, match_probability double"
)
HOME, SAME_NAME, SIMILAR_MAILBOX = 8, 9, 1


def _p(w):
    return 1 / (1 + 2**-w)


def _correction(comparison, given, gammas, caps, active=True):
    levels = {str(g): {"max_weight": w, "u": 1e-5, "u_given": 1e-2} for g, w in caps.items()}
    return {"comparison": comparison, "given": given, "given_gammas": gammas, "active": active, "levels": levels}


def test_a_name_at_a_shared_home_weighs_what_it_says_among_housemates(spark):
    correction = estimate_from_sums(level_sums(_home_pairs(spark), "name"), LEVELS)
    assert correction["levels"]["5"]["max_weight"] < 5 and correction["levels"]["2"]["max_weight"] < -7  # caps that bite
    name_at_home = {**correction, "comparison": "name", "given": "location", "given_gammas": [HOME]}
    mailbox_given_name = _correction("email", "name", [SAME_NAME], {SIMILAR_MAILBOX: -2.0})
    mailbox_at_home = _correction("email", "location", [HOME], {SIMILAR_MAILBOX: 1.0})
    inactive = _correction("name", "location", [7], {5: -20.0}, active=False)
    cap_similar, cap_surname, cap_same = (correction["levels"][g]["max_weight"] for g in ("5", "2", "9"))
    pairs = spark.createDataFrame(
        [
            ("sisters", 5, HOME, -1, 9.9, None, 0.0, 3.0, _p(3.0)),  # similar first names at one home: capped
            ("family", 2, HOME, -1, 0.2, 2.0, 0.0, -4.0, _p(-4.0)),  # rare surname at one home: its rarity says nothing there
            ("elsewhere", 5, 7, -1, 9.9, None, 0.0, 3.0, _p(3.0)),  # same address, other postcode: not a shared home
            ("weak", 0, HOME, -1, math.log2(0.004 / 0.98), None, 0.0, -9.0, _p(-9.0)),  # no more than among everyone: unchanged
            ("namesakes", 9, 2, 1, 14.0, 2.0, 6.9, 5.0, _p(5.0)),  # similar mailboxes of two John Smiths: capped
            ("namesakes at home", 9, HOME, 1, 14.0, 2.0, 6.9, 5.0, _p(5.0)),  # the name capped at home; two caps on the mailbox: the lowest holds
            ("null", None, None, None, None, None, None, 0.5, _p(0.5)),
        ],
        SCHEMA,
    )
    out = with_conditional_caps(pairs, [name_at_home, mailbox_given_name, mailbox_at_home, inactive]).select(
        "record_key_l", "mw_given_name", "mw_given_email", "match_weight", "match_probability", "model_match_weight", "model_match_probability"
    )
    d_sisters, d_family, d_mailbox, d_same = cap_similar - 9.9, cap_surname - 2.2, -2.0 - 6.9, cap_same - 16.0
    expected = spark.createDataFrame(
        [
            ("sisters", d_sisters, 0.0, 3.0 + d_sisters, _p(3.0 + d_sisters), 3.0, _p(3.0)),
            ("family", d_family, 0.0, -4.0 + d_family, _p(-4.0 + d_family), -4.0, _p(-4.0)),
            ("elsewhere", 0.0, 0.0, 3.0, _p(3.0), 3.0, _p(3.0)),
            ("weak", 0.0, 0.0, -9.0, _p(-9.0), -9.0, _p(-9.0)),
            ("namesakes", 0.0, d_mailbox, 5.0 + d_mailbox, _p(5.0 + d_mailbox), 5.0, _p(5.0)),
            ("namesakes at home", d_same, d_mailbox, 5.0 + d_same + d_mailbox, _p(5.0 + d_same + d_mailbox), 5.0, _p(5.0)),
            ("null", 0.0, 0.0, 0.5, _p(0.5), 0.5, _p(0.5)),
        ],
        "record_key_l string, mw_given_name double, mw_given_email double, match_weight double, match_probability double, "
        "model_match_weight double, model_match_probability double",
    )
    assert_approx_df_equality(out, expected, 1e-9, ignore_row_order=True, ignore_nullable=True)


def test_inactive_corrections_change_nothing(spark):
    pairs = spark.createDataFrame([("sisters", 5, HOME, -1, 9.9, None, 0.0, 3.0, _p(3.0))], SCHEMA)
    out = with_conditional_caps(pairs, [_correction("name", "location", [HOME], {5: -1.0}, active=False)])
    assert out.select("match_weight", "match_probability").first() == (3.0, _p(3.0))
