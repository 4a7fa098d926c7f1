"""Pairwise matching with Splink 5 on Spark: the only module that imports splink.

The model (comparisons, blocking rules, training rules) is derived from a profile of the
data (``model_design``) for whatever ``conf/model.yaml`` leaves unpinned. Blocking is
checked against a comparison budget before any pair is scored; training (deterministic-rule
prior, u by random sampling and corrected for the matches among random pairs, m by EM over
several blocking rules, u of exact levels and conditional evidence from the pairs on them)
runs on Spark over all records, or on a bounded sample in the driver with Splink's DuckDB
backend (``model.training.engine``); the trained model is saved as Splink JSON in the Spark
dialect and can be reused. Prediction always runs on Spark.
The link guard (``model.link_guard``) caps the probability of scored pairs whose first
names are unrelated unless an identifier agrees exactly; ``model.conditional_evidence`` caps
what a comparison weighs between records that share a home or a name (``dependence``).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core import fs
from customer_identity.core.catalog import beside_model
from customer_identity.core.config import ComparisonSpec, ConditionalEvidence, ConfigError, LinkGuard, ModelConfig
from customer_identity.core.errors import ComparisonBudgetExceeded, ModelTrainingError
from customer_identity.resolution import dependence
from customer_identity.resolution.blocking import bounded_columns, describe_rule, with_block_keys
from customer_identity.resolution.model_design import RuleCount, link_type_for, possible_pairs

log = logging.getLogger(__name__)

UNIQUE_ID = "record_key"


def similarity_jar() -> str:
    """Path of the jar with Splink's Spark similarity UDFs, shipped in the splink wheel
    (the session factory puts it on Spark's class path)."""
    from splink.backends.spark import similarity_jar_location  # noqa: PLC0415

    return similarity_jar_location()


def _comparison_library():
    import splink.comparison_library as cl  # noqa: PLC0415

    return cl


def address_postcode_comparison(address_col: str, postcode_col: str, outward_col: str):
    """Where someone lives from address, postcode and district (see :func:`location_comparison`)."""
    return location_comparison(address=address_col, postcode=postcode_col, district=outward_col)


def location_comparison(
    address: str | None = None, street_number: str | None = None, postcode: str | None = None, district: str | None = None,
    locality: str | None = None, city: str | None = None, region: str | None = None, term_frequencies: Sequence[str] = (),
):  # fmt: skip
    """Where someone lives, compared once, from the most to the least specific evidence present.

    Address, postcode, locality, town and region are one piece of evidence; comparing them
    separately counts a shared home several times and makes family members look like one
    person. A postcode one character off in the same district is usually the same postcode
    mistyped, which a district-only level would weigh like a neighbour's; the same street
    number on a similar street is usually the same address mistyped. Levels exist only for
    the columns given; ``term_frequencies`` names the roles (address, postcode) whose exact
    level is adjusted by how common the value is.
    """
    import splink.comparison_level_library as cll  # noqa: PLC0415

    present = [c for c in (address, postcode, locality, city, region) if c]
    if not present:
        raise ConfigError("LocationComparison needs at least one of address, postcode, locality, city or region")
    tf = set(term_frequencies)
    exact = lambda col, role, label: cll.ExactMatchLevel(col).configure(  # noqa: E731
        label_for_charts=label, **({"tf_adjustment_column": col} if role in tf else {})
    )
    levels = [cll.And(*[cll.NullLevel(c) for c in present]) if len(present) > 1 else cll.NullLevel(present[0])]
    if address and postcode:
        levels.append(cll.And(cll.ExactMatchLevel(postcode), cll.ExactMatchLevel(address)).configure(label_for_charts="same address and postcode"))
    if address:
        levels.append(exact(address, "address", "same address"))
    if address and postcode:  # a postcode shared where one side has no address is not a different address
        levels.append(cll.And(cll.NullLevel(address), cll.ExactMatchLevel(postcode)).configure(label_for_charts="same postcode, no address to compare"))
    if postcode:
        levels.append(exact(postcode, "postcode", "same postcode"))
    if address and street_number:
        levels.append(
            cll.And(cll.ExactMatchLevel(street_number), cll.JaroWinklerLevel(address, 0.88)).configure(label_for_charts="same number, similar street")
        )
    if postcode and district:
        levels.append(
            cll.And(cll.ExactMatchLevel(district), cll.LevenshteinLevel(postcode, 1)).configure(label_for_charts="same district, postcode one character off")
        )
    elif postcode:
        levels.append(cll.LevenshteinLevel(postcode, 1).configure(label_for_charts="postcode one character off"))
    for col, label in ((district, "same postcode district"), (locality, "same locality"), (city, "same town"), (region, "same region")):
        if col:
            levels.append(cll.ExactMatchLevel(col).configure(label_for_charts=label))
    levels.append(cll.ElseLevel())
    return _comparison_library().CustomComparison(output_column_name="location", comparison_description="where someone lives", comparison_levels=levels)


def middle_name_comparison(middle_name: str, initial: str, full_names: bool = True):
    """Middle name: the same name, the same initial (one side may give only the initial), else."""
    import splink.comparison_level_library as cll  # noqa: PLC0415

    levels = [cll.NullLevel(initial)]
    if full_names:
        levels.append(cll.ExactMatchLevel(middle_name).configure(label_for_charts="same middle name"))
    levels += [cll.ExactMatchLevel(initial).configure(label_for_charts="same middle initial"), cll.ElseLevel()]
    return _comparison_library().CustomComparison(output_column_name="middle_name", comparison_description="middle name", comparison_levels=levels)


def exact_match(column: str, term_frequency_adjustments: bool = False):
    """Splink's exact match, with term frequencies when the column's values are skewed."""
    comparison = _comparison_library().ExactMatch(column)
    return comparison.configure(term_frequency_adjustments=True) if term_frequency_adjustments else comparison


def person_name_comparison(
    first_col: str, surname_col: str, full_name_col: str, variants_col: str, name_pair_col: str,
    typed_first_col: str | None = None, jaro_winkler_thresholds: Sequence[float] = (0.92, 0.85),
):  # fmt: skip
    """First name and surname together, with swapped fields and nicknames as their own levels.

    ``first_col`` is the canonical first name (Bob -> robert), ``typed_first_col`` the name as
    typed; spelling similarity is measured on the typed name, since a typo ("lcuy") has no
    canonical form. ``name_pair_col`` holds the two names as typed, sorted, so "Jane Bowen"
    and "Bowen Jane" agree on it even where a nickname list would map "Jane" elsewhere.

    A shared surname with an unrelated first name is a level of its own: in one home that
    is usually a relative, so it must not borrow the weight of a near match. A first name
    (or surname) missing on one side is not a disagreement: such pairs get their own levels,
    weighed on the name that can be compared.
    """
    import splink.comparison_level_library as cll  # noqa: PLC0415

    typed = typed_first_col or first_col
    high = max(jaro_winkler_thresholds)
    levels = [
        cll.And(cll.NullLevel(first_col), cll.NullLevel(surname_col)),
        cll.ExactMatchLevel(full_name_col).configure(tf_adjustment_column=full_name_col),
        cll.ExactMatchLevel(name_pair_col).configure(label_for_charts="same two names, in either order"),
        cll.And(cll.ExactMatchLevel(surname_col), cll.ArrayIntersectLevel(variants_col, 1)).configure(
            label_for_charts="same surname, first names are nickname-related"
        ),
    ]
    for t in jaro_winkler_thresholds:
        levels.append(cll.And(cll.JaroWinklerLevel(typed, t), cll.JaroWinklerLevel(surname_col, t)))
    levels += [
        cll.And(cll.NullLevel(first_col), cll.JaroWinklerLevel(surname_col, high)).configure(label_for_charts="first name missing, surname agrees"),
        cll.And(cll.NullLevel(surname_col), cll.JaroWinklerLevel(typed, high)).configure(label_for_charts="surname missing, first name agrees"),
        cll.ExactMatchLevel(surname_col).configure(tf_adjustment_column=surname_col, label_for_charts="same surname only"),
        cll.ExactMatchLevel(first_col).configure(tf_adjustment_column=first_col, label_for_charts="same first name only"),
        cll.ElseLevel().configure(label_for_charts="no name in common"),
    ]
    return _comparison_library().CustomComparison(output_column_name="name", comparison_description="first name and surname", comparison_levels=levels)


def with_comparison_levels(spark: SparkSession, pairs: DataFrame, comparison) -> DataFrame:
    """``pairs`` (each input column twice, suffixed ``_l`` and ``_r``) with the comparison's
    ``gamma_<name>`` level and ``label_<name>``, computed by Splink's own Spark SQL."""
    from splink import SparkAPI  # noqa: PLC0415
    from splink.internals.comparison_level import ComparisonLevel  # noqa: PLC0415

    SparkAPI(spark_session=spark)  # registers the similarity functions of Splink's jar
    compiled = comparison.get_comparison("spark")
    gamma = "CASE " + " ".join(level._when_then_comparison_vector_value_sql for level in compiled.comparison_levels) + " END"
    labels = {}
    for level in compiled.comparison_levels:
        assert isinstance(level, ComparisonLevel)
        labels[level.comparison_vector_value] = level.label_for_charts
    label = F.create_map(*[F.lit(x) for kv in labels.items() for x in kv])
    name = compiled.output_column_name
    return pairs.withColumn(f"gamma_{name}", F.expr(gamma)).withColumn(f"label_{name}", label[F.col(f"gamma_{name}")])


# Comparisons this product adds to Splink's library, usable by name in conf/model.yaml.
PROJECT_COMPARISONS = {
    "AddressPostcodeComparison": address_postcode_comparison,
    "PersonNameComparison": person_name_comparison,
    "LocationComparison": location_comparison,
    "MiddleNameComparison": middle_name_comparison,
    "ExactMatch": exact_match,
}


def build_comparisons(model: ModelConfig) -> list:
    return build_comparison_list(model.comparisons)


def build_comparison_list(specs: Sequence[ComparisonSpec]) -> list:
    """Splink comparisons from their descriptions; a wrong one raises ConfigError naming it."""
    cl = _comparison_library()
    out = []
    for i, spec in enumerate(specs):
        cls = PROJECT_COMPARISONS.get(spec.comparison) or getattr(cl, spec.comparison, None)
        if cls is None or not callable(cls):
            raise ConfigError(
                f"model.comparisons[{i}].comparison: '{spec.comparison}' is neither a class of splink.comparison_library "
                f"(e.g. NameComparison, ExactMatch) nor one of {sorted(PROJECT_COMPARISONS)}"
            )
        try:
            out.append(cls(*spec.columns, **dict(spec.args)))
        except TypeError as exc:
            raise ConfigError(f"model.comparisons[{i}] ({spec.comparison}): bad columns or args: {exc}") from exc
    return out


def _block_on(rule: Sequence[str]):
    from splink import block_on  # noqa: PLC0415

    return block_on(*rule)


def build_settings(model: ModelConfig, link_type: str | None = None, predictions: bool = True):
    """Splink settings from the (derived or configured) model; raises ConfigError before Spark starts when wrong.

    Without ``predictions`` they carry no blocking rules for prediction: training never uses
    them, and a bounded rule's key column is added to the records only when they are scored
    (:func:`predict_pairs`), so the training inputs lack it.
    """
    from splink import SettingsCreator  # noqa: PLC0415

    return SettingsCreator(
        link_type=link_type or link_type_for(model.link_type, 2),
        unique_id_column_name=UNIQUE_ID,
        comparisons=build_comparisons(model),
        blocking_rules_to_generate_predictions=[_block_on(r) for r in model.blocking_rules] if predictions else [],
        retain_intermediate_calculation_columns=True,  # gamma_* columns explain each pair
        retain_matching_columns=False,
    )


# --------------------------------------------------------------------------- blocking budget


def all_present(columns: Sequence[str]) -> Column:
    """True where every one of ``columns`` is non-null (a record a blocking rule can key on)."""
    cond = F.lit(True)
    for c in columns:
        cond = cond & F.col(c).isNotNull()
    return cond


def count_comparisons(records: DataFrame | Mapping[str, Any], rules: Sequence[Sequence[str]], new_flag: str | None = None) -> list[RuleCount]:
    """Exact number of pairs each rule generates (records with a null key generate none).
    ``records`` is a Spark DataFrame, or Arrow tables by name held in the driver (no ``new_flag``).

    One aggregation per rule over the records, no pairs are built: cheap enough to run
    before every prediction. Pairs generated by several rules are scored once, so the
    sum is an upper bound of the pairs scored. With ``new_flag`` (a boolean column) only
    pairs with at least one flagged record count, as an incremental run scores them.
    A bounded rule (``resolution.blocking``) counts its blocks within the bound, sized over
    ``records`` unless they already carry its key.
    """
    if not isinstance(records, DataFrame):
        return _count_comparisons_in_driver(records, rules)
    records = with_block_keys(records, rules)
    out = []
    for rule in rules:
        keyed = records.filter(all_present(rule))
        is_new = F.col(new_flag).cast("long") if new_flag else F.lit(1)
        sizes = keyed.groupBy(*rule).agg(F.count(F.lit(1)).alias("n"), F.sum(is_new).alias("k"))
        old = F.col("n") - F.col("k") if new_flag else F.lit(0)
        pairs = F.col("n") * (F.col("n") - 1) / 2 - old * (old - 1) / 2
        row = sizes.agg(F.sum(pairs).alias("pairs"), F.max("n").alias("largest")).first()
        out.append(RuleCount(tuple(rule), int(row["pairs"] or 0), int(row["largest"] or 0)))
    return out


def _count_comparisons_in_driver(tables: Mapping[str, Any], rules: Sequence[Sequence[str]]) -> list[RuleCount]:
    """:func:`count_comparisons` over Arrow tables held in the driver (the driver's sample)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.compute as pc  # noqa: PLC0415

    out = []
    for rule in rules:
        keyed = pa.concat_tables([t.select(list(rule)) for t in tables.values()]).drop_null()
        sizes = keyed.group_by(list(rule)).aggregate([([], "count_all")]).column("count_all").cast(pa.int64())
        pairs = pc.sum(pc.divide(pc.multiply(sizes, pc.subtract(sizes, 1)), 2)).as_py() if len(sizes) else 0
        out.append(RuleCount(tuple(rule), int(pairs or 0), int(pc.max(sizes).as_py() or 0) if len(sizes) else 0))
    return out


def check_comparison_budget(counts: Sequence[RuleCount], cap: int) -> int:
    total = sum(c.comparisons for c in counts)
    for c in counts:
        log.info("blocking rule %s: %d comparisons, largest block %d records", describe_rule(c.rule), c.comparisons, c.largest_block)
    log.info("blocking total (upper bound): %d comparisons; budget %d", total, cap)
    if total > cap:
        worst = max(counts, key=lambda c: c.comparisons)
        raise ComparisonBudgetExceeded(
            f"blocking rules would generate {total:,} comparisons, above model.max_comparisons={cap:,}; "
            f"the largest contributor is rule {describe_rule(worst.rule)} with {worst.comparisons:,} "
            f"(largest block {worst.largest_block:,} records): tighten it or raise the cap"
        )
    return total


# --------------------------------------------------------------------------- training and prediction


@contextmanager
def splink_spark_settings(spark: SparkSession, model: ModelConfig) -> Iterator[None]:
    """Scope Spark settings that suit Splink's generated SQL to the matching stage only."""
    key = "spark.sql.codegen.wholeStage"
    before = spark.conf.get(key)
    spark.conf.set(key, str(model.spark.wholestage_codegen).lower())
    try:
        yield
    finally:
        spark.conf.set(key, before)


@dataclasses.dataclass(frozen=True)
class SplinkOverrides:
    """Changes to how Splink runs, for measuring one lever at a time (``bench/matching_levers.py``).

    ``api``: keyword arguments to Splink's ``SparkAPI`` (e.g. ``num_partitions_on_repartition``);
    ``settings``: settings merged over the saved model's when predicting (e.g.
    ``retain_matching_columns: False``); ``predict``: keyword arguments to Splink's ``predict``
    (e.g. ``threshold_match_probability``); ``em_without_term_frequencies``: EM ignores
    term-frequency adjustments.
    """

    api: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    settings: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    predict: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    em_without_term_frequencies: bool = False


NO_OVERRIDES = SplinkOverrides()


def _register(spark: SparkSession, model: ModelConfig, records_by_source: Mapping[str, DataFrame], overrides: SplinkOverrides = NO_OVERRIDES):
    """Register the inputs with Splink: (db_api, inputs, link type).

    Splink adds ``source_dataset`` only when two or more tables are registered, so one
    source, or ``dedupe_only``, is registered as a single table (record keys already name
    their source). ``link_and_dedupe`` over one table is the same as ``dedupe_only``.
    """
    from splink import SparkAPI  # noqa: PLC0415

    db_api = SparkAPI(spark_session=spark, break_lineage_method=model.spark.break_lineage_method, **overrides.api)
    # a fresh table name per registration, so training and prediction can share a session
    suffix = uuid.uuid4().hex[:8]
    link_type = link_type_for(model.link_type, len(records_by_source))
    if len(records_by_source) < 2 and link_type == "link_only":
        raise ConfigError(f"model.link_type: link_only needs two or more customer sources; the records come from {sorted(records_by_source) or 'none'}")
    if len(records_by_source) < 2 or link_type == "dedupe_only":
        union = reduce(DataFrame.unionByName, records_by_source.values())
        return db_api, db_api.register(union, table_name=f"records_{suffix}"), "dedupe_only"
    inputs = [db_api.register(df, dataset_display_name=name, table_name=f"{name}_{suffix}") for name, df in records_by_source.items()]
    return db_api, inputs, link_type


def with_block_keys_by_source(records_by_source: Mapping[str, DataFrame], rules: Sequence[Sequence[str]]) -> dict[str, DataFrame]:
    """Each source's records with the bounded keys ``rules`` need, block sizes counted over all sources together."""
    needed = bounded_columns(rules)
    if all(c in df.columns for df in records_by_source.values() for c in needed):
        return dict(records_by_source)
    tagged = [df.withColumn("_input", F.lit(name)) for name, df in records_by_source.items()]
    keyed = with_block_keys(reduce(DataFrame.unionByName, tagged), rules)
    return {name: keyed.filter(F.col("_input") == name).drop("_input") for name in records_by_source}


def with_source_datasets(pairs: DataFrame) -> DataFrame:
    """``source_dataset_l``/``_r`` from the record keys ("<source>:<id>") where Splink did not add them."""
    for side in ("l", "r"):
        if f"source_dataset_{side}" not in pairs.columns:
            pairs = pairs.withColumn(f"source_dataset_{side}", F.substring_index(F.col(f"{UNIQUE_ID}_{side}"), ":", 1))
    return pairs


def effective_recall(records_by_source: Mapping[str, DataFrame] | Mapping[str, Any], model: ModelConfig) -> float:
    """Recall of the deterministic rules over all true pairs (records as Spark DataFrames, or
    as Arrow tables held in the driver).

    ``model.training.deterministic_recall`` is their recall among pairs whose two records
    carry the rules' fields; pairs where a side has none of them (guest identities have
    no e-mail, phone or date of birth) cannot be found at all. The share of pairs with the
    fields on both sides is estimated as the square of the share of records that have them.
    """
    columns = sorted({c for rule in model.training.deterministic_rules for c in rule})
    total = covered = 0
    for df in records_by_source.values():
        if isinstance(df, DataFrame):
            has_all_of_a_rule = F.lit(False)
            for rule in model.training.deterministic_rules:
                has_all_of_a_rule = has_all_of_a_rule | all_present(rule)
            row = df.agg(F.count("*").alias("n"), F.sum(F.when(has_all_of_a_rule, 1).otherwise(0)).alias("k")).first()
            n, k = row["n"], row["k"] or 0
        else:  # an Arrow table of the driver's sample
            n, k = df.num_rows, _rows_keyed_by_any(df, model.training.deterministic_rules)
        total += n
        covered += k
    coverage = (covered / total) ** 2 if total else 1.0
    recall = max(min(model.training.deterministic_recall * coverage, 1.0), 1e-3)
    log.info("deterministic rules on %s: record coverage %.3f, effective recall %.3f", "/".join(columns), covered / max(total, 1), recall)
    return recall


def _rows_keyed_by_any(table, rules: Sequence[Sequence[str]]) -> int:
    """Rows of an Arrow table on which some rule's columns are all present."""
    import pyarrow.compute as pc  # noqa: PLC0415

    keyed = None
    for rule in rules:
        present = None
        for c in rule:
            present = pc.is_valid(table.column(c)) if present is None else pc.and_(present, pc.is_valid(table.column(c)))
        keyed = present if keyed is None else pc.or_(keyed, present)
    return int(pc.sum(keyed).as_py() or 0) if keyed is not None else 0


def _splink_errors() -> tuple[type[BaseException], ...]:
    from splink.internals.exceptions import SplinkException  # noqa: PLC0415

    return (SplinkException, ValueError)


def train_model(
    spark: SparkSession,
    model: ModelConfig,
    records_by_source: Mapping[str, DataFrame],
    model_path: str,
    match_labels: DataFrame | None = None,
    overrides: SplinkOverrides = NO_OVERRIDES,
) -> str:
    """Train the model and save it as Splink JSON (Spark dialect) at ``model_path``.

    ``model.training.engine`` says where Splink estimates the parameters: ``spark`` runs
    every step on Spark over all records; ``driver_sample`` draws at most
    ``model.training.sample_records`` records (:func:`driver_sample`), trains them with
    Splink's DuckDB backend in the driver, and carries λ, m and u into the Spark settings
    built from the same comparisons (:func:`carry_parameters`). Either way the term
    frequencies and the refinement of u are computed on Spark over all records.

    Rules that generate no pairs are skipped with a message; an EM session Splink cannot
    complete is discarded; training ends in :class:`ModelTrainingError` (one line), never a
    Splink traceback. ``match_labels`` (record_key_l, record_key_r of pairs reviewers
    confirmed as matches) re-estimate the m parameters after EM. ``overrides`` change how
    Splink runs (see :class:`SplinkOverrides`).
    """
    records = reduce(DataFrame.unionByName, records_by_source.values())
    steps = StepTimes()
    with splink_spark_settings(spark, model):
        with steps("setup"):  # counts, and the records registered with Splink on Spark
            sizes = {name: df.count() for name, df in records_by_source.items()}
            db_api, inputs, link_type = _register(spark, model, records_by_source, overrides)
            linker = new_linker(inputs, build_settings(model, link_type, predictions=False))
        if model.training.engine == "driver_sample":
            from splink import DuckDBAPI  # noqa: PLC0415

            by_source = {DEDUPE_TABLE: records} if link_type == "dedupe_only" else records_by_source  # registered as _register does
            with steps("sample to driver"):
                known = {DEDUPE_TABLE: sum(sizes.values())} if link_type == "dedupe_only" else sizes
                sample = driver_sample(by_source, model.training.sample_records, model.training.seed, match_labels, known)
                labels_db = DuckDBAPI()
                trainer = duckdb_linker(labels_db, sample, link_type, build_settings(model, link_type, predictions=False))
            driver = DriverPairs(sample, link_type, trainer.misc.save_model_to_json(), sum(t.num_rows for t in sample.values()) / max(sum(sizes.values()), 1))
            log.info("training on a sample of %s identity records in the driver (DuckDB)", f"{sum(t.num_rows for t in sample.values()):,}")
        else:
            trainer, labels_db, driver = linker, db_api, None
        seen = (sample, sample) if driver is not None else (records, records_by_source)  # what the trainer sees
        _estimate(trainer, labels_db, model, link_type, *seen, match_labels, overrides, steps)
        with steps("settings"):
            settings = trainer.misc.save_model_to_json()  # the settings as a dict; stored below through the filesystem layer
            if trainer is not linker:
                settings = carry_parameters(settings, linker.misc.save_model_to_json())
            sampled = _tf_level_u(settings)
            settings = u_without_matches(settings, floor=1.0 / model.training.u_max_pairs)
            settings = without_untrained_defaults(settings, floor=1.0 / model.training.u_max_pairs)

        frequencies: dict[str, DataFrame] = {}  # computed once over all records, rescaled at each save
        arrow_frequencies: dict[str, Any] = {}  # the same in the driver, for the driver's refinement steps
        scales: dict[str, float] = {}

        def write_frequencies() -> None:
            for column, scale in scales.items():
                tf = frequencies[column].withColumn(f"tf_{column}", F.col(f"tf_{column}") * F.lit(scale))
                tf.write.mode("overwrite").parquet(tf_path(model_path, column))

        def save(settings: dict) -> None:
            fs.write_json(model_path, settings)
            corrected = _tf_level_u(settings)
            for column in tf_columns(model_path):
                # value frequencies count every record of a person, like u: scaled by the same correction
                scales[column] = corrected[column] / sampled[column] if sampled.get(column) else 1.0
                if column not in frequencies:
                    frequencies[column] = linker.table_management.compute_tf_table(column).as_spark_dataframe().localCheckpoint(eager=True)
                    if driver is not None:
                        arrow_frequencies[column] = frequencies[column].toArrow()
                if driver is not None:  # handed over in memory; written once, when training ends
                    driver.frequencies[column] = scaled_frequencies(arrow_frequencies[column], column, scales[column])
            if driver is None:  # training on Spark reads them back at each round
                write_frequencies()

        with steps("term frequencies"):
            save(settings)
    refined: dict[str, dict] = {}
    rule_pairs: dict[tuple[str, ...], int] = {}  # pairs each refinement rule generates over all records, counted once
    possible = possible_pairs(sizes, link_type_for(model.link_type, len(records_by_source)))
    for _ in range(U_REFINE_ROUNDS):
        before = {name: entry["refined"] for name, entry in refined.items()}
        try:
            with steps("u of exact levels"):
                save(refine_u_of_exact_levels(spark, model, records_by_source, model_path, possible, refined, driver, rule_pairs))
        except _splink_errors() as exc:
            log.warning("u of the exact levels was not refined (%s); the sampled u is kept", _first_line(exc))
            break
        if all(abs(entry["refined"] / (before.get(name, entry["sampled"]) or entry["refined"]) - 1) < U_REFINE_TOLERANCE for name, entry in refined.items()):
            break
    fs.write_json(u_refined_path(model_path), refined)
    if driver is not None:
        with steps("term frequencies"):
            write_frequencies()
    if model.conditional_evidence:
        try:
            with steps("conditional evidence"):
                estimate_conditional_evidence(spark, model, records_by_source, model_path, driver, rule_pairs)
        except _splink_errors() as exc:
            log.warning("conditional evidence was not estimated (%s); every comparison weighs as the model says", _first_line(exc))
            fs.write_json(conditional_u_path(model_path), [])
    fs.write_json(training_times_path(model_path), steps.seconds)
    log.info("trained model saved to %s (term frequencies in %s); %s", model_path, tf_dir(model_path), steps)
    return model_path


class StepTimes:
    """Wall seconds per named training step, summed over repeats (``with steps("EM"): ...``)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - started, 2)

    def __str__(self) -> str:
        return ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())


def training_times_path(model_path: str) -> str:
    """Where the wall seconds of each training step are recorded (:class:`StepTimes`)."""
    return beside_model(model_path, "training_times")


def _estimate(
    linker, db_api, model: ModelConfig, link_type: str, records: DataFrame, records_by_source, match_labels, overrides: SplinkOverrides,
    steps: StepTimes | None = None,
) -> None:  # fmt: skip
    """Splink's training recipe on ``linker`` (Spark or DuckDB): prior, u by sampling, EM per rule, labels.

    Which rules run, and the prior's recall, are decided on the records ``linker`` trains on:
    ``records`` and ``records_by_source`` are Spark DataFrames, or the driver's Arrow tables.
    """
    steps = steps or StepTimes()
    with steps("prior"):
        _estimate_prior(linker, model, records, records_by_source)
    with steps("u by sampling"):
        try:
            linker.training.estimate_u_using_random_sampling(
                max_pairs=model.training.u_max_pairs, seed=model.training.seed, num_chunks=model.training.u_num_chunks
            )
        except _splink_errors() as exc:
            raise ModelTrainingError(f"u could not be estimated by random sampling: {_first_line(exc)}") from None
    with steps("EM"):
        _estimate_em(linker, model, records, overrides)
    if match_labels is not None:
        with steps("m from labels"):
            _m_from_labels(linker, db_api, link_type, match_labels)


def _estimate_prior(linker, model: ModelConfig, records, records_by_source) -> None:
    deterministic = [
        r
        for r, c in zip(model.training.deterministic_rules, count_comparisons(records, model.training.deterministic_rules))
        if c.comparisons or _skip(r, "prior")
    ]
    if deterministic:
        recall = effective_recall(
            records_by_source, dataclasses.replace(model, training=dataclasses.replace(model.training, deterministic_rules=tuple(deterministic)))
        )
        try:
            linker.training.estimate_probability_two_random_records_match([_block_on(r) for r in deterministic], recall=recall)
        except _splink_errors() as exc:
            log.warning("the prior could not be estimated from the deterministic rules (%s); Splink's default is kept", _first_line(exc))
    else:
        log.warning("no deterministic rule finds a pair: the prior keeps Splink's default")


def _estimate_em(linker, model: ModelConfig, records, overrides: SplinkOverrides) -> None:
    trained = 0
    em_counts = count_comparisons(records, model.training.em_blocking_rules)
    for rule, counted in zip(model.training.em_blocking_rules, em_counts):
        if not counted.comparisons:
            _skip(rule, "EM")
            continue
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                _block_on(rule),
                record_sample_proportion=model.training.em_record_sample_proportion,
                estimate_without_term_frequencies=overrides.em_without_term_frequencies,
            )
            trained += 1
        except _splink_errors() as exc:
            # e.g. an m estimate of exactly 0 (a level seen only among non-matches, common on
            # small data or a small sample): the session is discarded and the model keeps its values
            log.warning("EM blocked on %s was discarded: %s", "+".join(rule), _first_line(exc))
    if trained == 0:
        tried = "; ".join(f"{'+'.join(c.rule)} ({c.comparisons:,} pairs)" for c in em_counts) or "none"
        raise ModelTrainingError(f"no EM session succeeded (rules tried: {tried}): the data is too small or the rules too narrow to estimate m")


def _m_from_labels(linker, db_api, link_type: str, match_labels: DataFrame) -> None:
    """Re-estimate m from pairs reviewers confirmed as matches (record_key_l, record_key_r)."""
    source_of = lambda c: F.substring_index(F.col(c), ":", 1)  # noqa: E731  record keys are "<source>:<id>"
    sides = [(f"source_dataset_{s}", f"{UNIQUE_ID}_{s}", f"record_key_{s}") for s in ("l", "r")]
    columns = []
    for dataset, uid, key in sides:
        if link_type != "dedupe_only":
            columns.append(source_of(key).alias(dataset))
        columns.append(F.col(key).alias(uid))
    labels = match_labels.select(*columns)
    n = labels.count()
    if n == 0:
        raise ModelTrainingError("re-estimating m from review labels needs at least one labelled match")
    table = labels if _is_spark_api(db_api) else labels.toArrow()
    registered = linker.table_management.register_labels_table(db_api.register(table, table_name=f"labels_{uuid.uuid4().hex[:8]}"))
    linker.training.estimate_m_from_pairwise_labels(registered)
    log.info("m parameters re-estimated from %d labelled matches", n)


def new_linker(inputs, settings):
    """A Splink linker that leaves logging to the job: Splink's own default sets its logger to
    INFO with a handler of its own, which would print every training step whatever
    ``--log-level`` says (``core.cli.configure_logging``)."""
    from splink import Linker  # noqa: PLC0415

    return Linker(inputs, settings, log_level=None)


def _is_spark_api(db_api) -> bool:
    from splink import SparkAPI  # noqa: PLC0415

    return isinstance(db_api, SparkAPI)


def driver_sample(
    records_by_source: Mapping[str, DataFrame], bound: int, seed: int, match_labels: DataFrame | None = None, counts: Mapping[str, int] | None = None
) -> dict:  # fmt: skip
    """At most ``bound`` identity records as Arrow tables in the driver, per source in proportion
    to its size, chosen by a seeded hash of the record key (uniform and repeatable). Records
    that review labels name are always in it, within the bound. ``counts`` are the sources'
    record counts when the caller has them."""
    counts = dict(counts) if counts is not None else {name: df.count() for name, df in records_by_source.items()}
    total = sum(counts.values())
    labelled = None
    if match_labels is not None:
        labelled = match_labels.select(F.col("record_key_l").alias(UNIQUE_ID)).union(match_labels.select(F.col("record_key_r").alias(UNIQUE_ID))).distinct()
    forced = labelled.count() if labelled is not None and total > bound else 0
    room = max(bound - forced, 0)
    out = {}
    for name, df in records_by_source.items():
        n = counts[name]
        if total <= bound:
            out[name] = df.toArrow()
            continue
        quota = room * n // total
        keep = min(1.0, 1.2 * quota / n + 1e-3)  # a little more than the quota, then the quota exactly
        chosen = df.withColumn("_rank", _hash_rank(seed)).filter(F.col("_rank") < keep).orderBy("_rank").limit(quota).drop("_rank")
        if labelled is not None:
            chosen = chosen.unionByName(df.join(labelled, UNIQUE_ID, "left_semi")).dropDuplicates([UNIQUE_ID])
        out[name] = chosen.toArrow()
    return out


# The name the driver's sample registers its one table under when the model dedupes.
DEDUPE_TABLE = "records"


def duckdb_linker(db_api, sample: Mapping[str, Any], link_type: str, settings):
    """A Splink linker on DuckDB over the driver's Arrow tables, registered as :func:`_register`
    registers them on Spark: one table when the model dedupes, one per source when it links."""
    return new_linker(duckdb_inputs(db_api, sample, link_type), settings)


def duckdb_inputs(db_api, sample: Mapping[str, Any], link_type: str):
    """The driver's Arrow tables registered with Splink on DuckDB (once per connection), as a linker takes them."""
    if link_type == "dedupe_only":
        return db_api.register(sample[DEDUPE_TABLE], table_name=DEDUPE_TABLE)
    return [db_api.register(table, dataset_display_name=name, table_name=name) for name, table in sample.items()]


class DriverPairs:
    """Pairs among the driver's sample, scored in the driver with Splink on DuckDB using the
    parameters of the model saved so far (the ``driver_sample`` engine's refinement steps).

    ``sample`` holds the Arrow tables the model was trained on, registered as for training;
    ``settings`` are the DuckDB-dialect settings built from the same comparisons, into which
    the saved Spark model's λ, m and u are carried (:func:`carry_parameters`) at each call;
    ``rate`` is the share of all identity records the sample holds. Term frequencies are
    the saved ones, computed on Spark over all records, as prediction uses them.
    """

    def __init__(self, sample: Mapping[str, Any], link_type: str, settings: dict, rate: float) -> None:
        from splink import DuckDBAPI  # noqa: PLC0415

        self.sample, self.link_type, self.settings, self.rate = dict(sample), link_type, settings, rate
        self._db = DuckDBAPI()  # the relations returned read from its connection
        self._inputs = duckdb_inputs(self._db, self.sample, link_type)
        self._vectors: dict[tuple[str, ...], tuple[Any, int]] = {}  # rule -> (comparison vectors, pairs)
        self._previous: list[Any] = []  # the last call's tables and view: dropped at the next call
        # column -> the saved term frequencies as an Arrow table, when training hands them over
        # as it saves them; otherwise each call reads them from the model's directory
        self.frequencies: dict[str, Any] = {}

    def score(self, spark: SparkSession, model_path: str, rule: Sequence[str], where: str | None, conditional: bool) -> tuple[Any, int]:
        """(the scored pairs ``where`` keeps, as a DuckDB relation of record keys, levels,
        weights and probabilities, capped by the saved conditional evidence when
        ``conditional``; the number of pairs ``rule`` generates in the sample).

        A rule's comparison vectors (its pairs' levels, which no parameter changes) are
        computed once; each call joins the saved term frequencies to them afresh and runs
        Splink's prediction SQL with the saved parameters, as ``predict`` would. The relation
        returned is valid until the next call.
        """
        from splink.internals.pipeline import CTEPipeline  # noqa: PLC0415
        from splink.internals.predict import predict_from_comparison_vectors_sqls_using_settings  # noqa: PLC0415

        settings = carry_parameters(fs.read_json(model_path), self.settings)
        settings.update(
            link_type=self.link_type, retain_matching_columns=True, retain_intermediate_calculation_columns=True,  # gamma_* need both
            blocking_rules_to_generate_predictions=[_block_on(rule).create_blocking_rule_dict("duckdb")],
        )  # fmt: skip
        self._drop_previous()
        linker = new_linker(self._inputs, settings)
        lookups = {}
        for column in tf_columns(model_path):
            table = self.frequencies.get(column)
            if table is None:
                table = spark.read.parquet(tf_path(model_path, column)).toArrow()
            lookups[column] = self._db.register(table, table_name=f"tf_{column}_{uuid.uuid4().hex[:8]}")
            linker.table_management.register_term_frequency_lookup(lookups[column], column)
        if tuple(rule) not in self._vectors:
            self._vectors[tuple(rule)] = self._comparison_vectors(linker)
        vectors, generated = self._vectors[tuple(rule)]
        view = self._with_frequencies(vectors, lookups)
        pipeline = CTEPipeline([self._db.table_to_splink_dataframe("__splink__df_comparison_vectors", view)])
        pipeline.enqueue_list_of_sqls(predict_from_comparison_vectors_sqls_using_settings(linker._settings_obj))
        # not materialised: what the caller sums is computed from the columns it reads
        predictions = self._db._con.sql(pipeline.generate_cte_pipeline_sql())
        self._previous = [view, *lookups.values()]
        kept = predictions.filter(where) if where else predictions
        keep = [c for c in kept.columns if c in (f"{UNIQUE_ID}_l", f"{UNIQUE_ID}_r", "match_weight", "match_probability") or c.startswith(("gamma_", "mw_"))]
        pairs = kept.select(*keep)
        if conditional and fs.exists(conditional_u_path(model_path)):
            pairs = pairs.select("*, match_weight AS model_match_weight, match_probability AS model_match_probability")
            for column, sql in dependence.cap_columns(fs.read_json(conditional_u_path(model_path)), pairs.columns):
                pairs = pairs.select(f"* REPLACE ({sql} AS {column})" if column in pairs.columns else f"*, {sql} AS {column}")
        return pairs, generated

    def _comparison_vectors(self, linker) -> tuple[Any, int]:
        """The blocked pairs' comparison vectors as Splink's ``predict`` computes them, materialised."""
        from splink.internals.comparison_vector_values import compute_comparison_vector_values_from_id_pairs_sqls  # noqa: PLC0415
        from splink.internals.pipeline import CTEPipeline  # noqa: PLC0415
        from splink.internals.vertically_concatenate import enqueue_df_concat_with_tf  # noqa: PLC0415

        s = linker._settings_obj
        blocked = linker.inference.compute_blocked_pairs_for_predict()
        pipeline = CTEPipeline([blocked])
        enqueue_df_concat_with_tf(linker, pipeline)
        pipeline.enqueue_list_of_sqls(
            compute_comparison_vector_values_from_id_pairs_sqls(
                s._columns_to_select_for_blocking, s._columns_to_select_for_comparison_vector_values,
                input_tablename_l="__splink__df_concat_with_tf", input_tablename_r="__splink__df_concat_with_tf",
                source_dataset_input_column=s.column_info_settings.source_dataset_input_column,
                unique_id_input_column=s.column_info_settings.unique_id_input_column, link_type=s._link_type, sql_dialect_str="duckdb",
            )
        )  # fmt: skip
        vectors = self._db.sql_pipeline_to_splink_dataframe(pipeline)
        blocked.drop_table_from_database_and_remove_from_cache()  # Splink caches blocked pairs per connection, not per rule
        return vectors, int(vectors.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0])

    def _drop_previous(self) -> None:
        for table in self._previous:
            if isinstance(table, str):
                self._db._execute_sql_against_backend(f"DROP VIEW IF EXISTS {table}")
            else:
                table.drop_table_from_database_and_remove_from_cache(force_non_splink_table=True)
        self._previous = []

    def _with_frequencies(self, vectors, lookups: Mapping[str, Any]) -> str:
        """A view of ``vectors`` whose term-frequency columns are read from ``lookups`` (left
        joins on each side's value, as Splink attaches them to the records)."""
        replaced, joins = [], []
        for i, (column, lookup) in enumerate(lookups.items()):
            for side in ("l", "r"):
                alias = f"tf{i}{side}"
                replaced.append(f"{alias}.tf_{column} AS tf_{column}_{side}")
                joins.append(f"LEFT JOIN {lookup.physical_name} AS {alias} ON v.{column}_{side} = {alias}.{column}")
        name = f"__vectors_{uuid.uuid4().hex[:8]}"
        select = f"v.* REPLACE ({', '.join(replaced)})" if replaced else "v.*"
        self._db._execute_sql_against_backend(f"CREATE VIEW {name} AS SELECT {select} FROM {vectors.physical_name} AS v {' '.join(joins)}")
        return name


