"""The trust stage's reads and writes: evaluation against true ids, the count and its sweep,
the count audit, the review queue and labels, and the explain charts. The jobs
``evaluate``, ``assess``, ``review`` and ``explain`` parse their arguments and call these."""

from __future__ import annotations

import dataclasses
import json

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from customer_identity.core import fs, progress
from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config
from customer_identity.core.errors import CustomerIdentityError
from customer_identity.core.masking import masked_personal_columns
from customer_identity.report.charts import count_draws_spec, current_schema, threshold_sweep_spec
from customer_identity.report.page import chart_page, review_page
from customer_identity.resolution import matching
from customer_identity.resolution.model_design import designed_model, saved_blocking_rules
from customer_identity.resolution.stage import ResolvePaths, review_labels, scored_pairs
from customer_identity.trust import audit
from customer_identity.trust.count import CERTAIN, calibrated_rates, calibration_bins, count_interval, sampled_counts
from customer_identity.trust.evaluation import blocking_ceiling, error_analysis, evaluate, labelled_truth, record_tags, record_truth, reliability
from customer_identity.trust.explain import customer_evidence
from customer_identity.trust.review import (
    ReviewFileError,
    merge_labels,
    model_accuracy_on_labels,
    review_cards,
    review_fields,
    review_queue,
    validate_decisions,
    with_differences,
    with_record_details,
)
from customer_identity.trust.sweep import best_threshold, threshold_sweep
from customer_identity.trust.unseen import unseen_merges

COUNT_INTERVAL_SCHEMA = (
    "estimate long, golden_count long, mean double, lower long, upper long, level double, draws long, uncertain_pairs long, method string, unseen_merges double"
)


def generator_truth(spark: SparkSession, cat: Catalog, crosswalk: DataFrame) -> DataFrame:
    """(record_key, person_id) for every identity record, from the generator's truth beside the sources."""
    resolved = cat.read(spark, "gold.transactions_resolved")
    return record_truth(crosswalk, cat.read(spark, "truth.table", table="records"), cat.read(spark, "truth.table", table="sessions"), resolved)


# --------------------------------------------------------------------------- evaluate


def evaluate_run(spark: SparkSession, config: Config, truth_path: str | None = None) -> None:
    """Compare the resolved customers with the true ids (the generator's, or ``truth_path``: a CSV of
    source_system, source_record_id, person_id) and append the figures to gold/evaluation; write
    gold/calibration (expected against true matches by match-weight bin) and print both."""
    cat = Catalog(config)
    crosswalk = cat.read(spark, "gold.customer_crosswalk")
    if truth_path:
        truth, relations = labelled_truth(spark, truth_path)
    else:
        truth, relations = generator_truth(spark, cat, crosswalk), cat.read(spark, "truth.table", table="relations")
    result = evaluate(crosswalk, truth, relations)
    records = cat.read(spark, "silver.identity_records")
    ceiling = blocking_ceiling(spark, records, truth, relations, saved_blocking_rules(cat.path("model.splink"), config.model), config.clustering)
    row = result.as_row() | {f"ceiling_{k}": v for k, v in dataclasses.asdict(ceiling).items()}
    row["merged_by_relation"] = json.dumps(row["merged_by_relation"])
    cat.write(spark.createDataFrame([row]).withColumn("evaluated_at", F.current_timestamp()), "gold.evaluation", mode="append", merge_schema=True)
    print(
        f"customers: {result.predicted_customers:,} resolved vs {result.true_customers:,} true (error {result.count_error:+,}, {result.count_error_pct:+.2f}%)"
    )
    print(f"pairwise precision {result.pairwise_precision:.4f} recall {result.pairwise_recall:.4f} F1 {result.pairwise_f1:.4f}")
    print(f"B-cubed precision {result.bcubed_precision:.4f} recall {result.bcubed_recall:.4f}")
    print(
        f"hard negatives merged: {result.hard_negatives_merged:,} of {result.hard_negative_pairs:,} pairs "
        f"({result.hard_negatives_merged_pct:.3f}%) {result.merged_by_relation}"
    )
    print(
        f"blocking ceiling: the rules bring together {ceiling.blocked_true_pairs:,} of {ceiling.true_pairs:,} true pairs "
        f"({100 * ceiling.pair_completeness:.2f}%); linking exactly those gives {ceiling.customers:,} customers "
        f"(error {ceiling.count_error_pct:+.2f}%), pairwise recall {ceiling.pairwise_recall:.4f} F1 {ceiling.pairwise_f1:.4f}"
    )
    table = (
        reliability(cat.read(spark, "silver.match_pairs"), truth, config.trust.calibration_bin_width).withColumn("evaluated_at", F.current_timestamp()).cache()
    )
    cat.write(table, "gold.calibration")
    rows = table.collect()
    print(f"calibration by match weight (bins of {config.trust.calibration_bin_width:g}): expected matches (sum of probabilities) against true ones")
    for r in rows:
        print(
            f"  weight {r.weight_from:>+6.1f}  pairs {r.pairs:>9,}  expected {r.probability_sum:>11,.1f}  true {r.true_matches:>9,}  "
            f"mean probability {r.mean_probability:.4f}  match rate {r.match_rate:.4f}"
        )
    total_p, total_true = sum(r.probability_sum for r in rows), sum(r.true_matches for r in rows)
    print(f"  all scored pairs: expected {total_p:,.1f}, true {total_true:,} ({(total_p - total_true) / max(total_true, 1):+.1%})")


