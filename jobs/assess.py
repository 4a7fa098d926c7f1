"""How far the customer count can be trusted, written beside the resolved customers.

    python -m jobs.assess --env local

- gold ``threshold_sweep``: customers, precision, recall and F1 at each configured threshold,
  measured against ground truth when the sources are synthetic, else against review labels;
- gold ``count_interval``: the estimate of distinct people with its interval, from sampling
  every scored pair's accept/reject decision from its match probability
  (``trust.interval_draws`` times), recalibrated by reviewers' labels when there are any;
  beside it the golden table's count (see ``customer_identity.trust``);
- gold ``count_audit`` (appended) once a count audit drawn by ``jobs.review --audit`` has its
  answers: the number of distinct people estimated from the labelled sample, with its
  standard error (see ``customer_identity.audit``);
- gold ``error_analysis`` (ground truth only): missed and false merges by corruption type and
  by hard-negative relation;
- gold ``review_queue`` plus ``trust/review_queue.csv`` / ``.html`` for reviewers, their
  personal details masked unless ``--show-pii``;
- ``trust/threshold_sweep.html`` and ``trust/count_interval.html`` charts.
"""

from __future__ import annotations

import dataclasses
import sys

from pyspark.sql import functions as F

from customer_identity import audit, trust
from customer_identity.analytics import masked_personal_columns
from customer_identity.charts import count_draws_spec, save_chart, threshold_sweep_spec
from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.evaluation import record_truth
from customer_identity.io import delta_exists, read_delta, read_truth, truth_exists, write_csv_file, write_delta
from customer_identity.resolution import ResolvePaths, scored_pairs
from customer_identity.review import review_queue
from customer_identity.spark import build_session

COUNT_INTERVAL_SCHEMA = "estimate long, golden_count long, mean double, lower long, upper long, level double, draws long, uncertain_pairs long, method string"