def scaled_frequencies(table, column: str, scale: float):
    """An Arrow term-frequency table (``column``, ``tf_<column>``) with its frequencies multiplied by ``scale``."""
    import pyarrow.compute as pc  # noqa: PLC0415

    name = f"tf_{column}"
    return table.set_column(table.schema.get_field_index(name), name, pc.multiply(table.column(name), scale))


def level_sums(pairs, comparison: str) -> dict[int, tuple[int, float]]:
    """:func:`dependence.level_sums` of scored pairs on Spark (a DataFrame) or in the driver (a
    DuckDB relation from :meth:`DriverPairs.score`)."""
    if isinstance(pairs, DataFrame):
        return dependence.level_sums(pairs, comparison)
    gamma = f"gamma_{comparison}"
    rows = pairs.filter(f"{gamma} >= 0").aggregate(f"{gamma}, count(*), sum(1 - match_probability)", gamma).fetchall()
    return {int(g): (int(n), float(e or 0.0)) for g, n, e in rows}


def _hash_rank(seed: int) -> Column:
    """A number in [0, 1) per record, uniform and repeatable: a seeded hash of the record key."""
    return (F.abs(F.xxhash64(F.col(UNIQUE_ID), F.lit(seed))) % F.lit(1_000_000_007)) / F.lit(1_000_000_007.0)


