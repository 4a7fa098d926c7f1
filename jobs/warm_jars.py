"""Resolve the configured Spark packages (Delta Lake) into the local Ivy cache once.

Later runs, tests and CI reuse the cache instead of reaching Maven Central again.

    python -m jobs.warm_jars --env local
"""

from __future__ import annotations

import sys

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)

    def body(args) -> int:
        config = load_config(args.env, args.config)
        spark = build_session(config)
        spark.range(1).count()
        print(f"packages resolved: {', '.join(config.spark.packages) or '(none)'} into {config.spark.ivy_dir or 'default ivy cache'}")
        spark.stop()
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
