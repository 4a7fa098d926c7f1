"""Corruptions real customer data has, as Spark column functions.

Each takes the clean value and hashed uniform draws (see ``randomness``) and
returns the corrupted value; deciding *whether* to corrupt is the caller's job,
so the rate of every corruption is set in config and recorded in the truth.
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

from customer_identity.synthetic.randomness import choice

# Keys next to each other on a UK QWERTY keyboard.
_ADJACENT = {
    "a": "qwsz", "b": "vghn", "c": "xdfv", "d": "serfcx", "e": "wsdr", "f": "drtgvc", "g": "ftyhbv",
    "h": "gyujnb", "i": "ujko", "j": "huikmn", "k": "jiolm", "l": "kop", "m": "njk", "n": "bhjm",
    "o": "iklp", "p": "ol", "q": "wa", "r": "edft", "s": "awedxz", "t": "rfgy", "u": "yhji",
    "v": "cfgb", "w": "qase", "x": "zsdc", "y": "tghu", "z": "asx",
}  # fmt: skip


def _adjacent_map() -> Column:
    return F.create_map(*[x for k, v in _ADJACENT.items() for x in (F.lit(k), F.lit(v))])


def typo(value: Column, u_kind: Column, u_pos: Column, u_key: Column) -> Column:
    """One keyboard typo: an adjacent-key substitution, a transposition or a dropped letter."""
    n = F.length(value)
    pos = (F.floor(u_pos * (n - 1)) + 1).cast("int")  # 1-based, never the last char for transposition
    before = F.substring(value, 1, pos - 1)
    ch = F.substring(value, pos, 1)
    nxt = F.substring(value, pos + 1, 1)
    after = F.substring(value, pos + 1, 10_000)
    after2 = F.substring(value, pos + 2, 10_000)
    neighbours = F.coalesce(F.element_at(_adjacent_map(), F.lower(ch)), F.lower(ch))
    sub = F.substring(neighbours, (F.floor(u_key * F.length(neighbours)) + 1).cast("int"), 1)
    sub = F.when(ch == F.upper(ch), F.upper(sub)).otherwise(sub)
    substituted = F.concat(before, sub, after)
    transposed = F.concat(before, nxt, ch, after2)
    dropped = F.concat(before, after)
    out = F.when(u_kind < 0.4, substituted).when(u_kind < 0.7, transposed).otherwise(dropped)
    return F.when(value.isNull() | (n < 3), value).otherwise(out)


def case_noise(value: Column, u: Column) -> Column:
    return F.when(u < 0.5, F.upper(value)).otherwise(F.lower(value))


def whitespace_noise(value: Column, u: Column) -> Column:
    return F.when(u < 0.4, F.concat(F.lit(" "), value, F.lit("  "))).when(u < 0.7, F.regexp_replace(value, " ", "  ")).otherwise(F.concat(value, F.lit(" ")))


def postcode_format(postcode: Column, u: Column) -> Column:
    """The same postcode written differently: no space, lower case, extra spaces."""
    return F.when(u < 0.45, F.regexp_replace(postcode, " ", "")).when(u < 0.8, F.lower(postcode)).otherwise(F.regexp_replace(postcode, " ", "  "))


def postcode_error(postcode: Column, u_pos: Column, u_char: Column) -> Column:
    """A wrong character in the inward code (the last three characters)."""
    n = F.length(postcode)
    pos = (n - F.floor(u_pos * 2)).cast("int")  # one of the last two letters
    replacement = choice(list("ABDEFGHJLNPQRSTUWXYZ"), u_char)
    return F.concat(F.substring(postcode, 1, pos - 1), replacement, F.substring(postcode, pos + 1, 10))


def email_variant(email: Column, u_kind: Column, u_pos: Column) -> Column:
    """The same mailbox written differently: case, Gmail dots, plus-addressing."""
    local = F.substring_index(email, "@", 1)
    domain = F.substring_index(email, "@", -1)
    gmail = domain.isin("gmail.com", "googlemail.com")
    plus_ok = domain.isin("gmail.com", "googlemail.com", "outlook.com", "icloud.com", "hotmail.co.uk", "live.co.uk")
    undotted = F.regexp_replace(local, r"\.", "")
    n = F.length(undotted)
    pos = (F.floor(u_pos * (n - 1)) + 1).cast("int")
    dotted = F.concat(F.substring(undotted, 1, pos), F.lit("."), F.substring(undotted, pos + 1, 100))
    tag = choice(["shop", "ebuy", "orders", "deals"], u_pos)
    return (
        F.when((u_kind < 0.35) & gmail, F.concat(dotted, F.lit("@"), domain))
        .when((u_kind < 0.7) & plus_ok, F.concat(local, F.lit("+"), tag, F.lit("@"), domain))
        .when(u_kind < 0.85, F.concat(F.upper(F.substring(email, 1, 1)), F.substring(email, 2, 200)))
        .otherwise(F.upper(email))
    )


def phone_format(national: Column, u: Column) -> Column:
    """A UK number (national form, 11 digits starting 0) in one of the ways people write it."""
    rest = F.substring(national, 2, 20)  # drop trunk 0
    a, b = F.substring(national, 1, 5), F.substring(national, 6, 6)
    return (
        F.when(u < 0.25, F.concat(F.lit("+44 "), F.substring(rest, 1, 4), F.lit(" "), F.substring(rest, 5, 6)))
        .when(u < 0.45, F.concat(a, F.lit(" "), b))
        .when(u < 0.6, F.concat(F.lit("0044"), rest))
        .when(u < 0.75, F.concat(F.lit("("), a, F.lit(") "), F.substring(b, 1, 3), F.lit(" "), F.substring(b, 4, 3)))
        .when(u < 0.9, F.concat(F.lit("+44"), rest))
        .otherwise(F.concat(a, F.lit("-"), b))
    )


def dob_error(dob: Column, u_kind: Column, u_dir: Column) -> Column:
    """A wrong date of birth as people mistype it: day and month swapped, a day or a year off."""
    day, month, year = F.dayofmonth(dob), F.month(dob), F.year(dob)
    sign = F.when(u_dir < 0.5, -1).otherwise(1)
    swapped = F.when((day <= 12) & (day != month), F.make_date(year, day, month)).otherwise(F.date_add(dob, sign))
    return (
        F.when(u_kind < 0.35, swapped)
        .when(u_kind < 0.65, F.date_add(dob, sign))
        .when(u_kind < 0.9, F.add_months(dob, sign * 12))
        .otherwise(F.add_months(dob, sign * 120))
    )
