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

``--audit N`` draws a count audit instead (``customer_identity.trust.audit``): about N identity
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

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from customer_identity.trust.stage import answered_from_truth, draw_audit, read_decisions, simulated_decisions, take_decisions


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
        if not (args.decisions or args.simulate_from_truth or args.audit):
            parser.error("one of --decisions, --simulate-from-truth or --audit is required")
        if args.audit is not None and args.decisions:
            parser.error("--audit draws a new audit; return its answers in a later run with --decisions")
        spark = build_session(config)
        if args.audit is not None:
            queue = draw_audit(spark, config, args.audit, config.trust.seed if args.audit_seed is None else args.audit_seed, args.show_pii)
            if not args.simulate_from_truth:
                return 0
            raw, name = answered_from_truth(spark, config, queue), "audit-simulated-from-truth"
        elif args.simulate_from_truth:
            raw, name = simulated_decisions(spark, config), "simulated-from-truth"
        else:
            raw, name = read_decisions(spark, args.decisions), args.decisions
        take_decisions(spark, config, raw, name)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
