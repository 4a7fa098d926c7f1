"""Silver identity records: one row per platform account, CRM record and distinct guest identity.

Every source's raw columns are mapped onto the canonical attributes through config and
standardised. Guest checkouts whose standardised (first name, surname, postcode) are
identical collapse into one guest identity; every transaction row keeps the key of the
identity record it belongs to, so nothing downstream loses a purchase.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.config import TRANSACTION_ATTRIBUTES, SourceConfig
from customer_identity.ingestion.contracts import blank_to_null, typed_column
from customer_identity.resolution.standardise import (
    clean_text,
    postcode_outward,
    split_full_name,
    standardise_address,
    standardise_dob,
    standardise_email,
    standardise_name,
    standardise_phone,
    standardise_postcode,
    with_canonical_first_name,
)

GUEST_SOURCE = "guest"
_COLUMN_TYPES = {"date_of_birth": "date", "record_time": "timestamp", "first_name_variants": "array<string>"}

# The matching attributes every identity record carries (null where a source lacks them).
IDENTITY_COLUMNS = (
    "record_key",
    "source_system",
    "source_record_id",
    "record_time",
    "first_name_std",
    "middle_name_std",
    "middle_initial",
    "surname_std",
    "first_name_canonical",
    "first_name_variants",
    "full_name_std",
    "name_pair_sorted",
    "email_std",
    "phone_e164",
    "date_of_birth",
    "street_number_std",
    "address_line_1_std",
    "locality_std",
    "city_std",
    "region_std",
    "postcode_std",
    "postcode_outward",
)

# One row per field a source sent that could not be used: the field is nulled, the record kept.
FIELD_ISSUE_TYPE = "array<struct<attribute:string,raw_column:string,reason:string>>"


def record_key(source: Column | str, record_id: Column) -> Column:
    src = F.lit(source) if isinstance(source, str) else source
    return F.concat(src, F.lit(":"), record_id)


def _attr(df: DataFrame, source: SourceConfig, attribute: str) -> Column:
    raw = source.raw_column(attribute)
    if raw is None or raw not in df.columns:
        return F.lit(None).cast("string")
    return F.col(raw)


def _typed_attr(df: DataFrame, source: SourceConfig, attribute: str, default_type: str) -> Column:
    raw = source.raw_column(attribute)
    if raw is None or raw not in df.columns:
        return F.lit(None).cast(default_type)
    return typed_column(F.col(raw), source.types.get(raw, default_type), source.formats.get(raw))


def with_identity_attributes(df: DataFrame, nicknames: DataFrame, country: str = "GB") -> DataFrame:
    """Derived matching columns from the standardised ones: canonical first name, full name, district."""
    return (
        with_canonical_first_name(df, nicknames)
        .withColumn(  # only when both names are known: a surname alone is not a full name
            "full_name_std",
            F.when(F.col("first_name_canonical").isNotNull() & F.col("surname_std").isNotNull(), F.concat_ws(" ", "first_name_canonical", "surname_std")),
        )
        .withColumn("postcode_outward", postcode_outward(F.col("postcode_std"), country))
        .withColumn("middle_initial", F.substring("middle_name_std", 1, 1))
        .withColumn("middle_initial", F.when(F.length("middle_initial") > 0, F.col("middle_initial")))
        .withColumn(
            "name_pair_sorted",  # equal for the same two names in either order (swapped fields)
            F.when(
                F.col("first_name_std").isNotNull() & F.col("surname_std").isNotNull(),
                F.array_join(F.array_sort(F.array("first_name_std", "surname_std")), "|"),
            ),
        )
    )


def _issue(condition: Column, attribute: str, raw_column: str | None, reason: str) -> Column:
    return F.when(condition, F.struct(F.lit(attribute).alias("attribute"), F.lit(raw_column).alias("raw_column"), F.lit(reason).alias("reason")))


def standardise_customer_source(df: DataFrame, source: SourceConfig, nicknames: DataFrame, country: str = "GB") -> DataFrame:
    """Bronze rows of a customers source -> identity records (canonical, standardised attributes).

    A field that cannot be used (a date of birth that does not parse or cannot be real, a
    malformed telephone number or e-mail) is nulled and listed in ``field_issues``; the
    record itself is kept.
    """
    first = standardise_name(_attr(df, source, "first_name"))
    surname = standardise_name(_attr(df, source, "surname"))
    full_first, full_surname = split_full_name(_attr(df, source, "full_name"))
    record_time = (
        typed_column(
            F.col(source.record_time_column), source.types.get(source.record_time_column, "timestamp"), source.formats.get(source.record_time_column)
        ).cast("timestamp")
        if source.record_time_column and source.record_time_column in df.columns
        else F.lit(None).cast("timestamp")
    )
    dob_typed = _typed_attr(df, source, "date_of_birth", "date")
    dob = standardise_dob(dob_typed)
    phone, email = standardise_phone(_attr(df, source, "phone"), country), standardise_email(_attr(df, source, "email"))
    number = clean_text(_attr(df, source, "street_number"))
    street = _attr(df, source, "address_line_1")
    address = (
        standardise_address(F.concat_ws(" ", _attr(df, source, "street_number"), street)) if source.raw_column("street_number") else standardise_address(street)
    )
    leading_number = F.regexp_extract(address, r"^([0-9]+[a-z]?)( |$)", 1)
    issues = F.array(
        _issue(
            blank_to_null(_attr(df, source, "date_of_birth")).isNotNull() & dob_typed.isNull(),
            "date_of_birth",
            source.raw_column("date_of_birth"),
            "unparseable",
        ),
        _issue(dob_typed.isNotNull() & dob.isNull(), "date_of_birth", source.raw_column("date_of_birth"), "implausible"),
        _issue(blank_to_null(_attr(df, source, "phone")).isNotNull() & phone.isNull(), "phone", source.raw_column("phone"), "malformed"),
        _issue(blank_to_null(_attr(df, source, "email")).isNotNull() & email.isNull(), "email", source.raw_column("email"), "malformed"),
    )
    out = df.select(
        record_key(source.name, F.trim(F.col(source.id_column))).alias("record_key"),
        F.lit(source.name).alias("source_system"),
        F.trim(F.col(source.id_column)).alias("source_record_id"),
        record_time.alias("record_time"),
        F.coalesce(first, full_first).alias("first_name_std"),
        standardise_name(_attr(df, source, "middle_name")).alias("middle_name_std"),
        F.coalesce(surname, full_surname).alias("surname_std"),
        email.alias("email_std"),
        phone.alias("phone_e164"),
        dob.alias("date_of_birth"),
        F.coalesce(number, F.when(F.length(leading_number) > 0, leading_number)).alias("street_number_std"),
        address.alias("address_line_1_std"),
        clean_text(_attr(df, source, "locality")).alias("locality_std"),
        clean_text(_attr(df, source, "city")).alias("city_std"),
        clean_text(_attr(df, source, "region")).alias("region_std"),
        standardise_postcode(_attr(df, source, "postcode"), country).alias("postcode_std"),
        F.filter(issues, lambda x: x.isNotNull()).cast(FIELD_ISSUE_TYPE).alias("field_issues"),
    )
    return with_identity_attributes(out, nicknames, country).select(*IDENTITY_COLUMNS, "field_issues")


def field_issues(records: DataFrame) -> DataFrame:
    """One row per field nulled during standardisation: source, record, attribute, raw column, reason."""
    return records.select("record_key", "source_system", "source_record_id", F.explode("field_issues").alias("i")).select(
        "record_key", "source_system", "source_record_id", "i.attribute", "i.raw_column", "i.reason"
    )


def typed_transactions(df: DataFrame, source: SourceConfig, account_source: str, country: str = "GB") -> DataFrame:
    """Bronze transaction rows -> typed rows with the key of the identity record they belong to.

    Registered purchases attach to the account's record through ``customer_id``; guest
    purchases to the guest identity of their standardised (first name, surname, postcode).
    """
    cols = {a: _attr(df, source, a) for a in source.columns}
    for attr, default in (("event_time", "timestamp"), ("product_id", "long"), ("category_id", "long"), ("price", "double"), ("customer_id", "long")):
        cols[attr] = _typed_attr(df, source, attr, default)
    out = df.select(
        *[
            cols.get(a, F.lit(None).cast("string")).alias(a)
            for a in ("event_time", "product_id", "category_id", "category_code", "brand", "price", "session_id")
        ],
        cols.get("customer_id", F.lit(None)).alias("account_id"),  # the source's account id, not the resolved customer
        standardise_name(cols.get("guest_first_name", F.lit(None).cast("string"))).alias("guest_first_name_std"),
        standardise_name(cols.get("guest_surname", F.lit(None).cast("string"))).alias("guest_surname_std"),
        standardise_postcode(cols.get("guest_postcode", F.lit(None).cast("string")), country).alias("guest_postcode_std"),
        F.col("_batch_id").alias("batch_id"),
        F.col("_source_file").alias("source_file"),
    )
    has_guest = F.col("guest_first_name_std").isNotNull() | F.col("guest_surname_std").isNotNull()
    guest_key = record_key(
        GUEST_SOURCE,
        F.sha2(
            F.concat_ws(
                "|", F.coalesce("guest_first_name_std", F.lit("")), F.coalesce("guest_surname_std", F.lit("")), F.coalesce("guest_postcode_std", F.lit(""))
            ),
            256,
        ).substr(1, 20),
    )
    return out.withColumn(
        "attribution",
        F.when(F.col("account_id").isNotNull(), "registered").when(has_guest, "guest").otherwise("unattributed"),
    ).withColumn(
        "record_key",
        F.when(F.col("account_id").isNotNull(), record_key(account_source, F.col("account_id").cast("string"))).when(has_guest, guest_key),
    )


def empty_transactions(spark: SparkSession, account_source: str) -> DataFrame:
    """Typed transactions with no rows: the shape ``typed_transactions`` gives, for shops without a transactions source."""
    attrs = TRANSACTION_ATTRIBUTES
    raw = spark.createDataFrame([], ", ".join(f"{c} string" for c in (*attrs, "_batch_id", "_source_file")))
    source = SourceConfig(name="transactions", kind="transactions", format="csv", path="(in memory)", columns={a: a for a in attrs})
    return typed_transactions(raw, source, account_source)


def guest_identities(transactions: DataFrame, nicknames: DataFrame, country: str = "GB") -> DataFrame:
    """One identity record per distinct standardised guest (first name, surname, postcode)."""
    guests = transactions.filter(F.col("attribution") == "guest")
    out = guests.groupBy("record_key", "guest_first_name_std", "guest_surname_std", "guest_postcode_std").agg(F.min("event_time").alias("record_time"))
    out = out.select(
        "record_key",
        F.lit(GUEST_SOURCE).alias("source_system"),
        F.substring_index("record_key", ":", -1).alias("source_record_id"),
        "record_time",
        F.col("guest_first_name_std").alias("first_name_std"),
        F.lit(None).cast("string").alias("middle_name_std"),
        F.col("guest_surname_std").alias("surname_std"),
        *[F.lit(None).cast("string").alias(c) for c in ("email_std", "phone_e164")],
        F.lit(None).cast("date").alias("date_of_birth"),
        *[F.lit(None).cast("string").alias(c) for c in ("street_number_std", "address_line_1_std", "locality_std", "city_std", "region_std")],
        F.col("guest_postcode_std").alias("postcode_std"),
    )
    return with_identity_attributes(out, nicknames, country).select(*IDENTITY_COLUMNS)


def orphan_account_identities(transactions: DataFrame, accounts: DataFrame, account_source: str) -> DataFrame:
    """Accounts that purchases reference but the account export lacks (e.g. quarantined rows).

    They are real customers with unknown details: each becomes an identity record of its own.
    """
    referenced = transactions.filter(F.col("attribution") == "registered").groupBy("record_key").agg(F.min("event_time").alias("record_time"))
    missing = referenced.join(accounts.select("record_key"), "record_key", "left_anti")
    null = lambda t: F.lit(None).cast(t)  # noqa: E731
    return missing.select(
        "record_key",
        F.lit(account_source).alias("source_system"),
        F.substring_index("record_key", ":", -1).alias("source_record_id"),
        "record_time",
        *[null(_COLUMN_TYPES.get(c, "string")).alias(c) for c in IDENTITY_COLUMNS[4:]],
    )
