"""Incremental resolve, piece by piece: the run plan, what counts as new, whom to score, whom to re-cluster."""

from __future__ import annotations

import datetime as dt
import random
from itertools import combinations

import networkx as nx
from chispa import assert_df_equality
from pyspark.sql import Row

from customer_identity.core import runs
from customer_identity.core.config import ClusteringConfig
from customer_identity.resolution import incremental, matching
from customer_identity.resolution.clustering import cluster_records
from customer_identity.resolution.identities import IDENTITY_COLUMNS

TYPES = {"date_of_birth": "date", "record_time": "timestamp", "first_name_variants": "array<string>"}
SCHEMA = ", ".join(f"{c} {TYPES.get(c, 'string')}" for c in IDENTITY_COLUMNS)


def _record(key, source="platform", surname=None, postcode=None, email=None, time=None):
    values = {c: None for c in IDENTITY_COLUMNS}
    values.update(record_key=key, source_system=source, source_record_id=key.split(":")[1], record_time=time, surname_std=surname,
                  postcode_std=postcode, postcode_outward=postcode.split(" ")[0] if postcode else None, email_std=email)  # fmt: skip
    return tuple(values[c] for c in IDENTITY_COLUMNS)


# --------------------------------------------------------------------------- plan

GOOD = Row(run_id="r1", model_fingerprint="m", settings_fingerprint="s", labels_version=None)


def _plan(last_good=GOOD, processed=frozenset({"tx/a"}), current=frozenset({"tx/a", "tx/b"}), **kw):
    args = {"full_refresh": False, "model_fingerprint": "m", "settings_fingerprint": "s", "labels_version": None} | kw
    return runs.plan_run(last_good, set(processed), set(current), **args)


def test_plan_is_incremental_over_the_new_batches_only():
    plan = _plan()
    assert (plan.mode, plan.batches) == (runs.INCREMENTAL, frozenset({"tx/b"}))


def test_plan_does_nothing_when_every_batch_was_processed():
    assert _plan(current={"tx/a"}).mode == runs.NOTHING


def test_plan_rebuilds_when_the_stored_pairs_no_longer_hold():
    cases = {
        "no successful run": _plan(last_good=None),
        "asked for": _plan(full_refresh=True),
        "new model trained": _plan(model_fingerprint=None),
        "other model": _plan(model_fingerprint="m2"),
        "other settings": _plan(settings_fingerprint="s2"),
        "new review labels": _plan(labels_version=3),
        "a batch disappeared": _plan(processed={"tx/a", "tx/old"}),
    }
    for why, plan in cases.items():
        assert plan.mode == runs.FULL, why
        assert plan.batches == frozenset({"tx/a", "tx/b"}), why


# --------------------------------------------------------------------------- what is new


