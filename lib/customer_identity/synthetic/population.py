"""The hidden population of true people, in households, with their true details.

Households hold family members who share a surname and an address (hard
negatives), some households have twins (same surname, date of birth and
postcode), and a small share of people get a very common name in a crowded
postcode area. Everything is a Spark expression over ``spark.range``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_identity.resolution.standardise import standardise_email
from customer_identity.synthetic import reference as ref
from customer_identity.synthetic.randomness import (
    choice,
    pick_weighted,
    randint,
    uniform,
    weighted_table,
)

CROWDED_DISTRICTS = ["B23", "M14", "LS8"]  # where the common-name people live


def _postcode(seed: int, salt: str, *keys: Column | str) -> Column:
    areas = ref.postcode_areas()
    area = choice(areas, uniform(seed, salt + ":area", *keys))
    district = randint(seed, salt + ":district", 1, 28, *keys).cast("string")
    sector = randint(seed, salt + ":sector", 0, 9, *keys).cast("string")
    unit = F.concat(
        choice(list(ref.UNIT_LETTERS), uniform(seed, salt + ":u1", *keys)),
        choice(list(ref.UNIT_LETTERS), uniform(seed, salt + ":u2", *keys)),
    )
    return F.concat(area, district, F.lit(" "), sector, unit)


def _street(seed: int, salt: str, *keys: Column | str) -> Column:
    names, _ = ref.surnames()
    return F.concat(
        choice(names[:300], uniform(seed, salt + ":street", *keys)),
        F.lit(" "),
        choice(ref.STREET_SUFFIXES, uniform(seed, salt + ":suffix", *keys)),
    )


def _town(outward: Column) -> Column:
    """A stable town name per postcode district, e.g. 'Harperford'."""
    names, _ = ref.surnames()
    stem = F.element_at(F.array(*[F.lit(n) for n in names[:200]]), (F.pmod(F.xxhash64(outward, F.lit("town")), 200) + 1).cast("int"))
    suffix = F.element_at(F.array(*[F.lit(s) for s in ref.TOWN_SUFFIXES]), (F.pmod(F.xxhash64(outward, F.lit("tsuf")), len(ref.TOWN_SUFFIXES)) + 1).cast("int"))
    return F.concat(stem, suffix)


def _address_columns(df: DataFrame, seed: int, salt: str, key: str, prefix: str) -> DataFrame:
    postcode = _postcode(seed, salt, key)
    return (
        df.withColumn(f"{prefix}postcode", postcode)
        .withColumn(f"{prefix}house_number", randint(seed, salt + ":num", 1, 180, key))
        .withColumn(f"{prefix}street", _street(seed, salt, key))
        .withColumn(
            f"{prefix}flat",
            F.when(uniform(seed, salt + ":flat", key) < 0.15, F.concat(F.lit("Flat "), randint(seed, salt + ":flatno", 1, 24, key).cast("string"))),
        )
        .withColumn(f"{prefix}town", _town(F.substring_index(F.col(f"{prefix}postcode"), " ", 1)))
    )


def households(spark: SparkSession, n_people: int, seed: int, rates: dict[str, float]) -> DataFrame:
    """One row per household: surname, address, size and whether it has twins."""
    n_households = max(1, int(n_people / 1.5))
    hh = spark.range(n_households).withColumnRenamed("id", "household_id")
    shared = uniform(seed, "hh:shared", "household_id") < rates["household_shared"]
    size = F.when(~shared, 1).otherwise(
        F.when(uniform(seed, "hh:size", "household_id") < 0.5, 2).when(uniform(seed, "hh:size", "household_id") < 0.8, 3).otherwise(4)
    )
    twins = shared & (uniform(seed, "hh:twins", "household_id") < rates["twins"] / max(rates["household_shared"], 1e-9))
    surnames, weights = ref.surnames()
    hh = hh.withColumn("twins", twins).withColumn("size", F.when(twins, 4).otherwise(size))
    hh = pick_weighted(hh, weighted_table(spark, surnames, weights, "surname"), uniform(seed, "hh:surname", "household_id"), "surname")
    return _address_columns(hh, seed, "hh:addr", "household_id", "")


def people(spark: SparkSession, n_people: int, seed: int, rates: dict[str, float], ref_date: str) -> DataFrame:
    """The true population: one row per person with true name, date of birth, contacts, moves."""
    hh = households(spark, n_people, seed, rates)
    p = hh.withColumn("member", F.explode(F.sequence(F.lit(1), F.col("size")))).withColumn("person_id", F.col("household_id") * 10 + F.col("member"))
    key = "person_id"
    sex = F.when(F.col("member") == 2, F.lit("F")).when(uniform(seed, "p:sex", key) < 0.5, "F").otherwise("M")
    p = p.withColumn("sex", sex)

    # first names: weighted draw, but members of one household draw distinct names
    fnames = ref.first_names()
    for s in ("F", "M"):
        names, weights = fnames[s]
        p = pick_weighted(p, weighted_table(spark, names, weights, f"fn_{s}"), uniform(seed, f"p:first:{s}", key), f"fn_{s}")
    p = p.withColumn("first_name", F.when(F.col("sex") == "F", F.col("fn_F")).otherwise(F.col("fn_M"))).drop("fn_F", "fn_M")
    p = p.withColumn("_rank", F.row_number().over(_household_first_name_window())).withColumn(
        "first_name",
        F.when(F.col("_rank") > 1, F.concat(F.col("first_name"), F.lit("_dup"))).otherwise(F.col("first_name")),
    )
    # a duplicate first name inside a household is redrawn from the top names by member number
    alt_f = F.element_at(F.array(*[F.lit(n) for n in fnames["F"][0][:40]]), (F.col("member") * 7 + F.pmod(F.col("household_id"), 5) + 1).cast("int"))
    alt_m = F.element_at(F.array(*[F.lit(n) for n in fnames["M"][0][:40]]), (F.col("member") * 7 + F.pmod(F.col("household_id"), 5) + 1).cast("int"))
    p = p.withColumn(
        "first_name",
        F.when(F.col("first_name").endswith("_dup"), F.when(F.col("sex") == "F", alt_f).otherwise(alt_m)).otherwise(F.col("first_name")),
    ).drop("_rank")

    # common names crowded into a few districts
    common = uniform(seed, "p:common", key) < rates["common_name"]
    top_f, top_m, top_s = fnames["F"][0][:3], fnames["M"][0][:3], ref.surnames()[0][:3]
    district = choice(CROWDED_DISTRICTS, uniform(seed, "p:crowd", key))
    p = (
        p.withColumn("is_common_name", common & (F.col("size") == 1))
        .withColumn(
            "first_name",
            F.when(
                F.col("is_common_name"),
                F.when(F.col("sex") == "F", choice(top_f, uniform(seed, "p:cf", key))).otherwise(choice(top_m, uniform(seed, "p:cm", key))),
            ).otherwise(F.col("first_name")),
        )
        .withColumn("surname", F.when(F.col("is_common_name"), choice(top_s, uniform(seed, "p:cs", key))).otherwise(F.col("surname")))
        .withColumn(
            "postcode",
            F.when(F.col("is_common_name"), F.concat(district, F.lit(" "), F.substring(F.col("postcode"), -3, 3))).otherwise(F.col("postcode")),
        )
        .withColumn("town", _town(F.substring_index(F.col("postcode"), " ", 1)))
    )

    # dates of birth: head 18-80, partner near the head, children 18-30 years younger; twins share one
    ref_dt = F.to_date(F.lit(ref_date))
    head_age_days = randint(seed, "hh:age", 18 * 365 + 200, 80 * 365, "household_id")
    head_dob = F.date_sub(ref_dt, head_age_days)
    partner = F.date_add(head_dob, randint(seed, "p:partner", -5 * 365, 5 * 365, key))
    child_offset = F.when(F.col("twins") & (F.col("member") >= 3), randint(seed, "hh:twinage", 18 * 365, 30 * 365, "household_id")).otherwise(
        randint(seed, "p:child", 18 * 365, 30 * 365, key)
    )
    youngest = F.date_sub(ref_dt, 16 * 365 + 30)  # customers are 16 or older
    child = F.date_add(head_dob, child_offset)
    shift = F.when(F.col("twins"), randint(seed, "hh:young", 0, 6 * 365, "household_id")).otherwise(randint(seed, "p:young", 0, 6 * 365, key))
    child = F.when(child > youngest, F.date_sub(youngest, shift)).otherwise(child)
    p = p.withColumn(
        "date_of_birth",
        F.when(F.col("member") == 1, head_dob).when(F.col("member") == 2, partner).otherwise(child),
    ).withColumn("twin_group", F.when(F.col("twins") & (F.col("member") >= 3), F.col("household_id")))

    # contacts
    providers = weighted_table(spark, ref.EMAIL_PROVIDERS, ref.EMAIL_PROVIDER_WEIGHTS, "provider")
    p = pick_weighted(p, providers, uniform(seed, "p:provider", key), "provider")
    fn, sn = F.lower(F.col("first_name")), F.lower(F.regexp_replace("surname", "[^A-Za-z]", ""))
    u_pat = uniform(seed, "p:emailpat", key)
    local = (
        F.when(u_pat < 0.4, F.concat(fn, F.lit("."), sn))
        .when(u_pat < 0.6, F.concat(fn, sn))
        .when(u_pat < 0.75, F.concat(F.substring(fn, 1, 1), sn))
        .when(u_pat < 0.85, F.concat(fn, F.lit("_"), sn))
        .otherwise(F.concat(sn, F.substring(fn, 1, 1)))
    )
    # mailboxes are unique: people with common names (and some others) carry digits
    digits = F.when(
        (uniform(seed, "p:emaildigits", key) < 0.45) | F.col("is_common_name"), randint(seed, "p:emailnum", 10, 99_999, key).cast("string")
    ).otherwise(F.lit(""))
    p = p.withColumn("email", F.concat(local, digits, F.lit("@"), F.col("provider"))).drop("provider")
    # a name-built address taken by someone else (Jane and John Smith as j.smith@) gets the
    # person's own number after a dot, a form no other pattern produces; taken means the same
    # mailbox as the provider sees it (Gmail ignores dots: jane.noble@ is janenoble@)
    taken = F.row_number().over(Window.partitionBy(standardise_email(F.col("email"))).orderBy("person_id")) > 1
    p = p.withColumn(
        "email", F.when(taken, F.regexp_replace("email", "@", F.concat(F.lit("."), F.col("person_id").cast("string"), F.lit("@")))).otherwise(F.col("email"))
    )
    mobile = F.concat(F.lit("07"), F.lpad(randint(seed, "p:mob", 100000000, 999999999, key).cast("string"), 9, "0"))
    landline = F.concat(F.lit("01"), F.lpad(randint(seed, "p:land", 100000000, 999999999, key).cast("string"), 9, "0"))
    p = p.withColumn("phone", F.when(uniform(seed, "p:landline", key) < 0.1, landline).otherwise(mobile))
    # a second address and number some people give instead (work e-mail, old phone)
    p = p.withColumn("has_alt_contact", uniform(seed, "p:alt", key) < rates["alt_contact"])
    alt_provider = choice(["gmail.com", "outlook.com", "yahoo.co.uk", "hotmail.co.uk", "nhs.net", "btinternet.com"], uniform(seed, "p:altprov", key))
    p = p.withColumn("alt_email", F.concat(fn, F.lit("."), sn, randint(seed, "p:altnum", 1000, 9999, key).cast("string"), F.lit("@"), alt_provider))
    p = p.withColumn("alt_phone", F.concat(F.lit("07"), F.lpad(randint(seed, "p:altmob", 100000000, 999999999, key).cast("string"), 9, "0")))

    # life events: a move (second address) and, for some women, a new surname
    p = p.withColumn("moved", uniform(seed, "p:moved", key) < rates["moved"])
    p = _address_columns(p, seed, "p:newaddr", key, "new_")
    names, weights = ref.surnames()
    p = pick_weighted(p, weighted_table(spark, names, weights, "alt_surname"), uniform(seed, "p:alt_surname", key), "alt_surname")
    p = p.withColumn("surname_changed", (F.col("sex") == "F") & (F.col("member") <= 2) & (uniform(seed, "p:marry", key) < rates["surname_change"] * 2))

    return p.select(
        "person_id",
        "household_id",
        "member",
        "sex",
        "first_name",
        "surname",
        "date_of_birth",
        "email",
        "phone",
        "has_alt_contact",
        "alt_email",
        "alt_phone",
        "house_number",
        "flat",
        "street",
        "town",
        "postcode",
        "moved",
        "new_house_number",
        "new_flat",
        "new_street",
        "new_town",
        "new_postcode",
        "surname_changed",
        "alt_surname",
        "twin_group",
        "is_common_name",
    )


def _household_first_name_window():
    return Window.partitionBy("household_id", "first_name").orderBy("member")
