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
   shares of each agreement pattern, per pair of sources, estimate how often two records of
   one person agree on them. Pairs a rule on the factor generated would overstate it: they were
   compared because they agree. Sources differ (details typed at a guest checkout against an
   account's), so each pair of sources has its own shares, drawn towards the shares of all
   pairs where it has few pairs of its own.
2. **The chance a rule compares two records of one person** that carry a given set of
   attributes (and bounded keys within their bound): the sum, over the factors' patterns taken
   independently, of those under which every attribute of some rule agrees.
3. **Horvitz-Thompson over customers.** Each of a person's records carries, per attribute,
   the person's own value or a deviation of its own (a typo, a new address), so two records
   agree where both carry the person's value: a record that deviates disagrees with all its
   person's other records at once. Per factor and source, the chances of each deviation
   pattern of a record are fitted to the agreement shares of every pair of sources (EM). For
   every customer of k >= 2 records, with the source, attributes and bounded keys of each of
   its records, simulation gives the chance P that the rules would bring all k together and
   the expected number of extra pieces E; for two records, step 2 gives them exactly from
   their pair of sources' own shares, which need no model of single records. A
   customer found whole stands for 1/P people like it, who lose E/P merges in all; summed over
   the customers, with variance from the same sampling. A customer the rules could never have
   brought together (P = 0, or too small for any simulated person to be whole: a reviewer's
   link joined it) stands for nobody.

Each draw of the count takes its factor shares from their Dirichlet posterior (the weighted
pair counts plus half a pair per pattern, spread as the pooled shares; ``POSTERIOR_SETS`` sets,
shared out among the draws)
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
SourcePair = tuple[str, str]  # the two records' sources, in order
Structure = tuple[tuple[str, int], ...]  # a customer's records: (source, bit mask of the rule columns it carries), sorted
SOURCE = "source_system"
PRIOR_PER_PATTERN = 0.5  # Jeffreys: a pattern never seen among the linked pairs keeps a little mass
SIMULATIONS = 10000  # simulated people per customer structure for the estimate (Monte Carlo error well below the sampling error)
POSTERIOR_SETS = 10  # posterior draws of the shares behind the count's draws
SIMULATIONS_PER_SET = 2000


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


def _source(records: DataFrame) -> F.Column:
    """The record's source (``source_system``); one unnamed source when records carry none."""
    return F.col(SOURCE) if SOURCE in records.columns else F.lit("")


def with_rule_columns(pairs: DataFrame, records: DataFrame, rules: Sequence[Sequence[str]]) -> DataFrame:
    """(record_key_l, record_key_r, match_probability) of ``pairs`` with both records' source,
    rule attributes and bounded keys (sized over ``records``), suffixed ``_l`` and ``_r``."""
    masked = _mask_columns(rules)
    columns = [SOURCE, *masked]
    keyed = with_block_keys(records, rules).select("record_key", *masked, _source(records).alias(SOURCE))
    side = lambda s: keyed.select(*[F.col(c).alias(f"{c}_{s}") for c in ["record_key", *columns]])  # noqa: E731
    return pairs.select("record_key_l", "record_key_r", "match_probability").join(side("l"), "record_key_l").join(side("r"), "record_key_r")


def agreement_counts(
    pairs: DataFrame, rules: Sequence[Sequence[str]], factors: Mapping[str, tuple[str, ...]], threshold: float
) -> dict[str, dict[SourcePair, dict[Pattern, float]]]:
    """Per factor and pair of sources, the probability-weighted count of linked pairs on each
    agreement pattern, over the pairs (from :func:`with_rule_columns`) that a rule not keying on
    the factor generated and that carry every attribute of the factor on both sides. A factor
    every rule keys on is absent. Pairs without sources count under ``("", "")``."""
    out: dict[str, dict[SourcePair, dict[Pattern, float]]] = {}
    linked = pairs.filter(F.col("match_probability") >= threshold)
    left, right = (F.col(f"{SOURCE}_{s}") if f"{SOURCE}_{s}" in pairs.columns else F.lit("") for s in "lr")
    for name, attrs in factors.items():
        others = [rule for rule in rules if not set(rule_attributes(rule)) & set(attrs)]
        if not others:
            continue
        present = F.lit(True)
        for a in attrs:
            present = present & F.col(f"{a}_l").isNotNull() & F.col(f"{a}_r").isNotNull()
        rows = (
            linked.filter(blocked_by(others) & present)
            .groupBy(F.least(left, right).alias("_s"), F.greatest(left, right).alias("_t"), *[generates((a,)).cast("int").alias(a) for a in attrs])
            .agg(F.sum("match_probability").alias("weight"))
            .collect()
        )
        counts: dict[SourcePair, dict[Pattern, float]] = {}
        for r in rows:
            counts.setdefault((r["_s"], r["_t"]), {})[tuple(int(r[a]) for a in attrs)] = float(r["weight"])
        out[name] = counts
    return out


def pattern_shares(
    counts: Mapping[Pattern, float], size: int, rng: random.Random | None = None, centre: Mapping[Pattern, float] | None = None
) -> dict[Pattern, float]:
    """Shares of the ``2**size`` agreement patterns: the posterior mean of a Dirichlet whose prior
    holds half a pair per pattern (spread as ``centre`` when given, evenly otherwise), or a draw
    from that posterior when ``rng`` is given."""
    patterns = list(itertools.product((0, 1), repeat=size))
    prior = PRIOR_PER_PATTERN * len(patterns)
    alpha = {p: counts.get(p, 0.0) + prior * (centre[p] if centre is not None else 1 / len(patterns)) for p in patterns}
    if rng is None:
        total = sum(alpha.values())
        return {p: a / total for p, a in alpha.items()}
    gammas = {p: rng.gammavariate(a, 1.0) if a > 0 else 0.0 for p, a in alpha.items()}
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


def deviation_shares(counts: Mapping[SourcePair, Mapping[Pattern, float]], size: int, iterations: int = 300) -> dict[str, dict[Pattern, float]]:
    """Per source, the chances of each deviation pattern of one of its records (1 where it does not
    carry the person's own value) that reproduce the agreement ``counts`` of each pair of sources:
    two records agree on an attribute where neither deviates. Fitted by EM over the two records'
    hidden patterns."""
    patterns = list(itertools.product((0, 1), repeat=size))
    behind: dict[Pattern, list[tuple[Pattern, Pattern]]] = {}
    for dx, dy in itertools.product(patterns, repeat=2):
        behind.setdefault(tuple(int(not a and not b) for a, b in zip(dx, dy)), []).append((dx, dy))
    sources = sorted({s for pair in counts for s in pair})
    start = {d: 0.9 if not any(d) else 0.1 / (len(patterns) - 1) for d in patterns}
    q = {s: dict(start) for s in sources}
    for _ in range(iterations):
        expected = {s: dict.fromkeys(patterns, 0.0) for s in sources}
        for (s, t), by_pattern in counts.items():
            for g, weight in by_pattern.items():
                weights = [q[s][dx] * q[t][dy] for dx, dy in behind[g]]
                total = sum(weights)
                if weight == 0 or total == 0:
                    continue
                for (dx, dy), w in zip(behind[g], weights):
                    expected[s][dx] += weight * w / total
                    expected[t][dy] += weight * w / total
        q = {s: {d: e / sum(e_s.values()) for d, e in e_s.items()} for s, e_s in expected.items() if sum(e_s.values()) > 0}
    return q


@dataclass(frozen=True)
class Agreement:
    """How two records of one person agree, per factor: the agreement shares of each pair of
    sources the linked pairs show (``pairs``), those of all pairs pooled, and each source's
    deviation chances (:func:`deviation_shares`) for the records of people with more than two."""

    pairs: dict[str, dict[SourcePair, dict[Pattern, float]]]
    pooled: dict[str, dict[Pattern, float]]
    deviations: dict[str, dict[str, dict[Pattern, float]]]  # factor -> source -> deviation pattern -> chance

    def shares(self, s: str, t: str) -> dict[str, dict[Pattern, float]]:
        """factor -> agreement shares of a record of source ``s`` and one of ``t`` (``s <= t``):
        their own pair of sources', or the pooled shares where no linked pair shows it."""
        return {f: by_pair.get((s, t), self.pooled[f]) for f, by_pair in self.pairs.items()}


def fit_agreement(
    counts: Mapping[str, Mapping[SourcePair, Mapping[Pattern, float]]],
    attributes: Mapping[str, tuple[str, ...]],
    sources: Sequence[str],
    rng: random.Random | None = None,
) -> Agreement:
    """The agreement of ``counts`` (:func:`agreement_counts`), with deviations for every source in
    ``sources``. Each pair of sources' shares are the posterior mean (or, with ``rng``, a draw) of
    a Dirichlet centred on the shares of all pairs pooled, so a pair of sources with few linked
    pairs leans on the rest; a source no linked pair shows takes the deviations fitted to the
    pooled shares."""
    pairs: dict[str, dict[SourcePair, dict[Pattern, float]]] = {}
    pooled_by_factor: dict[str, dict[Pattern, float]] = {}
    deviations: dict[str, dict[str, dict[Pattern, float]]] = {}
    for factor, attrs in attributes.items():
        by_pair = counts.get(factor, {})
        pooled_counts: dict[Pattern, float] = {}
        for by_pattern in by_pair.values():
            for g, w in by_pattern.items():
                pooled_counts[g] = pooled_counts.get(g, 0.0) + w
        pooled = pooled_by_factor[factor] = pattern_shares(pooled_counts, len(attrs))
        pairs[factor] = {pair: pattern_shares(by_pattern, len(attrs), rng, centre=pooled) for pair, by_pattern in by_pair.items()}
        weights = {pair: sum(by_pattern.values()) for pair, by_pattern in by_pair.items()}
        fitted = deviation_shares({pair: {g: share * weights[pair] for g, share in shares.items()} for pair, shares in pairs[factor].items()}, len(attrs))
        if any(s not in fitted for s in sources):  # fitted once, only for the sources that need it
            fallback = deviation_shares({("", ""): pooled}, len(attrs))[""]
            fitted.update({s: fallback for s in sources if s not in fitted})
        deviations[factor] = {s: fitted[s] for s in sources}
    return Agreement(pairs, pooled_by_factor, deviations)


def customer_structures(records: DataFrame, clusters: DataFrame, rules: Sequence[Sequence[str]]) -> dict[Structure, int]:
    """Customers of two or more records counted by their records' sources and bit masks of the
    rule columns they carry (bit i: ``_mask_columns``' i-th), each customer's records sorted.

    ``clusters`` is (record_key, customer_id)."""
    columns = _mask_columns(rules)
    bits = sum((F.col(c).isNotNull().cast("long") * F.lit(1 << i) for i, c in enumerate(columns)), F.lit(0).cast("long"))
    keyed = with_block_keys(records, rules).select("record_key", F.struct(_source(records).alias("source"), bits.alias("mask")).alias("record"))
    customers = (
        clusters.select("record_key", "customer_id")
        .join(keyed, "record_key")
        .groupBy("customer_id")
        .agg(F.sort_array(F.collect_list("record")).alias("records"))
    )
    rows = customers.filter(F.size("records") >= 2).groupBy("records").count().collect()
    return {tuple((r["source"], int(r["mask"])) for r in row["records"]): int(row["count"]) for row in rows}


@dataclass(frozen=True)
class _Model:
    rules: tuple[tuple[str, ...], ...]
    attributes: dict[str, tuple[str, ...]]  # factor -> its attributes

    def pieces(
        self, records: Structure, deviations: Mapping[str, Mapping[str, Mapping[Pattern, float]]], n: int, rng: np.random.Generator
    ) -> tuple[float, float]:
        """(chance that the rules bring all of one person's records together, expected extra
        pieces) for records of the sources and carrying the columns of ``records``, from ``n``
        simulated people."""
        columns = _mask_columns(self.rules)
        masks = [mask for _, mask in records]
        attrs = [a for f in self.attributes.values() for a in f]
        carried = np.array([[(m >> columns.index(a)) & 1 for a in attrs] for m in masks], dtype=bool)  # records x attributes
        own = np.empty((n, len(masks), len(attrs)), dtype=bool)  # carries the person's own value
        at = 0
        for factor, names in self.attributes.items():
            patterns = list(itertools.product((0, 1), repeat=len(names)))
            deviating = np.array(patterns, dtype=bool)
            for r, (source, _) in enumerate(records):
                chances = deviations[factor][source]
                chosen = rng.choice(len(patterns), size=n, p=np.array([chances[d] for d in patterns]))
                own[:, r, at : at + len(names)] = ~deviating[chosen]
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

    def lost(self, structures: Mapping[Structure, int], agreement: Agreement, n: int, seed: int) -> tuple[float, float]:
        """Horvitz-Thompson estimate of merges lost, and its variance (module docstring, step 3)."""
        rng = np.random.default_rng(seed)
        lost = var = 0.0
        columns = _mask_columns(self.rules)
        for records, found in structures.items():
            if len(records) == 2:  # exact: the pair's capture probability
                (s, mask_s), (t, mask_t) = records
                both = mask_s & mask_t
                whole = capture_probability(self.rules, self.attributes, agreement.shares(s, t), frozenset(c for i, c in enumerate(columns) if both >> i & 1))
                extra = 1 - whole
            else:
                whole, extra = self.pieces(records, agreement.deviations, n, rng)
            if whole < 1e-9:  # the rules could never bring these records together (a reviewer's link did): nothing to extrapolate
                continue
            lost += found * extra / whole
            if whole < 1:
                per_split = extra / (1 - whole)  # extra pieces of a person who is split
                var += found * (1 - whole) / whole**2 * per_split**2
        return lost, var


def _sources(structures: Mapping[Structure, int]) -> list[str]:
    """The sources of the customers' records."""
    return sorted({s for records in structures for s, _ in records})


@dataclass(frozen=True)
class UnseenMerges:
    """Merges the count misses because no blocking rule compared the records."""

    estimate: float  # Horvitz-Thompson estimate of merges lost, at the posterior-mean shares
    se: float  # its sampling standard error
    customers: int  # customers of two or more records it extrapolates from
    factors: dict[str, float]  # factor -> weighted linked pairs its shares rest on
    rules: tuple[tuple[str, ...], ...]
    attributes: dict[str, tuple[str, ...]]
    counts: dict[str, dict[SourcePair, dict[Pattern, float]]] = field(repr=False)
    structures: dict[Structure, int] = field(repr=False)

    @property
    def sources(self) -> list[str]:
        return _sources(self.structures)

    def draws(self, n: int, seed: int) -> list[float]:
        """Merges lost in each of ``n`` draws: shares from ``POSTERIOR_SETS`` posterior draws (draw k
        takes set k mod ``POSTERIOR_SETS``) and each draw's own Horvitz-Thompson error; never below zero."""
        rng = random.Random(seed)
        model = _Model(self.rules, self.attributes)
        sets = []
        for s in range(min(n, POSTERIOR_SETS)):
            sets.append(model.lost(self.structures, fit_agreement(self.counts, self.attributes, self.sources, rng), SIMULATIONS_PER_SET, seed + s))
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
    # block sizes counted once, for both uses
    keyed = with_block_keys(records, rules).select("record_key", _source(records).alias(SOURCE), *_mask_columns(rules)).cache()
    compared = with_rule_columns(pairs.filter(F.col("match_probability") >= threshold), keyed, rules).cache()
    counts = agreement_counts(compared, rules, factors, threshold)
    compared.unpersist()
    if set(counts) != set(factors) or not all(counts.values()):
        keyed.unpersist()
        return None
    structures = customer_structures(keyed, clusters, rules)
    keyed.unpersist()
    lost, var = _Model(rules, factors).lost(structures, fit_agreement(counts, factors, _sources(structures)), SIMULATIONS, seed)
    weights = {f: sum(w for c in by_pair.values() for w in c.values()) for f, by_pair in counts.items()}
    return UnseenMerges(lost, math.sqrt(var), sum(structures.values()), weights, rules, factors, counts, structures)
