"""Blocking rules bounded by block size: the key, its count against brute force, and its name."""

from __future__ import annotations

import random
from itertools import combinations

import pytest
from chispa import assert_df_equality

from customer_identity.resolution.blocking import bound_of, bounded_rule, describe_rule, rule_attributes, rule_bound, with_block_keys
from customer_identity.resolution.matching import count_comparisons

SCHEMA = "record_key string, first string, surname string"
RULE = bounded_rule(("first", "surname"), 2)


def test_a_key_only_where_few_records_share_it_and_every_part_is_present(spark):
    records = spark.createDataFrame(
        [("1", "ann", "lee"), ("2", "ann", "lee"),  # a block of 2: within the bound
         ("3", "tom", "ng"), ("4", "tom", "ng"), ("5", "tom", "ng"),  # a crowd of 3
         ("6", "ann", None), ("7", "ann", None),  # a missing part makes no key, however many share it
         ("8", "eve", "lee")],  # alone: a key, though it makes no pair
        SCHEMA,
    )  # fmt: skip
    (column,) = RULE
    out = with_block_keys(records, [RULE, ("surname",)]).select("record_key", column)
    expected = spark.createDataFrame(
        [("1", "ann\x1flee"), ("2", "ann\x1flee"), ("3", None), ("4", None), ("5", None), ("6", None), ("7", None), ("8", "eve\x1flee")],
        f"record_key string, {column} string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    assert with_block_keys(records, [("surname",)]).columns == records.columns  # ordinary rules add nothing


def test_bounded_counts_are_the_pairs_within_blocks_no_larger_than_the_bound(spark):
    seed = random.randrange(10**6)
    print("seed", seed)
    rng = random.Random(seed)
    rows = [(str(i), rng.choice(["ann", "tom", "eve", None]), rng.choice(["lee", "ng", None])) for i in range(60)]
    records = spark.createDataFrame(rows, SCHEMA)
    for bound in (2, 5, 12, 40):
        sizes: dict[tuple, int] = {}
        for _, first, surname in rows:
            if first is not None and surname is not None:
                sizes[(first, surname)] = sizes.get((first, surname), 0) + 1
        expected = sum(1 for a, b in combinations(rows, 2) if a[1:] == b[1:] and None not in a[1:] and sizes[a[1:]] <= bound)
        (counted,) = count_comparisons(records, [bounded_rule(("first", "surname"), bound)])
        assert counted.comparisons == expected, (seed, bound)
        assert counted.largest_block == max([n for n in sizes.values() if n <= bound], default=0), (seed, bound)


def test_a_bounded_rule_names_its_attributes_and_bound():
    assert bound_of(RULE[0]) == (("first", "surname"), 2)
    assert rule_attributes(RULE) == ("first", "surname") and rule_bound(RULE) == 2
    assert rule_bound(("first", "surname")) is None and bound_of("surname") is None
    assert bounded_rule(RULE, 50) == bounded_rule(("first", "surname"), 50)  # tightening a bounded rule keeps its attributes
    assert describe_rule(RULE) == "first+surname (blocks of at most 2 records)"
    with pytest.raises(ValueError, match="max_block"):
        bounded_rule(("first",), 1)
