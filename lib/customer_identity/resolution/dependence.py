"""Evidence that is not independent among different people: a name at a shared home, an
e-mail between namesakes.

The model multiplies the evidence of each comparison as if, among different people, they
were independent. Some are not. People who share a home are mostly family, and family share a
surname and often similar first names (Sarah and Sandra): among all pairs of different people
"same surname, similar first name" is rare, among different people at one address it is
common. Mailbox names are made of people's names, so two different John Smiths often have
similar ones (john.smith@ and johnsmith7@), which among strangers with different names is
rare. The shared address (or name) already carries its own weight, so the other comparison
must then only weigh what it says among the different people who share it, or the same fact
is counted twice.

A conditional weight (``model.conditional_evidence``) names a ``comparison`` and levels of a
``given`` comparison. For pairs on those levels, the comparison's weight (with its
term-frequency adjustment) is capped at ``log2(m / u_given)``, where ``u_given`` is the share
of its level among the different people on the given levels. ``u_given`` is estimated from
every pair on the given levels, each counting ``1 - p`` non-matches: an EM step for u within
those pairs with m held, repeated with the caps in force until it settles. A level is never
given more weight than the model gives it, and nothing changes where those pairs hold too few
different people to say anything (:data:`MIN_EXPECTED_NON_MATCHES`). Several caps on one
comparison take the lowest.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Expected non-matching pairs on the given levels below which the conditional shares are not
# estimated: a level met by one such pair in 100 needs about 100 to be seen once.
MIN_EXPECTED_NON_MATCHES = 100.0
# A cap that would lower a weight by less than this (in bits) is sampling noise, not evidence.
MIN_CHANGE_BITS = 0.1


def lowers(level: Mapping) -> bool:
    """Whether a level's share on the given levels lowers its weight (see :func:`estimate`)."""
    return level["max_weight"] is not None and math.log2(level["u_given"] / level["u"]) >= MIN_CHANGE_BITS


def estimate(pairs: DataFrame, comparison: str, levels: Mapping[int, tuple[str, float, float]], scale: float = 1.0) -> dict:
    """The conditional u of ``comparison``'s levels among ``pairs`` (every pair on the given levels).

    ``pairs`` carry ``gamma_<comparison>`` and ``match_probability``; ``levels`` maps each
    level's gamma to (label, m, u); ``scale`` scales the sums when ``pairs`` are a sample.
    Returns {"expected_non_matches", "pairs", "active", "levels": {gamma: {label, m, u, u_given,
    expected_non_matches, max_weight}}}; ``max_weight`` is log2(m / u_given) with u_given at
    least u, so no level gains weight.
    """
    rows = (
        pairs.where(F.col(f"gamma_{comparison}") >= 0)  # a null on either side says nothing
        .groupBy(F.col(f"gamma_{comparison}").alias("gamma"))
        .agg(F.count(F.lit(1)).alias("n"), F.sum(1 - F.col("match_probability")).alias("e"))
        .collect()
    )
    expected = {int(r["gamma"]): float(r["e"] or 0.0) * scale for r in rows}
    total = sum(expected.values())
    out: dict = {"expected_non_matches": total, "pairs": round(sum(r["n"] for r in rows) * scale), "active": total >= MIN_EXPECTED_NON_MATCHES, "levels": {}}
    for gamma, (label, m, u) in sorted(levels.items()):
        e = expected.get(gamma, 0.0)
        u_given = max(u, e / total) if total > 0 else u
        out["levels"][str(gamma)] = {
            "label": label, "m": m, "u": u, "u_given": u_given, "expected_non_matches": e,
            "max_weight": math.log2(m / u_given) if m > 0 and u_given > 0 else None,
        }  # fmt: skip
    return out


def change_column(comparison: str) -> str:
    """The per-pair column holding the change to ``comparison``'s weight (0 where none)."""
    return f"mw_given_{comparison}"


def with_model_scores(pairs: DataFrame) -> DataFrame:
    """``pairs`` with ``model_match_weight`` and ``model_match_probability``: the model's own
    scores, kept once before any correction (these caps, the link guard) changes them."""
    if "model_match_weight" in pairs.columns:
        return pairs
    return pairs.withColumn("model_match_weight", F.col("match_weight")).withColumn("model_match_probability", F.col("match_probability"))


def with_conditional_caps(pairs: DataFrame, corrections: Sequence[Mapping]) -> DataFrame:
    """Cap each comparison's weight on the pairs its corrections cover (see module doc).

    Each correction is :func:`estimate`'s result plus ``comparison``, ``given`` and
    ``given_gammas``; inactive ones are skipped. ``match_weight`` and ``match_probability``
    follow the caps; ``mw_given_<comparison>`` holds each comparison's change, and
    ``model_match_weight`` / ``model_match_probability`` keep the model's own values.
    """
    pairs = with_model_scores(pairs)
    caps: dict[str, list] = {}
    for c in corrections:
        levels = {int(g): lv["max_weight"] for g, lv in c["levels"].items() if lowers(lv)}
        if not c.get("active") or not levels or f"gamma_{c['given']}" not in pairs.columns or f"gamma_{c['comparison']}" not in pairs.columns:
            continue
        cap = F.create_map(*[F.lit(x) for g, w in sorted(levels.items()) for x in (g, float(w))])[F.col(f"gamma_{c['comparison']}")]
        caps.setdefault(c["comparison"], []).append(F.when(F.col(f"gamma_{c['given']}").isin(*c["given_gammas"]), cap))
    total = F.lit(0.0)
    for comparison, bounds in caps.items():
        weight = F.col(f"mw_{comparison}")
        if f"mw_tf_adj_{comparison}" in pairs.columns:
            weight = weight + F.coalesce(F.col(f"mw_tf_adj_{comparison}"), F.lit(0.0))
        lowest = F.least(*bounds) if len(bounds) > 1 else bounds[0]  # least() skips nulls: caps that do not apply
        pairs = pairs.withColumn(change_column(comparison), F.coalesce(F.least(lowest - weight, F.lit(0.0)), F.lit(0.0)))
        total = total + F.col(change_column(comparison))
    if not caps:
        return pairs
    changed = F.col("match_weight") + total
    return pairs.withColumn("match_probability", F.when(total < 0, 1 / (1 + F.pow(F.lit(2.0), -changed))).otherwise(F.col("match_probability"))).withColumn(
        "match_weight", changed
    )