def carry_parameters(trained: dict, target: dict) -> dict:
    """``target`` (settings in the dialect that will predict) with λ, m and u taken from ``trained``.

    Both must come from the same comparison definitions: comparisons and their levels are
    matched by position and checked by output column and level label.
    """
    out = copy.deepcopy(target)
    out["probability_two_random_records_match"] = trained["probability_two_random_records_match"]
    if len(trained["comparisons"]) != len(out["comparisons"]):
        raise ValueError("the trained and target settings have different comparisons")
    for source, dest in zip(trained["comparisons"], out["comparisons"], strict=True):
        if source["output_column_name"] != dest["output_column_name"] or len(source["comparison_levels"]) != len(dest["comparison_levels"]):
            raise ValueError(f"comparison {dest['output_column_name']}: the trained and target settings differ")
        for a, b in zip(source["comparison_levels"], dest["comparison_levels"], strict=True):
            if a.get("label_for_charts") != b.get("label_for_charts"):
                raise ValueError(f"comparison {dest['output_column_name']}: level {a.get('label_for_charts')!r} against {b.get('label_for_charts')!r}")
            for key in ("m_probability", "u_probability"):
                if key in a:
                    b[key] = a[key]
                else:
                    b.pop(key, None)
    return out


# The exact levels whose u is re-estimated from every pair on them: comparison -> the columns
# its most identifying level requires equal, and the columns a rule must block on to generate
# all those pairs (full_name_std is the canonical first name and the surname). Different people
# sharing a full name are mostly strangers, whose other fields disagree, and different people
# sharing a home are family, whose first names differ: the model's own probabilities count
# both as non-matches. On large data the random sample cannot measure either level: it puts
# a shared address's u at its floor (docs/settings.md). Shared e-mail addresses and phone numbers are
# not refined this way: the people sharing one are usually one household, whose surname and
# address agree too, so the model would take them for matches and drive u down
# (docs/settings.md).
REFINED_LEVELS = {
    "name": (("full_name_std",), ("first_name_canonical", "surname_std")),
    "location": (("postcode_std", "address_line_1_std"), ("postcode_std", "address_line_1_std")),
}
# Rounds of re-estimating u from every pair on an exact level (see refine_u_of_exact_levels).
U_REFINE_ROUNDS = 3
# Refinement stops early once no refined u moves by more than this share in a round.
U_REFINE_TOLERANCE = 0.02


