"""A profile of the silver identity records: what each canonical attribute holds, per source.

The matching model is derived from it (``model_design``): an attribute is compared when it
is populated, its exact-agreement level is adjusted by term frequency when its values are
skewed, and a blocking rule is kept only when its blocks are affordable. The figures are
computed in one pass over the records and written beside the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_identity.resolution.identities import IDENTITY_COLUMNS
from customer_identity.resolution.locale import postcode_matches_pattern

# The standardised attributes of silver.identity_records the model can use: every identity
# column but the keys and the columns built from the names for one comparison.
NOT_PROFILED = ("record_key", "source_system", "source_record_id", "record_time", "first_name_variants", "full_name_std", "name_pair_sorted")
PROFILED_ATTRIBUTES = tuple(c for c in IDENTITY_COLUMNS if c not in NOT_PROFILED)
ALL_SOURCES = "*"


def profile_records(records: DataFrame, country: str = "GB") -> DataFrame:
    """Per source (and ``*`` for all together) and attribute: records, filled, distinct values,
    the share of the most common value among filled ones, values failing their pattern, mean length."""
    attrs = [a for a in PROFILED_ATTRIBUTES if a in records.columns]
    fails = {"postcode_std": ~postcode_matches_pattern(F.col("postcode_std"), country)}
    cells = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(a).alias("attribute"),
                    F.col(a).cast("string").alias("value"),
                    F.coalesce(fails.get(a, F.lit(False)), F.lit(False)).alias("fails"),
                )
                for a in attrs
            ]
        )
    )
    long = records.select(F.col("source_system"), cells.alias("c")).select("source_system", "c.*")
    both = long.unionByName(long.withColumn("source_system", F.lit(ALL_SOURCES)))
    values = both.groupBy("source_system", "attribute", "value").agg(F.count(F.lit(1)).alias("n"), F.max(F.col("fails").cast("int")).alias("fails"))
    filled = F.col("value").isNotNull()
    return values.groupBy("source_system", "attribute").agg(
        F.sum("n").alias("records"),
        F.sum(F.when(filled, F.col("n")).otherwise(0)).alias("filled"),
        F.count(F.when(filled, F.lit(1))).alias("distinct"),
        F.max(F.when(filled, F.col("n"))).alias("top_count"),
        F.sum(F.when(filled & (F.col("fails") == 1), F.col("n")).otherwise(0)).alias("pattern_failures"),
        (F.sum(F.when(filled, F.length("value") * F.col("n"))) / F.sum(F.when(filled, F.col("n")))).alias("mean_length"),
    )


@dataclass(frozen=True)
class AttributeProfile:
    attribute: str
    records: int
    filled: int
    distinct: int
    top_count: int
    pattern_failures: int
    mean_length: float
    fill_by_source: Mapping[str, float]

    @property
    def fill_rate(self) -> float:
        return self.filled / self.records if self.records else 0.0

    @property
    def top_share(self) -> float:
        """Share of the filled values taken by the most common one."""
        return self.top_count / self.filled if self.filled else 0.0

    @property
    def skew(self) -> float:
        """How many times more often the most common value occurs than the average value."""
        return self.top_count * self.distinct / self.filled if self.filled else 0.0


@dataclass(frozen=True)
class Profile:
    records: int
    records_by_source: Mapping[str, int]
    attributes: Mapping[str, AttributeProfile]

    def get(self, attribute: str) -> AttributeProfile | None:
        return self.attributes.get(attribute)

    def as_dict(self) -> dict:
        return {
            "records": self.records,
            "records_by_source": dict(self.records_by_source),
            "attributes": {
                a: {
                    **asdict(p),
                    "fill_by_source": dict(p.fill_by_source),
                    "fill_rate": round(p.fill_rate, 4),
                    "top_share": round(p.top_share, 4),
                    "skew": round(p.skew, 2),
                }
                for a, p in self.attributes.items()
            },
        }


def summarise(rows: list[Mapping]) -> Profile:
    """The collected rows of :func:`profile_records` as a :class:`Profile`."""
    by_source: dict[str, int] = {}
    fill: dict[str, dict[str, float]] = {}
    overall = {}
    for r in rows:
        if r["source_system"] == ALL_SOURCES:
            overall[r["attribute"]] = r
        else:
            by_source[r["source_system"]] = int(r["records"])
            fill.setdefault(r["attribute"], {})[r["source_system"]] = round(r["filled"] / r["records"], 4) if r["records"] else 0.0
    attributes = {
        a: AttributeProfile(
            a,
            int(r["records"]),
            int(r["filled"]),
            int(r["distinct"]),
            int(r["top_count"] or 0),
            int(r["pattern_failures"] or 0),
            float(r["mean_length"] or 0.0),
            fill.get(a, {}),
        )
        for a, r in sorted(overall.items())
    }
    return Profile(sum(by_source.values()), by_source, attributes)


# --------------------------------------------------------------------------- relatives

# Homes larger than this are not households (care homes, student halls, a shop's own address)
# and would make the pair count quadratic.
HOUSEHOLD_MAX_RECORDS = 50


@dataclass(frozen=True)
class HouseholdEvidence:
    """Pairs of records with one surname at one address whose first names are unrelated.

    Relatives who live together look like that; so does one person whose first name was
    replaced or mistyped beyond recognition. Their dates of birth tell them apart: relatives'
    differ (twins aside), one person's agree. ``pairs`` counts such pairs where both records
    carry a date of birth, ``same_birth_date`` those among them that agree on it.
    """

    home: str
    pairs: int
    same_birth_date: int

    @property
    def relatives_share(self) -> float | None:
        """Share of the pairs with different dates of birth: how much of this looks like relatives."""
        return (self.pairs - self.same_birth_date) / self.pairs if self.pairs else None

    def as_dict(self) -> dict:
        share = self.relatives_share
        return {"home": self.home, "pairs": self.pairs, "same_birth_date": self.same_birth_date, "relatives_share": None if share is None else round(share, 4)}


def household_evidence(records: DataFrame, home: str) -> HouseholdEvidence:
    """Count the same-surname, same-``home`` pairs with unrelated first names (see :class:`HouseholdEvidence`).

    First names are unrelated when neither their canonical forms nor their nickname variants
    meet and they are more than two edits apart as typed.
    """
    needed = ["record_key", "surname_std", home, "first_name_std", "first_name_canonical", "first_name_variants", "date_of_birth"]
    if any(c not in records.columns for c in needed):
        return HouseholdEvidence(home, 0, 0)
    keyed = records.select(*needed).where(
        F.col("surname_std").isNotNull() & F.col(home).isNotNull() & F.col("first_name_std").isNotNull() & F.col("date_of_birth").isNotNull()
    )
    small = keyed.groupBy("surname_std", home).count().where(F.col("count").between(2, HOUSEHOLD_MAX_RECORDS)).drop("count")
    homes = keyed.join(small, ["surname_std", home])
    left, right = (homes.select([F.col(c).alias(f"{c}_{side}") if c not in ("surname_std", home) else F.col(c) for c in homes.columns]) for side in ("l", "r"))
    pairs = left.join(right, ["surname_std", home]).where(F.col("record_key_l") < F.col("record_key_r"))
    unrelated = (
        (F.col("first_name_canonical_l") != F.col("first_name_canonical_r"))
        & ~F.coalesce(F.arrays_overlap("first_name_variants_l", "first_name_variants_r"), F.lit(False))
        & (F.levenshtein("first_name_std_l", "first_name_std_r") > 2)
    )
    row = (
        pairs.where(unrelated)
        .agg(F.count(F.lit(1)).alias("pairs"), F.sum((F.col("date_of_birth_l") == F.col("date_of_birth_r")).cast("int")).alias("same"))
        .first()
    )
    return HouseholdEvidence(home, int(row["pairs"] or 0), int(row["same"] or 0))
