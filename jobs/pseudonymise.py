"""Write pseudonymised copies of the gold tables for analytics consumers who must not see personal data.

    EBUY_PSEUDONYM_KEY=... python -m jobs.pseudonymise --env local

Reads gold ``customers``, ``customer_crosswalk``, ``transactions_resolved`` and, when present,
``customer_features``; writes them under ``<output_root>/gold_pseudonymised/`` with every
personal value and every identifier that leads back to a person replaced by a keyed hash
(the key only from the environment variable named by ``--key-env``). Row counts are checked
table by table.
"""

from __future__ import annotations

import sys

from customer_identity.analytics.pseudonymise import key_from_environment
from customer_identity.analytics.stage import write_pseudonymised
from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--key-env", default="EBUY_PSEUDONYM_KEY", help="environment variable holding the key")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        key = key_from_environment(args.key_env)  # before Spark starts
        for table, n in write_pseudonymised(build_session(config), config, key).items():
            print(f"{table}: {n:,} rows -> {config.paths.output_root}/gold_pseudonymised/{table}")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
