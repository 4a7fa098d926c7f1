"""Compare the resolved customers with the generator's ground truth and record the figures.

Beside the resolution's own figures it records the calibration of the model's match
probabilities (``gold/calibration``: expected against true matches by match-weight bin,
before any reviewer's label) and the blocking ceiling: what a perfect classifier would
reach over the pairs the configured blocking rules generate, so the error left by
blocking and the error left by scoring can be told apart.

    python -m jobs.evaluate --env local
"""

from __future__ import annotations

import sys

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from customer_identity.trust.stage import evaluate_run


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--truth", default=None, help="a CSV of true person ids (source_system, source_record_id, person_id) instead of the generator's truth")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        evaluate_run(build_session(config), config, args.truth)
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