def exact_columns(sql_condition: str) -> set[str] | None:
    """The columns a level requires equal, when its condition is only such equalities joined by
    AND (``a_l = a_r AND b_l = b_r``); otherwise None."""
    condition = re.sub(r"[`\"()]", "", sql_condition)
    parts = [p.strip() for p in re.split(r"\s+AND\s+", condition, flags=re.IGNORECASE)]
    matched = [re.fullmatch(r"(\w+)_l\s*=\s*(\w+)_r", p) for p in parts]
    if not all(m and m.group(1) == m.group(2) for m in matched):
        return None
    return {m.group(1) for m in matched}


def u_refined_path(model_path: str) -> str:
    """Where the re-estimated u of exact levels is recorded: comparison -> level, column,
    u from sampling, u refined, expected non-matches and pairs on the level."""
    return beside_model(model_path, "u_refined")


def _score_every_pair(
    spark: SparkSession, model: ModelConfig, records_by_source: Mapping[str, DataFrame], model_path: str, rule: Sequence[str], purpose: str,
    conditional: bool = False, where: str | None = None, driver: DriverPairs | None = None, rule_pairs: dict | None = None,
) -> tuple[Any, float, float] | None:  # fmt: skip
    """Every pair ``rule`` generates (those ``where`` keeps, a SQL condition on their levels),
    scored by the saved model without the link guard (and without conditional evidence
    unless ``conditional``), as (pairs, scale, record sample rate); None when the rule exceeds
    ``model.max_comparisons``.

    Above ``model.training.refine_max_pairs`` pairs (crowds of a common value grow as the
    square of their size), a seeded sample of records is scored: it keeps a share rate**2 of
    the pairs, uniformly, and sums over them are multiplied by ``scale`` to stand for all.
    With ``driver`` (the ``driver_sample`` engine), the pairs among the driver's sample are
    scored there (:class:`DriverPairs`, a DuckDB relation instead of a Spark DataFrame; sum
    them with :func:`level_sums`) and scaled the same way. ``rule_pairs`` keeps each
    rule's pair count over all records between calls.
    """
    counts = rule_pairs if rule_pairs is not None else {}
    if tuple(rule) not in counts:
        (counted,) = count_comparisons(reduce(DataFrame.unionByName, records_by_source.values()), [rule])
        counts[tuple(rule)] = counted.comparisons
    comparisons = counts[tuple(rule)]
    if comparisons > model.max_comparisons:
        log.info("%s: not estimated, blocking on %s would score %d pairs", purpose, "+".join(rule), comparisons)
        return None
    if driver is not None:
        pairs, generated = driver.score(spark, model_path, rule, where, conditional and bool(model.conditional_evidence))
        scale = comparisons / max(generated, 1)
        log.info("%s: scored %d of %d pairs among the driver's sample (pairs scaled by %.1f)", purpose, generated, comparisons, scale)
        return pairs, scale, driver.rate
    scored_by_source, rate = records_by_source, 1.0
    if comparisons > model.training.refine_max_pairs:
        rate = math.sqrt(model.training.refine_max_pairs / comparisons)
        scored_by_source = {name: df.filter(_hash_rank(model.training.seed) < rate) for name, df in records_by_source.items()}
    pairs = predict_pairs(
        spark,
        dataclasses.replace(model, blocking_rules=(tuple(rule),), link_guard=None, conditional_evidence=model.conditional_evidence if conditional else ()),
        scored_by_source,
        model_path,
        threshold=0.0,
    )
    scale = 1.0
    if rate < 1.0:
        scale = comparisons / max(pairs.count(), 1)
        log.info("%s: scored a %.3f sample of records (pairs scaled by %.1f)", purpose, rate, scale)
    return (pairs if where is None else pairs.filter(where)), scale, rate


