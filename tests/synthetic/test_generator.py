"""The synthetic sources: corruptions and hard negatives at their configured rates, complete truth."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from pyspark.sql import functions as F

from customer_identity.core.config import TRANSACTION_ATTRIBUTES, load_config
from customer_identity.resolution.standardise import standardise_email
from customer_identity.synthetic import generate
from customer_identity.synthetic.population import people

N_PEOPLE = 4000
STRESS = load_config("local", overrides={"generator": {"rate_preset": "stress"}}).generator.rates


@pytest.fixture(scope="module")
def gen_config():
    return load_config("local", overrides={"generator": {"profile": "tiny", "profiles": {"tiny": {"people": N_PEOPLE, "products": 300}}}})


@pytest.fixture(scope="module")
def generated(spark, gen_config):
    return generate(spark, gen_config.generator)


@pytest.fixture(scope="module")
def platform_truth(generated):
    records = generated.truth_records.filter("source_system = 'platform'")
    return generated.platform.join(records, generated.platform.account_id == records.source_record_id).cache()


def _within(observed: float, p: float, n: int) -> bool:
    return abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / n) + 0.005


@pytest.mark.parametrize(
    "tag, rate_key, factor",
    [
        ("typo", "typo", 1.0),
        ("swap_names", "swap_names", 1.0),
        ("case", "case_noise", 1.0),
        ("whitespace", "whitespace_noise", 1.0),
        ("postcode_format", "postcode_format", 1.0),
        ("postcode_error", "postcode_error", 1.0),
        ("email_variant", "email_variant", 1.0),
        ("missing:postcode", "missing_field", 1.0),
        ("missing:phone_out", "missing_field", 1.0),
    ],
)
def test_platform_corruptions_occur_at_configured_rates(platform_truth, gen_config, tag, rate_key, factor):
    n = platform_truth.count()
    hits = platform_truth.filter(F.array_contains("corruptions", tag)).count()
    p = gen_config.generator.rates[rate_key] * factor
    print(f"{tag}: {hits}/{n} = {hits / n:.4f} (configured {p})")
    assert _within(hits / n, p, n)


def test_life_events_and_nicknames_occur(spark, gen_config):
    # under the stress preset: at one month's real rates a few thousand people hold a handful of movers
    g = replace(gen_config.generator, rates=STRESS, rate_preset="stress", profiles={"tiny": {"people": 1500, "products": 50}})
    stressed = generate(spark, g)
    records = stressed.truth_records.filter("source_system = 'platform'")
    platform_truth = stressed.platform.join(records, stressed.platform.account_id == records.source_record_id)
    n = platform_truth.count()
    rates = g.rates
    for tag, upper in (("moved", rates["moved"]), ("surname_change", rates["surname_change"] * 2), ("nickname", rates["nickname"])):
        share = platform_truth.filter(F.array_contains("corruptions", tag)).count() / n
        print(f"{tag}: {share:.4f}")
        assert 0 < share <= upper + 0.01


def test_corruption_tags_describe_real_changes(generated, platform_truth):
    people = generated.truth_people.select(
        "person_id", F.col("first_name").alias("t_first"), F.col("surname").alias("t_surname"), F.col("postcode").alias("t_pc")
    )
    df = platform_truth.join(people, "person_id")
    norm = lambda c: F.lower(F.regexp_replace(c, r"\s", ""))  # noqa: E731
    only_format = df.filter(
        F.array_contains("corruptions", "postcode_format") & ~F.exists("corruptions", lambda t: t.isin("moved", "postcode_error", "missing:postcode"))
    )
    assert only_format.count() > 0
    assert only_format.filter(norm(F.col("post_code")) != norm(F.col("t_pc"))).count() == 0
    assert only_format.filter(F.col("post_code") == F.col("t_pc")).count() == 0
    typos = df.filter(
        F.array_contains("corruptions", "typo")
        & ~F.array_contains("corruptions", "swap_names")
        & ~F.array_contains("corruptions", "nickname")
        & ~F.array_contains("corruptions", "surname_change")
    )
    changed = typos.filter((norm(F.col("given_name")) != norm(F.col("t_first"))) | (norm(F.col("family_name")) != norm(F.col("t_surname"))))
    assert changed.count() >= 0.9 * typos.count() > 0
    clean = df.filter(F.size("corruptions") == 0)
    assert clean.filter((F.col("given_name") != F.col("t_first")) | (F.col("family_name") != F.col("t_surname"))).count() == 0


def test_hard_negatives_exist_and_look_alike(generated):
    rel = generated.truth_relations
    counts = {r.relation: r["count"] for r in rel.groupBy("relation").count().collect()}
    print(counts)
    assert counts.get("household", 0) > 100 and counts.get("twins", 0) > 0 and counts.get("common_name", 0) > 0
    people = generated.truth_people
    a = people.select([F.col(c).alias(f"a_{c}") for c in people.columns])
    b = people.select([F.col(c).alias(f"b_{c}") for c in people.columns])
    twins = rel.filter("relation = 'twins'").join(a, F.col("person_a") == F.col("a_person_id")).join(b, F.col("person_b") == F.col("b_person_id"))
    assert (
        twins.filter(
            (F.col("a_date_of_birth") != F.col("b_date_of_birth")) | (F.col("a_surname") != F.col("b_surname")) | (F.col("a_postcode") != F.col("b_postcode"))
        ).count()
        == 0
    )
    assert twins.filter(F.col("a_first_name") == F.col("b_first_name")).count() == 0


def test_every_person_has_a_mailbox_of_their_own(spark, gen_config):
    # name-built addresses collide inside households (j.smith@ for Jane and John), and between
    # namesakes once Gmail's dots are ignored (jane.noble@ and janenoble@ are one mailbox)
    g = gen_config.generator
    everyone = people(spark, 5000, g.seed, dict(g.rates), g.start_date)
    assert everyone.select(standardise_email(F.col("email"))).distinct().count() == everyone.count()


def test_ground_truth_is_complete(generated):
    records = generated.truth_records
    assert records.filter(F.col("person_id").isNull()).count() == 0
    assert generated.platform.join(records.filter("source_system = 'platform'"), F.col("account_id") == F.col("source_record_id"), "left_anti").count() == 0
    tx_sessions = generated.transactions.filter(F.col("session_id").isNotNull()).select("session_id").distinct()
    assert tx_sessions.join(generated.truth_sessions, "session_id", "left_anti").count() == 0
    # every person appears somewhere
    assert generated.truth_people.filter(~(F.col("in_platform") | F.col("in_crm") | F.col("guest_buyer"))).count() == 0


def test_transactions_look_like_a_shop(generated):
    tx = generated.transactions
    assert tx.columns == list(TRANSACTION_ATTRIBUTES)
    registered = tx.filter(F.col("customer_id").isNotNull())
    guest = tx.filter(F.col("customer_id").isNull())
    assert registered.filter(F.col("guest_first_name").isNotNull() | F.col("guest_postcode").isNotNull()).count() == 0
    assert guest.filter(F.col("guest_surname").isNull() & F.col("guest_first_name").isNull()).count() < 0.1 * guest.count()
    share_guest = guest.count() / tx.count()
    assert 0.15 < share_guest < 0.7, share_guest
    sizes = tx.groupBy("session_id").count()
    assert sizes.filter("count > 1").count() > 0.2 * sizes.count()
    assert tx.groupBy("category_id").agg(F.countDistinct("category_code").alias("n")).filter("n > 1").count() == 0
    assert tx.filter(F.col("category_code").rlike(r"^[a-z_]+\.[a-z_.]+$")).count() > 0.8 * tx.count()
    # repeat buyers exist
    assert registered.groupBy("customer_id").agg(F.countDistinct("session_id").alias("n")).filter("n > 1").count() > 0
    # long-tailed prices
    q = tx.select(F.col("price").try_cast("double").alias("p")).filter("p is not null").approxQuantile("p", [0.5, 0.99], 0.001)
    assert q[1] > 5 * q[0]


def test_same_seed_same_data_different_seed_different_data(spark, gen_config):
    small = replace(gen_config.generator, profiles={"tiny": {"people": 200, "products": 50}})
    a = generate(spark, small).platform.orderBy("account_id").collect()
    b = generate(spark, small).platform.orderBy("account_id").collect()
    c = generate(spark, replace(small, seed=small.seed + 1)).platform.orderBy("account_id").collect()
    assert a == b
    assert a != c