def record_count_audit(spark, config, labels) -> audit.AuditEstimate | None:
    """The count audit's estimate from the labels, appended to gold/count_audit and printed,
    when a sample drawn by ``jobs.review --audit`` has enough answers."""
    gold = config.tables.gold
    if not delta_exists(spark, f"{gold}/audit_sample"):
        return None
    sample = read_delta(spark, f"{gold}/audit_sample")
    audited = audit.audited_count(sample, read_delta(spark, f"{gold}/audit_candidates"), labels) if labels is not None else None
    if audited is None:
        print(f"count audit: {sample.count():,} records drawn; waiting for answers (every stratum needs two audited records)")
        return None
    row = spark.createDataFrame([dataclasses.asdict(audited)]).withColumn("assessed_at", F.current_timestamp())
    write_delta(row, f"{gold}/count_audit", mode="append", merge_schema=True)
    print(f"count audit: {audited.estimate:,.0f} distinct people (95% interval {audited.lower:,.0f} - {audited.upper:,.0f}, standard error {audited.se:,.1f}) "
          f"from {audited.audited_records:,} of {audited.sampled_records:,} sampled records; the golden table it was drawn against "
          f"({audited.golden_count:,}) is off by {audited.golden_error:+,.1f}")  # fmt: skip
    return audited


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--skip-interval", action="store_true", help="leave out the count interval (the slowest part)")
    parser.add_argument("--show-pii", action="store_true", help="show names, e-mails, phones, postcodes and dates of birth unmasked in the review queue files")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        t = config.trust
        threshold = config.model.match_threshold
        out_dir = f"{config.paths.output_root}/trust"
        records = read_delta(spark, paths.identity_records, what="silver.identity_records")
        crosswalk = read_delta(spark, paths.crosswalk, what="gold.customer_crosswalk")
        pairs, labels = scored_pairs(spark, paths)
        truth = relations = None
        if truth_exists(spark, config):
            resolved = read_delta(spark, paths.transactions_resolved, what="gold.transactions_resolved")
            truth = record_truth(crosswalk, read_truth(spark, config, "records"), read_truth(spark, config, "sessions"), resolved).cache()
            relations = read_truth(spark, config, "relations")

        # threshold sweep
        sweep = trust.threshold_sweep(spark, records, pairs, list(t.sweep_thresholds), config.clustering, truth, relations, labels)
        write_delta(sweep, f"{config.tables.gold}/threshold_sweep")
        rows = [r.asDict() for r in sweep.orderBy("threshold").collect()]
        save_chart(threshold_sweep_spec(rows, threshold), f"{out_dir}/threshold_sweep.html")
        print(f"threshold sweep ({rows[0]['basis']}):")
        for r in rows:
            acc = f"P {r['precision']:.4f} R {r['recall']:.4f} F1 {r['f1']:.4f}" if r["f1"] is not None else "no labels"
            print(f"  {r['threshold']:<6} customers {r['customers']:>9,}  {acc}")
        best = trust.best_threshold(sweep)
        print(f"configured match threshold {threshold} (model.match_threshold): {t.threshold_rationale}")
        print(f"best F1 in this sweep at {best}")

        # the count with an interval
        golden_count = crosswalk.select("customer_id").distinct().count()
        if not args.skip_interval:
            rates, method = None, "model probabilities"
            if labels is not None:
                raw = read_delta(spark, paths.match_pairs)
                bins = trust.calibration_bins(raw, labels, t.calibration_bin_width)
                rates = trust.calibrated_rates(bins, t.interval_draws, t.seed, t.calibration_prior_strength)
                method = f"calibrated by {sum(b.labelled for b in bins):,} review labels in {sum(1 for b in bins if b.labelled):,} match-weight bins"
            draws = trust.sampled_counts(spark, records, pairs, t.interval_draws, t.seed, config.clustering, rates, t.calibration_bin_width)
            counts = [r.customers for r in draws.collect()]
            p = F.col("match_probability")
            uncertain = pairs.filter((p > 0) & (p < trust.CERTAIN)).count()
            interval = trust.count_interval(counts, golden_count, t.interval_level, uncertain, method)
            row = spark.createDataFrame([interval.as_row()], COUNT_INTERVAL_SCHEMA).withColumn("assessed_at", F.current_timestamp())
            write_delta(row, f"{config.tables.gold}/count_interval", mode="append", merge_schema=True)
            save_chart(count_draws_spec(counts, interval.lower, interval.upper, interval.estimate, golden_count), f"{out_dir}/count_interval.html")
            print(f"distinct people: {interval.estimate:,} ({interval.level:.0%} interval {interval.lower:,} - {interval.upper:,}; {method}); "
                  f"golden table: {golden_count:,} customers at threshold {threshold}")
            print(f"  from {interval.draws} draws of {uncertain:,} uncertain pairs (mean {interval.mean:,.1f}); matches between records no blocking rule compared are not counted")

        # the count audit, once a sample drawn by jobs.review --audit has its answers
        record_count_audit(spark, config, labels)

        # error analysis
        if truth is not None:
            tags = trust.record_tags(read_truth(spark, config, "records"), read_truth(spark, config, "sessions"), resolved, crosswalk)
            errors = trust.error_analysis(crosswalk, truth, tags, relations).cache()
            write_delta(errors, f"{config.tables.gold}/error_analysis")
            print("error analysis (record pairs):")
            for r in errors.collect():
                rate = f"{r.error_rate:.2%} of {r.pairs:,}" if r.pairs else ""
                print(f"  {r.kind:<13} {r.category:<22} {r.errors:>8,} {rate}")

        # review queue
        queue = review_queue(
            pairs, crosswalk, threshold, t.review_low, t.review_high, t.review_weak_link, t.review_limit, t.calibration_per_bin, t.calibration_bin_width, t.seed
        )
        write_delta(queue, f"{config.tables.gold}/review_queue")
        export = queue.select("record_key_l", "record_key_r", "decision", "reason", "match_probability", "match_weight", "source_dataset_l", "source_dataset_r",
                              *[c for c in pairs.columns if c.endswith(("_l", "_r")) and not c.startswith(("record_key", "source_dataset", "tf_"))])  # fmt: skip
        if not args.show_pii:  # the reviewer who must see the details asks for them
            export = masked_personal_columns(export)
        csv_path = write_csv_file(export, f"{out_dir}/review_queue.csv", html_path=f"{out_dir}/review_queue.html")
        print(f"review queue: {queue.count():,} pairs -> {csv_path} (fill in decision: match / non_match, then run jobs.review)")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
