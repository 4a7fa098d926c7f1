"""Profiling identity records: the household evidence that decides the link guard."""

from __future__ import annotations

import datetime as dt

from customer_identity.resolution.profile import HouseholdEvidence, household_evidence

SCHEMA = "record_key string, surname_std string, address_line_1_std string, first_name_std string, first_name_canonical string, first_name_variants array<string>, date_of_birth date"


def _row(key, surname, home, first, canonical, variants, born):
    return (key, surname, home, first, canonical, variants, dt.date.fromisoformat(born) if born else None)


def test_household_evidence_counts_unrelated_first_names_at_one_home(spark):
    records = spark.createDataFrame(
        [
            _row("a1", "green", "1 high st", "tara", "tara", ["tara"], "1990-01-01"),  # relatives: different birthdays
            _row("a2", "green", "1 high st", "ben", "benjamin", ["ben", "benjamin"], "1962-05-05"),
            _row("b1", "shaw", "2 low rd", "mary", "mary", ["mary"], "1971-03-03"),  # one person, first name replaced
            _row("b2", "shaw", "2 low rd", "susan", "susan", ["susan"], "1971-03-03"),
            _row("c1", "cole", "3 mill ln", "tara", "tara", ["tara"], "1985-07-07"),  # a typo is not an unrelated name
            _row("c2", "cole", "3 mill ln", "tera", "tera", ["tera"], "1990-07-07"),
            _row("d1", "reed", "4 park av", "bob", "robert", ["bob", "robert"], "1950-02-02"),  # a nickname is not either
            _row("d2", "reed", "4 park av", "robert", "robert", ["bob", "robert"], "1951-02-02"),
            _row("e1", "hill", "5 kiln st", "ann", "ann", ["ann"], None),  # no date of birth: cannot tell
            _row("e2", "hill", "5 kiln st", "zoe", "zoe", ["zoe"], "1999-09-09"),
            _row("f1", None, None, None, None, None, None),  # null row
        ],
        SCHEMA,
    )
    got = household_evidence(records, "address_line_1_std")
    assert got == HouseholdEvidence("address_line_1_std", pairs=2, same_birth_date=1)
    assert got.relatives_share == 0.5
    assert household_evidence(records.drop("date_of_birth"), "address_line_1_std").pairs == 0  # nothing to tell them apart with
