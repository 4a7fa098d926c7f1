"""Pseudonymised gold tables: keyed hashes in place of personal values, nulls kept, the key only from the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.analytics.pseudonymise import key_from_environment, keyed_hash, pseudonymise
from customer_identity.core.errors import MissingSecret

KEY = "k" * 20
SCHEMA = (
    "customer_id string, first_name string, surname string, email string, phone string, date_of_birth date, address_line_1 string, city string, postcode string"
)


def _customers(spark):
    rows = [("C1", "Jane", "Smith", "j@x.com", "+447700900001", dt.date(1980, 1, 2), "1 High St", "Leeds", "LS1 4AB"),
            ("C2", None, None, None, None, None, None, None, None)]  # fmt: skip
    return spark.createDataFrame(rows, SCHEMA)


def test_personal_columns_become_keyed_hashes(spark):
    got = pseudonymise(_customers(spark), "customers", KEY)
    cid = lambda clear: keyed_hash(F.lit(clear), KEY)  # noqa: E731
    row = got.filter(F.col("customer_id") == cid("C1")).first()
    assert row.first_name == got.sparkSession.range(1).select(keyed_hash(F.lit("Jane"), KEY)).first()[0]
    assert len(row.email) == 64 and "Smith" not in str(row.asDict().values()) and row.postcode_district == "LS1"
    nulls = got.filter(F.col("customer_id") == cid("C2")).drop("customer_id")
    assert all(v is None for v in nulls.first().asDict().values())
    again = pseudonymise(_customers(spark), "customers", KEY)
    assert_df_equality(got, again, ignore_row_order=True)
    other = pseudonymise(_customers(spark), "customers", "z" * 20)
    assert not other.join(got, "surname").count() and not other.join(got, "customer_id").count()  # another key, other hashes


def test_identifiers_become_keyed_hashes_that_still_join(spark):
    customers = pseudonymise(_customers(spark).withColumn("email_from", F.lit("platform:512000001")), "customers", KEY)
    crosswalk = pseudonymise(
        spark.createDataFrame([("guest:ab12", "guest", "ab12", "C1"), ("platform:7", "platform", "7", "C1")], "record_key string, source_system string, source_record_id string, customer_id string"),
        "customer_crosswalk", KEY,
    )  # fmt: skip
    cleartext = {"C1", "C2", "guest:ab12", "platform:7", "ab12", "7", "platform:512000001"}
    for df in (customers, crosswalk):
        values = {v for row in df.collect() for v in row.asDict().values() if isinstance(v, str)}
        assert not values & cleartext
    assert crosswalk.join(customers, "customer_id").count() == 2  # both records still reach their customer
    assert {r.source_system for r in crosswalk.collect()} == {"guest", "platform"}  # the system's name is no identifier


def test_an_unknown_table_is_refused(spark):
    with pytest.raises(ValueError, match="no pseudonymisation rule for table 'leads'"):
        pseudonymise(_customers(spark), "leads", KEY)


def test_the_key_comes_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("EBUY_TEST_KEY", raising=False)
    with pytest.raises(MissingSecret, match="EBUY_TEST_KEY"):
        key_from_environment("EBUY_TEST_KEY")
    monkeypatch.setenv("EBUY_TEST_KEY", "short")
    with pytest.raises(MissingSecret):
        key_from_environment("EBUY_TEST_KEY")
    monkeypatch.setenv("EBUY_TEST_KEY", KEY)
    assert key_from_environment("EBUY_TEST_KEY") == KEY
