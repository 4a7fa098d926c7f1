"""Blocking rules bounded by block size: a key kept only where few records share it.

A rule on names alone pairs every two records that share a first name and surname. A
common name makes a crowd: the pairs of a block grow as the square of its size, and among
n records sharing a name a pair that shares nothing else is one person with a probability
of at most about 1/n (each person has few records, and the name's term frequency makes agreeing on
it worth about as much as the name is rare). Such a rule is therefore bounded: it keys only
on values shared by at most ``max_block`` records, so that the rare names, where a shared
name alone is evidence, are scored, and the crowds, where it is not, are left to the rules
on other evidence.

A bounded rule is a blocking rule of one derived column, ``block__<a>__<b>__max<K>``,
that holds the key of attributes ``a`` and ``b`` where at most K records carry it and is
null elsewhere. Every consumer of blocking rules (Splink's ``block_on``, the comparison
counts, incremental runs, the blocking ceiling) sees an ordinary equality on a column;
:func:`with_block_keys` adds the column, counted over every record given. An incremental
run sizes the blocks over every record it holds; pairs scored while a block was within its
bound stay in the match pairs after later records take it past the bound.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

_BOUNDED = re.compile(r"^block__(?P<attributes>.+)__max(?P<bound>[0-9]+)$")
_SEPARATOR = "\x1f"  # joins the key's values; cannot occur in a standardised attribute


def bounded_rule(rule: Sequence[str], max_block: int) -> tuple[str]:
    """``rule`` restricted to blocks of at most ``max_block`` records, as a rule of one derived column."""
    if max_block < 2:
        raise ValueError(f"a block of fewer than 2 records makes no pair: max_block={max_block}")
    return (f"block__{'__'.join(rule_attributes(rule))}__max{max_block}",)


def bound_of(column: str) -> tuple[tuple[str, ...], int] | None:
    """(attributes, bound) of a bounded key column; None for an ordinary attribute."""
    m = _BOUNDED.match(column)
    return (tuple(m.group("attributes").split("__")), int(m.group("bound"))) if m else None


def rule_attributes(rule: Sequence[str]) -> tuple[str, ...]:
    """The attributes a rule keys on, bounded key columns expanded to theirs."""
    out: list[str] = []
    for column in rule:
        bound = bound_of(column)
        out += bound[0] if bound else [column]
    return tuple(dict.fromkeys(out))


def rule_bound(rule: Sequence[str]) -> int | None:
    """The block bound of a bounded rule; None when it keys on ordinary attributes only."""
    bounds = [b[1] for c in rule if (b := bound_of(c))]
    return min(bounds) if bounds else None


def describe_rule(rule: Sequence[str]) -> str:
    """A rule for people: its attributes joined by '+', and its bound when it has one."""
    bound = rule_bound(rule)
    return "+".join(rule_attributes(rule)) + (f" (blocks of at most {bound:,} records)" if bound else "")


def bounded_columns(rules: Sequence[Sequence[str]]) -> list[str]:
    """The bounded key columns ``rules`` need, each once."""
    return list(dict.fromkeys(c for rule in rules for c in rule if bound_of(c)))


def with_block_keys(records: DataFrame, rules: Sequence[Sequence[str]]) -> DataFrame:
    """``records`` with every bounded key column ``rules`` need and it lacks.

    The key is the attributes' values joined, where every one is present and at most the
    bound's number of records (of those given) carry the same values; null elsewhere, so
    that the record takes no part in that rule's pairs.
    """
    for column in bounded_columns(rules):
        if column in records.columns:
            continue
        attributes, bound = bound_of(column)  # type: ignore[misc]
        present = F.lit(True)
        for a in attributes:
            present = present & F.col(a).isNotNull()
        size = F.count(F.lit(1)).over(Window.partitionBy(*attributes))
        key = F.concat_ws(_SEPARATOR, *[F.col(a).cast("string") for a in attributes])
        records = records.withColumn(column, F.when(present & (size <= bound), key))
    return records
