"""Evidence that is not independent among different people: a name at a shared home.

The model multiplies the evidence of each comparison as if, among different people, they
were independent. People who share a home are not: they are family, and family share a
surname and often similar first names (Sarah and Sandra, Carol and Caroline). Among all pairs
of different people, "same surname, similar first name" is rare (its u is about 1 in 30,000);
among different people at one address it is common (about 1 in 200 on a household-rich
population). The shared address already carries the weight of living together, so the name
must then only weigh what it says among housemates, or a household is counted twice over.

For pairs on a ``given`` level (the same address and postcode), the ``comparison``'s weight
(with its term-frequency adjustment) is capped at ``log2(m / u_given)``, where ``u_given`` is
the share of that name level among the different people sharing a home. ``u_given`` is
estimated from every pair sharing a home, each counting ``1 - p`` non-matches (``p`` from the
model before this correction, so no estimate feeds on itself). A level is never given more
weight than the model gives it, and the correction is left out when the homes hold too few
different people to say anything (:data:`MIN_EXPECTED_NON_MATCHES`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

# Expected non-matching pairs among those sharing a home below which the conditional shares
# are not estimated: a level met by one housemate pair in 100 needs about 100 to be seen once.
MIN_EXPECTED_NON_MATCHES = 100.0


def estimate(pairs: DataFrame, comparison: str, levels: Mapping[int, tuple[str, float, float]], scale: float = 1.0) -> dict:
    """The conditional u of ``comparison``'s levels among ``pairs`` (all pairs sharing a home).

    ``pairs`` carry ``gamma_<comparison>`` and ``match_probability``; ``levels`` maps each
    level's gamma to (label, m, u); ``scale`` scales the sums when ``pairs`` are a sample.
    Returns {"expected_non_matches", "pairs", "active", "levels": {gamma: {label, m, u, u_given,
    expected_non_matches, max_weight}}}; ``max_weight`` is log2(m / u_given) with u_given at
    least u, so no level gains weight.
    """
    rows = (
        pairs.groupBy(F.col(f"gamma_{comparison}").alias("gamma")).agg(F.count(F.lit(1)).alias("n"), F.sum(1 - F.col("match_probability")).alias("e")).collect()
    )
    expected = {int(r["gamma"]): float(r["e"] or 0.0) * scale for r in rows if r["gamma"] is not None}
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


def with_shared_home(pairs: DataFrame, comparison: str, given: str, given_gammas: list[int], correction: Mapping) -> DataFrame:
    """Cap ``comparison``'s weight for pairs on ``given_gammas`` of ``given`` (see module doc).

    ``correction`` is :func:`estimate`'s result. ``match_weight`` and ``match_probability``
    follow the cap; ``mw_shared_home`` holds the change (0 where nothing changed), and
    ``model_match_weight`` / ``model_match_probability`` keep the model's own values.
    """
    caps = {int(g): lv["max_weight"] for g, lv in correction["levels"].items() if lv["max_weight"] is not None}
    if "model_match_weight" not in pairs.columns:
        pairs = pairs.withColumn("model_match_weight", F.col("match_weight")).withColumn("model_match_probability", F.col("match_probability"))
    if not correction.get("active") or not caps:
        return pairs.withColumn("mw_shared_home", F.lit(0.0))
    weight = F.col(f"mw_{comparison}")
    if f"mw_tf_adj_{comparison}" in pairs.columns:
        weight = weight + F.coalesce(F.col(f"mw_tf_adj_{comparison}"), F.lit(0.0))
    cap = F.create_map(*[F.lit(x) for g, w in sorted(caps.items()) for x in (g, float(w))])[F.col(f"gamma_{comparison}")]
    on = F.coalesce(F.col(f"gamma_{given}").isin(*given_gammas), F.lit(False)) & cap.isNotNull() & (weight > cap)
    change = F.when(on, cap - weight).otherwise(F.lit(0.0))
    adjusted = F.col("match_weight") + F.col("mw_shared_home")
    return (
        pairs.withColumn("mw_shared_home", change)
        .withColumn("match_weight", adjusted)
        .withColumn(
            "match_probability", F.when(F.col("mw_shared_home") < 0, 1 / (1 + F.pow(F.lit(2.0), -F.col("match_weight")))).otherwise(F.col("match_probability"))
        )
    )
