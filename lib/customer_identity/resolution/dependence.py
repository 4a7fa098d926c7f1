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
from collections.abc import Collection, Mapping, Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Expected non-matching pairs on the given levels below which the conditional shares are not
# estimated: a level met by one such pair in 100 needs about 100 to be seen once.
MIN_EXPECTED_NON_MATCHES = 100.0
# A cap that would lower a weight by less than this (in bits) is sampling noise, not evidence.
MIN_CHANGE_BITS = 0.1


def lowers(level: Mapping) -> bool:
    """Whether a level's share on the given levels lowers its weight (see :func:`estimate_from_sums`)."""
    return level["max_weight"] is not None and math.log2(level["u_given"] / level["u"]) >= MIN_CHANGE_BITS


def level_sums(pairs: DataFrame, comparison: str) -> dict[int, tuple[int, float]]:
    """Per level of ``comparison`` (its gamma; a null on either side, -1, says nothing and is
    left out): the number of ``pairs`` and their expected non-matches, the sum of 1 - p."""
    rows = (
        pairs.where(F.col(f"gamma_{comparison}") >= 0)
        .groupBy(F.col(f"gamma_{comparison}").alias("gamma"))
        .agg(F.count(F.lit(1)).alias("n"), F.sum(1 - F.col("match_probability")).alias("e"))
        .collect()
    )
    return {int(r["gamma"]): (int(r["n"]), float(r["e"] or 0.0)) for r in rows}


def estimate_from_sums(sums: Mapping[int, tuple[int, float]], levels: Mapping[int, tuple[str, float, float]], scale: float = 1.0) -> dict:
    """The conditional u of a comparison's levels from the pairs and expected non-matches on
    each level among the pairs on the given levels (``sums``, as :func:`level_sums` gives them).

    ``levels`` maps each level's gamma to (label, m, u); ``scale`` scales the sums when the
    pairs are a sample. Returns {"expected_non_matches", "pairs", "active", "levels": {gamma:
    {label, m, u, u_given, expected_non_matches, max_weight}}}; ``max_weight`` is
    log2(m / u_given) with u_given at least u, so no level gains weight.
    """
    expected = {gamma: e * scale for gamma, (_, e) in sums.items()}
    total = sum(expected.values())
    out: dict = {
        "expected_non_matches": total,
        "pairs": round(sum(n for n, _ in sums.values()) * scale),
        "active": total >= MIN_EXPECTED_NON_MATCHES,
        "levels": {},
    }
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

    Each correction is :func:`estimate_from_sums`'s result plus ``comparison``, ``given`` and
    ``given_gammas``; inactive ones are skipped. ``match_weight`` and ``match_probability``
    follow the caps; ``mw_given_<comparison>`` holds each comparison's change, and
    ``model_match_weight`` / ``model_match_probability`` keep the model's own values.
    """
    pairs = with_model_scores(pairs)
    for column, sql in cap_columns(corrections, pairs.columns):
        pairs = pairs.withColumn(column, F.expr(sql))
    return pairs


# A double zero both Spark SQL and DuckDB read as one.
_ZERO = "CAST(0 AS DOUBLE)"


def cap_columns(corrections: Sequence[Mapping], columns: Collection[str]) -> list[tuple[str, str]]:
    """The caps of :func:`with_conditional_caps` as (column, SQL expression) pairs, to be set
    one after another on pairs with ``columns`` (each expression reads the columns set before
    it): ``mw_given_<comparison>`` per capped comparison, then ``match_probability`` and
    ``match_weight``. Spark SQL and DuckDB evaluate them alike (both ``least`` skip nulls), so
    pairs scored in the driver are capped as those scored on Spark. Empty when nothing is capped.
    """
    caps: dict[str, list[str]] = {}
    for c in corrections:
        levels = {int(g): lv["max_weight"] for g, lv in c["levels"].items() if lowers(lv)}
        if not c.get("active") or not levels or f"gamma_{c['given']}" not in columns or f"gamma_{c['comparison']}" not in columns:
            continue
        by_level = " ".join(f"WHEN {g} THEN CAST({float(w)!r} AS DOUBLE)" for g, w in sorted(levels.items()))
        given = ", ".join(str(int(g)) for g in c["given_gammas"])
        caps.setdefault(c["comparison"], []).append(f"CASE WHEN gamma_{c['given']} IN ({given}) THEN CASE gamma_{c['comparison']} {by_level} END END")
    out = []
    for comparison, bounds in caps.items():
        weight = f"mw_{comparison}"
        if f"mw_tf_adj_{comparison}" in columns:
            weight += f" + coalesce(mw_tf_adj_{comparison}, {_ZERO})"
        lowest = f"least({', '.join(bounds)})" if len(bounds) > 1 else bounds[0]  # least() skips nulls: caps that do not apply
        out.append((change_column(comparison), f"coalesce(least(({lowest}) - ({weight}), {_ZERO}), {_ZERO})"))
    if not caps:
        return []
    total = "(" + " + ".join(change_column(c) for c in caps) + ")"
    return [
        *out,
        ("match_probability", f"CASE WHEN {total} < 0 THEN 1 / (1 + power(CAST(2 AS DOUBLE), -(match_weight + {total}))) ELSE match_probability END"),
        ("match_weight", f"match_weight + {total}"),
    ]
