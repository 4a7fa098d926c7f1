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

from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.errors import RowCountMismatch
from customer_identity.io import delta_exists, read_delta, write_delta
from customer_identity.pseudonymise import PERSONAL_COLUMNS, key_from_environment, pseudonymise
from customer_identity.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--key-env", default="EBUY_PSEUDONYM_KEY", help="environment variable holding the key")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        key = key_from_environment(args.key_env)  # before Spark starts
        spark = build_session(config)
        out = f"{config.paths.output_root}/gold_pseudonymised"
        for table in PERSONAL_COLUMNS:
            path = f"{config.tables.gold}/{table}"
            if table == "customer_features" and not delta_exists(spark, path):
                continue
            source = read_delta(spark, path, what=f"gold.{table}")
            write_delta(pseudonymise(source, table, key), f"{out}/{table}")
            n_in, n_out = source.count(), read_delta(spark, f"{out}/{table}").count()
            if n_in != n_out:
                raise RowCountMismatch(f"gold_pseudonymised.{table}: {n_out:,} rows written for {n_in:,} read")
            print(f"{table}: {n_out:,} rows -> {out}/{table}")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
