"""Take reviewers' decisions back: validate a decisions CSV and add it to the review labels.

    python -m jobs.review --env local --decisions data/output/trust/review_queue.csv
    python -m jobs.review --env local --simulate-from-truth   # synthetic data: a perfect reviewer

The CSV needs ``record_key_l``, ``record_key_r`` and ``decision`` (match / non_match); other
columns (the exported queue's) are ignored and rows without a decision are skipped. A file
with unknown record keys, other decision values or a pair labelled both ways is rejected
as a whole with a report, and nothing changes. Accepted labels:
- force links (match) and splits (non_match) on the next ``jobs.resolve`` run;
- measure the model's accuracy on the labelled pairs (printed here);
- re-estimate the model's m parameters with ``jobs.resolve --m-from-labels``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import functions as F

from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.evaluation import record_truth
from customer_identity.io import read_delta, read_truth, truth_exists, write_delta
from customer_identity.resolution import ResolvePaths, review_labels
from customer_identity.review import ReviewFileError, merge_labels, model_accuracy_on_labels, validate_decisions
from customer_identity.spark import build_session


def simulated_decisions(spark, config, paths: ResolvePaths):
    """The review queue answered from ground truth: what a perfect reviewer would say."""
    if not truth_exists(spark, config):
        raise ReviewFileError(f"--simulate-from-truth needs the generator's ground truth at {config.tables.truth}")
    queue = read_delta(spark, f"{config.tables.gold}/review_queue", what="gold.review_queue (run jobs.assess first)")
    crosswalk = read_delta(spark, paths.crosswalk)
    resolved = read_delta(spark, paths.transactions_resolved)
    truth = record_truth(crosswalk, read_truth(spark, config, "records"), read_truth(spark, config, "sessions"), resolved).select("record_key", "person_id")
    return (
        queue.select("record_key_l", "record_key_r")
        .join(truth.toDF("record_key_l", "person_l"), "record_key_l")
        .join(truth.toDF("record_key_r", "person_r"), "record_key_r")
        .select("record_key_l", "record_key_r", F.when(F.col("person_l") == F.col("person_r"), "match").otherwise("non_match").alias("decision"))
    )


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--decisions", help="reviewer decisions CSV")
    source.add_argument(
        "--simulate-from-truth", action="store_true",
        help="synthetic runs only: answer the current review queue from the generator's ground truth, standing in for a reviewer",
    )  # fmt: skip

    def body(args) -> int:
        config = load_config(args.env, args.config)
        if args.decisions and not Path(args.decisions).is_file() and "://" not in args.decisions:
            raise ReviewFileError(f"--decisions {args.decisions}: no such file")
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        if args.simulate_from_truth:
            raw, name = simulated_decisions(spark, config, paths), "simulated-from-truth"
        else:
            raw, name = spark.read.option("header", True).option("inferSchema", False).csv(args.decisions), args.decisions
        answered = raw.filter(F.col("decision").isNotNull() & (F.trim("decision") != "")) if "decision" in raw.columns else raw
        records = read_delta(spark, paths.identity_records, what="silver.identity_records")
        new = validate_decisions(answered, records.select("record_key"), name).cache()
        existing = review_labels(spark, paths)
        merged = merge_labels(existing.cache() if existing is not None else None, new, Path(name).name)
        merged = merged.localCheckpoint(eager=True)  # the table is read above and replaced below
        write_delta(merged, paths.review_labels)
        n = {r.is_match: r["count"] for r in new.groupBy("is_match").count().collect()}
        print(f"accepted {n.get(True, 0):,} match and {n.get(False, 0):,} non_match decisions; {merged.count():,} labels in total")
        pairs = read_delta(spark, paths.match_pairs, what="silver.match_pairs")
        acc = model_accuracy_on_labels(pairs, merged, config.model.match_threshold)
        print(f"model at threshold {config.model.match_threshold} on the labelled pairs: precision {acc['precision']}, recall {acc['recall']}, "
              f"agreement {acc['agreement']} over {acc['labelled']:,} pairs")  # fmt: skip
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