def test_classify_incoming_new_changed_same_and_record_time(spark):
    early, late = dt.datetime(2026, 10, 1), dt.datetime(2026, 10, 9)
    existing = spark.createDataFrame(
        [_record("platform:1", surname="hughes", time=early), _record("guest:g1", "guest", surname="okafor", time=late),
         _record("platform:9")],  # an orphan account: purchases referenced it before its details arrived
        SCHEMA,
    )  # fmt: skip
    incoming = spark.createDataFrame(
        [_record("platform:1", surname="hughes-jones", time=late), _record("guest:g1", "guest", surname="okafor", time=early),
         _record("platform:9", surname="reid", email="a@b.c", time=late), _record("crm:5", "crm", surname=None, time=None)],
        SCHEMA,
    )  # fmt: skip
    out = incremental.classify_incoming(incoming, existing).select("record_key", "change", "record_time")
    expected = spark.createDataFrame(
        [("platform:1", "changed", late), ("guest:g1", "same", early), ("platform:9", "changed", late), ("crm:5", "new", None)],
        "record_key string, change string, record_time timestamp",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_blocking_partners_share_a_key_with_a_record_to_score(spark):
    existing = spark.createDataFrame(
        [_record("crm:1", "crm", surname="hughes", postcode="CF10 1AA"), _record("crm:2", "crm", surname="hughes", postcode="LS6 2BB"),
         _record("crm:3", "crm", email="x@y.z"), _record("crm:4", "crm")],
        SCHEMA,
    )  # fmt: skip
    to_score = spark.createDataFrame([_record("platform:1", surname="hughes", postcode="CF10 9ZZ", email="x@y.z"), _record("platform:2")], SCHEMA)
    rules = [("surname_std", "postcode_outward"), ("email_std",), ("postcode_std",)]
    out = incremental.blocking_partners(existing, to_score, rules)
    # crm:2 shares the surname but not the district; crm:4 (all null) shares nothing with the null record
    assert sorted(r.record_key for r in out.collect()) == ["crm:1", "crm:3"]


def test_comparisons_with_a_new_record_are_counted_exactly(spark):
    rng = random.Random(11)
    rows = [(f"k{i}", rng.choice(["a", "b", "c", None]), rng.random() < 0.3) for i in range(60)]
    df = spark.createDataFrame(rows, "record_key string, postcode_std string, _is_new boolean")
    brute = sum(1 for x, y in combinations(rows, 2) if x[1] is not None and x[1] == y[1] and (x[2] or y[2]))
    [count] = matching.count_comparisons(df, [("postcode_std",)], new_flag="_is_new")
    assert count.comparisons == brute
    [everything] = matching.count_comparisons(df, [("postcode_std",)])
    assert everything.comparisons == sum(1 for x, y in combinations(rows, 2) if x[1] is not None and x[1] == y[1])


# --------------------------------------------------------------------------- re-clustering oracle


def test_reclustering_the_affected_customers_gives_the_full_partition(spark):
    """Seeded random graphs: cluster the old edges, add new records and edges, re-cluster only
    the affected customers; the partition must equal networkx's components of all edges."""
    seed = random.randrange(10**6)
    print(f"seed={seed}")
    rng = random.Random(seed)
    config = ClusteringConfig(engine="dataframe", max_iterations=40, checkpoint_interval=2)
    for _ in range(2):
        old_nodes = [f"r{i:03d}" for i in range(40)]
        new_nodes = [f"n{i:03d}" for i in range(8)]
        old_edges = {tuple(sorted(rng.sample(old_nodes, 2))) for _ in range(30)}
        new_edges = {(n, rng.choice(old_nodes + new_nodes)) for n in new_nodes for _ in range(rng.randint(0, 2))}
        new_edges = {tuple(sorted(e)) for e in new_edges if e[0] != e[1]}

        def pairs(edges):
            return spark.createDataFrame(
                [(a, b, 1.0) for a, b in edges] or [("x", "y", 0.0)], "record_key_l string, record_key_r string, match_probability double"
            )

        old_records = spark.createDataFrame([(k,) for k in old_nodes], "record_key string")
        previous = cluster_records(spark, old_records, pairs(old_edges), 0.5, config).withColumnRenamed("cluster_key", "customer_id")
        records = spark.createDataFrame([(k,) for k in old_nodes + new_nodes], "record_key string")
        scored = spark.createDataFrame([(k,) for k in new_nodes], "record_key string")
        affected = incremental.affected_customers(previous, pairs(new_edges), spark.createDataFrame([], "record_key string"))
        regroup = incremental.records_to_recluster(records, previous, affected, scored)
        edges = incremental.pairs_within(pairs(old_edges | new_edges), regroup)
        regrouped = {r.record_key: r.cluster_key for r in cluster_records(spark, regroup, edges, 0.5, config).collect()}
        kept = {r.record_key: r.customer_id for r in previous.collect() if r.record_key not in regrouped}
        label = {**kept, **{k: "new:" + v for k, v in regrouped.items()}}

        g = nx.Graph()
        g.add_nodes_from(old_nodes + new_nodes)
        g.add_edges_from(old_edges | new_edges)
        expected = sorted(sorted(c) for c in nx.connected_components(g))
        got: dict[str, list[str]] = {}
        for k, c in label.items():
            got.setdefault(c, []).append(k)
        assert sorted(sorted(v) for v in got.values()) == expected, f"seed={seed}"
        assert kept, "every customer was re-clustered: the graph is too dense for the bounded path to be tested"


def test_pairs_within_keeps_pairs_with_both_ends_inside(spark):
    pairs = spark.createDataFrame([("a", "b"), ("a", "z"), ("z", "y"), (None, "a")], "record_key_l string, record_key_r string")
    keys = spark.createDataFrame([("a",), ("b",), (None,)], "record_key string")
    assert [tuple(r) for r in incremental.pairs_within(pairs, keys).collect()] == [("a", "b")]
