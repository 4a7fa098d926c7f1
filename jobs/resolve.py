"""Resolve the bronze sources into golden customers: standardise, match (Splink), cluster, survive, count.

By default a run processes only the bronze batches no successful run has processed yet,
scoring them with the last run's model and updating the tables in place (the first run,
and any run whose model or settings changed, rebuilds everything). Re-running with
nothing new changes nothing.

    python -m jobs.resolve --env local
    python -m jobs.resolve --env local --full-refresh     # rebuild everything, training a new model
    python -m jobs.resolve --env local --full-refresh --model data/output/model/splink_model.json   # rebuild with a saved model
    python -m jobs.resolve --env local --m-from-labels    # retrain, m re-estimated from review labels (a full rebuild)
    spark-submit jobs/resolve.py --env emr
"""

from __future__ import annotations

import sys
from pathlib import Path

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import ConfigError, load_config
from customer_identity.core.monitoring import DriftDetected
from customer_identity.core.spark import build_session
from customer_identity.resolution.matching import build_comparison_list
from customer_identity.resolution.stage import run_resolve


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--model", default=None, help="a saved Splink model JSON: skip training and use it")
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every table from all of bronze (customer ids stay stable)")
    parser.add_argument("--m-from-labels", action="store_true", help="re-estimate m parameters from reviewers' confirmed matches (see jobs.review)")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        build_comparison_list(config.model.comparisons)  # a bad pinned comparison fails here, before Spark starts
        if args.model and not Path(args.model).is_file():
            raise ConfigError(f"--model {args.model}: no such model file")
        if args.model and args.m_from_labels:
            raise ConfigError("--m-from-labels retrains the model, so it cannot be combined with --model: drop one of them")
        spark = build_session(config)
        result = run_resolve(spark, config, args.model, m_from_labels=args.m_from_labels, full_refresh=args.full_refresh)
        if result.mode == "nothing":
            print(f"nothing to do: {result.reason}; {result.customers:,} customers unchanged")
            return 0
        print(f"run {result.run_id}: {result.mode} ({result.reason})")
        print(f"customers: {result.customers:,}")
        print(f"naive count (platform accounts + CRM records + distinct guest identities): {result.naive_count:,}")
        print(f"duplicates removed: {result.naive_count - result.customers:,}")
        print(f"identity records by source: {result.records_by_source}")
        print("customers by source combination:")
        for combo, n in sorted(result.by_source_combination.items(), key=lambda kv: -kv[1]):
            print(f"  {combo:<24}{n:>10,}")
        changes = ", ".join(f"{k} {v:,}" for k, v in sorted(result.id_changes.items())) or "none"
        print(f"customer id changes (gold.customer_id_history): {changes}")
        print(
            f"comparisons (blocking upper bound): {result.comparisons_upper_bound:,}; pairs kept: {result.pairs_scored_kept:,}; accepted: {result.pairs_accepted:,}"
        )
        print("stage seconds: " + ", ".join(f"{k} {v}" for k, v in result.stage_seconds.items()))
        print(f"model: {result.model_path}")
        for line in result.model_design:
            print(f"model design: {line}")
        if result.drift_breaches:
            raise DriftDetected("the run finished and its tables are written, but it drifted: " + "; ".join(result.drift_breaches))
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