# --------------------------------------------------------------------------- assess


def record_count_audit(spark: SparkSession, config: Config, labels: DataFrame | None) -> audit.AuditEstimate | None:
    """The count audit's estimate from the labels, appended to gold/count_audit and printed,
    when a sample drawn by ``jobs.review --audit`` has enough answers."""
    cat = Catalog(config)
    if not cat.exists(spark, "gold.audit_sample"):
        return None
    sample = cat.read(spark, "gold.audit_sample")
    audited = audit.audited_count(sample, cat.read(spark, "gold.audit_candidates"), labels) if labels is not None else None
    if audited is None:
        print(f"count audit: {sample.count():,} records drawn; waiting for answers (every stratum needs two audited records)")
        return None
    row = spark.createDataFrame([dataclasses.asdict(audited)]).withColumn("assessed_at", F.current_timestamp())
    cat.write(row, "gold.count_audit", mode="append", merge_schema=True)
    print(f"count audit: {audited.estimate:,.0f} distinct people (95% interval {audited.lower:,.0f} - {audited.upper:,.0f}, standard error {audited.se:,.1f}) "
          f"from {audited.audited_records:,} of {audited.sampled_records:,} sampled records; the golden table it was drawn against "
          f"({audited.golden_count:,}) is off by {audited.golden_error:+,.1f}")  # fmt: skip
    return audited


def _count_page(counts: list[int], interval, golden_count: int, naive: int, truth: int | None, threshold: float) -> str:
    intro = [
        f"Estimated distinct people: {interval.estimate:,}, {interval.level:.0%} range {interval.lower:,} to {interval.upper:,}. "
        f"The customer table holds {golden_count:,} customers (records joined at match probability {threshold} or more); "
        f"the sources hold {naive:,} identity records in all." + (f" The true count, known for this synthetic data, is {truth:,}." if truth else ""),
        f"Each draw decides every pair of records the model compared by its match probability (a pair at 0.9 is joined in about nine draws of ten), "
        f"then counts the people. The bars show how many of the {len(counts)} draws gave each count; the shaded band is the range that "
        f"holds {interval.level:.0%} of them, and the estimate is their average.",
    ]
    notes = [
        f"Records that no matching rule compared are never joined in a draw. How many people that leaves counted twice is estimated from how often one "
        f"person's records agree on what the rules look at (about {interval.unseen_merges:,.0f}), and each draw is lowered by its own estimate of it."
        if interval.unseen_merges is not None
        else "Records that no matching rule compared are never joined in a draw, so people whose records share nothing a rule looks at are counted more than once."
    ]
    return chart_page("How many distinct people: the estimate and its range",
                      [count_draws_spec(counts, interval.lower, interval.upper, interval.estimate, golden_count, truth)], intro, notes)  # fmt: skip


