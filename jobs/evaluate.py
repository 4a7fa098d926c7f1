"""Compare the resolved customers with the generator's ground truth and record the figures.

Beside the resolution's own figures it records the calibration of the model's match
probabilities (``gold/calibration``: expected against true matches by match-weight bin,
before any reviewer's label) and the blocking ceiling: what a perfect classifier would
reach over the pairs the configured blocking rules generate, so the error left by
blocking and the error left by scoring can be told apart.

    python -m jobs.evaluate --env local
"""

from __future__ import annotations

import dataclasses
import json
import sys

from pyspark.sql import functions as F

from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.evaluation import blocking_ceiling, evaluate, labelled_truth, record_truth, reliability
from customer_identity.io import read_delta, read_truth, write_delta
from customer_identity.model_design import saved_blocking_rules
from customer_identity.resolution import ResolvePaths
from customer_identity.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--truth", default=None, help="a CSV of true person ids (source_system, source_record_id, person_id) instead of the generator's truth")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        crosswalk = read_delta(spark, paths.crosswalk, what="gold.customer_crosswalk")
        if args.truth:
            truth, relations = labelled_truth(spark, args.truth)
        else:
            resolved = read_delta(spark, paths.transactions_resolved, what="gold.transactions_resolved")
            truth = record_truth(crosswalk, read_truth(spark, config, "records"), read_truth(spark, config, "sessions"), resolved)
            relations = read_truth(spark, config, "relations")
        result = evaluate(crosswalk, truth, relations)
        records = read_delta(spark, paths.identity_records, what="silver.identity_records")
        ceiling = blocking_ceiling(spark, records, truth, relations, saved_blocking_rules(paths.model, config.model), config.clustering)
        row = result.as_row() | {f"ceiling_{k}": v for k, v in dataclasses.asdict(ceiling).items()}
        row["merged_by_relation"] = json.dumps(row["merged_by_relation"])
        write_delta(
            spark.createDataFrame([row]).withColumn("evaluated_at", F.current_timestamp()), f"{config.tables.gold}/evaluation", mode="append", merge_schema=True
        )
        print(f"customers: {result.predicted_customers:,} resolved vs {result.true_customers:,} true "
              f"(error {result.count_error:+,}, {result.count_error_pct:+.2f}%)")
        print(f"pairwise precision {result.pairwise_precision:.4f} recall {result.pairwise_recall:.4f} F1 {result.pairwise_f1:.4f}")
        print(f"B-cubed precision {result.bcubed_precision:.4f} recall {result.bcubed_recall:.4f}")
        print(f"hard negatives merged: {result.hard_negatives_merged:,} of {result.hard_negative_pairs:,} pairs "
              f"({result.hard_negatives_merged_pct:.3f}%) {result.merged_by_relation}")
        print(f"blocking ceiling: the rules bring together {ceiling.blocked_true_pairs:,} of {ceiling.true_pairs:,} true pairs "
              f"({100 * ceiling.pair_completeness:.2f}%); linking exactly those gives {ceiling.customers:,} customers "
              f"(error {ceiling.count_error_pct:+.2f}%), pairwise recall {ceiling.pairwise_recall:.4f} F1 {ceiling.pairwise_f1:.4f}")
        table = reliability(read_delta(spark, paths.match_pairs, what="silver.match_pairs"), truth, config.trust.calibration_bin_width).withColumn("evaluated_at", F.current_timestamp()).cache()
        write_delta(table, f"{config.tables.gold}/calibration")
        rows = table.collect()
        print(f"calibration by match weight (bins of {config.trust.calibration_bin_width:g}): expected matches (sum of probabilities) against true ones")
        for r in rows:
            print(f"  weight {r.weight_from:>+6.1f}  pairs {r.pairs:>9,}  expected {r.probability_sum:>11,.1f}  true {r.true_matches:>9,}  "
                  f"mean probability {r.mean_probability:.4f}  match rate {r.match_rate:.4f}")
        total_p, total_true = sum(r.probability_sum for r in rows), sum(r.true_matches for r in rows)
        print(f"  all scored pairs: expected {total_p:,.1f}, true {total_true:,} ({(total_p - total_true) / max(total_true, 1):+.1%})")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
