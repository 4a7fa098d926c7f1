"""Pseudonymised copies of the gold tables for analytics consumers who must not see personal data.

Every personal value (names, e-mail, phone, address, postcode, date of birth) is replaced by
a keyed hash: SHA-256 of a secret key and the value, so equal values still join and count
alike, but nobody without the key can test a guess. The key comes only from the environment.
Only the postcode's outward code (the district, e.g. "SW1A") survives in clear, for
geography.

Identifiers get the same keyed hash, since each can be recomputed or looked up from the
raw exports: source ids (account ids, CRM references) name a person in the source
systems; record keys of guests are hashes of name and postcode; customer ids are hashes of
record keys; ``*_from`` columns say which record a golden value came from. Hashed with the
same key in every table, they still join.
"""

from __future__ import annotations

import os

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_identity.core.errors import MissingSecret

MIN_KEY_LENGTH = 16
# gold table -> its personal columns
PERSONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("first_name", "surname", "email", "phone", "date_of_birth", "address_line_1", "city", "postcode"),
    "transactions_resolved": ("guest_first_name_std", "guest_surname_std", "guest_postcode_std"),
    "customer_features": (),
    "customer_crosswalk": (),
}
OUTWARD_FROM = {"customers": "postcode", "transactions_resolved": "guest_postcode_std"}
# in every table: identifiers that lead back to a person in the raw exports (and any ``*_from``)
IDENTIFIER_COLUMNS = ("customer_id", "record_key", "source_record_id", "account_id")


def key_from_environment(variable: str) -> str:
    key = os.environ.get(variable, "")
    if len(key) < MIN_KEY_LENGTH:
        raise MissingSecret(
            f"environment variable {variable} must hold the pseudonymisation key (at least {MIN_KEY_LENGTH} characters); "
            "set it from your secret store, never from a configuration file"
        )
    return key


def keyed_hash(value: Column, key: str) -> Column:
    """Hex SHA-256 of key + value; null stays null."""
    return F.when(value.isNotNull(), F.sha2(F.concat(F.lit(key), F.lit("\u241f"), value.cast("string")), 256))


def pseudonymise(df: DataFrame, table: str, key: str) -> DataFrame:
    """The table with every personal column and identifier replaced by its keyed hash (and the postcode district kept)."""
    if table not in PERSONAL_COLUMNS:
        raise ValueError(f"no pseudonymisation rule for table '{table}': add its personal columns to PERSONAL_COLUMNS")
    out = df
    if table in OUTWARD_FROM and OUTWARD_FROM[table] in df.columns:
        out = out.withColumn("postcode_district", F.upper(F.split(F.trim(F.col(OUTWARD_FROM[table])), r"\s+").getItem(0)))
    identifiers = [c for c in df.columns if c in IDENTIFIER_COLUMNS or c.endswith("_from")]
    for column in (*PERSONAL_COLUMNS[table], *identifiers):
        if column in df.columns:
            out = out.withColumn(column, keyed_hash(F.col(column), key))
    return out