def _sweep_page(rows: list[dict], threshold: float) -> str:
    intro = [
        "The customer table joins two records when the model's match probability reaches the threshold. A lower threshold joins more pairs, "
        "so fewer customers; a higher one joins fewer. The line shows the count at each threshold tried, the dashed line the one configured "
        f"(model.match_threshold = {threshold}).",
    ]
    if rows and rows[0].get("f1") is not None:
        intro.append(f"Precision, recall and F1 are measured against {rows[0]['basis']}.")
    return chart_page("How the customer count moves with the match threshold", threshold_sweep_spec(rows, threshold), intro)


def assess_run(spark: SparkSession, config: Config, *, skip_interval: bool = False, show_pii: bool = False) -> None:
    """Threshold sweep, count estimate, count audit, error analysis (true ids only) and the review
    queue, written beside the resolved customers (see ``jobs.assess``)."""
    cat = Catalog(config)
    paths = ResolvePaths.from_catalog(cat)
    t = config.trust
    threshold = config.model.match_threshold
    records = cat.read(spark, "silver.identity_records")
    crosswalk = cat.read(spark, "gold.customer_crosswalk")
    pairs, labels = scored_pairs(spark, paths)
    truth = relations = None
    if cat.has_truth(spark):
        truth, relations = generator_truth(spark, cat, crosswalk).cache(), cat.read(spark, "truth.table", table="relations")

    # threshold sweep
    print(f"threshold sweep: clustering the scored pairs at {len(t.sweep_thresholds)} thresholds in one job", flush=True)
    with progress.spark_tasks(spark, "threshold sweep"):
        sweep = threshold_sweep(spark, records, pairs, list(t.sweep_thresholds), config.clustering, truth, relations, labels)
        cat.write(sweep, "gold.threshold_sweep")
    rows = [r.asDict() for r in sweep.orderBy("threshold").collect()]
    fs.write_text(cat.path("trust.threshold_sweep_chart"), _sweep_page(rows, threshold))
    print(f"threshold sweep ({rows[0]['basis']}):")
    for r in rows:
        acc = f"P {r['precision']:.4f} R {r['recall']:.4f} F1 {r['f1']:.4f}" if r["f1"] is not None else "no labels"
        print(f"  {r['threshold']:<6} customers {r['customers']:>9,}  {acc}")
    best = best_threshold(sweep)
    print(f"configured match threshold {threshold} (model.match_threshold; docs/settings.md says why); best F1 in this sweep at {best}")

    # the count with an interval
    golden_count = crosswalk.select("customer_id").distinct().count()
    if not skip_interval:
        rates, method = None, "model probabilities"
        if labels is not None:
            raw = cat.read(spark, "silver.match_pairs")
            bins = calibration_bins(raw, labels, t.calibration_bin_width)
            rates = calibrated_rates(bins, t.interval_draws, t.seed, t.calibration_prior_strength)
            method = f"calibrated by {sum(b.labelled for b in bins):,} review labels in {sum(1 for b in bins if b.labelled):,} match-weight bins"
        print(f"the count's range: {t.interval_draws} draws, each accepting every scored pair with its probability, clustered in one job", flush=True)
        with progress.spark_tasks(spark, f"{t.interval_draws} draws"):
            draws = sampled_counts(spark, records, pairs, t.interval_draws, t.seed, config.clustering, rates, t.calibration_bin_width)
            counts = [r.customers for r in draws.collect()]
        p = F.col("match_probability")
        uncertain = pairs.filter((p > 0) & (p < CERTAIN)).count()
        model_path = cat.path("model.splink")
        print("merges between records no blocking rule compared: estimating from the linked pairs", flush=True)
        with progress.spark_tasks(spark, "unseen merges"):
            unseen = unseen_merges(records, pairs, crosswalk, saved_blocking_rules(model_path, config.model),
                                   designed_model(config.model, model_path).comparisons, threshold, t.seed)  # fmt: skip
        lost = unseen.draws(t.interval_draws, t.seed + 2) if unseen is not None else None
        interval = count_interval(counts, golden_count, t.interval_level, uncertain, method, lost)
        shown_counts = [round(c - u) for c, u in zip(counts, lost)] if lost is not None else counts
        row = spark.createDataFrame([interval.as_row()], COUNT_INTERVAL_SCHEMA).withColumn("assessed_at", F.current_timestamp())
        cat.write(row, "gold.count_interval", mode="append", merge_schema=True)
        true_count = truth.select("person_id").distinct().count() if truth is not None else None
        fs.write_text(cat.path("trust.count_interval_chart"), _count_page(shown_counts, interval, golden_count, records.count(), true_count, threshold))
        print(
            f"distinct people: {interval.estimate:,} ({interval.level:.0%} interval {interval.lower:,} - {interval.upper:,}; {method}); "
            f"golden table: {golden_count:,} customers at threshold {threshold}"
        )
        print(f"  from {interval.draws} draws of {uncertain:,} uncertain pairs (mean {interval.mean:,.1f})")
        print(
            f"  each draw lowered by its own estimate ({interval.unseen_merges:,.1f} on average) of {unseen.describe()}"
            if unseen is not None
            else "  matches between records no blocking rule compared are not counted: every rule keys on one comparison, so how often they are missed cannot be estimated"
        )

    # the count audit, once a sample drawn by jobs.review --audit has its answers
    record_count_audit(spark, config, labels)

    # error analysis
    if truth is not None:
        resolved = cat.read(spark, "gold.transactions_resolved")
        tags = record_tags(cat.read(spark, "truth.table", table="records"), cat.read(spark, "truth.table", table="sessions"), resolved, crosswalk)
        errors = error_analysis(crosswalk, truth, tags, relations).cache()
        cat.write(errors, "gold.error_analysis")
        print("error analysis (record pairs):")
        for r in errors.collect():
            rate = f"{r.error_rate:.2%} of {r.pairs:,}" if r.pairs else ""
            print(f"  {r.kind:<13} {r.category:<22} {r.errors:>8,} {rate}")

    # review queue
    queue = review_queue(
        pairs, crosswalk, threshold, t.review_low, t.review_high, t.review_weak_link, t.review_limit, t.calibration_per_bin, t.calibration_bin_width, t.seed
    )
    cat.write(queue, "gold.review_queue")
    fields = review_fields(records)
    evidence = [c for c in queue.columns if c.startswith(("gamma_", "mw_"))]
    first = F.when(F.col("reason") == "near threshold", 0).when(F.col("reason") == "calibration sample", 2).otherwise(1)
    shown = with_differences(
        with_record_details(queue.select("record_key_l", "record_key_r", "decision", "reason", "distance_to_threshold", "match_probability", "match_weight",
                                         *[c for c in ("model_match_weight", "source_dataset_l", "source_dataset_r") if c in queue.columns], *evidence),
                            records, fields),
        fields,
    ).withColumn("_order", first)  # fmt: skip
    if not show_pii:  # the reviewer who must see the details asks for them
        shown = masked_personal_columns(shown)
    shown = shown.orderBy("_order", "reason", "distance_to_threshold", "record_key_l", "record_key_r").drop("_order").cache()
    export = shown.select("record_key_l", "record_key_r", "decision", "reason", "match_probability", "match_weight", "source_dataset_l", "source_dataset_r",
                          *[f"{f}_{side}" for f in fields for side in ("l", "r")])  # fmt: skip
    csv_path = cat.write_table(export, "trust.review_queue_csv")
    levels = {(c, g): label for c, g, label in matching.level_labels(cat.path("model.splink"))}
    cards = review_cards([r.asDict() for r in shown.collect()], fields, levels, threshold)
    intro = ["Pairs the model is least sure about (near the match threshold), links holding large customers together, and a calibration sample "
             "from every weight band. For each pair, decide whether the two records are the same person; highlighted fields differ. "
             "The weights say how much each comparison moved the model towards (+) or away from (-) a match; with the prior they add up to the pair's weight."]  # fmt: skip
    fs.write_text(cat.path("trust.review_queue_html"), review_page("Review queue: same person or not?", cards, intro, not show_pii, "review_decisions.csv"))
    shown.unpersist()
    print(f"review queue: {queue.count():,} pairs -> {csv_path} and {cat.path('trust.review_queue_html')} (decide each pair, then run jobs.review --decisions)")


