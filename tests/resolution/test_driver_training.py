"""Training on a bounded sample in the driver (Splink on DuckDB), predicting on Spark."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.resolution import matching
from customer_identity.resolution.model_design import link_type_for
from customer_identity.resolution.stage import design_model


def test_the_driver_sample_never_exceeds_its_bound(spark):
    rows = lambda source, n: spark.createDataFrame([(f"{source}:{i}", f"name{i}") for i in range(n)], "record_key string, first_name string")  # noqa: E731
    by_source = {"a": rows("a", 600), "b": rows("b", 400)}
    labels = spark.createDataFrame([("a:1", "b:2"), ("a:599", "b:399"), ("a:77", "a:78")], "record_key_l string, record_key_r string")
    sample = matching.driver_sample(by_source, 300, seed=42, match_labels=labels)
    assert sum(t.num_rows for t in sample.values()) <= 300
    keys = {k for t in sample.values() for k in t.column("record_key").to_pylist()}
    assert {"a:1", "b:2", "a:599", "b:399", "a:77", "a:78"} <= keys  # labelled records are always in it
    assert sample["a"].num_rows > sample["b"].num_rows > 100  # in proportion to each source's size
    assert (
        matching.driver_sample(by_source, 300, seed=42, match_labels=labels)["a"].column("record_key").to_pylist()
        == sample["a"].column("record_key").to_pylist()
    )
    everything = matching.driver_sample(by_source, 5_000, seed=42)
    assert {name: t.num_rows for name, t in everything.items()} == {"a": 600, "b": 400}


def test_carried_parameters_raise_on_different_comparisons():
    trained = {"probability_two_random_records_match": 0.01, "comparisons": [{"output_column_name": "name", "comparison_levels": [{"label_for_charts": "x"}]}]}
    target = {"probability_two_random_records_match": 0.5, "comparisons": [{"output_column_name": "dob", "comparison_levels": [{"label_for_charts": "x"}]}]}
    with pytest.raises(ValueError, match="comparison dob"):
        matching.carry_parameters(trained, target)


@pytest.mark.slow
def test_a_model_trained_on_duckdb_scores_on_spark_as_on_duckdb(spark, tiny_run):
    """λ, m and u carried from a DuckDB-trained model into the Spark settings built from the same
    comparisons: Spark scores the same pairs with the same match weights as DuckDB does."""
    from splink import DuckDBAPI, Linker, SparkAPI  # noqa: PLC0415  (the slow test alone needs Splink itself)

    config = load_config("local", str(tiny_run[1]))
    records = Catalog(config).read(spark, "silver.identity_records")
    model = design_model(config, records).apply(config.model)
    by_source = {name: records.filter(F.col("source_system") == name) for name in ("crm", "platform")}
    link_type = link_type_for(model.link_type, len(by_source))
    sample = matching.driver_sample(by_source, 1_000_000, seed=1)
    duck = DuckDBAPI()
    duck_linker = Linker([duck.register(t, dataset_display_name=n, table_name=n) for n, t in sample.items()], matching.build_settings(model, link_type))
    duck_linker.training.estimate_u_using_random_sampling(max_pairs=200_000, seed=1)
    duck_linker.training.estimate_parameters_using_expectation_maximisation(matching._block_on(model.training.em_blocking_rules[0]))
    trained = duck_linker.misc.save_model_to_json()

    api = SparkAPI(spark_session=spark, break_lineage_method="persist")
    spark_inputs = [api.register(df, dataset_display_name=n, table_name=f"{n}_carry") for n, df in by_source.items()]
    target = Linker(spark_inputs, matching.build_settings(model, link_type)).misc.save_model_to_json()
    carried = matching.carry_parameters(trained, target)
    assert carried["probability_two_random_records_match"] == trained["probability_two_random_records_match"]
    assert "jaro_winkler_similarity" in str(trained) and "jaro_winkler_similarity" not in str(carried)  # each in its own dialect

    on_duckdb = {(r["record_key_l"], r["record_key_r"]): r["match_weight"] for r in duck_linker.inference.predict().as_record_list()}
    spark_linker = Linker(spark_inputs, carried)
    on_spark = {(r.record_key_l, r.record_key_r): r.match_weight for r in spark_linker.inference.predict().as_spark_dataframe().collect()}
    assert len(on_spark) > 1000
    assert set(on_spark) == set(on_duckdb)
    worst = max(abs(on_spark[k] - on_duckdb[k]) for k in on_spark)
    assert worst < 1e-9, worst
