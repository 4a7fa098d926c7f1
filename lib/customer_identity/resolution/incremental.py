"""Pure transforms of an incremental resolve: what is new, what to score, what to re-cluster.

An incremental run starts from the identity records and pairs of the last good run and
the records standardised from the new bronze batches only:

- :func:`classify_incoming` marks each incoming record ``new`` (unseen key), ``changed``
  (same key, different matching attributes: an edited account, or an account arriving for
  an id that purchases referenced before) or ``same`` (a guest seen again);
- :func:`blocking_partners` finds the existing records that share a blocking key with a
  record to score, so the model scores only pairs that involve a new or changed record;
- :func:`affected_customers` and :func:`records_to_recluster` bound the re-clustering to
  the customers the new evidence touches. Their records form whole connected components
  of the full graph, so clustering them alone gives exactly the partition a full run
  would find over the same pairs; every other customer keeps its records and its id.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from customer_identity.resolution.identities import GUEST_SOURCE, IDENTITY_COLUMNS
from customer_identity.resolution.matching import all_present

# the attributes a record is matched on (everything but its key, source, id and time)
MATCH_ATTRIBUTES = tuple(c for c in IDENTITY_COLUMNS if c not in ("record_key", "source_system", "source_record_id", "record_time"))
NEW, CHANGED, SAME = "new", "changed", "same"


def attribute_hash(df: DataFrame) -> Column:
    return F.sha2(F.to_json(F.struct(*[df[c] for c in MATCH_ATTRIBUTES])), 256)


def classify_incoming(incoming: DataFrame, existing: DataFrame) -> DataFrame:
    """Incoming identity records with ``change`` (new / changed / same) and the record time
    to keep: a guest identity was first seen at its earliest checkout, an account's
    latest version carries its own time."""
    old = existing.select("record_key", F.col("record_time").alias("_old_time"), attribute_hash(existing).alias("_old_hash"))
    out = incoming.withColumn("_new_hash", attribute_hash(incoming)).join(old, "record_key", "left")
    change = F.when(F.col("_old_hash").isNull(), NEW).when(F.col("_old_hash") != F.col("_new_hash"), CHANGED).otherwise(SAME)
    record_time = F.when(F.col("source_system") == GUEST_SOURCE, F.least("record_time", "_old_time")).otherwise(F.coalesce("record_time", "_old_time"))
    return out.withColumn("change", change).withColumn("record_time", record_time).drop("_old_time", "_old_hash", "_new_hash")


def blocking_partners(existing: DataFrame, to_score: DataFrame, rules: Sequence[Sequence[str]]) -> DataFrame:
    """Keys of the existing records that share at least one blocking rule's key with a record to score."""
    parts = [
        existing.filter(all_present(rule)).join(to_score.filter(all_present(rule)).select(*rule).distinct(), list(rule), "left_semi").select("record_key")
        for rule in rules
    ]
    return reduce(DataFrame.unionByName, parts).distinct()


def affected_customers(clusters: DataFrame, accepted_new_pairs: DataFrame, changed_keys: DataFrame) -> DataFrame:
    """Customer ids (of the last good run) that an accepted new pair touches or that hold a changed record."""
    ends = accepted_new_pairs.select(F.col("record_key_l").alias("record_key")).unionByName(
        accepted_new_pairs.select(F.col("record_key_r").alias("record_key"))
    )
    touched = ends.unionByName(changed_keys.select("record_key")).distinct()
    return clusters.join(touched, "record_key").select("customer_id").distinct()


def records_to_recluster(records: DataFrame, clusters: DataFrame, affected: DataFrame, scored_keys: DataFrame) -> DataFrame:
    """Every record of an affected customer, plus the new and changed records."""
    of_affected = clusters.join(affected, "customer_id").select("record_key")
    keys = of_affected.unionByName(scored_keys.select("record_key")).distinct()
    return records.join(keys, "record_key", "left_semi")


def pairs_within(pairs: DataFrame, keys: DataFrame) -> DataFrame:
    """Pairs whose two records are both among ``keys``."""
    k = keys.select("record_key")
    inside = pairs.join(k.withColumnRenamed("record_key", "record_key_l"), "record_key_l", "left_semi")
    return inside.join(k.withColumnRenamed("record_key", "record_key_r"), "record_key_r", "left_semi").select(*pairs.columns)
