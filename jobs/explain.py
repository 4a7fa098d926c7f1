"""Why records were merged: the model's charts, and the evidence inside one customer.

    python -m jobs.explain --env local                       # charts under <output_root>/explain/
    python -m jobs.explain --env local --customer-id C1a2b3  # that customer's records and pairwise evidence

Charts (self-contained HTML, Splink's own): match weights, m/u parameters, the histogram of
match weights over the scored pairs, and waterfall charts for a sample of accepted pairs,
rejected near-misses and, when ground truth exists, false positives and false negatives.
Waterfalls show weights only; ``--show-values`` adds the compared values (personal data).
A customer's explanation is written to ``explain/customer_<id>.csv``, with the records
(``..._records.csv``); only record keys, levels and weights are printed.
"""

from __future__ import annotations

import sys

from pyspark.sql import functions as F

from customer_identity import matching, trust
from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.errors import CustomerIdentityError
from customer_identity.evaluation import record_truth
from customer_identity.io import read_delta, read_truth, truth_exists, write_csv_file
from customer_identity.resolution import ResolvePaths
from customer_identity.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--customer-id", default=None, help="explain this customer instead of drawing the model charts")
    parser.add_argument("--model", default=None, help="saved Splink model JSON (default: the run's model)")
    parser.add_argument("--show-values", action="store_true", help="include compared values in waterfall charts")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        model_path = args.model or paths.model
        out_dir = f"{config.paths.output_root}/explain"
        threshold = config.model.match_threshold
        pairs = read_delta(spark, paths.match_pairs, what="silver.match_pairs")
        crosswalk = read_delta(spark, paths.crosswalk, what="gold.customer_crosswalk")
        if args.customer_id:
            if crosswalk.filter(F.col("customer_id") == args.customer_id).limit(1).count() == 0:
                raise CustomerIdentityError(f"customer_id {args.customer_id} is not in gold.customer_crosswalk")
            levels = spark.createDataFrame(matching.level_labels(model_path), "comparison string, gamma int, level string")
            evidence = trust.customer_evidence(args.customer_id, crosswalk, pairs, levels, threshold).cache()
            keys = crosswalk.filter(F.col("customer_id") == args.customer_id).select("record_key")
            records = read_delta(spark, paths.identity_records).join(keys, "record_key")
            write_csv_file(records, f"{out_dir}/customer_{args.customer_id}_records.csv")
            path = write_csv_file(evidence, f"{out_dir}/customer_{args.customer_id}.csv")
            print(f"customer {args.customer_id}: {records.count()} records ({', '.join(r.record_key for r in keys.orderBy('record_key').collect())})")
            current = None
            for r in evidence.collect():
                if (r.record_key_l, r.record_key_r) != current:
                    current = (r.record_key_l, r.record_key_r)
                    verdict = "linked" if r.accepted else "not linked: held back by the link guard" if r.link_guarded else "not linked"
                    print(f"  {r.record_key_l} ~ {r.record_key_r}: p={r.match_probability:.4f} weight {r.match_weight:+.2f} ({verdict})")
                print(f"      {r.comparison:<16} {r.level or '':<60} {r.weight:+.2f}{f' (tf {r.tf_adjustment:+.2f})' if r.tf_adjustment else ''}")
            print(f"written: {path}")
            return 0

        n = config.trust.explain_samples
        as_dicts = lambda df: [r.asDict() for r in df.limit(n).collect()]  # noqa: E731
        samples = {
            "accepted": as_dicts(pairs.filter(F.col("match_probability") >= threshold).orderBy(F.xxhash64("record_key_l", "record_key_r"))),
            "near_miss": as_dicts(pairs.filter(F.col("match_probability") < threshold).orderBy(F.desc("match_probability"))),
        }
        if truth_exists(spark, config):
            resolved = read_delta(spark, paths.transactions_resolved)
            truth = record_truth(crosswalk, read_truth(spark, config, "records"), read_truth(spark, config, "sessions"), resolved)
            t = truth.select("record_key", "person_id")
            labelled = pairs.join(t.toDF("record_key_l", "person_l"), "record_key_l").join(t.toDF("record_key_r", "person_r"), "record_key_r")
            same = F.col("person_l") == F.col("person_r")
            accepted = F.col("match_probability") >= threshold
            samples["false_positive"] = as_dicts(labelled.filter(accepted & ~same).orderBy(F.desc("match_probability")).drop("person_l", "person_r"))
            samples["false_negative"] = as_dicts(labelled.filter(~accepted & same).orderBy(F.desc("match_probability")).drop("person_l", "person_r"))
        records = read_delta(spark, paths.identity_records)
        by_source = {s: records.filter(F.col("source_system") == s) for s in sorted(r.source_system for r in records.select("source_system").distinct().collect())}
        written = matching.save_model_charts(spark, config.model, by_source, model_path, pairs, samples, out_dir, hide_values=not args.show_values)
        for path in written:
            print(path)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