def refine_u_of_exact_levels(
    spark: SparkSession, model: ModelConfig, records_by_source: Mapping[str, DataFrame], model_path: str, possible: int, record: dict | None = None,
    driver: DriverPairs | None = None, rule_pairs: dict | None = None,
) -> dict:  # fmt: skip
    """Re-estimate u of the exact levels in ``REFINED_LEVELS`` from the pairs on them, not a random sample.

    Random sampling sees about ``u_max_pairs`` pairs, so it cannot measure a u much below
    ``1 / u_max_pairs``, and after taking out the matches (:func:`u_without_matches`) what
    remains of an identifying level (an exact full name) is mostly noise. Yet every pair on
    such a level is found by blocking on the columns it is made of. One EM step over all
    of them: the expected non-matches there are the sum of (1 - p) over those pairs, and u
    is that share of all non-matching pairs. Other levels keep their shares of the rest.
    ``possible`` is the number of pairs the link type considers (:func:`model_design.possible_pairs`).
    Where the rule generates more than ``model.training.refine_max_pairs`` pairs (crowds of a
    common name grow as the square of their size), a seeded sample of records is scored and
    its sums scaled by the rule's full pair count; with ``driver``, the driver's sample is
    (see :func:`_score_every_pair`).
    Returns the updated settings (the caller saves them); ``record`` collects what changed.
    """
    settings = fs.read_json(model_path)
    lam = float(settings["probability_two_random_records_match"])
    non_matches = possible * (1 - lam)
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        lv, gamma = levels[0], len(levels) - 1  # the comparison's most identifying level
        equal, rule = REFINED_LEVELS.get(comparison["output_column_name"], ((), ()))
        if not equal or exact_columns(lv["sql_condition"]) != set(equal):
            continue
        column = "+".join(equal)
        if not all(c in df.columns for df in records_by_source.values() for c in rule):
            continue
        on = f"gamma_{comparison['output_column_name']} = {gamma}"
        scored = _score_every_pair(
            spark, model, records_by_source, model_path, rule, f"u of {comparison['output_column_name']} ({column})", where=on, driver=driver, rule_pairs=rule_pairs
        )  # fmt: skip
        if scored is None:
            continue
        pairs, scale, rate = scored
        on_level = level_sums(pairs, comparison["output_column_name"]).get(gamma, (0, 0.0))
        n_pairs, expected = round(on_level[0] * scale), on_level[1] * scale
        before = lv.get("u_probability")
        u = max(expected, 1.0) / max(non_matches, 1.0)
        rest = [o for o in levels if o is not lv and o.get("u_probability") is not None]
        others = sum(o["u_probability"] for o in rest)
        for o in rest:
            o["u_probability"] = o["u_probability"] * (1 - u) / others if others else o["u_probability"]
        lv["u_probability"] = u
        if record is not None:
            entry = record.setdefault(comparison["output_column_name"], {"level": lv.get("label_for_charts", column), "column": column, "sampled": before})
            entry.update(refined=u, expected_non_matches=expected, pairs=n_pairs, non_matching_pairs=non_matches, record_sample_rate=rate)
        log.info(
            "u of %s (%s): %.3g from %.1f expected non-matches among every pair on it (was %s)",
            comparison["output_column_name"],
            lv.get("label_for_charts", column),
            u,
            expected,
            before,
        )
    return settings


