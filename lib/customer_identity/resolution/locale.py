"""Postcode and telephone conventions per country, as Spark column expressions.

``locale.country`` (ISO 3166 alpha-2, default GB) picks the rules. A country without
rules of its own gets the generic ones: postcodes are normalised (upper case, no spaces
or punctuation) and kept, with no district; telephone numbers are kept in E.164 only when
written with their country code. No postcode is ever nulled for failing its country's
pattern: it is kept normalised, and the profile counts it (``postcode_pattern``).
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column
from pyspark.sql import functions as F


@dataclass(frozen=True)
class PostcodeRule:
    pattern: str  # regular expression for the compact form (upper case, no spaces)
    district_length: int | None  # leading characters that name the district; None: from the layout below
    space_before_last: int | None = None  # GB: "SW1A1AA" is written "SW1A 1AA"
    keep_first: int | None = None  # US: ZIP+4 is reduced to the 5-digit ZIP


@dataclass(frozen=True)
class PhoneRule:
    calling_code: str
    trunk_prefix: str  # written before national numbers ("0" in GB), "" where there is none
    national_lengths: tuple[int, ...]  # digits of a national significant number


# Districts are the postal system's own first level below the country: the outward code in
# GB, the sectional centre (ZIP3) in the US, the forward sortation area in CA, the
# Leitregion in DE, the departement in FR, the four-digit area in NL.
POSTCODES: dict[str, PostcodeRule] = {
    "GB": PostcodeRule(r"^[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}$", None, space_before_last=3),
    "US": PostcodeRule(r"^[0-9]{5}([0-9]{4})?$", 3, keep_first=5),
    "CA": PostcodeRule(r"^[A-Z][0-9][A-Z][0-9][A-Z][0-9]$", 3, space_before_last=3),
    "AU": PostcodeRule(r"^[0-9]{4}$", None),
    "NZ": PostcodeRule(r"^[0-9]{4}$", None),
    "DE": PostcodeRule(r"^[0-9]{5}$", 2),
    "FR": PostcodeRule(r"^[0-9]{5}$", 2),
    "ES": PostcodeRule(r"^[0-9]{5}$", 2),
    "IT": PostcodeRule(r"^[0-9]{5}$", None),
    "NL": PostcodeRule(r"^[0-9]{4}[A-Z]{2}$", 4),
    "IE": PostcodeRule(r"^[A-Z][0-9][0-9W][A-Z0-9]{4}$", 3),
}
GENERIC_POSTCODE = PostcodeRule(r"^[A-Z0-9]{2,10}$", None)

PHONES: dict[str, PhoneRule] = {
    "GB": PhoneRule("44", "0", (9, 10)),
    "US": PhoneRule("1", "", (10,)),
    "CA": PhoneRule("1", "", (10,)),
    "AU": PhoneRule("61", "0", (9,)),
    "NZ": PhoneRule("64", "0", (8, 9)),
    "IE": PhoneRule("353", "0", (9,)),
    "DE": PhoneRule("49", "0", (10, 11)),
    "FR": PhoneRule("33", "0", (9,)),
    "NL": PhoneRule("31", "0", (9,)),
    "ES": PhoneRule("34", "", (9,)),
    "IT": PhoneRule("39", "", (9, 10)),
    "IN": PhoneRule("91", "0", (10,)),
}


def postcode_rule(country: str) -> PostcodeRule:
    return POSTCODES.get(country.upper(), GENERIC_POSTCODE)


def compact_postcode(c: Column) -> Column:
    """Upper case with spaces and punctuation removed; blank -> null."""
    s = F.regexp_replace(F.upper(F.trim(c)), r"[^\p{L}\p{N}]", "")
    return F.when(F.length(s) > 0, s)


def standardise_postcode(c: Column, country: str = "GB") -> Column:
    """The postcode in its country's written form; a value that fails the pattern is kept compact."""
    rule = postcode_rule(country)
    s = compact_postcode(c)
    if rule.keep_first:
        s = F.when(s.rlike(rule.pattern), F.substring(s, 1, rule.keep_first)).otherwise(s)
    if rule.space_before_last:
        k = rule.space_before_last
        spaced = F.concat(F.substring(s, 1, F.length(s) - k), F.lit(" "), F.substring(s, -k, k))
        return F.when(s.rlike(rule.pattern), spaced).otherwise(s)
    return s


def postcode_matches_pattern(postcode_std: Column, country: str = "GB") -> Column:
    """True where a standardised postcode has its country's shape (null stays null)."""
    return F.regexp_replace(postcode_std, " ", "").rlike(postcode_rule(country).pattern)


def postcode_district(postcode_std: Column, country: str = "GB") -> Column:
    """The postal district of a postcode of the right shape; null where the country has none."""
    rule = postcode_rule(country)
    valid = postcode_matches_pattern(postcode_std, country)
    if rule.space_before_last and rule.district_length is None:  # GB: the outward code
        return F.when(valid, F.substring_index(postcode_std, " ", 1))
    if rule.district_length is None:
        return F.lit(None).cast("string")
    return F.when(valid, F.substring(F.regexp_replace(postcode_std, " ", ""), 1, rule.district_length))


def standardise_phone(c: Column, country: str = "GB") -> Column:
    """E.164 ('+447700900123') or null when the value cannot be a telephone number.

    National numbers take the locale's calling code (after dropping its trunk prefix); a
    number written with '+' or '00' keeps its own. Without rules for the country, national
    numbers cannot be placed and are null.
    """
    raw = F.trim(c)
    digits = F.regexp_replace(raw, r"[^0-9]", "")
    international = F.when(raw.startswith("+"), digits).when(digits.startswith("00"), F.substring(digits, 3, 20))
    rule = PHONES.get(country.upper())
    if rule is None:
        national = F.lit(None).cast("string")
    else:
        cc, trunk = rule.calling_code, rule.trunk_prefix
        nsn = F.when(F.lit(bool(trunk)) & digits.startswith(trunk or "#"), F.substring(digits, len(trunk) + 1, 20)).otherwise(digits)
        with_cc = F.when(digits.startswith(cc) & F.length(digits).isin(*[len(cc) + n for n in rule.national_lengths]), digits)
        national = F.coalesce(with_cc, F.when(F.length(nsn).isin(*rule.national_lengths), F.concat(F.lit(cc), nsn)))
        # a trunk prefix written after the country code: +44 (0)7700 ...
        if trunk:
            international = F.regexp_replace(international, rf"^{cc}{trunk}(?=[0-9]{{{min(rule.national_lengths)},}}$)", cc)
    e164 = F.concat(F.lit("+"), F.coalesce(international, national))
    n = F.length(e164)
    return F.when((n >= 9) & (n <= 16), e164)
