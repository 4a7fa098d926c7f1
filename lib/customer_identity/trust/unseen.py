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
3. **Horvitz-Thompson over customers.** Each of a person's records carries, per attribute,
   the person's own value or a deviation of its own (a typo, a new address), so two records
   agree where both carry the person's value: a record that deviates disagrees with all its
   person's other records at once. Per factor, the chances of each deviation pattern are
   fitted to the agreement shares (EM). For every customer of k >= 2 records, with the
   attributes and bounded keys each of its records carries, simulation (step 2, exactly, for
   two records) gives the chance P that the rules would bring all k together and the expected
   number of extra pieces E. A
   customer found whole stands for 1/P people like it, who lose E/P merges in all; summed over
   the customers, with variance from the same sampling. A customer the rules could never have
   brought together (P = 0, or too small for any simulated person to be whole: a reviewer's
   link joined it) stands for nobody.

Each draw of the count takes its factor shares from their Dirichlet posterior (the weighted
pair counts plus a half for every pattern; ``POSTERIOR_SETS`` sets, shared out among the draws)
and its own Horvitz-Thompson error, so the count's interval carries both doubts. A factor that
every rule keys on cannot be estimated so; then no estimate is made, and the count says so.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from customer_identity.core.config import ComparisonSpec
from customer_identity.resolution.blocking import bounded_columns, rule_attributes, with_block_keys
from customer_identity.resolution.model_design import comparison_columns
from customer_identity.trust.evaluation import blocked_by, generates

Pattern = tuple[int, ...]  # 1 where the factor's attribute agrees, in the factor's order
PRIOR_PER_PATTERN = 0.5  # Jeffreys: a pattern never seen among the linked pairs keeps a little mass
SIMULATIONS = 2000  # simulated people per customer structure for the estimate
POSTERIOR_SETS = 10  # posterior draws of the shares behind the count's draws
SIMULATIONS_PER_SET = 400


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


def _mask_columns(rules: Sequence[Sequence[str]]) -> list[str]:
    """Every attribute the rules key on and every bounded key column they need, in a fixed order."""
    return sorted({a for rule in rules for a in rule_attributes(rule)} | set(bounded_columns(rules)))


