"""Take reviewers' decisions back: validate a decisions CSV and add it to the review labels.

    python -m jobs.review --env local --decisions data/output/trust/review_queue.csv
    python -m jobs.review --env local --simulate-from-truth   # synthetic data: a perfect reviewer
    python -m jobs.review --env local --audit 300             # draw a count audit: trust/audit_queue.csv
    python -m jobs.review --env local --decisions data/output/trust/audit_queue.csv

The CSV needs ``record_key_l``, ``record_key_r`` and ``decision`` (match / non_match); other
columns (the exported queue's) are ignored and rows without a decision are skipped. A file
with unknown record keys, other decision values or a pair labelled both ways is rejected
as a whole with a report, and nothing changes. Accepted labels:
- force links (match) and splits (non_match) on the next ``jobs.resolve`` run;
- measure the model's accuracy on the labelled pairs (printed here);
- re-estimate the model's m parameters with ``jobs.resolve --m-from-labels``.

``--audit N`` draws a count audit instead (``customer_identity.audit``): about N identity
records at random, stratified by how ambiguous the model finds them, each with the
candidate records a reviewer must judge (``gold/audit_sample``, ``gold/audit_candidates``,
``trust/audit_queue.csv`` / ``.html``, personal details masked unless ``--show-pii``). A
new audit replaces the previous one. Its answers come back through ``--decisions`` like
any others; once every stratum has answers this job and ``jobs.assess`` estimate the number
of distinct people from them (``gold/count_audit``). With
``--simulate-from-truth`` the audit queue is answered from the ground truth at once.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pyspark.sql import functions as F

from customer_identity import audit
from customer_identity.analytics import masked_personal_columns
from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.evaluation import record_truth
from customer_identity.io import read_delta, read_truth, truth_exists, write_csv_file, write_delta
from customer_identity.resolution import ResolvePaths, review_labels, scored_pairs
from customer_identity.review import ReviewFileError, merge_labels, model_accuracy_on_labels, validate_decisions
from customer_identity.spark import build_session
from jobs.assess import record_count_audit

AUDIT_DETAILS = ("full_name_std", "date_of_birth", "email_std", "phone_e164", "address_line_1_std", "city_std", "postcode_std")


def simulated_decisions(spark, config, paths: ResolvePaths):
    """The review queue answered from ground truth: what a perfect reviewer would say."""
    queue = read_delta(spark, f"{config.tables.gold}/review_queue", what="gold.review_queue (run jobs.assess first)")
    return answered_from_truth(spark, config, paths, queue)


def draw_audit(spark, config, paths: ResolvePaths, n: int, seed: int, show_pii: bool):
    """Draw the count audit's sample and write it, its candidates and the reviewers' queue."""
    records = read_delta(spark, paths.identity_records, what="silver.identity_records")
    crosswalk = read_delta(spark, paths.crosswalk, what="gold.customer_crosswalk")
    pairs, _ = scored_pairs(spark, paths)
    sample = audit.draw_sample(records, crosswalk, pairs, n, seed).localCheckpoint(eager=True)
    cands = audit.candidates(sample, crosswalk, pairs).localCheckpoint(eager=True)
    write_delta(sample, f"{config.tables.gold}/audit_sample")
    write_delta(cands, f"{config.tables.gold}/audit_candidates")
    queue = audit.audit_queue(sample, cands).localCheckpoint(eager=True)
    shown = [c for c in AUDIT_DETAILS if c in records.columns]
    details = lambda side: records.select(F.col("record_key").alias(f"record_key_{side}"), *[F.col(c).alias(f"{c}_{side}") for c in shown])  # noqa: E731
    export = queue.join(details("l"), "record_key_l", "left").join(details("r"), "record_key_r", "left").select(
        "audited_record", "record_key_l", "record_key_r", "decision", *[f"{c}_{side}" for c in shown for side in ("l", "r")]
    ).orderBy("audited_record", "record_key_l", "record_key_r")
    if not show_pii:
        export = masked_personal_columns(export)
    out_dir = f"{config.paths.output_root}/trust"
    csv_path = write_csv_file(export, f"{out_dir}/audit_queue.csv", html_path=f"{out_dir}/audit_queue.html")
    by_stratum = {r.stratum: (r.stratum_records, r["count"]) for r in sample.groupBy("stratum", "stratum_records").count().collect()}
    print(f"count audit: {sample.count():,} records ({', '.join(f'{h}: {k:,} of {N:,}' for h, (N, k) in sorted(by_stratum.items()))}), "
          f"{queue.count():,} pairs to judge -> {csv_path} (for each audited record, mark every candidate match / non_match, then run jobs.review --decisions)")  # fmt: skip
    return queue


def answered_from_truth(spark, config, paths: ResolvePaths, queue):
    """``queue``'s pairs answered from ground truth: what a perfect reviewer would say."""
    if not truth_exists(spark, config):
        raise ReviewFileError(f"--simulate-from-truth needs the generator's ground truth at {config.tables.truth}")
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
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--decisions", help="reviewer decisions CSV")
    source.add_argument(
        "--simulate-from-truth", action="store_true",
        help="synthetic runs only: answer the current review queue (or, with --audit, the new audit queue) from the generator's ground truth",
    )  # fmt: skip
    parser.add_argument("--audit", type=int, default=None, metavar="N", help="draw a count audit of about N records (replaces the previous one)")
    parser.add_argument("--audit-seed", type=int, default=None, help="seed of the audit sample (default: trust.seed)")
    parser.add_argument("--show-pii", action="store_true", help="show personal details unmasked in the audit queue files")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        if args.decisions and not Path(args.decisions).is_file() and "://" not in args.decisions:
            raise ReviewFileError(f"--decisions {args.decisions}: no such file")
        if not (args.decisions or args.simulate_from_truth or args.audit):
            parser.error("one of --decisions, --simulate-from-truth or --audit is required")
        if args.audit is not None and args.decisions:
            parser.error("--audit draws a new audit; return its answers in a later run with --decisions")
        spark = build_session(config)
        paths = ResolvePaths.from_config(config)
        if args.audit is not None:
            queue = draw_audit(spark, config, paths, args.audit, config.trust.seed if args.audit_seed is None else args.audit_seed, args.show_pii)
            if not args.simulate_from_truth:
                return 0
            raw, name = answered_from_truth(spark, config, paths, queue), "audit-simulated-from-truth"
        elif args.simulate_from_truth:
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
        record_count_audit(spark, config, merged)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