# --------------------------------------------------------------------------- review and audit


def simulated_decisions(spark: SparkSession, config: Config) -> DataFrame:
    """The review queue answered from ground truth: what a perfect reviewer would say."""
    cat = Catalog(config)
    queue = cat.read(spark, "gold.review_queue")
    return answered_from_truth(spark, config, queue)


def draw_audit(spark: SparkSession, config: Config, n: int, seed: int, show_pii: bool) -> DataFrame:
    """Draw the count audit's sample and write it, its candidates and the reviewers' queue."""
    cat = Catalog(config)
    paths = ResolvePaths.from_catalog(cat)
    records = cat.read(spark, "silver.identity_records")
    crosswalk = cat.read(spark, "gold.customer_crosswalk")
    pairs, _ = scored_pairs(spark, paths)
    sample = audit.draw_sample(records, crosswalk, pairs, n, seed).localCheckpoint(eager=True)
    cands = audit.candidates(sample, crosswalk, pairs, records).localCheckpoint(eager=True)
    cat.write(sample, "gold.audit_sample")
    cat.write(cands, "gold.audit_candidates")
    queue = audit.audit_queue(sample, cands).localCheckpoint(eager=True)
    shown = review_fields(records)
    export = (
        with_record_details(queue, records, shown)
        .select("audited_record", "record_key_l", "record_key_r", "decision", *[f"{c}_{side}" for c in shown for side in ("l", "r")])
        .orderBy("audited_record", "record_key_l", "record_key_r")
    )
    export = with_differences(export, shown)
    if not show_pii:
        export = masked_personal_columns(export)
    export = export.cache()
    csv_path = cat.write_table(export.drop(*[f"differs_{c}" for c in shown]), "trust.audit_queue_csv")
    rows = [r.asDict() for r in export.collect()]
    cards = review_cards(rows, shown, {}, config.model.match_threshold)
    for card, row in zip(cards, rows, strict=True):
        card["reason"] = f"audited record {row['audited_record']}: is this candidate the same person?"
    intro = ["Each audited record, drawn at random, with every record that could be the same person. Mark each candidate: the answers "
             "estimate how many distinct people there are without relying on the model."]  # fmt: skip
    fs.write_text(
        cat.path("trust.audit_queue_html"), review_page("Count audit: which candidates are the same person?", cards, intro, not show_pii, "audit_decisions.csv")
    )
    export.unpersist()
    by_stratum = {r.stratum: (r.stratum_records, r["count"]) for r in sample.groupBy("stratum", "stratum_records").count().collect()}
    print(f"count audit: {sample.count():,} records ({', '.join(f'{h}: {k:,} of {N:,}' for h, (N, k) in sorted(by_stratum.items()))}), "
          f"{queue.count():,} pairs to judge -> {csv_path} (for each audited record, mark every candidate match / non_match, then run jobs.review --decisions)")  # fmt: skip
    return queue


