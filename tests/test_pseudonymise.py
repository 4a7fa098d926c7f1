"""Pseudonymised gold tables: keyed hashes in place of personal values, nulls kept, the key only from the environment."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.errors import MissingSecret
from customer_identity.pseudonymise import key_from_environment, keyed_hash, pseudonymise

KEY = "k" * 20
SCHEMA = "customer_id string, first_name string, surname string, email string, phone string, date_of_birth date, address_line_1 string, city string, postcode string"


def _customers(spark):
    rows = [("C1", "Jane", "Smith", "j@x.com", "+447700900001", dt.date(1980, 1, 2), "1 High St", "Leeds", "LS1 4AB"),
            ("C2", None, None, None, None, None, None, None, None)]  # fmt: skip
    return spark.createDataFrame(rows, SCHEMA)


def test_personal_columns_become_keyed_hashes(spark):
    got = pseudonymise(_customers(spark), "customers", KEY)
    row = got.filter("customer_id = 'C1'").first()
    assert row.first_name == got.sparkSession.range(1).select(keyed_hash(F.lit("Jane"), KEY)).first()[0]
    assert len(row.email) == 64 and "Smith" not in str(row.asDict().values()) and row.postcode_district == "LS1"
    nulls = got.filter("customer_id = 'C2'").drop("customer_id")
    assert all(v is None for v in nulls.first().asDict().values())
    again = pseudonymise(_customers(spark), "customers", KEY)
    assert_df_equality(got, again, ignore_row_order=True)
    other = pseudonymise(_customers(spark), "customers", "z" * 20).filter("customer_id = 'C1'").first()
    assert other.surname != row.surname and other.customer_id == row.customer_id


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
