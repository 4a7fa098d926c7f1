"""How far the customer count can be trusted, written beside the resolved customers.

    python -m jobs.assess --env local

- gold ``threshold_sweep``: customers, precision, recall and F1 at each configured threshold,
  measured against ground truth when the sources are synthetic, else against review labels;
- gold ``count_interval``: the estimate of distinct people with its interval, from sampling
  every scored pair's accept/reject decision from its match probability
  (``trust.interval_draws`` times), recalibrated by reviewers' labels when there are any;
  beside it the golden table's count (see ``customer_identity.trust.count``);
- gold ``count_audit`` (appended) once a count audit drawn by ``jobs.review --audit`` has its
  answers: the number of distinct people estimated from the labelled sample, with its
  standard error (see ``customer_identity.trust.audit``);
- gold ``error_analysis`` (ground truth only): missed and false merges by corruption type and
  by hard-negative relation;
- gold ``review_queue`` plus ``trust/review_queue.csv`` / ``.html`` for reviewers, their
  personal details masked unless ``--show-pii``;
- ``trust/threshold_sweep.html`` and ``trust/count_interval.html`` charts.
"""

from __future__ import annotations

import sys

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from customer_identity.trust.stage import assess_run


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--skip-interval", action="store_true", help="leave out the count interval (the slowest part)")
    parser.add_argument("--show-pii", action="store_true", help="show names, e-mails, phones, postcodes and dates of birth unmasked in the review queue files")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        assess_run(build_session(config), config, skip_interval=args.skip_interval, show_pii=args.show_pii)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
