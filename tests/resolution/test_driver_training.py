"""Training on a bounded sample in the driver (Splink on DuckDB), predicting on Spark."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from customer_identity.core import fs
from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.resolution import matching
from customer_identity.resolution.blocking import rule_bound
from customer_identity.resolution.model_design import link_type_for, possible_pairs
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


def test_rules_and_recall_are_counted_alike_on_the_driver_sample_and_on_spark(spark):
    """The driver_sample engine decides which rules train, and the prior's recall, on the Arrow
    tables it trains on: the same counts as Spark's over the same records, nulls keying nothing."""
    schema = "record_key string, surname string, postcode string, email string"
    a = spark.createDataFrame(
        [("a:1", "Smith", "AB1", None), ("a:2", "Smith", "AB1", "x@y"), ("a:3", "Smith", None, None), ("a:4", None, "AB1", "x@y"), ("a:5", "Jones", "CD2", None)], schema
    )  # fmt: skip
    b = spark.createDataFrame([("b:1", "Smith", "AB1", "x@y"), ("b:2", "Jones", "CD2", "z@w"), ("b:3", None, None, None)], schema)
    by_source = {"a": a, "b": b}
    tables = {name: df.toArrow() for name, df in by_source.items()}
    rules = [("surname", "postcode"), ("email",), ("postcode",), ("surname",)]
    assert matching.count_comparisons(tables, rules) == matching.count_comparisons(a.unionByName(b), rules)
    assert [c.comparisons for c in matching.count_comparisons(tables, rules)] == [4, 3, 7, 7]
    model = load_config("local").model
    model = dataclasses.replace(model, training=dataclasses.replace(model.training, deterministic_rules=(("email",), ("surname", "postcode"))))
    assert matching.effective_recall(tables, model) == matching.effective_recall(by_source, model) == pytest.approx(0.7 * (6 / 8) ** 2)


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
    by_source = matching.with_block_keys_by_source(by_source, model.blocking_rules)  # Splink blocks on the bounded name key too
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


@pytest.mark.slow
def test_u_refinement_on_a_record_sample_estimates_what_every_pair_gives(spark, tiny_run):
    """Above ``refine_max_pairs`` the exact full-name level's u is refined on a seeded sample of
    records, its sums scaled back by the rule's full pair count: close to scoring every pair."""
    config = load_config("local", str(tiny_run[1]))
    catalog = Catalog(config)
    records = catalog.read(spark, "silver.identity_records")
    model = design_model(config, records).apply(config.model)
    by_source = {name: records.filter(F.col("source_system") == name) for name in ("crm", "platform")}
    possible = possible_pairs({n: df.count() for n, df in by_source.items()}, link_type_for(model.link_type, 2))
    model_path = catalog.path("model.splink")
    every, sampled = {}, {}
    matching.refine_u_of_exact_levels(spark, model, by_source, model_path, possible, every)
    small = dataclasses.replace(model, training=dataclasses.replace(model.training, refine_max_pairs=100))
    matching.refine_u_of_exact_levels(spark, small, by_source, model_path, possible, sampled)
    assert set(every) == {"name", "location"} and every["location"]["column"] == "postcode_std+address_line_1_std"
    assert every["name"]["record_sample_rate"] == 1.0 and sampled["name"]["record_sample_rate"] < 0.6  # the sample is a real one
    # pairs and expected non-matches on the level, scaled back from the sample, estimate the full figures
    assert sampled["name"]["pairs"] == pytest.approx(every["name"]["pairs"], rel=0.25)
    assert sampled["name"]["refined"] == pytest.approx(every["name"]["refined"], rel=0.5)


