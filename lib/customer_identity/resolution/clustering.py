"""Connected components over accepted match pairs: the only module that imports graphframes.

Two engines give the same partition:
- ``graphframes``: GraphFrames' ``connectedComponents`` (needs the GraphFrames jar on the
  cluster's classpath);
- ``dataframe``: the same large-star / small-star algorithm (Kiveris et al., 2014) that
  GraphFrames runs, written with Spark DataFrames, for deployments without that jar.
Both checkpoint to the configured checkpoint directory to keep lineage short.
"""

from __future__ import annotations

import logging

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core.config import ClusteringConfig
from customer_identity.core.errors import CustomerIdentityError

log = logging.getLogger(__name__)


class ClusteringError(CustomerIdentityError):
    """Connected components could not run (engine unavailable or no convergence)."""


def with_node_ids(nodes: DataFrame, key: str) -> DataFrame:
    """Give each node key a unique long id (connected components work on integers).

    The ids are unique but not dense, and are computed in the JVM (no key passes through
    Python). They depend on the partitioning, so the result is materialised here: every
    later use sees the same ids.
    """
    return nodes.select(key).distinct().withColumn("node_id", F.monotonically_increasing_id()).localCheckpoint(eager=True)


def _canonical_edges(edges: DataFrame) -> DataFrame:
    """Undirected edges as (src < dst), without self-loops or duplicates."""
    return edges.select(F.least("src", "dst").alias("src"), F.greatest("src", "dst").alias("dst")).filter(F.col("src") != F.col("dst")).distinct()


def _large_star(edges: DataFrame) -> DataFrame:
    both = edges.unionByName(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
    min_neighbour = both.groupBy("src").agg(F.least(F.min("dst"), F.first("src")).alias("m"))
    return both.join(min_neighbour, "src").filter(F.col("dst") > F.col("src")).select(F.col("dst").alias("src"), F.col("m").alias("dst"))


def _small_star(edges: DataFrame) -> DataFrame:
    oriented = edges.select(F.greatest("src", "dst").alias("src"), F.least("src", "dst").alias("dst"))
    min_neighbour = oriented.groupBy("src").agg(F.min("dst").alias("m"))
    joined = oriented.join(min_neighbour, "src")
    to_min = joined.filter(F.col("dst") != F.col("m")).select(F.col("dst").alias("src"), F.col("m").alias("dst"))
    centre = min_neighbour.select("src", F.col("m").alias("dst"))
    return to_min.unionByName(centre)


def connected_components_dataframe(edges: DataFrame, config: ClusteringConfig) -> DataFrame:
    """(node, component) for every node that has an edge; component = smallest node id in it."""
    current = _canonical_edges(edges).localCheckpoint(eager=True)
    for iteration in range(1, config.max_iterations + 1):
        nxt = _canonical_edges(_small_star(_canonical_edges(_large_star(current))))
        if iteration % config.checkpoint_interval == 0:
            nxt = nxt.checkpoint(eager=True)
        else:
            nxt = nxt.localCheckpoint(eager=True)
        changed = nxt.exceptAll(current).count() + current.exceptAll(nxt).count()
        log.info("connected components iteration %d: %d edges changed", iteration, changed)
        current = nxt
        if changed == 0:
            break
    else:
        raise ClusteringError(f"connected components did not converge in {config.max_iterations} iterations (clustering.max_iterations)")
    # converged: every component is a star around its smallest node
    members = current.select(F.col("dst").alias("node_id"), F.col("src").alias("component"))
    centres = current.select(F.col("src").alias("node_id"), F.col("src").alias("component"))
    return members.unionByName(centres).groupBy("node_id").agg(F.min("component").alias("component"))


def connected_components_graphframes(spark: SparkSession, vertices: DataFrame, edges: DataFrame) -> DataFrame:
    try:
        from graphframes import GraphFrame  # noqa: PLC0415

        g = GraphFrame(vertices.select(F.col("node_id").alias("id")), edges)
        return g.connectedComponents().select(F.col("id").alias("node_id"), F.col("component"))
    except Exception as exc:  # py4j surfaces a missing jar as a generic error
        if "graphframes" in str(exc).lower() or "ClassNotFound" in str(exc):
            raise ClusteringError(
                "clustering.engine is 'graphframes' but the GraphFrames jar is not on the classpath: "
                "add io.graphframes:graphframes-spark4_2.13 as a cluster library (or --packages), "
                "or set clustering.engine: dataframe"
            ) from exc
        raise


def cluster_records(
    spark: SparkSession, records: DataFrame, pairs: DataFrame, threshold: float, config: ClusteringConfig, key: str = "record_key"
) -> DataFrame:
    """(record_key, cluster_key) for every record; records linked at ``threshold`` share a cluster.

    ``cluster_key`` is the smallest record key in the cluster, so it does not depend on
    the engine or on how node ids were assigned. Records without an accepted pair are
    clusters of one.
    """
    ids = with_node_ids(records, key)
    accepted = pairs.filter(F.col("match_probability") >= threshold)
    edges = (
        accepted.join(ids.select(F.col(key).alias(f"{key}_l"), F.col("node_id").alias("src")), f"{key}_l")
        .join(ids.select(F.col(key).alias(f"{key}_r"), F.col("node_id").alias("dst")), f"{key}_r")
        .select("src", "dst")
    )
    if config.engine == "graphframes":
        components = connected_components_graphframes(spark, ids, edges)
    else:
        components = connected_components_dataframe(edges, config)
    labelled = ids.join(components, "node_id", "left").withColumn("component", F.coalesce("component", "node_id"))
    cluster_key = labelled.groupBy("component").agg(F.min(key).alias("cluster_key"))
    return labelled.join(cluster_key, "component").select(key, "cluster_key")