def answered_from_truth(spark: SparkSession, config: Config, queue: DataFrame) -> DataFrame:
    """``queue``'s pairs answered from ground truth: what a perfect reviewer would say."""
    cat = Catalog(config)
    if not cat.has_truth(spark):
        raise ReviewFileError(f"--simulate-from-truth needs the generator's ground truth at {cat.path('truth.table', table='records')}")
    truth = generator_truth(spark, cat, cat.read(spark, "gold.customer_crosswalk")).select("record_key", "person_id")
    return (
        queue.select("record_key_l", "record_key_r")
        .join(truth.toDF("record_key_l", "person_l"), "record_key_l")
        .join(truth.toDF("record_key_r", "person_r"), "record_key_r")
        .select("record_key_l", "record_key_r", F.when(F.col("person_l") == F.col("person_r"), "match").otherwise("non_match").alias("decision"))
    )


def read_decisions(spark: SparkSession, path: str) -> DataFrame:
    """A reviewers' decisions CSV as written (every column a string)."""
    if not fs.is_file(path):
        raise ReviewFileError(f"--decisions {path}: no such file")
    return spark.read.option("header", True).option("inferSchema", False).csv(path)


def take_decisions(spark: SparkSession, config: Config, raw: DataFrame, name: str) -> None:
    """Validate reviewers' decisions (``raw``: record_key_l, record_key_r, decision) from ``name``,
    add them to silver.review_labels, print the model's accuracy on the labelled pairs and, when a
    count audit is drawn, its estimate. A bad file is rejected whole and nothing changes."""
    cat = Catalog(config)
    paths = ResolvePaths.from_catalog(cat)
    answered = raw.filter(F.col("decision").isNotNull() & (F.trim("decision") != "")) if "decision" in raw.columns else raw
    records = cat.read(spark, "silver.identity_records")
    new = validate_decisions(answered, records.select("record_key"), name).cache()
    existing = review_labels(spark, paths)
    merged = merge_labels(existing.cache() if existing is not None else None, new, fs.name(name))
    merged = merged.localCheckpoint(eager=True)  # the table is read above and replaced below
    cat.write(merged, "silver.review_labels")
    n = {r.is_match: r["count"] for r in new.groupBy("is_match").count().collect()}
    print(f"accepted {n.get(True, 0):,} match and {n.get(False, 0):,} non_match decisions; {merged.count():,} labels in total")
    pairs = cat.read(spark, "silver.match_pairs")
    acc = model_accuracy_on_labels(pairs, merged, config.model.match_threshold)
    print(f"model at threshold {config.model.match_threshold} on the labelled pairs: precision {acc['precision']}, recall {acc['recall']}, "
          f"agreement {acc['agreement']} over {acc['labelled']:,} pairs")  # fmt: skip
    record_count_audit(spark, config, merged)


