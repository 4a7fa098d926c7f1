"""Connected components against networkx on seeded random graphs (the seed is printed)."""

from __future__ import annotations

import itertools
import random

import networkx as nx
import pytest
from pyspark.sql import functions as F

from customer_identity.core.config import ClusteringConfig
from customer_identity.resolution.clustering import ClusteringError, cluster_records

CONFIG = ClusteringConfig(engine="dataframe", max_iterations=40, checkpoint_interval=2)


def _random_graph(seed: int, n_nodes: int, n_edges: int, chain: bool):
    rng = random.Random(seed)
    nodes = [f"src:{i:05d}" for i in range(n_nodes)]
    edges = set()
    if chain:  # a long path: the worst case for label propagation
        order = nodes[:]
        rng.shuffle(order)
        edges.update(itertools.pairwise(order[: n_nodes // 3 + 1]))
    while len(edges) < n_edges:
        a, b = rng.sample(nodes, 2)
        edges.add((a, b))
    return nodes, sorted(edges)


@pytest.mark.parametrize("seed, n_nodes, n_edges, chain", [(1, 60, 40, False), (7, 200, 150, True), (2026, 400, 380, True), (99, 30, 0, False)])
def test_components_match_networkx(spark, seed, n_nodes, n_edges, chain):
    print(f"seed={seed} nodes={n_nodes} edges={n_edges} chain={chain}")
    nodes, edges = _random_graph(seed, n_nodes, n_edges, chain)
    rng = random.Random(seed + 1)
    probs = [(a, b, rng.uniform(0.9, 1.0)) for a, b in edges]
    # weak edges below the threshold must not link anything
    weak = [(a, b, 0.2) for a, b in zip(nodes[::7], nodes[3::7])]
    records = spark.createDataFrame([(n,) for n in nodes], "record_key string")
    pairs = spark.createDataFrame(probs + weak, "record_key_l string, record_key_r string, match_probability double")
    got = cluster_records(spark, records, pairs, 0.9, CONFIG).collect()

    graph = nx.Graph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    expected = {frozenset(c) for c in nx.connected_components(graph)}
    clusters: dict[str, set[str]] = {}
    for row in got:
        clusters.setdefault(row.cluster_key, set()).add(row.record_key)
    assert {frozenset(c) for c in clusters.values()} == expected
    # the cluster key is the smallest member, whatever the engine
    assert all(key == min(members) for key, members in clusters.items())
    assert len(got) == n_nodes


def test_non_convergence_is_an_error(spark):
    records = spark.createDataFrame([(f"n{i:03d}",) for i in range(50)], "record_key string")
    chain = [(f"n{i:03d}", f"n{i + 1:03d}", 1.0) for i in range(49)]
    pairs = spark.createDataFrame(chain, "record_key_l string, record_key_r string, match_probability double")
    with pytest.raises(ClusteringError, match="did not converge"):
        cluster_records(spark, records, pairs, 0.5, ClusteringConfig("dataframe", max_iterations=1, checkpoint_interval=1))


def test_graphframes_engine_without_jar_says_what_to_do(spark):
    records = spark.createDataFrame([("a",), ("b",)], "record_key string")
    pairs = spark.createDataFrame([("a", "b", 1.0)], "record_key_l string, record_key_r string, match_probability double")
    jar_present = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader().getResource("org/graphframes/GraphFrame.class") is not None
    if jar_present:
        got = cluster_records(spark, records, pairs, 0.5, ClusteringConfig("graphframes", 10, 2))
        assert got.select("cluster_key").distinct().count() == 1
    else:
        with pytest.raises(ClusteringError, match="GraphFrames jar"):
            cluster_records(spark, records, pairs, 0.5, ClusteringConfig("graphframes", 10, 2)).count()
    assert records.filter(F.col("record_key") == "a").count() == 1
