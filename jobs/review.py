"""Take reviewers' decisions back: validate a decisions CSV and add it to the review labels.

    python -m jobs.review --env local --decisions data/output/trust/review_queue.csv

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
from customer_identity.io import read_delta, write_delta
from customer_identity.resolution import ResolvePaths, review_labels
from customer_identity.review import ReviewFileError, merge_labels, model_accuracy_on_labels, validate_decisions
from customer_identity.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--decisions", required=True, help="reviewer decisions CSV")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        if not Path(args.decisions).is_file() and "://" not in args.decisions:
            raise ReviewFileError(f"--decisions {args.decisions}: no such file")
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        raw = spark.read.option("header", True).option("inferSchema", False).csv(args.decisions)
        answered = raw.filter(F.col("decision").isNotNull() & (F.trim("decision") != "")) if "decision" in raw.columns else raw
        records = read_delta(spark, paths.identity_records, what="silver.identity_records")
        new = validate_decisions(answered, records.select("record_key"), args.decisions).cache()
        existing = review_labels(spark, paths)
        merged = merge_labels(existing.cache() if existing is not None else None, new, Path(args.decisions).name)
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