# --------------------------------------------------------------------------- explain


def explain_customer(spark: SparkSession, config: Config, customer_id: str, model_path: str | None = None) -> None:
    """Write one customer's records and its pairwise evidence under <output_root>/explain/ and
    print the evidence by record key, level and weight (no personal values)."""
    cat = Catalog(config)
    model_path = model_path or cat.path("model.splink")
    threshold = config.model.match_threshold
    pairs = cat.read(spark, "silver.match_pairs")
    crosswalk = cat.read(spark, "gold.customer_crosswalk")
    if crosswalk.filter(F.col("customer_id") == customer_id).limit(1).count() == 0:
        raise CustomerIdentityError(f"customer_id {customer_id} is not in gold.customer_crosswalk")
    levels = spark.createDataFrame(matching.level_labels(model_path), "comparison string, gamma int, level string")
    evidence = customer_evidence(customer_id, crosswalk, pairs, levels, threshold).cache()
    keys = crosswalk.filter(F.col("customer_id") == customer_id).select("record_key")
    records = cat.read(spark, "silver.identity_records").join(keys, "record_key")
    cat.write_table(records, "explain.customer_records", customer_id=customer_id)
    path = cat.write_table(evidence, "explain.customer_evidence", customer_id=customer_id)
    print(f"customer {customer_id}: {records.count()} records ({', '.join(r.record_key for r in keys.orderBy('record_key').collect())})")
    current = None
    for r in evidence.collect():
        if (r.record_key_l, r.record_key_r) != current:
            current = (r.record_key_l, r.record_key_r)
            verdict = "linked" if r.accepted else "not linked: held back by the link guard" if r.link_guarded else "not linked"
            print(f"  {r.record_key_l} ~ {r.record_key_r}: p={r.match_probability:.4f} weight {r.match_weight:+.2f} ({verdict})")
        tf = f" (tf {r.tf_adjustment:+.2f})" if r.tf_adjustment else ""
        given = f" ({r.given_change:+.2f}: shared with the other record's home or name)" if r.given_change else ""
        print(f"      {r.comparison:<16} {r.level or '':<60} {r.weight:+.2f}{tf}{given}")
    print(f"written: {path}")