@pytest.mark.slow
def test_pairs_scored_in_the_driver_are_those_spark_scores(spark, tiny_run, tmp_path):
    """The driver_sample engine's refinement steps score pairs among the sample with Splink on
    DuckDB: with every record in the sample, the same pairs as on Spark, the same weights (the
    saved term frequencies, and the conditional caps when asked), the same filter."""
    from splink import DuckDBAPI  # noqa: PLC0415

    config = load_config("local", str(tiny_run[1]))
    catalog = Catalog(config)
    records = catalog.read(spark, "silver.identity_records")
    model = design_model(config, records).apply(config.model)
    by_source = {name: records.filter(F.col("source_system") == name) for name in ("crm", "platform")}
    link_type = link_type_for(model.link_type, len(by_source))
    sample = matching.driver_sample(by_source, 1_000_000, seed=1)
    template = matching.duckdb_linker(DuckDBAPI(), sample, link_type, matching.build_settings(model, link_type)).misc.save_model_to_json()
    driver = matching.DriverPairs(sample, link_type, template, rate=1.0)
    saved = Path(catalog.path("model.splink"))
    shutil.copytree(saved.parent, tmp_path / "model")  # the run's model is shared with other tests: change a copy
    model_path = str(tmp_path / "model" / saved.name)
    cases = [(("first_name_canonical", "surname_std"), None, False), (("postcode_std", "address_line_1_std"), "gamma_name > 0", True)]
    # a second round after the parameters and the term frequencies changed, as between training
    # rounds: the driver reuses each rule's comparison vectors and must score with the new ones
    for n, (rule, where, conditional) in enumerate([*cases, *cases]):
        if n == len(cases):
            _change_parameters_and_frequencies(spark, model_path)
        on_spark, spark_scale, _ = matching._score_every_pair(spark, model, by_source, model_path, rule, "test", conditional, where)
        on_driver, driver_scale, rate = matching._score_every_pair(spark, model, by_source, model_path, rule, "test", conditional, where, driver)
        assert spark_scale == driver_scale == rate == 1.0
        spark_weights = {(r.record_key_l, r.record_key_r): r.match_weight for r in on_spark.collect()}
        driver_weights = {(k_l, k_r): w for k_l, k_r, w in on_driver.select("record_key_l, record_key_r, match_weight").fetchall()}
        assert len(spark_weights) > 50, rule
        assert set(driver_weights) == set(spark_weights), rule
        worst = max(abs(driver_weights[k] - spark_weights[k]) for k in spark_weights)
        assert worst < 1e-9, (rule, worst)
        driver_sums, spark_sums = matching.level_sums(on_driver, "name"), matching.level_sums(on_spark, "name")
        assert driver_sums.keys() == spark_sums.keys()
        assert all(driver_sums[g][0] == spark_sums[g][0] and driver_sums[g][1] == pytest.approx(spark_sums[g][1], rel=1e-9) for g in spark_sums)
        if conditional:
            assert any(c.startswith("mw_given_") for c in on_driver.columns)


def _change_parameters_and_frequencies(spark, model_path: str) -> None:
    """Halve the u of every comparison's most identifying level and double every saved term frequency."""
    settings = fs.read_json(model_path)
    for comparison in settings["comparisons"]:
        level = next(lv for lv in comparison["comparison_levels"] if "u_probability" in lv)
        level["u_probability"] /= 2
    fs.write_json(model_path, settings)
    for column in matching.tf_columns(model_path):
        tf = spark.read.parquet(matching.tf_path(model_path, column)).localCheckpoint(eager=True)
        tf.withColumn(f"tf_{column}", F.col(f"tf_{column}") * 2).write.mode("overwrite").parquet(matching.tf_path(model_path, column))


@pytest.mark.slow
def test_training_gives_splink_settings_that_fit_its_inputs(spark, tiny_run, tmp_path):
    """Splink checks every settings dictionary against its inputs and logs what does not fit
    (a blocking rule on a column the inputs lack). Training's settings must fit the identity
    records as they are: the bounded name key is added only when pairs are scored."""
    import logging  # noqa: PLC0415

    config = load_config("local", str(tiny_run[1]))
    records = Catalog(config).read(spark, "silver.identity_records")
    model = design_model(config, records).apply(config.model)
    assert any(rule_bound(r) for r in model.blocking_rules)  # the design blocks on a bounded name key
    by_source = {name: records.filter(F.col("source_system") == name) for name in ("crm", "platform")}
    found: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = found.append  # type: ignore[method-assign]
    splink = logging.getLogger("splink")  # its settings check logs under splink.internals
    splink.addHandler(handler)
    try:
        matching.train_model(spark, model, by_source, str(tmp_path / "model/splink_model.json"))
    finally:
        splink.removeHandler(handler)
    assert not [r.getMessage()[:300] for r in found if "SETTINGS VALIDATION" in r.getMessage()]
