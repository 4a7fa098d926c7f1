"""Source exports built from the true population, with corruption and ground truth.

Three raw shapes, each the way such a system really exports:
- platform: CSV of registered accounts (given_name, family_name, mobile, post_code, ...);
- CRM: JSON lines with a single ``customer_name`` field ("SMITH, John", "Mr John Smith"),
  phones in mixed national formats and ``dd/MM/yyyy`` dates;
- transactions: CSV with exactly the seed's columns.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.synthetic import corruption as cx
from customer_identity.synthetic import reference as ref
from customer_identity.synthetic.randomness import choice, geometric, normal, pick_weighted, randint, uniform, weighted_table


@dataclass(frozen=True)
class Generated:
    """Every DataFrame the generator produces; sources and truth are kept apart."""

    platform: DataFrame
    crm: DataFrame  # one column ``value``: a JSON line per record
    transactions: DataFrame
    truth_people: DataFrame
    truth_records: DataFrame
    truth_sessions: DataFrame
    truth_relations: DataFrame
    truth_bad_rows: DataFrame


def with_sequential_id(df: DataFrame, order_cols: list[str], name: str, start: int) -> DataFrame:
    """Dense ids in a deterministic order, assigned without a single-partition window."""
    ordered = df.orderBy(*order_cols)
    schema = ordered.schema.add(name, "long")
    rdd = ordered.rdd.zipWithIndex().map(lambda pair: (*pair[0], pair[1] + start))
    return ordered.sparkSession.createDataFrame(rdd, schema)


def _tags(flags: dict[str, Column]) -> Column:
    return F.array_compact(F.array(*[F.when(cond, F.lit(tag)) for tag, cond in flags.items()]))


def _nickname_table(spark: SparkSession) -> DataFrame:
    pairs = ref.nickname_pairs()
    df = spark.createDataFrame(pairs, "formal string, nickname string")
    return df.groupBy("formal").agg(F.sort_array(F.collect_set("nickname")).alias("nicknames"))


# facts about a person rather than typing; they apply whatever the gate in corrupt_identity
LIFE_EVENTS = ("moved", "surname_change", "alt_contact")


def corrupt_identity(df: DataFrame, spark: SparkSession, seed: int, rates: dict[str, float], key: str, salt: str, active: Column | None = None) -> DataFrame:
    """Apply record-level corruptions to the true details; records which ones in ``corruptions``.

    ``active`` (default: every row) gates the typing corruptions; life events (a move, a
    new surname) apply regardless, since they are facts rather than typing.
    """
    r = rates
    on = F.lit(True) if active is None else active
    u = lambda name: uniform(seed, f"{salt}:{name}", key)  # noqa: E731
    df = df.join(F.broadcast(_nickname_table(spark)), F.lower(F.col("first_name")) == F.col("formal"), "left").drop("formal")
    flags = {
        "moved": F.col("moved") & (u("moved") < 0.6),
        "surname_change": F.col("surname_changed") & (u("married") < 0.6),
        "alt_contact": F.col("has_alt_contact") & (u("altc") < 0.5),
        "nickname": F.col("nicknames").isNotNull() & (u("nick") < r["nickname"]),
        "typo": u("typo") < r["typo"],
        "swap_names": u("swap") < r["swap_names"],
        "case": u("case") < r["case_noise"],
        "whitespace": u("ws") < r["whitespace_noise"],
        "postcode_format": u("pcfmt") < r["postcode_format"],
        "postcode_error": u("pcerr") < r["postcode_error"],
        "email_variant": u("email") < r["email_variant"],
        "dob_error": F.col("date_of_birth").isNotNull() & (u("dob") < r["dob_error"]),
    }
    for tag, cond in flags.items():
        df = df.withColumn(f"_c_{tag}", cond if tag in LIFE_EVENTS else cond & on)
    c = lambda tag: F.col(f"_c_{tag}")  # noqa: E731
    for field in ("house_number", "flat", "street", "town", "postcode"):
        df = df.withColumn(field, F.when(c("moved"), F.col(f"new_{field}")).otherwise(F.col(field)))
    df = df.withColumn("surname", F.when(c("surname_change"), F.col("alt_surname")).otherwise(F.col("surname")))
    alt_email_only = u("altwhich") < 0.5
    df = df.withColumn("email", F.when(c("alt_contact") & alt_email_only, F.col("alt_email")).otherwise(F.col("email")))
    df = df.withColumn("phone", F.when(c("alt_contact") & ~alt_email_only, F.col("alt_phone")).otherwise(F.col("phone")))
    nick = F.initcap(F.element_at("nicknames", (F.floor(u("nickpick") * F.size("nicknames")) + 1).cast("int")))
    df = df.withColumn("first_name", F.when(c("nickname"), nick).otherwise(F.col("first_name")))
    typo_first = u("typofield") < 0.5
    df = df.withColumn(
        "first_name", F.when(c("typo") & typo_first, cx.typo(F.col("first_name"), u("tk"), u("tp"), u("tc"))).otherwise(F.col("first_name"))
    ).withColumn("surname", F.when(c("typo") & ~typo_first, cx.typo(F.col("surname"), u("tk"), u("tp"), u("tc"))).otherwise(F.col("surname")))
    df = (
        df.withColumn("_fn", F.col("first_name"))
        .withColumn("first_name", F.when(c("swap_names"), F.col("surname")).otherwise(F.col("first_name")))
        .withColumn("surname", F.when(c("swap_names"), F.col("_fn")).otherwise(F.col("surname")))
    )
    for field in ("first_name", "surname"):
        df = df.withColumn(field, F.when(c("case"), cx.case_noise(F.col(field), u(f"case{field}"))).otherwise(F.col(field)))
        df = df.withColumn(field, F.when(c("whitespace"), cx.whitespace_noise(F.col(field), u(f"ws{field}"))).otherwise(F.col(field)))
    df = df.withColumn("postcode", F.when(c("postcode_error"), cx.postcode_error(F.col("postcode"), u("pe1"), u("pe2"))).otherwise(F.col("postcode")))
    df = df.withColumn("postcode", F.when(c("postcode_format"), cx.postcode_format(F.col("postcode"), u("pf"))).otherwise(F.col("postcode")))
    df = df.withColumn("email", F.when(c("email_variant"), cx.email_variant(F.col("email"), u("ek"), u("ep"))).otherwise(F.col("email")))
    df = df.withColumn("date_of_birth", F.when(c("dob_error"), cx.dob_error(F.col("date_of_birth"), u("dk"), u("dd"))).otherwise(F.col("date_of_birth")))
    df = df.withColumn("corruptions", _tags({tag: c(tag) for tag in flags}))
    return df.drop(*[f"_c_{t}" for t in flags], "_fn", "nicknames")


def with_missing(df: DataFrame, seed: int, rate: float, key: str, salt: str, fields: list[str]) -> DataFrame:
    """Blank out optional fields at ``rate`` each, adding ``missing:<field>`` to the corruptions."""
    for field in fields:
        cond = uniform(seed, f"{salt}:miss:{field}", key) < rate
        df = df.withColumn(field, F.when(cond, F.lit(None)).otherwise(F.col(field))).withColumn(
            "corruptions", F.when(cond, F.array_append("corruptions", F.lit(f"missing:{field}"))).otherwise(F.col("corruptions"))
        )
    return df


def _ts(start: str, days: int, u: Column) -> Column:
    return F.timestamp_seconds(F.unix_timestamp(F.lit(start + " 00:00:00")) + F.floor(u * days * 86400))


def _address_line(df: DataFrame) -> DataFrame:
    return df.withColumn("address_line1", F.concat_ws(" ", F.col("house_number").cast("string"), F.col("street")))


def _source_records(spark: SparkSession, people: DataFrame, seed: int, rates: dict[str, float], source: str, salt: str, extra_rate: str) -> DataFrame:
    """One record per person present in ``source`` (two for a few), keyed ``rk``, corrupted."""
    present = people.filter(f"in_{source}")
    extra = uniform(seed, f"{salt}:extra", "person_id") < rates[extra_rate]
    rec = present.withColumn("record_no", F.explode(F.sequence(F.lit(1), F.when(extra, 2).otherwise(1))))
    rec = rec.withColumn("rk", F.xxhash64(F.lit(seed), F.lit(source), "person_id", "record_no"))
    return corrupt_identity(rec, spark, seed, rates, "rk", salt)


def platform_accounts(spark: SparkSession, people: DataFrame, seed: int, rates: dict[str, float], start: str, days: int) -> DataFrame:
    """Registered accounts (one or, rarely, two per person) with their corrupted details."""
    acc = _source_records(spark, people, seed, rates, "platform", "pl", "extra_platform_account")
    acc = _address_line(acc)
    acc = acc.withColumn(
        "phone_out",
        F.when(uniform(seed, "pl:phonefmt", "rk") < rates["phone_format"], cx.phone_format(F.col("phone"), uniform(seed, "pl:pf", "rk"))).otherwise(
            F.col("phone")
        ),
    )
    acc = acc.withColumn("dob_given", uniform(seed, "pl:dob", "rk") < 0.55)
    acc = acc.withColumn("date_of_birth", F.when(F.col("dob_given"), F.col("date_of_birth")))
    acc = with_missing(acc, seed, rates["missing_field"], "rk", "pl", ["phone_out", "address_line1", "town", "postcode"])
    acc = with_sequential_id(acc, ["rk"], "account_id", 512_000_001)
    created = _ts(start, days, uniform(seed, "pl:created", "rk") ** 1.3)
    return acc.withColumn("created_at", created)


def crm_records(spark: SparkSession, people: DataFrame, seed: int, rates: dict[str, float], start: str, days: int) -> DataFrame:
    """CRM records: staff-typed full names, mixed phone formats, e-mail often absent."""
    rec = _source_records(spark, people, seed, rates, "crm", "crm", "extra_crm_record")
    u_fmt = uniform(seed, "crm:namefmt", "rk")
    title = F.when(F.col("sex") == "F", choice(ref.TITLES["F"], uniform(seed, "crm:title", "rk"))).otherwise(
        choice(ref.TITLES["M"], uniform(seed, "crm:title", "rk"))
    )
    full = (
        F.when(u_fmt < 0.3, F.concat(F.upper(F.col("surname")), F.lit(", "), F.col("first_name")))
        .when(u_fmt < 0.45, F.concat_ws(" ", title, F.col("first_name"), F.col("surname")))
        .when(u_fmt < 0.5, F.concat_ws(" ", F.col("first_name"), F.col("surname"), choice(["Jr", "Snr", "MBE"], uniform(seed, "crm:suffix", "rk"))))
        .otherwise(F.concat_ws(" ", F.col("first_name"), F.col("surname")))
    )
    rec = rec.withColumn("customer_name", full)
    rec = rec.withColumn("telephone", cx.phone_format(F.col("phone"), uniform(seed, "crm:pf", "rk")))
    rec = rec.withColumn("email_address", F.when(uniform(seed, "crm:email", "rk") < 0.45, F.col("email")))
    rec = rec.withColumn("birth_date", F.when(uniform(seed, "crm:dob", "rk") < 0.6, F.date_format("date_of_birth", "dd/MM/yyyy")))
    rec = rec.withColumn("address_1", F.concat_ws(" ", F.col("house_number").cast("string"), F.col("street")))
    rec = rec.withColumn("channel", choice(["phone", "phone", "phone", "store", "event"], uniform(seed, "crm:channel", "person_id")))
    rec = with_missing(rec, seed, rates["missing_field"], "rk", "crm", ["telephone", "address_1", "postcode"])
    rec = with_sequential_id(rec, ["rk"], "crm_seq", 1)
    onboarded = F.date_add(F.to_date(F.lit(start)), F.floor(uniform(seed, "crm:onb", "rk") * days).cast("int"))
    return rec.withColumn("crm_ref", F.concat(F.lit("CRM-"), F.lpad(F.col("crm_seq").cast("string"), 7, "0"))).withColumn(
        "onboarded_on", F.date_format(onboarded, "dd/MM/yyyy")
    )


def catalogue(spark: SparkSession, n_products: int, seed: int) -> DataFrame:
    """Products with a category tree (several category ids per code), brands and long-tailed prices."""
    cats = ref.categories()
    rows = []
    for ci, cat in enumerate(cats):
        n_ids = 1 + (ci % 3)
        for j in range(n_ids):
            cid = 2053013552000000000 + ci * 7919 * 1000 + j * 104729
            rows.append((cid, cat.code, cat.weight / n_ids, cat.base_price, list(cat.brands)))
    cat_df = spark.createDataFrame(rows, "category_id long, category_code string, weight double, base_price double, brands array<string>")
    table = weighted_table(spark, [str(r[0]) for r in rows], [r[2] for r in rows], "cat")
    prod = spark.range(n_products).withColumnRenamed("id", "product_idx")
    prod = pick_weighted(prod, table, uniform(seed, "prod:cat", "product_idx"), "cat")
    prod = prod.join(F.broadcast(cat_df), F.col("cat").cast("long") == F.col("category_id")).drop("cat", "weight")
    brand_u = uniform(seed, "prod:brand", "product_idx") ** 2  # popular brands first
    prod = prod.withColumn(
        "brand",
        F.when(
            (F.size("brands") > 0) & (uniform(seed, "prod:nobrand", "product_idx") > 0.08),
            F.element_at("brands", (F.floor(brand_u * F.size("brands")) + 1).cast("int")),
        ),
    )
    price = F.col("base_price") * F.exp(normal(seed, "prod:price", "product_idx") * 0.6)
    return prod.select(
        (F.col("product_idx") + 1_000_000).alias("product_id"),
        "product_idx",
        "category_id",
        "category_code",
        "brand",
        F.round(F.greatest(price, F.lit(0.99)), 2).alias("price"),
    )


def _session_uuid(key: Column) -> Column:
    h1 = F.lpad(F.lower(F.hex(F.xxhash64(key, F.lit("s1")))), 16, "0")
    h2 = F.lpad(F.lower(F.hex(F.xxhash64(key, F.lit("s2")))), 16, "0")
    return F.concat_ws("-", F.substring(h1, 1, 8), F.substring(h1, 9, 4), F.substring(h1, 13, 4), F.substring(h2, 1, 4), F.substring(h2, 5, 12))


def _guest_details(df: DataFrame, spark: SparkSession, seed: int, rates: dict[str, float], key: str, salt: str) -> DataFrame:
    """Name and postcode as typed at a guest checkout or by a phone agent."""
    noisy = uniform(seed, f"{salt}:noisy", key) < rates["guest_checkout_corruption"]
    lowered = {k: (v if k in ("moved", "surname_change") else min(1.0, v * 2.0)) for k, v in rates.items()}
    lowered.update({"email_variant": 0.0, "swap_names": rates["swap_names"]})
    # a clean checkout keeps the autofilled details: only life events (a move) apply
    return corrupt_identity(df, spark, seed, lowered, key, salt, active=noisy)


def transactions(
    spark: SparkSession,
    people: DataFrame,
    accounts: DataFrame,
    crm: DataFrame,
    products: DataFrame,
    seed: int,
    rates: dict[str, float],
    start: str,
    days: int,
) -> tuple[DataFrame, DataFrame]:
    """Purchase rows (seed columns) and the true session -> person table."""
    # registered checkouts
    reg = accounts.select("account_id", "person_id", "created_at")
    n_reg = F.when(uniform(seed, "tx:regbuy", "account_id") < 0.25, 0).otherwise(1 + geometric(seed, "tx:regn", 0.55, 9, "account_id"))
    reg = reg.withColumn("s", F.explode(F.sequence(F.lit(1), n_reg))).filter("s > 0")
    reg = reg.withColumn("skey", F.concat_ws(":", F.lit("reg"), "account_id", "s"))
    end = F.unix_timestamp(F.lit(start + " 00:00:00")) + days * 86400
    span = end - F.unix_timestamp("created_at")
    reg = reg.withColumn("start_time", F.timestamp_seconds(F.unix_timestamp("created_at") + F.floor(uniform(seed, "tx:regt", "skey") * span)))
    reg = reg.select(
        "skey",
        "person_id",
        F.lit("registered").alias("channel"),
        "account_id",
        F.lit(None).cast("string").alias("g_first"),
        F.lit(None).cast("string").alias("g_surname"),
        F.lit(None).cast("string").alias("g_postcode"),
        "start_time",
        F.lit(None).cast("array<string>").alias("corruptions"),
    )

    # guest checkouts and phone orders typed by an agent
    guests = people.filter("guest_buyer").withColumn("n", 1 + geometric(seed, "tx:gn", 0.6, 7, "person_id")).withColumn("channel", F.lit("guest"))
    phone_people = crm.filter("channel = 'phone'").select("person_id").distinct()
    phone = (
        people.join(phone_people, "person_id", "left_semi")
        .filter(uniform(seed, "tx:phonebuy", "person_id") < rates["crm_phone_buyer"])
        .withColumn("n", 1 + geometric(seed, "tx:pn", 0.6, 5, "person_id"))
        .withColumn("channel", F.lit("phone"))
    )
    g = guests.unionByName(phone).withColumn("s", F.explode(F.sequence(F.lit(1), F.col("n"))))
    g = g.withColumn("skey", F.concat_ws(":", F.col("channel"), "person_id", "s"))
    g = _guest_details(g, spark, seed, rates, "skey", "gx")
    g = g.withColumn("start_time", _ts(start, days, uniform(seed, "tx:gt", "skey")))
    g = g.select(
        "skey",
        "person_id",
        "channel",
        F.lit(None).cast("long").alias("account_id"),
        F.col("first_name").alias("g_first"),
        F.col("surname").alias("g_surname"),
        F.col("postcode").alias("g_postcode"),
        "start_time",
        "corruptions",
    )

    sessions = reg.unionByName(g).withColumn("session_id", _session_uuid(F.col("skey")))
    sessions = sessions.withColumn("n_items", 1 + geometric(seed, "tx:items", 0.55, 6, "skey"))
    items = sessions.withColumn("item", F.explode(F.sequence(F.lit(1), F.col("n_items"))))
    n_products = products.count()
    items = items.withColumn("product_idx", F.floor(F.pow(uniform(seed, "tx:prod", "skey", "item"), 2.2) * n_products).cast("long"))
    items = items.join(F.broadcast(products), "product_idx")
    items = items.withColumn(
        "event_time", F.timestamp_seconds(F.unix_timestamp("start_time") + (F.col("item") - 1) * randint(seed, "tx:gap", 5, 120, "skey", "item"))
    )
    discount = F.when(uniform(seed, "tx:disc", "skey", "item") < 0.1, 0.9).otherwise(1.0)
    items = items.withColumn("price", F.round(F.col("price") * discount, 2))

    # contract breakers ingestion must quarantine
    u_bad = uniform(seed, "tx:bad", "skey", "item")
    bad_kind = (
        F.when(u_bad < rates["bad_row"] / 3, "bad_type:price")
        .when(u_bad < 2 * rates["bad_row"] / 3, "missing:session_id")
        .when(u_bad < rates["bad_row"], "bad_type:event_time")
    )
    items = items.withColumn("bad_kind", bad_kind)
    tx = items.select(
        F.when(F.col("bad_kind") == "bad_type:event_time", F.lit("2026-10-xx 25:61:00 UTC"))
        .otherwise(F.date_format("event_time", "yyyy-MM-dd HH:mm:ss 'UTC'"))
        .alias("event_time"),
        F.col("product_id").cast("string").alias("product_id"),
        F.col("category_id").cast("string").alias("category_id"),
        "category_code",
        "brand",
        F.when(F.col("bad_kind") == "bad_type:price", F.lit("N/A")).otherwise(F.format_string("%.2f", "price")).alias("price"),
        F.when(F.col("bad_kind") == "missing:session_id", F.lit(None)).otherwise(F.col("session_id")).alias("session_id"),
        F.col("account_id").cast("string").alias("customer_id"),
        F.col("g_first").alias("guest_first_name"),
        F.col("g_surname").alias("guest_surname"),
        F.col("g_postcode").alias("guest_postcode"),
        "bad_kind",
        "person_id",
    )
    truth_sessions = sessions.select(
        "session_id", "person_id", "channel", "n_items", F.coalesce("corruptions", F.array().cast("array<string>")).alias("corruptions")
    )
    return tx, truth_sessions