def conditional_u_path(model_path: str) -> str:
    """Where the comparisons' shares on the given levels are recorded (a list of ``dependence.estimate_from_sums`` results)."""
    return beside_model(model_path, "conditional_u")


# Rounds of re-estimating conditional u with the caps of the round before in force.
CONDITIONAL_ROUNDS = 3


def _levels_by_gamma(comparison: Mapping) -> dict[int, dict]:
    """A saved comparison's non-null levels by gamma (Splink numbers them from the last, 0, up)."""
    levels = [lv for lv in comparison.get("comparison_levels", []) if not lv.get("is_null_level")]
    return {len(levels) - 1 - i: lv for i, lv in enumerate(levels)}


def _given_levels(spec: ConditionalEvidence, settings: dict) -> tuple[list[int], set[str]] | None:
    """The gammas of ``spec.given``'s levels ``spec.levels`` names and the columns they require
    equal; None (with a message) when the model lacks the comparisons or the levels are not
    exact matches on columns."""
    by_name = {c["output_column_name"]: c for c in settings["comparisons"]}
    found = [(gamma, lv) for gamma, lv in _levels_by_gamma(by_name.get(spec.given, {})).items() if lv.get("label_for_charts") in spec.levels]
    columns = [exact_columns(lv["sql_condition"]) for _, lv in found]
    if spec.comparison not in by_name or not found or not all(columns):
        log.info(
            "model.conditional_evidence: the model has no comparison %r, or no level %s of %r that is an exact match on columns; skipped",
            spec.comparison, list(spec.levels), spec.given,
        )  # fmt: skip
        return None
    return [gamma for gamma, _ in found], set.intersection(*columns)


