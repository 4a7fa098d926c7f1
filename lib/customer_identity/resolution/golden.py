"""Gold tables: golden customers by survivorship, the crosswalk, resolved transactions, counts."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.window import Window

from customer_identity.core.config import SurvivorshipConfig
from customer_identity.resolution.ids import hashed_id

# golden attribute -> (identity-record column, presentation)
ATTRIBUTE_SOURCES: dict[str, tuple[str, str]] = {
    "first_name": ("first_name_std", "title"),
    "surname": ("surname_std", "title"),
    "email": ("email_std", "as_is"),
    "phone": ("phone_e164", "as_is"),
    "date_of_birth": ("date_of_birth", "as_is"),
    "address_line_1": ("address_line_1_std", "title"),
    "city": ("city_std", "title"),
    "postcode": ("postcode_std", "as_is"),
}


def with_customer_id(clusters: DataFrame) -> DataFrame:
    """Ids from the cluster key alone, with no history: for what-if partitions such as the threshold sweep.
    The resolve stage assigns the ids it publishes with :func:`customer_identity.resolution.ids.assign_customer_ids`."""
    return clusters.withColumn("customer_id", hashed_id(F.col("cluster_key")))


def crosswalk(records: DataFrame, clusters: DataFrame) -> DataFrame:
    """(source_system, source_record_id, record_key) -> customer_id (and customer_since when known) for every identity record."""
    keep = ["record_key", "customer_id"] + (["customer_since"] if "customer_since" in clusters.columns else [])
    return records.select("record_key", "source_system", "source_record_id").join(clusters.select(*keep), "record_key")


def _priority(column: Column, priority: tuple[str, ...]) -> Column:
    expr = F.lit(len(priority))
    for i, name in reversed(list(enumerate(priority))):
        expr = F.when(column == name, F.lit(i)).otherwise(expr)
    return expr


def _present(value: Column, style: str) -> Column:
    return F.initcap(value) if style == "title" else value


def survive(records_with_ids: DataFrame, config: SurvivorshipConfig) -> DataFrame:
    """One row per customer with each attribute's surviving value and where it came from.

    Rules per attribute: ``source_priority`` (configured order, then most recent),
    ``most_recent`` (latest record time, then priority) or ``most_frequent`` (value seen in
    most records, then priority, then most recent). Ties end on the record key, so the
    result is deterministic.

    Every attribute is chosen in one aggregation: each record's candidate value is a
    struct whose leading fields are the rule's sort keys (ascending, nulls last), and the
    smallest struct per customer wins.
    """
    base = records_with_ids.withColumn("_prio", _priority(F.col("source_system"), config.source_priority))
    # latest first, records without a time after every timed one
    recent = F.coalesce(-F.unix_micros(F.col("record_time")), F.lit(2**63 - 1))
    picks = []
    for attr, (column, _) in ATTRIBUTE_SOURCES.items():
        rule = config.rules[attr]
        if rule == "most_frequent":
            base = base.withColumn(f"_freq_{attr}", F.count("*").over(Window.partitionBy("customer_id", column)))
        keys = {
            "source_priority": [F.col("_prio"), recent],
            "most_recent": [recent, F.col("_prio")],
            "most_frequent": [-F.col(f"_freq_{attr}"), F.col("_prio"), recent],
        }[rule] + [F.col("record_key")]
        candidate = F.struct(
            *[k.alias(f"k{i}") for i, k in enumerate(keys)],
            F.col(column).alias("value"),
            F.concat_ws(":", "source_system", "source_record_id").alias("source"),
        )
        picks.append(F.min(F.when(F.col(column).isNotNull(), candidate)).alias(f"_pick_{attr}"))
    chosen = base.groupBy("customer_id").agg(*picks)
    return chosen.select(
        "customer_id",
        *[
            c
            for attr, (_, style) in ATTRIBUTE_SOURCES.items()
            for c in (_present(F.col(f"_pick_{attr}.value"), style).alias(attr), F.col(f"_pick_{attr}.source").alias(f"{attr}_from"))
        ],
    )


def customer_summary(records_with_ids: DataFrame, transactions_resolved: DataFrame, sources: list[str]) -> DataFrame:
    """Per customer: sources present, records per source, first and last seen, purchases."""
    rec = records_with_ids.groupBy("customer_id").agg(
        F.array_sort(F.collect_set("source_system")).alias("sources"),
        F.count("*").alias("n_records"),
        *[F.sum(F.when(F.col("source_system") == s, 1).otherwise(0)).alias(f"n_{s}_records") for s in sources],
        F.min("record_time").alias("_first_record"),
        F.max("record_time").alias("_last_record"),
    )
    tx = (
        transactions_resolved.filter(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.countDistinct("session_id").alias("n_orders"),
            F.count("*").alias("n_items"),
            F.round(F.sum("price"), 2).alias("total_spend"),
            F.min("event_time").alias("_first_tx"),
            F.max("event_time").alias("_last_tx"),
        )
    )
    out = rec.join(tx, "customer_id", "left")
    return (
        out.withColumn("first_seen", F.least("_first_record", "_first_tx"))
        .withColumn("last_seen", F.greatest("_last_record", "_last_tx"))
        .fillna({"n_orders": 0, "n_items": 0, "total_spend": 0.0})
        .drop("_first_record", "_last_record", "_first_tx", "_last_tx")
    )


def golden_customers(records_with_ids: DataFrame, transactions_resolved: DataFrame, config: SurvivorshipConfig, sources: list[str]) -> DataFrame:
    return survive(records_with_ids, config).join(customer_summary(records_with_ids, transactions_resolved, sources), "customer_id")


def resolve_transactions(transactions: DataFrame, clusters: DataFrame) -> DataFrame:
    """Every transaction row with its customer (null only for rows with neither account nor guest details)."""
    return transactions.join(clusters.select("record_key", "customer_id"), "record_key", "left")


def customer_counts(customers: DataFrame, records: DataFrame) -> DataFrame:
    """The count, the naive count from adding up sources, and customers by combination of sources."""
    per_source = records.groupBy("source_system").count()
    naive = per_source.agg(F.sum("count").alias("naive_count"))
    combos = customers.groupBy(F.array_join("sources", "+").alias("source_combination")).count()
    total = customers.agg(F.count("*").alias("customers"))
    totals = total.crossJoin(naive).withColumn("duplicates_removed", F.col("naive_count") - F.col("customers"))
    combos_row = combos.agg(F.map_from_entries(F.collect_list(F.struct("source_combination", "count"))).alias("by_source_combination"))
    per_source_row = per_source.agg(F.map_from_entries(F.collect_list(F.struct("source_system", "count"))).alias("records_by_source"))
    return totals.crossJoin(per_source_row).crossJoin(combos_row).withColumn("computed_at", F.current_timestamp())
