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

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from customer_identity.trust.stage import explain_customer, explain_model


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--customer-id", default=None, help="explain this customer instead of drawing the model charts")
    parser.add_argument("--model", default=None, help="saved Splink model JSON (default: the run's model)")
    parser.add_argument("--show-values", action="store_true", help="include compared values in waterfall charts")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        if args.customer_id:
            explain_customer(spark, config, args.customer_id, args.model)
        else:
            explain_model(spark, config, args.model, args.show_values)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
