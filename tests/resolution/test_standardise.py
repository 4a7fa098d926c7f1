"""Standardisation column functions: nulls, empty strings, non-Latin text and the real messes."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.resolution.standardise import (
    nickname_canonical_pairs,
    nickname_table,
    postcode_outward,
    split_full_name,
    standardise_dob,
    standardise_email,
    standardise_name,
    standardise_phone,
    standardise_postcode,
    with_canonical_first_name,
)


def _apply(spark, fn, values, out_type="string"):
    df = spark.createDataFrame([(v,) for v in values], "v string")
    return df.select(F.col("v"), fn(F.col("v")).cast(out_type).alias("out"))


def _check(spark, fn, cases, out_type="string"):
    got = _apply(spark, fn, [c[0] for c in cases], out_type)
    expected = spark.createDataFrame(cases, f"v string, out {out_type}")
    assert_df_equality(got, expected, ignore_row_order=True)


def test_standardise_name(spark):
    _check(
        spark,
        standardise_name,
        [
            ("  Mr. JOHN  ", "john"),
            ("O'Neill", "oneill"),
            ("Zoë", "zoe"),
            ("Smith-Jones", "smith jones"),
            ("Dr Jane Smith Jr", "jane smith"),
            ("José Ñúñez", "jose nunez"),
            ("Дмитрий", "дмитрий"),
            ("王 秀英", "王 秀英"),
            ("", None),
            ("   ", None),
            ("Mr", None),
            (None, None),
        ],
    )


def test_split_full_name_handles_comma_titles_suffixes(spark):
    df = spark.createDataFrame([("SMITH, John",), ("Mr John Adam Smith Jr",), ("jane doe",), ("Cher",), ("",), (None,), ("Иванов, Пётр",)], "v string")
    first, surname = split_full_name(F.col("v"))
    got = df.select("v", first.alias("first"), surname.alias("surname"))
    expected = spark.createDataFrame(
        [("SMITH, John", "john", "smith"), ("Mr John Adam Smith Jr", "john", "smith"), ("jane doe", "jane", "doe"),
         ("Cher", "cher", None), ("", None, None), (None, None, None), ("Иванов, Пётр", "пётр", "иванов")],
        "v string, first string, surname string",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True)


def test_standardise_email_only_strips_what_the_provider_ignores(spark):
    _check(
        spark,
        standardise_email,
        [
            (" J.Smith+shop@GMail.com ", "jsmith@gmail.com"),
            ("j.smith@googlemail.com", "jsmith@gmail.com"),
            ("j.smith+x@outlook.com", "j.smith@outlook.com"),
            ("j.smith+x@example.co.uk", "j.smith+x@example.co.uk"),
            ("not an email", None),
            ("", None),
            (None, None),
            ("дмитрий@почта.рф", "дмитрий@почта.рф"),
        ],
    )


def test_standardise_phone_to_e164(spark):
    _check(
        spark,
        standardise_phone,
        [
            ("07700 900123", "+447700900123"),
            ("+44 7700 900123", "+447700900123"),
            ("0044 7700 900123", "+447700900123"),
            ("(07700) 900 123", "+447700900123"),
            ("+44 (0)7700 900123", "+447700900123"),
            ("447700900123", "+447700900123"),
            ("+1 415 555 0100", "+14155550100"),
            ("12", None),
            ("", None),
            ("телефон", None),
            (None, None),
        ],
    )


def test_standardise_postcode_and_outward(spark):
    _check(
        spark,
        standardise_postcode,
        [
            ("sw1a1aa", "SW1A 1AA"),
            (" SW1A  1AA ", "SW1A 1AA"),
            ("m1 1ae", "M1 1AE"),
            ("B23 6QX", "B23 6QX"),
            ("12345", "12345"),
            ("", None),
            (None, None),
            ("ЛОНДОН", "ЛОНДОН"),
        ],
    )  # fmt: skip  a value of another shape is kept compact, never nulled
    _check(spark, postcode_outward, [("SW1A 1AA", "SW1A"), ("M1 1AE", "M1"), ("12345", None), (None, None)])


def test_standardise_dob_rejects_impossible_dates(spark):
    df = spark.createDataFrame([(dt.date(1990, 5, 17),), (dt.date(1850, 1, 1),), (dt.date(2999, 1, 1),), (None,)], "d date")
    got = [r.out for r in df.select(standardise_dob(F.col("d"), F.lit("2026-11-01").cast("date")).alias("out")).collect()]
    assert sorted(got, key=str) == sorted([dt.date(1990, 5, 17), None, None, None], key=str)


def test_nicknames_map_to_a_canonical_name(spark):
    pairs = dict(nickname_canonical_pairs())
    assert len(pairs) > 500  # the maintained list, not a handful
    assert pairs["bob"] == "robert"
    df = spark.createDataFrame([("bob",), ("robert",), ("liz",), ("zxq",), (None,), ("",)], "first_name_std string")
    got = with_canonical_first_name(df, nickname_table(spark))
    canon = {r.first_name_std: r.first_name_canonical for r in got.collect()}
    assert canon["bob"] == canon["robert"] == "robert"
    assert canon["liz"] == pairs["liz"]
    variants = {r.first_name_std: r.first_name_variants for r in got.collect()}
    assert "elizabeth" in variants["liz"] and "robert" in variants["bob"]
    assert variants[None] is None
    assert canon["zxq"] == "zxq"
    assert canon[None] is None