def with_rule_columns(pairs: DataFrame, records: DataFrame, rules: Sequence[Sequence[str]]) -> DataFrame:
    """(record_key_l, record_key_r, match_probability) of ``pairs`` with both records' rule
    attributes and bounded keys (sized over ``records``), suffixed ``_l`` and ``_r``."""
    columns = _mask_columns(rules)
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
        present = F.lit(True)
        for a in attrs:
            present = present & F.col(f"{a}_l").isNotNull() & F.col(f"{a}_r").isNotNull()
        rows = (
            linked.filter(blocked_by(others) & present)
            .groupBy(*[generates((a,)).cast("int").alias(a) for a in attrs])
            .agg(F.sum("match_probability").alias("weight"))
            .collect()
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


def deviation_shares(shares: Mapping[Pattern, float], size: int, iterations: int = 300) -> dict[Pattern, float]:
    """Chances of each deviation pattern of one record (1 where it does not carry the person's
    own value) that reproduce the pairs' agreement ``shares``: two records agree on an attribute
    where neither deviates. Fitted by EM over the two records' hidden patterns."""
    patterns = list(itertools.product((0, 1), repeat=size))
    agree = {(dx, dy): tuple(int(not a and not b) for a, b in zip(dx, dy)) for dx in patterns for dy in patterns}
    behind: dict[Pattern, list[tuple[Pattern, Pattern]]] = {}
    for (dx, dy), g in agree.items():
        behind.setdefault(g, []).append((dx, dy))
    q = {d: 0.9 if not any(d) else 0.1 / (len(patterns) - 1) for d in patterns}
    for _ in range(iterations):
        expected = dict.fromkeys(patterns, 0.0)
        for g, share in shares.items():
            weights = [q[dx] * q[dy] for dx, dy in behind[g]]
            total = sum(weights)
            if share == 0 or total == 0:
                continue
            for (dx, dy), w in zip(behind[g], weights):
                expected[dx] += share * w / total / 2
                expected[dy] += share * w / total / 2
        norm = sum(expected.values())
        q = {d: e / norm for d, e in expected.items()}
    return q


def customer_structures(records: DataFrame, clusters: DataFrame, rules: Sequence[Sequence[str]]) -> dict[tuple[int, ...], int]:
    """Customers of two or more records counted by their records' bit masks of the rule columns
    they carry (bit i: ``_mask_columns``' i-th), each customer's masks sorted.

    ``clusters`` is (record_key, customer_id)."""
    columns = _mask_columns(rules)
    bits = sum((F.col(c).isNotNull().cast("long") * F.lit(1 << i) for i, c in enumerate(columns)), F.lit(0).cast("long"))
    keyed = with_block_keys(records, rules).select("record_key", bits.alias("mask"))
    customers = (
        clusters.select("record_key", "customer_id").join(keyed, "record_key").groupBy("customer_id").agg(F.sort_array(F.collect_list("mask")).alias("masks"))
    )
    rows = customers.filter(F.size("masks") >= 2).groupBy("masks").count().collect()
    return {tuple(int(m) for m in r["masks"]): int(r["count"]) for r in rows}


@dataclass(frozen=True)
class _Model:
    rules: tuple[tuple[str, ...], ...]
    attributes: dict[str, tuple[str, ...]]  # factor -> its attributes

    def pieces(self, masks: tuple[int, ...], deviations: Mapping[str, Mapping[Pattern, float]], n: int, rng: np.random.Generator) -> tuple[float, float]:
        """(chance that the rules bring all of one person's records together, expected extra
        pieces) for records carrying the columns of ``masks``, from ``n`` simulated people."""
        columns = _mask_columns(self.rules)
        attrs = [a for f in self.attributes.values() for a in f]
        carried = np.array([[(m >> columns.index(a)) & 1 for a in attrs] for m in masks], dtype=bool)  # records x attributes
        own = np.empty((n, len(masks), len(attrs)), dtype=bool)  # carries the person's own value
        at = 0
        for factor, names in self.attributes.items():
            patterns = np.array(list(deviations[factor]), dtype=bool)
            chosen = rng.choice(len(patterns), size=(n, len(masks)), p=np.array(list(deviations[factor].values())))
            own[:, :, at : at + len(names)] = ~patterns[chosen]
            at += len(names)
        own &= carried[None, :, :]
        keyed = [([attrs.index(a) for a in rule_attributes(rule)], [columns.index(c) for c in rule if c not in attrs]) for rule in self.rules]
        label = np.tile(np.arange(len(masks)), (n, 1))
        edges = []
        for i, j in itertools.combinations(range(len(masks)), 2):
            fired = np.zeros(n, dtype=bool)
            for positions, keys in keyed:
                if all((masks[i] >> k) & 1 and (masks[j] >> k) & 1 for k in keys):
                    fired |= np.all(own[:, i, positions] & own[:, j, positions], axis=1)
            edges.append((i, j, fired))
        changed = True
        while changed:  # connected components: each record takes the lowest label among its linked records
            changed = False
            for i, j, fired in edges:
                low = np.minimum(label[:, i], label[:, j])
                moved = fired & ((label[:, i] != low) | (label[:, j] != low))
                if moved.any():
                    label[moved, i] = low[moved]
                    label[moved, j] = low[moved]
                    changed = True
        extra = np.array([len(set(row)) for row in label.tolist()]) - 1
        return float(np.mean(extra == 0)), float(np.mean(extra))

    def lost(self, structures: Mapping[tuple[int, ...], int], shares: Mapping[str, Mapping[Pattern, float]], n: int, seed: int) -> tuple[float, float]:
        """Horvitz-Thompson estimate of merges lost, and its variance (module docstring, step 3)."""
        deviations = {f: deviation_shares(shares[f], len(a)) for f, a in self.attributes.items()}
        rng = np.random.default_rng(seed)
        lost = var = 0.0
        columns = _mask_columns(self.rules)
        for masks, found in structures.items():
            if len(masks) == 2:  # exact: the pair's capture probability
                both = masks[0] & masks[1]
                whole = capture_probability(self.rules, self.attributes, shares, frozenset(c for i, c in enumerate(columns) if both >> i & 1))
                extra = 1 - whole
            else:
                whole, extra = self.pieces(masks, deviations, n, rng)
            if whole < 1e-9:  # the rules could never bring these records together (a reviewer's link did): nothing to extrapolate
                continue
            lost += found * extra / whole
            if whole < 1:
                per_split = extra / (1 - whole)  # extra pieces of a person who is split
                var += found * (1 - whole) / whole**2 * per_split**2
        return lost, var


@dataclass(frozen=True)
class UnseenMerges:
    """Merges the count misses because no blocking rule compared the records."""

    estimate: float  # Horvitz-Thompson estimate of merges lost, at the posterior-mean shares
    se: float  # its sampling standard error
    customers: int  # customers of two or more records it extrapolates from
    factors: dict[str, float]  # factor -> weighted linked pairs its shares rest on
    rules: tuple[tuple[str, ...], ...]
    attributes: dict[str, tuple[str, ...]]
    counts: dict[str, dict[Pattern, float]] = field(repr=False)
    structures: dict[tuple[int, ...], int] = field(repr=False)

    def draws(self, n: int, seed: int) -> list[float]:
        """Merges lost in each of ``n`` draws: shares from ``POSTERIOR_SETS`` posterior draws (draw k
        takes set k mod ``POSTERIOR_SETS``) and each draw's own Horvitz-Thompson error; never below zero."""
        rng = random.Random(seed)
        model = _Model(self.rules, self.attributes)
        sets = []
        for s in range(min(n, POSTERIOR_SETS)):
            shares = {f: pattern_shares(self.counts.get(f, {}), len(a), rng) for f, a in self.attributes.items()}
            sets.append(model.lost(self.structures, shares, SIMULATIONS_PER_SET, seed + s))
        return [max(0.0, rng.gauss(lost, math.sqrt(var))) for lost, var in (sets[k % len(sets)] for k in range(n))]

    def describe(self) -> str:
        basis = ", ".join(f"{f} from {w:,.0f} linked pairs" for f, w in self.factors.items())
        return (
            f"about {self.estimate:,.0f} (standard error {self.se:,.1f}) merges between records no blocking rule compared, "
            f"extrapolated from {self.customers:,} customers of two or more records (agreement: {basis})"
        )


def unseen_merges(
    records: DataFrame,
    pairs: DataFrame,
    clusters: DataFrame,
    rules: Sequence[Sequence[str]],
    comparisons: Sequence[ComparisonSpec],
    threshold: float,
    seed: int = 0,
) -> UnseenMerges | None:
    """The estimate of merges lost to blocking (module docstring); None when some factor is keyed
    on by every rule or no linked pair shows it, so that its agreement cannot be estimated."""
    rules = tuple(tuple(r) for r in rules)
    factors = rule_factors(rules, comparisons)
    keyed = with_block_keys(records, rules).select("record_key", *_mask_columns(rules)).cache()  # block sizes counted once, for both uses
    compared = with_rule_columns(pairs.filter(F.col("match_probability") >= threshold), keyed, rules).cache()
    counts = agreement_counts(compared, rules, factors, threshold)
    compared.unpersist()
    if set(counts) != set(factors) or not all(counts.values()):
        keyed.unpersist()
        return None
    structures = customer_structures(keyed, clusters, rules)
    keyed.unpersist()
    shares = {f: pattern_shares(counts[f], len(a)) for f, a in factors.items()}
    lost, var = _Model(rules, factors).lost(structures, shares, SIMULATIONS, seed)
    weights = {f: sum(c.values()) for f, c in counts.items()}
    return UnseenMerges(lost, math.sqrt(var), sum(structures.values()), weights, rules, factors, counts, structures)
