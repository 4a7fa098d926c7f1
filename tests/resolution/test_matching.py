"""Matching: the levels names fall into, and the link guard (unrelated first names need an exact identifier)."""

from __future__ import annotations

import math

from chispa import assert_df_equality

from customer_identity.core.config import LinkGuard
from customer_identity.resolution.matching import person_name_comparison, with_comparison_levels, with_link_guard

GUARD = LinkGuard(comparison="name", levels=("same surname only",), unless_equal=("email_std", "phone_e164"), max_probability=0.05)
SAME_SURNAME_ONLY = 2  # the gamma value the guard's level label stands for in this test
CAPPED = math.log2(0.05 / 0.95)  # the match weight of the capped probability
SCHEMA = "record_key_l string, record_key_r string, gamma_name int, email_std_l string, email_std_r string, phone_e164_l string, phone_e164_r string, match_probability double, match_weight double"


def test_guard_caps_weak_name_pairs_without_an_agreeing_identifier(spark):
    pairs = spark.createDataFrame(
        [
            ("a", "b", 2, None, None, None, None, 0.99, 6.6),  # relatives at one address, nothing else known: capped
            ("c", "d", 2, "x@example.com", "x@example.com", None, None, 0.99, 6.6),  # same mailbox: kept
            ("e", "f", 2, "x@example.com", "y@example.com", "+44", "+44", 0.97, 5.0),  # same phone: kept
            ("g", "h", 2, "x@example.com", "y@example.com", None, "+44", 0.98, 5.6),  # both disagree or missing: capped
            ("i", "j", 7, None, None, None, None, 0.99, 6.6),  # names agree: not the guard's business
            ("k", "l", 2, None, None, None, None, 0.01, -6.6),  # already below the cap: unchanged
            ("m", "n", None, None, None, None, None, 0.6, 0.6),  # no level at all (null row)
        ],
        SCHEMA,
    )
    out = with_link_guard(pairs, GUARD, [SAME_SURNAME_ONLY]).select(
        "record_key_l", "link_guarded", "match_probability", "model_match_probability", "match_weight", "model_match_weight"
    )
    expected = spark.createDataFrame(
        [
            ("a", True, 0.05, 0.99, CAPPED, 6.6),
            ("c", False, 0.99, 0.99, 6.6, 6.6),
            ("e", False, 0.97, 0.97, 5.0, 5.0),
            ("g", True, 0.05, 0.98, CAPPED, 5.6),
            ("i", False, 0.99, 0.99, 6.6, 6.6),
            ("k", True, 0.01, 0.01, -6.6, -6.6),
            ("m", False, 0.6, 0.6, 0.6, 0.6),
        ],
        "record_key_l string, link_guarded boolean, match_probability double, model_match_probability double, match_weight double, model_match_weight double",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


NAME_COLUMNS = (("first_name_canonical", "string"), ("surname_std", "string"), ("full_name_std", "string"),
                ("first_name_variants", "array<string>"), ("name_pair_sorted", "string"), ("first_name_std", "string"))  # fmt: skip
NAME_PAIR_SCHEMA = ", ".join(f"{c}_{side} {t}" for c, t in NAME_COLUMNS for side in ("l", "r"))


def _name(first, surname):
    """One side of a pair as identities.with_identity_attributes builds it (no nicknames here)."""
    full = f"{first} {surname}" if first and surname else None
    pair = "|".join(sorted([first, surname])) if first and surname else None
    return first, surname, full, [first] if first else None, pair, first


def test_name_levels_weigh_what_can_be_compared(spark):
    """A missing first name is not an unrelated one; a typo is judged on the name as typed."""
    cases = [
        (("tara", "green"), (None, "green"), "first name missing, surname agrees"),
        (("chloe", "grosvenor"), ("chloe", None), "surname missing, first name agrees"),
        (("lucy", "hassall"), ("lcuy", "hassall"), "(Jaro-Winkler distance of first_name_std >= 0.92) AND (Jaro-Winkler distance of surname_std >= 0.92)"),
        (("mia", "ryan"), ("breeanne", "ryan"), "same surname only"),
        ((None, "green"), (None, "green"), "first name missing, surname agrees"),  # a surname alone is not a full name
        (("jane", "bowen"), ("bowen", "jane"), "same two names, in either order"),
        ((None, None), ("ann", "lee"), "(first_name_canonical is NULL) AND (surname_std is NULL)"),  # null row
    ]
    rows = []
    for left, right, _ in cases:
        lv, rv = _name(*left), _name(*right)
        rows.append(tuple(x for pair in zip(lv, rv) for x in pair))
    pairs = spark.createDataFrame(rows, NAME_PAIR_SCHEMA)
    comparison = person_name_comparison("first_name_canonical", "surname_std", "full_name_std", "first_name_variants", "name_pair_sorted", "first_name_std")
    got = [r["label_name"] for r in with_comparison_levels(spark, pairs, comparison).collect()]
    assert got == [label for _, _, label in cases]


def test_a_linker_leaves_splink_logging_to_the_job():
    import logging  # noqa: PLC0415

    import pandas as pd  # noqa: PLC0415
    from splink import DuckDBAPI, SettingsCreator  # noqa: PLC0415
    from splink import comparison_library as cl  # noqa: PLC0415

    from customer_identity.resolution.matching import new_linker  # noqa: PLC0415

    splink_logger = logging.getLogger("splink")
    splink_logger.setLevel(logging.WARNING)  # a level the job chose (core.cli.configure_logging)
    handlers = list(splink_logger.handlers)
    records = DuckDBAPI().register(pd.DataFrame({"unique_id": [1, 2], "surname": ["a", None]}))
    new_linker(records, SettingsCreator(link_type="dedupe_only", comparisons=[cl.ExactMatch("surname")]))
    assert splink_logger.level == logging.WARNING and splink_logger.handlers == handlers


def test_levels_the_data_never_estimated_carry_no_weight():
    from customer_identity.resolution.matching import without_untrained_defaults  # noqa: PLC0415

    levels = [
        {"sql_condition": "x_l IS NULL", "is_null_level": True},
        {"sql_condition": "x_l = x_r", "m_probability": 0.9, "u_probability": 0.001},  # trained: kept
        {"sql_condition": "district", "u_probability": 0.0003},  # EM never saw it: m = u
        {"sql_condition": "street"},  # seen nowhere: neutral
        {"sql_condition": "rare", "m_probability": 0.002},  # no random pair reached it: u at the floor
        {"sql_condition": "ELSE", "m_probability": 0.098, "u_probability": "level not observed"},
    ]
    out = without_untrained_defaults({"comparisons": [{"output_column_name": "x", "comparison_levels": levels}]}, floor=1e-6)
    got = [(lv.get("m_probability"), lv.get("u_probability")) for lv in out["comparisons"][0]["comparison_levels"]]
    assert got == [(None, None), (0.9, 0.001), (0.0003, 0.0003), (1e-6, 1e-6), (0.002, 1e-6), (0.098, 1e-6)]


def test_the_columns_an_exact_level_requires_equal():
    from customer_identity.resolution.matching import exact_columns  # noqa: PLC0415

    assert exact_columns("`full_name_std_l` = `full_name_std_r`") == {"full_name_std"}
    assert exact_columns('("postcode_std_l" = "postcode_std_r") AND (`address_line_1_std_l` = `address_line_1_std_r`)') == {
        "postcode_std",
        "address_line_1_std",
    }
    assert exact_columns("postcode_std_l = address_r") is None
    assert exact_columns("(a_l = a_r) AND (jaro_winkler(b_l, b_r) >= 0.9)") is None
    assert exact_columns("a_l = a_r OR b_l = b_r") is None
