"""Identity records: mapping sources through config, guest collapse, registered purchases."""

from __future__ import annotations

from pyspark.sql import functions as F

from customer_identity.core.config import load_config
from customer_identity.resolution.identities import guest_identities, orphan_account_identities, standardise_customer_source, typed_transactions
from customer_identity.resolution.standardise import nickname_table

CONFIG = load_config("local")
TX_SCHEMA = (
    "event_time string, product_id string, category_id string, category_code string, brand string, price string, "
    "session_id string, customer_id string, guest_first_name string, guest_surname string, guest_postcode string, "
    "_batch_id string, _source_file string"
)


def _tx(spark, rows):
    return typed_transactions(spark.createDataFrame(rows, TX_SCHEMA), CONFIG.source("transactions"), "platform")


def test_crm_full_names_are_split_and_mapped(spark):
    crm = spark.createDataFrame(
        [("CRM-1", "SMITH, Bob", "07700 900123", "bob@Example.com", "31/12/1980", "1 High St", None, "Leeds", "ls11aa", "01/10/2026"),
         ("CRM-2", None, None, None, None, None, None, None, None, None)],
        "crm_ref string, customer_name string, telephone string, email_address string, birth_date string, address_1 string, "
        "address_2 string, city string, postcode string, onboarded_on string",
    )  # fmt: skip
    out = {r.record_key: r for r in standardise_customer_source(crm, CONFIG.source("crm"), nickname_table(spark)).collect()}
    a = out["crm:CRM-1"]
    assert (a.first_name_std, a.first_name_canonical, a.surname_std) == ("bob", "robert", "smith")
    assert (a.phone_e164, a.email_std, a.postcode_std, a.postcode_outward) == ("+447700900123", "bob@example.com", "LS1 1AA", "LS1")
    assert str(a.date_of_birth) == "1980-12-31" and a.name_pair_sorted == "bob|smith"
    b = out["crm:CRM-2"]
    assert b.source_system == "crm" and b.first_name_std is None and b.full_name_std is None and b.name_pair_sorted is None


def test_guest_checkouts_collapse_and_every_row_keeps_its_key(spark):
    rows = [
        ("2026-10-01 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s1", None, "Bob", "Smith", "LS1 1AA", "b1", "f"),
        ("2026-10-02 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s2", None, " bob ", "SMITH", "ls11aa", "b1", "f"),  # same person, same details
        ("2026-10-03 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s3", None, "Rob", "Smith", "LS1 1AA", "b1", "f"),  # differs: own identity
        ("2026-10-04 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s4", "512000001", None, None, None, "b1", "f"),  # registered
        ("2026-10-05 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s5", None, None, None, None, "b1", "f"),  # nothing to attribute
    ]
    tx = _tx(spark, rows)
    assert tx.count() == 5
    keys = {r.session_id: (r.attribution, r.record_key) for r in tx.collect()}
    assert keys["s1"][1] == keys["s2"][1] != keys["s3"][1]
    assert keys["s4"] == ("registered", "platform:512000001")
    assert keys["s5"] == ("unattributed", None)
    guests = guest_identities(tx, nickname_table(spark))
    assert guests.count() == 2
    assert guests.filter(F.col("record_key") == keys["s1"][1]).first().first_name_canonical == "robert"


def test_purchases_of_accounts_missing_from_the_export_become_records(spark):
    tx = _tx(spark, [("2026-10-04 10:00:00 UTC", "1", "2", "c", "b", "9.99", "s4", "512000009", None, None, None, "b1", "f")])
    accounts = spark.createDataFrame([("platform:512000001",)], "record_key string")
    orphans = orphan_account_identities(tx, accounts, "platform").collect()
    assert [(r.record_key, r.source_system, r.source_record_id) for r in orphans] == [("platform:512000009", "platform", "512000009")]


def test_an_id_column_missing_from_the_export_is_one_clear_error(caplog):
    import pytest  # noqa: PLC0415

    from customer_identity.core.config import ConfigError  # noqa: PLC0415
    from customer_identity.resolution.stage import check_mapped_columns  # noqa: PLC0415

    crm = CONFIG.source("crm")
    with pytest.raises(ConfigError, match=r"sources\.crm\.id_column: column 'crm_ref' is not in the export"):
        check_mapped_columns(crm, ["customer_name", "email_address"])
    check_mapped_columns(crm, ["crm_ref", "customer_name"])
    assert "sources.crm.columns" in caplog.text and "telephone" in caplog.text


def test_a_field_that_does_not_parse_is_nulled_and_recorded_not_the_record(spark):
    from customer_identity.resolution.identities import field_issues  # noqa: PLC0415

    crm = spark.createDataFrame(
        [("CRM-1", "Ann Lee", "07700 900123", "ann@example.com", "31/02/1980", "01/10/2026"),
         ("CRM-2", "Bo Lee", "12", "not-an-email", "01/01/1850", "01/10/2026"),
         ("CRM-3", None, None, None, None, None)],
        "crm_ref string, customer_name string, telephone string, email_address string, birth_date string, onboarded_on string",
    )  # fmt: skip
    records = standardise_customer_source(crm, CONFIG.source("crm"), nickname_table(spark))
    assert records.count() == 3
    got = {(r.source_record_id, r.attribute, r.raw_column, r.reason) for r in field_issues(records).collect()}
    assert got == {("CRM-1", "date_of_birth", "birth_date", "unparseable"), ("CRM-2", "date_of_birth", "birth_date", "implausible"),
                   ("CRM-2", "phone", "telephone", "malformed"), ("CRM-2", "email", "email_address", "malformed")}  # fmt: skip
    assert {r.source_record_id: r.date_of_birth for r in records.collect()} == {"CRM-1": None, "CRM-2": None, "CRM-3": None}
