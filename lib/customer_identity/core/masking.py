"""Masking of personal details for pages and files people read: initials, outward codes,
first letters, last digits, years."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def mask_name(name: Column) -> Column:
    """Each word reduced to its initial: "jane smith" -> "J*** S****" (the length is not kept)."""
    words = F.filter(F.split(F.trim(name), r"\s+"), lambda w: w != "")
    masked = F.transform(words, lambda w: F.concat(F.upper(F.substring(w, 1, 1)), F.lit("***")))
    return F.when(F.size(words) > 0, F.array_join(masked, " "))


def mask_postcode(postcode: Column) -> Column:
    """Only the outward code survives: "SW1A 1AA" -> "SW1A ***"."""
    outward = F.split(F.trim(postcode), r"\s+").getItem(0)
    return F.when(F.length(F.trim(postcode)) > 0, F.concat(F.upper(outward), F.lit(" ***")))


def mask_email(email: Column) -> Column:
    """The first letter of the mailbox only: "jane.smith@example.com" -> "j***@***"."""
    return F.when(F.length(F.trim(email)) > 0, F.concat(F.substring(F.trim(email), 1, 1), F.lit("***@***")))


def mask_phone(phone: Column) -> Column:
    """The last two digits only: "+447700900123" -> "***23"."""
    digits = F.regexp_replace(phone, r"\D", "")
    return F.when(F.length(digits) > 0, F.concat(F.lit("***"), F.substring(digits, -2, 2)))


def masked_personal_columns(df: DataFrame) -> DataFrame:
    """Every column holding a person's details (pair sides ``*_l``/``*_r`` or plain) masked.

    Names and addresses keep initials, postcodes their outward code, e-mails the first
    letter, phones the last two digits, dates of birth the year; other columns unchanged.
    """
    out = []
    for name, dtype in df.dtypes:
        base = name[:-2] if name.endswith(("_l", "_r")) else name
        col = F.col(name)
        if base.startswith(("gamma_", "mw_", "bf_", "tf_", "record_key", "source_dataset", "differs_")):
            out.append(col)
        elif "postcode" in base:
            out.append(mask_postcode(col).alias(name))
        elif "email" in base:
            out.append(mask_email(col).alias(name))
        elif "phone" in base:
            out.append(mask_phone(col).alias(name))
        elif "date_of_birth" in base or "birth" in base:
            out.append(F.year(col).cast("string").alias(name))
        elif dtype.startswith("array") and "name" in base:
            out.append(mask_name(F.array_join(col, " ")).alias(name))
        elif any(k in base for k in ("name", "address", "street")):
            out.append(mask_name(col.cast("string")).alias(name))
        else:
            out.append(col)
    return df.select(*out)
