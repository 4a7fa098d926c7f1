"""Answer the business questions on top of the resolved customers, and write the run report.

    python -m jobs.analyse --env local
    python -m jobs.analyse --env local --show-pii     # report with unmasked names and postcodes

Writes gold ``customer_features`` (RFM scores, segment), ``segment_profiles``, ``category_mix``,
``brand_mix``, ``association_rules``, ``purchase_drivers`` and ``analysis_runs``, and one
self-contained HTML report per run under ``<output_root>/report/``; prints its path and the
headline answers.
"""

from __future__ import annotations

import sys

from customer_identity.analytics.stage import run_analysis
from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--show-pii", action="store_true", help="do not mask names and postcodes in the report")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        result = run_analysis(spark, config, masked=False if args.show_pii else None)
        print(f"report: {result.report_path}")
        for question, answer in result.answers.items():
            print(f"{question}\n  {answer}")
        print("stage timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in result.stage_seconds.items()))
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
