"""Synthetic Ebuy sources with ground truth: the data every test, demo and benchmark stands on.

``generate`` builds the hidden population, decides who appears in which source,
and returns the three raw exports plus the truth tables, all as lazy Spark
DataFrames (no per-row Python on the large path).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.config import GeneratorConfig
from customer_identity.synthetic.population import people as make_people
from customer_identity.synthetic.randomness import uniform
from customer_identity.synthetic.sources import (
    Generated,
    catalogue,
    crm_records,
    platform_accounts,
    transactions,
)

__all__ = ["Generated", "generate", "hard_negative_pairs"]

PLATFORM_COLUMNS = [
    "account_id", "email", "given_name", "family_name", "mobile", "address_line1", "address_line2",
    "town", "post_code", "country", "date_of_birth", "created_at", "marketing_opt_in",
]  # fmt: skip


def _with_presence(people: DataFrame, seed: int, rates: dict[str, float]) -> DataFrame:
    """Who appears where; nobody is in no source."""
    p = (
        people.withColumn("in_platform", uniform(seed, "in:platform", "person_id") < rates["in_platform"])
        .withColumn("in_crm", uniform(seed, "in:crm", "person_id") < rates["in_crm"])
        .withColumn("guest_buyer", uniform(seed, "in:guest", "person_id") < rates["guest_buyer"])
    )
    nowhere = ~(F.col("in_platform") | F.col("in_crm") | F.col("guest_buyer"))
    return p.withColumn("guest_buyer", F.col("guest_buyer") | nowhere)


def hard_negative_pairs(people: DataFrame) -> DataFrame:
    """Pairs of distinct people that look alike: household members, twins, common names."""
    a = people.select(
        F.col("person_id").alias("person_a"),
        F.col("household_id").alias("hh_a"),
        F.col("twin_group").alias("tw_a"),
        F.col("is_common_name").alias("cn_a"),
        F.concat_ws("|", "first_name", "surname", F.substring_index("postcode", " ", 1)).alias("name_area_a"),
    )
    b = a.toDF("person_b", "hh_b", "tw_b", "cn_b", "name_area_b")
    household = a.join(b, (F.col("hh_a") == F.col("hh_b")) & (F.col("person_a") < F.col("person_b")))
    household = household.select(
        "person_a", "person_b", F.when(F.col("tw_a").isNotNull() & (F.col("tw_a") == F.col("tw_b")), "twins").otherwise("household").alias("relation")
    )
    common = a.filter("cn_a").join(b.filter("cn_b"), (F.col("name_area_a") == F.col("name_area_b")) & (F.col("person_a") < F.col("person_b")))
    common = common.select("person_a", "person_b", F.lit("common_name").alias("relation"))
    return household.unionByName(common)


def generate(spark: SparkSession, gen: GeneratorConfig) -> Generated:
    sizes = gen.profiles[gen.profile]
    seed, rates, start, days = gen.seed, dict(gen.rates), gen.start_date, gen.days
    people = _with_presence(make_people(spark, sizes["people"], seed, rates, start), seed, rates).cache()

    accounts = platform_accounts(spark, people, seed, rates, start, days).cache()
    crm = crm_records(spark, people, seed, rates, start, days).cache()
    products = catalogue(spark, sizes["products"], seed).cache()
    tx, truth_sessions = transactions(spark, people, accounts, crm, products, seed, rates, start, days)
    tx = tx.cache()

    # platform export with an impossible date of birth now and then: a bad field, nulled and
    # recorded in silver.field_issues, the account kept (bad_kind "field:date_of_birth")
    pl_bad = uniform(seed, "pl:bad", "rk") < rates["bad_row"]
    platform = accounts.withColumn("bad_kind", F.when(pl_bad, F.lit("field:date_of_birth"))).select(
        F.col("account_id").cast("string").alias("account_id"),
        "email",
        F.col("first_name").alias("given_name"),
        F.col("surname").alias("family_name"),
        F.col("phone_out").alias("mobile"),
        "address_line1",
        F.col("flat").alias("address_line2"),
        "town",
        F.col("postcode").alias("post_code"),
        F.when(uniform(seed, "pl:country", "rk") < 0.7, "GB").otherwise("United Kingdom").alias("country"),
        F.when(pl_bad, F.lit("1990-02-31")).otherwise(F.date_format("date_of_birth", "yyyy-MM-dd")).alias("date_of_birth"),
        F.date_format("created_at", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("created_at"),
        F.when(uniform(seed, "pl:optin", "rk") < 0.4, "true").otherwise("false").alias("marketing_opt_in"),
        "bad_kind",
        "person_id",
        "corruptions",
    )

    # CRM export as JSON lines, with contract breakers: lines truncated mid-record
    crm_bad = uniform(seed, "crm:bad", "rk") < rates["bad_row"]
    crm_json = F.to_json(
        F.struct(
            "crm_ref",
            "customer_name",
            "telephone",
            "email_address",
            "address_1",
            F.col("flat").alias("address_2"),
            "town",
            "postcode",
            "birth_date",
            "onboarded_on",
            "channel",
            F.concat(F.lit("AG"), F.lpad((F.pmod("rk", 40) + 1).cast("string"), 3, "0")).alias("agent_id"),
        )
        .withField("city", F.col("town"))
        .dropFields("town")
    )
    crm_out = crm.withColumn("bad_kind", F.when(crm_bad, F.lit("malformed"))).withColumn("json", crm_json)
    crm_out = crm_out.withColumn("value", F.when(F.col("bad_kind").isNotNull(), F.expr("substring(json, 1, length(json) - 12)")).otherwise(F.col("json")))

    truth_records = platform.select(
        F.lit("platform").alias("source_system"), F.col("account_id").alias("source_record_id"), "person_id", "corruptions", "bad_kind"
    ).unionByName(crm_out.select(F.lit("crm").alias("source_system"), F.col("crm_ref").alias("source_record_id"), "person_id", "corruptions", "bad_kind"))
    bad_rows = (  # rows ingestion must quarantine (bad fields are not among them)
        truth_records.filter(F.col("bad_kind").isNotNull() & ~F.col("bad_kind").startswith("field:"))
        .select("source_system", F.col("bad_kind").alias("reason"))
        .unionByName(tx.filter(F.col("bad_kind").isNotNull()).select(F.lit("transactions").alias("source_system"), F.col("bad_kind").alias("reason")))
        .groupBy("source_system", "reason")
        .count()
    )
    truth_people = people.select(
        "person_id", "household_id", "twin_group", "is_common_name", "first_name", "surname", "date_of_birth", "postcode",
        "in_platform", "in_crm", "guest_buyer",
    )  # fmt: skip
    return Generated(
        platform=platform.drop("bad_kind", "person_id", "corruptions"),
        crm=crm_out.select("value"),
        transactions=tx.drop("bad_kind", "person_id"),
        truth_people=truth_people,
        truth_records=truth_records,
        truth_sessions=truth_sessions,
        truth_relations=hard_negative_pairs(people),
        truth_bad_rows=bad_rows,
    )
