"""Standardisation of customer attributes as Spark column expressions.

Column functions (``Column -> Column``) clean one attribute; ``with_*`` transforms add
standardised columns to a DataFrame. No Python UDFs: everything runs in the JVM.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from importlib import resources

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.resolution import locale

_ACCENTED = "àáâãäåāăąçćčďèéêëēėęěìíîïīįıñńňòóôõöøōőŕřśšşťùúûüūůűųýÿźżžßæœ"
_PLAIN = "aaaaaaaaacccdeeeeeeeeiiiiiiinnnoooooooorrsssttuuuuuuuuyyzzzsao"
TITLES = ("mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "dame", "lady", "lord", "rev", "revd", "fr")
SUFFIXES = ("jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "mbe", "obe", "cbe", "phd", "esq", "bsc", "msc")
PLUS_ADDRESSING_PROVIDERS = ("gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "hotmail.co.uk", "live.com", "live.co.uk", "icloud.com", "me.com")
DOT_BLIND_PROVIDERS = ("gmail.com", "googlemail.com")


def _null_if_blank(c: Column) -> Column:
    return F.when(F.length(c) == 0, F.lit(None)).otherwise(c)


def clean_text(c: Column) -> Column:
    """Lower case, Latin accents folded, punctuation dropped, whitespace collapsed; '' -> null.

    Letters of other scripts are kept as they are (lower-cased where the script has case).
    """
    s = F.translate(F.lower(c), _ACCENTED, _PLAIN)
    s = F.regexp_replace(s, r"['’`.]", "")  # O'Neill -> oneill, St. -> st
    s = F.regexp_replace(s, r"[^\p{L}\p{N}]+", " ")
    return _null_if_blank(F.trim(s))


def _strip_tokens(c: Column, leading: tuple[str, ...], trailing: tuple[str, ...]) -> Column:
    lead = "|".join(leading)
    trail = "|".join(trailing)
    s = F.regexp_replace(c, rf"^(({lead})( |$))+", "")
    s = F.regexp_replace(s, rf"( ({trail}))+$", "")
    return _null_if_blank(F.trim(s))


def standardise_name(c: Column) -> Column:
    """A first name or surname: cleaned, titles and suffixes removed."""
    return _strip_tokens(clean_text(c), TITLES, SUFFIXES)


def split_full_name(c: Column) -> tuple[Column, Column]:
    """(first name, surname) from one field: 'SMITH, John', 'Mr John A Smith Jr', 'john smith'."""
    raw = F.trim(c)
    has_comma = raw.contains(",")
    before = standardise_name(F.substring_index(raw, ",", 1))
    after = standardise_name(F.substring_index(raw, ",", -1))
    whole = standardise_name(raw)
    tokens = F.split(whole, " ")
    first_plain = F.element_at(tokens, 1)
    last_plain = F.when(F.size(tokens) > 1, F.element_at(tokens, -1))
    first_comma = F.element_at(F.split(after, " "), 1)
    first = F.when(has_comma, first_comma).otherwise(first_plain)
    surname = F.when(has_comma, before).otherwise(last_plain)
    return _null_if_blank(first), _null_if_blank(surname)


def standardise_email(c: Column) -> Column:
    """Lower case and trimmed; dots and '+tags' removed only where the provider ignores them."""
    e = F.lower(F.trim(c))
    valid = e.rlike(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    local = F.substring_index(e, "@", 1)
    domain = F.substring_index(e, "@", -1)
    domain = F.when(domain == "googlemail.com", F.lit("gmail.com")).otherwise(domain)
    local = F.when(domain.isin(*PLUS_ADDRESSING_PROVIDERS), F.substring_index(local, "+", 1)).otherwise(local)
    local = F.when(domain.isin(*DOT_BLIND_PROVIDERS), F.regexp_replace(local, r"\.", "")).otherwise(local)
    return F.when(valid, F.concat(local, F.lit("@"), domain))


def standardise_phone(c: Column, country: str = "GB") -> Column:
    """E.164 under the country's conventions (see ``customer_identity.resolution.locale``); junk -> null."""
    return locale.standardise_phone(c, country)


def standardise_postcode(c: Column, country: str = "GB") -> Column:
    """The postcode in its country's written form ('SW1A 1AA'); other shapes kept compact, never nulled."""
    return locale.standardise_postcode(c, country)


