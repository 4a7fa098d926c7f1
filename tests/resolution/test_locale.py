"""Postcode and telephone rules per country: formatted where the country has rules, kept otherwise."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.resolution.locale import postcode_district, postcode_matches_pattern, standardise_phone, standardise_postcode


def _check(spark, fn, cases, out_type="string"):
    df = spark.createDataFrame([(c[0],) for c in cases], "v string")
    got = df.select(F.col("v"), fn(F.col("v")).cast(out_type).alias("out"))
    assert_df_equality(got, spark.createDataFrame(cases, f"v string, out {out_type}"), ignore_row_order=True)


@pytest.mark.parametrize(
    "country, cases",
    [
        ("US", [("98101", "98101"), ("98101-1234", "98101"), (" 00000 ", "00000"), ("O0000", "O0000"), ("", None), (None, None)]),
        ("AU", [("2000", "2000"), ("2 000", "2000"), ("nsw 2000", "NSW2000"), (None, None)]),
        ("CA", [("k1a0b1", "K1A 0B1"), ("K1A 0B1", "K1A 0B1"), ("12345", "12345"), (None, None)]),
        ("ZZ", [("ab-12 c", "AB12C"), ("", None), (None, None)]),  # a country without rules: normalised and kept
    ],
)
def test_postcodes_are_normalised_and_kept_whatever_their_country(spark, country, cases):
    _check(spark, lambda c: standardise_postcode(c, country), cases)


def test_districts_and_pattern_follow_the_country(spark):
    _check(spark, lambda c: postcode_district(c, "US"), [("98101", "981"), ("O0000", None), (None, None)])
    _check(spark, lambda c: postcode_district(c, "GB"), [("SW1A 1AA", "SW1A"), ("12345", None), (None, None)])
    _check(spark, lambda c: postcode_district(c, "AU"), [("2000", None), (None, None)])  # no district level in AU's rules
    _check(spark, lambda c: postcode_matches_pattern(c, "US"), [("98101", True), ("O0000", False), (None, None)], "boolean")


@pytest.mark.parametrize(
    "country, cases",
    [
        ("US", [("(415) 555-0100", "+14155550100"), ("1-415-555-0100", "+14155550100"), ("+44 7700 900123", "+447700900123"),
                ("555-0100", None), ("", None), (None, None)]),
        ("AU", [("0412 345 678", "+61412345678"), ("+61 412 345 678", "+61412345678"), ("12", None), (None, None)]),
        ("ZZ", [("+49 30 1234567", "+49301234567"), ("030 1234567", None), (None, None)]),  # national numbers cannot be placed
    ],
)  # fmt: skip
def test_phones_take_the_country_calling_code(spark, country, cases):
    _check(spark, lambda c: standardise_phone(c, country), cases)
