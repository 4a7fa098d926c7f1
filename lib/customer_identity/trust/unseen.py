"""Matches no blocking rule compared: how many merges the count misses, and how sure that is.

A pair of records that no blocking rule generates is never scored, so no draw of the count
can join it: a person whose records share nothing a rule keys on is counted more than once.
The scored pairs say how often that happens, under the assumption the model itself rests on
(its comparisons are independent given that two records are one person):

1. **How often one person's records agree.** The rules' attributes are grouped by the
   comparison that reads them (a *factor*: the name comparison's first name and surname, the
   location's address and postcodes, ...). Among the scored pairs the model links (probability
   at least the match threshold, each weighted by its probability) that some rule *not keying
   on the factor* generated, and that carry all of the factor's attributes on both sides, the
   shares of each agreement pattern estimate how often two records of one person agree on
   them. Pairs a rule on the factor generated would overstate it: they were compared because
   they agree.
2. **The chance a rule compares two records of one person** that carry a given set of
   attributes (and bounded keys within their bound): the sum, over the factors' patterns taken
   independently, of those under which every attribute of some rule agrees.
3. **Horvitz-Thompson over merges.** A customer of k records is k - 1 merges: the edges of
   its spanning tree of greatest capture probability (the likeliest way its records were
   brought together). A merge captured with probability π stands for 1/π like it, so
   (1 - π)/π were missed; the sum over every merge of every customer estimates the merges
   lost, with variance Σ (1 - π)/π².

Each draw of the count takes its own factor shares from their Dirichlet posterior (the
weighted pair counts plus a half for every pattern) and its own Horvitz-Thompson error, so the
count's interval carries both doubts. A factor that every rule keys on cannot be estimated so;
then no estimate is made, and the count says so.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from customer_identity.core.config import ComparisonSpec
from customer_identity.resolution.blocking import bounded_columns, rule_attributes, with_block_keys
from customer_identity.resolution.model_design import comparison_columns

Pattern = tuple[int, ...]  # 1 where the factor's attribute agrees, in the factor's order
PRIOR_PER_PATTERN = 0.5  # Jeffreys: a pattern never seen among the linked pairs keeps a little mass


def rule_factors(rules: Sequence[Sequence[str]], comparisons: Sequence[ComparisonSpec]) -> dict[str, tuple[str, ...]]:
    """The rules' attributes grouped by the comparison that reads them, named by their attributes.

    An attribute no comparison reads is a factor of its own."""
    attributes = sorted({a for rule in rules for a in rule_attributes(rule)})
    owner: dict[str, int | str] = {}
    for i, spec in enumerate(comparisons):
        for column in comparison_columns(spec):
            owner.setdefault(column, i)
    groups: dict[int | str, list[str]] = {}
    for a in attributes:
        groups.setdefault(owner.get(a, a), []).append(a)
    return {"+".join(attrs): tuple(attrs) for attrs in groups.values()}


def _agrees(attribute: str) -> F.Column:
    return F.coalesce(F.col(f"{attribute}_l") == F.col(f"{attribute}_r"), F.lit(False))


def _present(attribute: str) -> F.Column:
    return F.col(f"{attribute}_l").isNotNull() & F.col(f"{attribute}_r").isNotNull()


def _generated(rule: Sequence[str]) -> F.Column:
    out = F.lit(True)
    for column in rule:
        out = out & _agrees(column)
    return out


def with_rule_columns(pairs: DataFrame, records: DataFrame, rules: Sequence[Sequence[str]]) -> DataFrame:
    """(record_key_l, record_key_r, match_probability) of ``pairs`` with both records' rule
    attributes and bounded keys (sized over ``records``), suffixed ``_l`` and ``_r``."""
    columns = sorted({a for rule in rules for a in rule_attributes(rule)} | set(bounded_columns(rules)))
    keyed = with_block_keys(records, rules).select("record_key", *columns)
    side = lambda s: keyed.select(*[F.col(c).alias(f"{c}_{s}") for c in ["record_key", *columns]])  # noqa: E731
    return pairs.select("record_key_l", "record_key_r", "match_probability").join(side("l"), "record_key_l").join(side("r"), "record_key_r")


def agreement_counts(
    pairs: DataFrame, rules: Sequence[Sequence[str]], factors: Mapping[str, tuple[str, ...]], threshold: float
) -> dict[str, dict[Pattern, float]]:
    """Per factor, the probability-weighted count of linked pairs on each agreement pattern, over
    the pairs (from :func:`with_rule_columns`) that a rule not keying on the factor generated and
    that carry every attribute of the factor on both sides. A factor every rule keys on is absent."""
    out: dict[str, dict[Pattern, float]] = {}
    linked = pairs.filter(F.col("match_probability") >= threshold)
    for name, attrs in factors.items():
        others = [rule for rule in rules if not set(rule_attributes(rule)) & set(attrs)]
        if not others:
            continue
        caught = F.lit(False)
        for rule in others:
            caught = caught | _generated(rule)
        present = F.lit(True)
        for a in attrs:
            present = present & _present(a)
        rows = (
            linked.filter(caught & present).groupBy(*[_agrees(a).cast("int").alias(a) for a in attrs]).agg(F.sum("match_probability").alias("weight")).collect()
        )
        out[name] = {tuple(int(r[a]) for a in attrs): float(r["weight"]) for r in rows}
    return out


def pattern_shares(counts: Mapping[Pattern, float], size: int, rng: random.Random | None = None) -> dict[Pattern, float]:
    """Shares of the ``2**size`` agreement patterns: the posterior mean of a Dirichlet with half a
    pair per pattern, or a draw from that posterior when ``rng`` is given."""
    alpha = {p: counts.get(p, 0.0) + PRIOR_PER_PATTERN for p in itertools.product((0, 1), repeat=size)}
    if rng is None:
        total = sum(alpha.values())
        return {p: a / total for p, a in alpha.items()}
    gammas = {p: rng.gammavariate(a, 1.0) for p, a in alpha.items()}
    total = sum(gammas.values())
    return {p: g / total for p, g in gammas.items()}


def capture_probability(
    rules: Sequence[Sequence[str]], factors: Mapping[str, tuple[str, ...]], shares: Mapping[str, Mapping[Pattern, float]], present: frozenset[str]
) -> float:
    """The chance that some rule generates a pair of records of one person on which the
    attributes and bounded keys in ``present`` are carried by both records."""
    names = list(factors)
    usable = [rule for rule in rules if all(c in present for c in rule) and all(a in present for a in rule_attributes(rule))]
    missed = 0.0
    for combo in itertools.product(*[shares[n].items() for n in names]):
        agrees: set[str] = set()
        chance = 1.0
        for n, (pattern, share) in zip(names, combo):
            chance *= share
            agrees |= {a for a, bit in zip(factors[n], pattern) if bit}
        if not any(set(rule_attributes(rule)) <= agrees for rule in usable):
            missed += chance
    return 1.0 - missed


def _mask_columns(rules: Sequence[Sequence[str]]) -> list[str]:
    return sorted({a for rule in rules for a in rule_attributes(rule)} | set(bounded_columns(rules)))


def merge_masks(records: DataFrame, clusters: DataFrame, rules: Sequence[Sequence[str]], capture) -> dict[int, int]:
    """Merges of every customer's spanning tree of greatest capture probability, counted by the
    bit mask of the rule columns both records of the merge carry (bit i: ``_mask_columns``' i-th).

    ``clusters`` is (record_key, customer_id); ``capture(mask)`` gives a merge's capture probability.
    """
    columns = _mask_columns(rules)
    bits = sum((F.col(c).isNotNull().cast("long") * F.lit(1 << i) for i, c in enumerate(columns)), F.lit(0).cast("long"))
    keyed = with_block_keys(records, rules).select("record_key", bits.alias("mask"))
    size = F.count("*").over(Window.partitionBy("customer_id"))
    grouped = clusters.select("record_key", "customer_id").join(keyed, "record_key").withColumn("_size", size).filter("_size >= 2")

    def tree(masks: list[int], kept: dict[int, int]) -> None:
        edges = sorted(((capture(masks[i] & masks[j]), masks[i] & masks[j], i, j) for i, j in itertools.combinations(range(len(masks)), 2)), reverse=True)
        parent = list(range(len(masks)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for _, mask, i, j in edges:
            a, b = find(i), find(j)
            if a != b:
                parent[a] = b
                kept[mask] = kept.get(mask, 0) + 1

    def trees(batches):
        for frame in batches:
            kept: dict[int, int] = {}
            for masks in frame["masks"]:
                tree([int(m) for m in masks], kept)
            yield pd.DataFrame({"mask": list(kept), "merges": list(kept.values())}, dtype="int64")

    customers = grouped.groupBy("customer_id").agg(F.collect_list("mask").alias("masks"))
    rows = customers.mapInPandas(trees, "mask long, merges long").groupBy("mask").agg(F.sum("merges").alias("merges")).collect()
    return {int(r["mask"]): int(r["merges"]) for r in rows}


@dataclass(frozen=True)
class UnseenMerges:
    """Merges the count misses because no blocking rule compared the records."""

    estimate: float  # Horvitz-Thompson estimate of merges lost, at the posterior-mean shares
    se: float  # its sampling standard error
    merges: int  # merges in the customers' spanning trees it extrapolates from
    factors: dict[str, float]  # factor -> weighted linked pairs its shares rest on
    rules: tuple[tuple[str, ...], ...]
    attributes: dict[str, tuple[str, ...]]
    counts: dict[str, dict[Pattern, float]] = field(repr=False)
    masks: dict[int, int] = field(repr=False)

    def _lost(self, shares: Mapping[str, Mapping[Pattern, float]]) -> tuple[float, float]:
        columns = _mask_columns(self.rules)
        lost = var = 0.0
        for mask, n in self.masks.items():
            present = frozenset(c for i, c in enumerate(columns) if mask >> i & 1)
            pi = max(capture_probability(self.rules, self.attributes, shares, present), 1e-9)
            lost += n * (1 - pi) / pi
            var += n * (1 - pi) / pi**2
        return lost, var

    def draws(self, n: int, seed: int) -> list[float]:
        """Merges lost in each of ``n`` draws: shares drawn from their posterior, plus the
        Horvitz-Thompson sampling error; never below zero."""
        rng = random.Random(seed)
        out = []
        for _ in range(n):
            shares = {f: pattern_shares(self.counts.get(f, {}), len(a), rng) for f, a in self.attributes.items()}
            lost, var = self._lost(shares)
            out.append(max(0.0, rng.gauss(lost, math.sqrt(var))))
        return out

    def describe(self) -> str:
        basis = ", ".join(f"{f} from {w:,.0f} linked pairs" for f, w in self.factors.items())
        return f"about {self.estimate:,.0f} (standard error {self.se:,.1f}) merges between records no blocking rule compared, extrapolated from {self.merges:,} merges ({basis})"


def unseen_merges(
    records: DataFrame,
    pairs: DataFrame,
    clusters: DataFrame,
    rules: Sequence[Sequence[str]],
    comparisons: Sequence[ComparisonSpec],
    threshold: float,
) -> UnseenMerges | None:
    """The estimate of merges lost to blocking (module docstring); None when some factor is keyed
    on by every rule or no linked pair shows it, so that its agreement cannot be estimated."""
    rules = tuple(tuple(r) for r in rules)
    factors = rule_factors(rules, comparisons)
    compared = with_rule_columns(pairs.filter(F.col("match_probability") >= threshold), records, rules).cache()
    counts = agreement_counts(compared, rules, factors, threshold)
    compared.unpersist()
    if set(counts) != set(factors) or not all(counts.values()):
        return None
    shares = {f: pattern_shares(counts[f], len(a)) for f, a in factors.items()}
    columns = _mask_columns(rules)
    cache: dict[int, float] = {}

    def capture(mask: int) -> float:
        if mask not in cache:
            cache[mask] = capture_probability(rules, factors, shares, frozenset(c for i, c in enumerate(columns) if mask >> i & 1))
        return cache[mask]

    masks = merge_masks(records, clusters, rules, capture)
    partial = UnseenMerges(0.0, 0.0, sum(masks.values()), {f: sum(c.values()) for f, c in counts.items()}, rules, factors, counts, masks)
    lost, var = partial._lost(shares)
    return UnseenMerges(lost, math.sqrt(var), partial.merges, partial.factors, rules, factors, counts, masks)