def postcode_outward(postcode_std: Column, country: str = "GB") -> Column:
    """The postal district (GB outward code, US ZIP3, ...); null where the country has none."""
    return locale.postcode_district(postcode_std, country)


def standardise_dob(c: Column, as_of: Column | None = None) -> Column:
    """A plausible date of birth (after 1900, not in the future) or null."""
    as_of = as_of if as_of is not None else F.current_date()
    return F.when((c >= F.lit("1900-01-01").cast("date")) & (c <= as_of), c)


def standardise_address(c: Column) -> Column:
    return clean_text(c)


# --------------------------------------------------------------------------- nicknames


@lru_cache(maxsize=1)
def nickname_canonical_pairs() -> list[tuple[str, str]]:
    """(nickname, canonical name) for every nickname in the ``nicknames`` dataset.

    A nickname maps to the most common given name among itself and the names it is short
    for (US census frequencies shipped with Faker): ``bob`` -> robert, ``beth`` -> elizabeth.
    Common names stay themselves. The mapping is deterministic.
    """
    text = resources.files("nicknames").joinpath("names.csv").read_text()
    formal_of: dict[str, set[str]] = {}
    for row in csv.DictReader(text.splitlines()):
        if row["relationship"] != "has_nickname":
            continue
        formal, nick = row["name1"].strip().lower(), row["name2"].strip().lower()
        formal_of.setdefault(nick, set()).add(formal)
    n_nicknames: dict[str, int] = {}
    for formals in formal_of.values():
        for f in formals:
            n_nicknames[f] = n_nicknames.get(f, 0) + 1
    popularity = _first_name_popularity()
    pairs = []
    for nick, formals in formal_of.items():
        # the most common given name among the name itself and the names it shortens
        # (Robert over Bert for 'bob'; Elizabeth for 'beth'); then most nicknames, then alphabetical
        candidates = sorted(formals | {nick}, key=lambda f: (-popularity.get(f, 0.0), -n_nicknames.get(f, 0), f != nick, f))
        if candidates[0] != nick:
            pairs.append((nick, candidates[0]))
    return sorted(pairs)


def _first_name_popularity() -> dict[str, float]:
    from faker.providers.person.en_US import Provider  # noqa: PLC0415

    out: dict[str, float] = {}
    for names in (Provider.first_names_male, Provider.first_names_female):
        for name, weight in names.items():
            out[name.lower()] = out.get(name.lower(), 0.0) + float(weight)
    return out


@lru_cache(maxsize=1)
def nickname_formal_names() -> dict[str, list[str]]:
    """Every nickname in the ``nicknames`` dataset with all the names it can be short for."""
    text = resources.files("nicknames").joinpath("names.csv").read_text()
    out: dict[str, set[str]] = {}
    for row in csv.DictReader(text.splitlines()):
        if row["relationship"] == "has_nickname":
            out.setdefault(row["name2"].strip().lower(), set()).add(row["name1"].strip().lower())
    return {k: sorted(v) for k, v in out.items()}


def nickname_table(spark: SparkSession) -> DataFrame:
    """(nickname, canonical, formal names) for every nickname in the maintained list."""
    canonical = dict(nickname_canonical_pairs())
    formal = nickname_formal_names()
    rows = [(n, canonical.get(n, n), formal.get(n, [])) for n in sorted(set(canonical) | set(formal))]
    return spark.createDataFrame(rows, "nickname string, canonical string, formal_names array<string>")


def with_canonical_first_name(df: DataFrame, nicknames: DataFrame, source: str = "first_name_std", target: str = "first_name_canonical") -> DataFrame:
    """Map a standardised first name to its canonical form (Bob -> robert) and list its variants.

    ``first_name_variants`` holds the name and every name it can be short for, so two
    first names are nickname-related when their variants intersect (bob / rob: robert).
    """
    nick = nicknames.select(F.col("nickname").alias("_nick"), F.col("canonical").alias("_canon"), F.col("formal_names").alias("_formal"))
    return (
        df.join(F.broadcast(nick), F.col(source) == F.col("_nick"), "left")
        .withColumn(target, F.coalesce(F.col("_canon"), F.col(source)))
        .withColumn(
            "first_name_variants",
            F.when(
                F.col(source).isNotNull(), F.array_distinct(F.concat(F.array(F.col(source)), F.coalesce(F.col("_formal"), F.array().cast("array<string>"))))
            ),
        )
        .drop("_nick", "_canon", "_formal")
    )
