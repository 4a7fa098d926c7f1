"""Deterministic per-row randomness as Spark column expressions.

Every draw hashes (seed, a named salt, the row's key columns), so the same seed
gives the same data whatever the partitioning, cluster size or run order.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

_MOD = 2_147_483_647  # a prime below 2**31


def uniform(seed: int, salt: str, *keys: Column | str) -> Column:
    """A number in [0, 1) that depends only on (seed, salt, keys)."""
    h = F.xxhash64(F.lit(seed), F.lit(salt), *[F.col(k) if isinstance(k, str) else k for k in keys])
    return F.pmod(h, F.lit(_MOD)).cast("double") / float(_MOD)


def randint(seed: int, salt: str, low: int, high: int, *keys: Column | str) -> Column:
    """An integer in [low, high] inclusive."""
    return (F.floor(uniform(seed, salt, *keys) * (high - low + 1)) + low).cast("int")


def normal(seed: int, salt: str, *keys: Column | str) -> Column:
    """A standard normal draw (Box-Muller on two hashed uniforms)."""
    u1 = uniform(seed, salt + ":1", *keys) * 0.999999 + 1e-7
    u2 = uniform(seed, salt + ":2", *keys)
    return F.sqrt(-2.0 * F.log(u1)) * F.cos(2.0 * math.pi * u2)


def geometric(seed: int, salt: str, p: float, cap: int, *keys: Column | str) -> Column:
    """Number of failures before the first success, capped: 0 with probability p, then decaying."""
    u = uniform(seed, salt, *keys) * 0.999999 + 1e-7
    draws = F.floor(F.log(u) / math.log(1.0 - p))
    return F.least(draws, F.lit(cap)).cast("int")


def choice(values: list[str], u: Column) -> Column:
    """Pick uniformly from a short literal list."""
    arr = F.array(*[F.lit(v) for v in values])
    return F.element_at(arr, (F.floor(u * len(values)) + 1).cast("int"))


BUCKETS = 10_000


def weighted_table(spark: SparkSession, values: list[str], weights: list[float], name: str) -> DataFrame:
    """A lookup (bucket -> value) where each value owns buckets in proportion to its weight.

    Joined (broadcast) on ``floor(u * BUCKETS)`` it draws from the weighted
    distribution without a non-equi join.
    """
    total = float(sum(weights))
    rows: list[tuple[int, str]] = []
    acc = 0.0
    idx = 0
    for value, weight in zip(values, weights):
        acc += weight / total
        upper = round(acc * BUCKETS)
        while idx < upper:
            rows.append((idx, value))
            idx += 1
    while idx < BUCKETS:
        rows.append((idx, values[-1]))
        idx += 1
    return spark.createDataFrame(rows, f"{name}_bucket int, {name} string")


def pick_weighted(df: DataFrame, table: DataFrame, u: Column, name: str) -> DataFrame:
    """Add column ``name`` drawn from ``table`` (made by :func:`weighted_table`) using draw ``u``."""
    bucket = f"{name}_bucket"
    return df.withColumn(bucket, F.least(F.floor(u * BUCKETS), F.lit(BUCKETS - 1)).cast("int")).join(F.broadcast(table), bucket, "left").drop(bucket)