MODEL_CHART_TITLES = {
    "match_weights": "The model: how much each comparison level weighs",
    "m_u_parameters": "The model: m and u probabilities of each comparison level",
    "match_weights_histogram": "Scored pairs by match weight",
    "waterfall": "Why a pair scored what it did, comparison by comparison",
}


def explain_model(spark: SparkSession, config: Config, model_path: str | None = None, show_values: bool = False) -> None:
    """Splink's charts for the model under <output_root>/explain/: match weights, m/u, the match-weight
    histogram and waterfalls for samples of accepted pairs, near misses and (true ids only) errors."""
    cat = Catalog(config)
    model_path = model_path or cat.path("model.splink")
    threshold = config.model.match_threshold
    pairs = cat.read(spark, "silver.match_pairs")
    crosswalk = cat.read(spark, "gold.customer_crosswalk")
    n = config.trust.explain_samples
    as_dicts = lambda df: [r.asDict() for r in df.limit(n).collect()]  # noqa: E731
    samples = {
        "accepted": as_dicts(pairs.filter(F.col("match_probability") >= threshold).orderBy(F.xxhash64("record_key_l", "record_key_r"))),
        "near_miss": as_dicts(pairs.filter(F.col("match_probability") < threshold).orderBy(F.desc("match_probability"))),
    }
    if cat.has_truth(spark):
        t = generator_truth(spark, cat, crosswalk).select("record_key", "person_id")
        labelled = pairs.join(t.toDF("record_key_l", "person_l"), "record_key_l").join(t.toDF("record_key_r", "person_r"), "record_key_r")
        same = F.col("person_l") == F.col("person_r")
        accepted = F.col("match_probability") >= threshold
        samples["false_positive"] = as_dicts(labelled.filter(accepted & ~same).orderBy(F.desc("match_probability")).drop("person_l", "person_r"))
        samples["false_negative"] = as_dicts(labelled.filter(~accepted & same).orderBy(F.desc("match_probability")).drop("person_l", "person_r"))
    records = cat.read(spark, "silver.identity_records")
    by_source = {s: records.filter(F.col("source_system") == s) for s in sorted(r.source_system for r in records.select("source_system").distinct().collect())}

    def write_chart(spec: dict, name: str) -> str:
        title = MODEL_CHART_TITLES.get(name.split("_", 1)[0] if name.startswith("waterfall") else name, name.replace("_", " "))
        if name.startswith("waterfall_"):
            title += f": {name.removeprefix('waterfall_').replace('_', ' ')} pairs"
        return fs.write_text(cat.path("explain.chart", chart=name), chart_page(title, [current_schema(spec)], back=None))

    written = matching.save_model_charts(spark, config.model, by_source, model_path, pairs, samples, write_chart, hide_values=not show_values)
    for path in written:
        print(path)