def estimate_conditional_evidence(
    spark: SparkSession, model: ModelConfig, records_by_source: Mapping[str, DataFrame], model_path: str,
    driver: DriverPairs | None = None, rule_pairs: dict | None = None,
) -> list[dict]:  # fmt: skip
    """Estimate each ``model.conditional_evidence`` entry's shares from every pair on its given
    levels (``dependence.estimate_from_sums``), in rounds that score the pairs with the previous round's
    caps in force, and save them at :func:`conditional_u_path`. Pairs sharing given levels are
    scored once per round for all the entries that name them."""
    settings = fs.read_json(model_path)
    by_name = {c["output_column_name"]: c for c in settings["comparisons"]}
    groups: dict[tuple[str, tuple[int, ...], tuple[str, ...]], list[ConditionalEvidence]] = {}
    for spec in model.conditional_evidence:
        given = _given_levels(spec, settings)
        if given is not None and all(c in df.columns for df in records_by_source.values() for c in given[1]):
            groups.setdefault((spec.given, tuple(given[0]), tuple(sorted(given[1]))), []).append(spec)

    def shares(results: list[dict]) -> dict:
        return {(r["comparison"], r["given"], g): lv["u_given"] for r in results for g, lv in r["levels"].items()}

    results: list[dict] = []
    fs.write_json(conditional_u_path(model_path), results)  # the first round scores without caps
    for _ in range(CONDITIONAL_ROUNDS):
        before = shares(results)
        results = []
        for (given, gammas, columns), specs in groups.items():
            on = f"gamma_{given} IN ({', '.join(str(g) for g in gammas)})"
            scored = _score_every_pair(
                spark, model, records_by_source, model_path, columns, f"evidence given {given}", conditional=True, where=on, driver=driver, rule_pairs=rule_pairs
            )  # fmt: skip
            if scored is None:
                continue
            pairs, scale, _ = scored
            on_given = pairs.cache() if isinstance(pairs, DataFrame) else pairs
            for spec in specs:
                levels = {
                    gamma: (lv.get("label_for_charts", str(gamma)), float(lv["m_probability"]), float(lv["u_probability"]))
                    for gamma, lv in _levels_by_gamma(by_name[spec.comparison]).items()
                }
                result = dependence.estimate_from_sums(level_sums(on_given, spec.comparison), levels, scale)
                result.update(comparison=spec.comparison, given=given, given_levels=list(spec.levels), given_gammas=list(gammas), columns=list(columns))
                results.append(result)
            if isinstance(on_given, DataFrame):
                on_given.unpersist()
        fs.write_json(conditional_u_path(model_path), results)
        if before and all(abs(u / before.get(k, u) - 1) < U_REFINE_TOLERANCE for k, u in shares(results).items()):
            break
    for r in results:
        if not r["active"]:
            log.info(
                "%s given %s: %.1f expected non-matching pairs on %s (fewer than %d): it weighs as the model says",
                r["comparison"], r["given"], r["expected_non_matches"], r["given_levels"], dependence.MIN_EXPECTED_NON_MATCHES,
            )  # fmt: skip
            continue
        for lv in sorted(r["levels"].values(), key=lambda lv: -lv["u_given"] / lv["u"]):
            if dependence.lowers(lv):
                log.info(
                    "%s given %s: %r is %.3g of the different people there (%.3g of all): weight at most %.2f",
                    r["comparison"], r["given"], lv["label"], lv["u_given"], lv["u"], lv["max_weight"],
                )  # fmt: skip
    return results


def u_without_matches(settings: dict, floor: float) -> dict:
    """Remove the matching pairs from u: Splink estimates u on random pairs as if none matched.

    Among random pairs a share λ is the same person, so what the sample measures for a level
    is λ·m + (1 − λ)·u. Where records are often duplicated, λ·m is most of it on identifying
    levels (an exact full name): u is then several times too high and the level's weight too
    low. Each level's u becomes (u_sampled − λ·m) / (1 − λ), at least ``floor`` (one pair
    of the sample), and a comparison's u values are scaled back to sum to 1.
    """
    lam = float(settings.get("probability_two_random_records_match") or 0.0)
    if not 0 < lam < 1:
        return settings
    for comparison in settings["comparisons"]:
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level") and lv.get("u_probability") is not None]
        for lv in levels:
            m = lv.get("m_probability")
            if m is not None:
                lv["u_probability"] = max((lv["u_probability"] - lam * m) / (1 - lam), floor)
        total = sum(lv["u_probability"] for lv in levels)
        for lv in levels:
            lv["u_probability"] = lv["u_probability"] / total
    return settings


def without_untrained_defaults(settings: dict, floor: float) -> dict:
    """Levels the data never estimated carry no evidence instead of Splink's defaults.

    Splink gives a level that no EM session observed a default m (5% shared among the
    comparison's lower levels), whatever the level means, and a level no random pair reached a
    default u: an arbitrary weight, often strongly positive (a default m over a small sampled u).
    Such a level now weighs nothing (m = u); a level EM estimated but the random sample never
    reached gets u at ``floor``, one pair of the sample, as :func:`u_without_matches` does.
    """
    for comparison in settings["comparisons"]:
        for lv in comparison["comparison_levels"]:
            if lv.get("is_null_level"):
                continue
            u = lv.get("u_probability")
            if not isinstance(u, float | int):
                u = lv["u_probability"] = floor
            if not isinstance(lv.get("m_probability"), float | int):
                lv["m_probability"] = u
                log.info(
                    "comparison %s, level %r: not estimated from the data, so it carries no weight",
                    comparison["output_column_name"],
                    lv.get("label_for_charts"),
                )
    return settings


def _tf_level_u(settings: dict) -> dict[str, float]:
    """u of the first level adjusted by each term-frequency column (its exact-match level)."""
    out: dict[str, float] = {}
    for comparison in settings["comparisons"]:
        for lv in comparison["comparison_levels"]:
            column = lv.get("tf_adjustment_column")
            if column and column not in out and lv.get("u_probability"):
                out[column] = float(lv["u_probability"])
    return out


def _skip(rule: Sequence[str], purpose: str) -> bool:
    log.warning("%s rule %s finds no pairs in these records: skipped", purpose, "+".join(rule))
    return False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def tf_dir(model_path: str) -> str:
    """Where a saved model keeps its term-frequency lookups (one parquet table per column)."""
    return beside_model(model_path, "term_frequencies")


def tf_path(model_path: str, column: str) -> str:
    return beside_model(model_path, "term_frequencies", column)


def tf_columns(model_path: str) -> list[str]:
    """The columns whose levels the saved model adjusts by term frequency."""
    settings = fs.read_json(model_path)
    return sorted({lvl["tf_adjustment_column"] for c in settings["comparisons"] for lvl in c["comparison_levels"] if lvl.get("tf_adjustment_column")})


def has_term_frequencies(model_path: str) -> bool:
    return all(fs.is_dir(tf_path(model_path, c)) for c in tf_columns(model_path))


PAIR_COLUMNS = ("match_weight", "match_probability", "model_match_weight", "model_match_probability", "link_guarded", "match_key")


def _explainable_settings(model_path: str) -> dict:
    """The saved model's settings, keeping with each pair its compared values, levels
    (gamma_*), weights (mw_*) and term frequencies (tf_*), so any pair can be explained and
    drawn as a waterfall later."""
    settings = fs.read_json(model_path)
    settings["retain_matching_columns"] = True
    settings["retain_intermediate_calculation_columns"] = True
    return settings


NEW_FLAG = "_is_new"


def predict_pairs(
    spark: SparkSession,
    model: ModelConfig,
    records_by_source: Mapping[str, DataFrame],
    model_path: str,
    threshold: float,
    overrides: SplinkOverrides = NO_OVERRIDES,
) -> DataFrame:
    """Score the blocked pairs with a saved model; pairs below ``threshold`` are dropped.
    The pairs are read from Splink's materialised predictions, with the link guard and
    conditional caps applied as they are read.

    The model's saved term frequencies are used when it has them, so a pair scores the same
    whatever else is in the batch. When the records carry a boolean ``_is_new`` column,
    only pairs with at least one new record are scored (an incremental run: the other
    pairs were scored before). Bounded rules' keys (``resolution.blocking``) are sized over
    all the records given, unless the records already carry them (an incremental run sizes
    them over every record, not over those it scores).
    """
    records_by_source = with_block_keys_by_source(records_by_source, model.blocking_rules)
    with splink_spark_settings(spark, model):
        db_api, inputs, link_type = _register(spark, model, records_by_source, overrides)
        settings = {**_explainable_settings(model_path), **overrides.settings}
        settings["link_type"] = link_type
        rules = [_block_on(r).create_blocking_rule_dict("spark") for r in model.blocking_rules]
        only_new = any(NEW_FLAG in df.columns for df in records_by_source.values())
        if only_new:
            for rule in rules:
                rule["blocking_rule"] = f"({rule['blocking_rule']}) AND (l.{NEW_FLAG} OR r.{NEW_FLAG})"
        settings["blocking_rules_to_generate_predictions"] = rules
        linker = new_linker(inputs, settings)
        if has_term_frequencies(model_path):
            for column in tf_columns(model_path):
                lookup = db_api.register(spark.read.parquet(tf_path(model_path, column)), table_name=f"tf_{column}_{uuid.uuid4().hex[:8]}")
                linker.table_management.register_term_frequency_lookup(lookup, column)
        elif only_new:
            raise ModelTrainingError(
                f"the model {model_path} has no saved term frequencies ({tf_dir(model_path)}): an incremental run needs them; retrain with a full refresh"
            )
        # The threshold is applied to Splink's materialised predictions, not passed to Splink:
        # Splink's threshold is a WHERE on the match weight, which Spark pushes down into the
        # join of the pairs with their records, so every comparison is computed twice (in the
        # join condition and again in the projection). Filtering afterwards computes it once
        # (docs/settings.md).
        predictions = with_source_datasets(linker.inference.predict(**overrides.predict).as_spark_dataframe().filter(F.col("match_probability") >= threshold))
        if model.conditional_evidence:
            predictions = _with_saved_conditional_evidence(predictions, model_path)
        if model.link_guard is not None and f"gamma_{model.link_guard.comparison}" not in predictions.columns:
            log.warning("model.link_guard: the model has no comparison '%s'; no pair is guarded", model.link_guard.comparison)
        elif model.link_guard is not None:
            predictions = with_link_guard(predictions, model.link_guard, guarded_levels(model_path, model.link_guard))
        first = [f"{UNIQUE_ID}_l", f"{UNIQUE_ID}_r", "source_dataset_l", "source_dataset_r", *[c for c in PAIR_COLUMNS if c in predictions.columns]]
        # Splink has materialised its predictions (model.spark.break_lineage_method): what is
        # returned reads them, so the caller's write is the only other copy of the pairs
        return predictions.select(*first, *[c for c in predictions.columns if c not in first])


def _with_saved_conditional_evidence(predictions: DataFrame, model_path: str) -> DataFrame:
    """``dependence.with_conditional_caps`` with the shares saved beside the model, if any."""
    if not fs.exists(conditional_u_path(model_path)):
        log.warning("model.conditional_evidence: %s was not found (a model trained before it existed); no weight is capped", conditional_u_path(model_path))
        return predictions
    return dependence.with_conditional_caps(predictions, fs.read_json(conditional_u_path(model_path)))


# --------------------------------------------------------------------------- link guard


def guarded_levels(model_path: str, guard: LinkGuard) -> list[int]:
    """The gamma values of the saved model's levels that ``guard`` names, by label."""
    labels = level_labels(model_path)
    levels = {label: gamma for comparison, gamma, label in labels if comparison == guard.comparison}
    if not levels:
        comparisons = sorted({c for c, _, _ in labels})
        raise ConfigError(f"model.link_guard.comparison: '{guard.comparison}' is not a comparison of the model {model_path}; it has {comparisons}")
    missing = [label for label in guard.levels if label not in levels]
    if missing:
        raise ConfigError(
            f"model.link_guard.levels: {missing} are not levels of comparison '{guard.comparison}' in {model_path}; its levels are {sorted(levels)}"
        )
    return [levels[label] for label in guard.levels]


def with_link_guard(pairs: DataFrame, guard: LinkGuard, gammas: Sequence[int]) -> DataFrame:
    """Cap the match probability of pairs the guard holds back; keep Splink's own beside it.

    A pair is held back (``link_guarded``) when its guarded comparison is on one of
    ``gammas`` and none of ``guard.unless_equal`` agrees exactly (a null on either side is
    no agreement). Its ``match_probability`` becomes at most ``guard.max_probability`` and
    its ``match_weight`` follows (calibration bins pairs by weight);
    ``model_match_probability`` and ``model_match_weight`` keep the model's values.
    """
    agrees = F.lit(False)
    for column in [c for c in guard.unless_equal if f"{c}_l" in pairs.columns]:  # identifiers the model compares
        agrees = agrees | F.coalesce(F.col(f"{column}_l") == F.col(f"{column}_r"), F.lit(False))
    guarded = F.coalesce(F.col(f"gamma_{guard.comparison}").isin(*gammas), F.lit(False)) & ~agrees
    p = F.col("match_probability")
    capped = guarded & (p > guard.max_probability)
    cap_weight = math.log2(guard.max_probability / (1 - guard.max_probability))
    pairs = dependence.with_model_scores(pairs)
    return (
        pairs.withColumn("link_guarded", guarded)
        .withColumn("match_weight", F.when(capped, F.lit(cap_weight)).otherwise(F.col("match_weight")))
        .withColumn("match_probability", F.when(capped, F.lit(guard.max_probability)).otherwise(p))
    )


# --------------------------------------------------------------------------- explanation


def level_labels(model_path: str) -> list[tuple[str, int, str]]:
    """(comparison, gamma value, level label) for every level of the saved model."""
    from splink.internals.settings_creator import SettingsCreator as _SC  # noqa: PLC0415

    settings = _SC.from_path_or_dict(fs.read_json(model_path)).get_settings("spark")
    out = []
    for c in settings.comparisons:
        for level in c.comparison_levels:
            out.append((c.output_column_name, int(level.comparison_vector_value), level.label_for_charts))
    return out


def save_model_charts(
    spark: SparkSession,
    model: ModelConfig,
    records_by_source: Mapping[str, DataFrame],
    model_path: str,
    pairs: DataFrame,
    waterfalls: Mapping[str, list[dict]],
    write_chart: Callable[[dict, str], str],
    hide_values: bool = True,
) -> list[str]:
    """Splink's charts for the saved model, each handed as its Vega-Lite spec and a name to
    ``write_chart``, which writes it and returns where.

    Match weights, m/u parameters, the match-weight histogram of ``pairs`` and one waterfall
    chart per entry of ``waterfalls`` (pair rows of ``match_pairs`` as dicts). The compared
    values are left out of waterfalls unless ``hide_values`` is False.
    """
    written = []

    def save(chart, name: str) -> None:
        written.append(write_chart(chart.chart_dict, name))

    with splink_spark_settings(spark, model):
        db_api, inputs, link_type = _register(spark, model, records_by_source)
        linker = new_linker(inputs, {**_explainable_settings(model_path), "link_type": link_type})
        save(linker.visualisations.match_weights_chart(), "match_weights")
        save(linker.visualisations.m_u_parameters_chart(), "m_u_parameters")
        # the histogram query reads Splink's own predictions table name
        predictions = db_api.register(pairs.select("match_weight", "match_probability"), table_name="__splink__df_predict")
        save(linker.visualisations.match_weights_histogram(predictions), "match_weights_histogram")
        for category, records in waterfalls.items():
            if records:
                save(linker.visualisations.waterfall_chart(list(records), remove_sensitive_data=hide_values), f"waterfall_{category}")
    return written
