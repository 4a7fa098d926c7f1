"""Ingest every configured source into its bronze Delta table, quarantining rows that break its contract.

    python -m jobs.ingest --env local
    spark-submit jobs/ingest.py --env emr --source transactions
"""

from __future__ import annotations

import sys

from customer_identity.bronze import ingest_source, ingestion_log
from customer_identity.cli import base_parser, run
from customer_identity.config import load_config
from customer_identity.io import write_delta
from customer_identity.spark import build_session


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--source", action="append", help="ingest only this source (repeatable)")
    parser.add_argument("--batch-id", default=None, help="batch id (default: derived from the input files)")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        names = args.source or list(config.sources)
        sources = [config.source(n) for n in names]
        spark = build_session(config)
        results = [ingest_source(spark, config, s, args.batch_id) for s in sources]
        log_path = f"{config.paths.output_root}/meta/ingestion_log"
        for r in results:
            if not r.batch_id:
                continue
            write_delta(ingestion_log([r], spark), log_path, replace_where=f"source_system = '{r.source}' AND batch_id = '{r.batch_id}'")
        print(f"{'source':<14}{'batch':<18}{'read':>10}{'accepted':>10}{'quarantined':>13}")
        for r in results:
            print(f"{r.source:<14}{r.batch_id or '(no new files)':<18}{r.rows_read:>10,}{r.rows_accepted:>10,}{r.rows_quarantined:>13,}  {r.reasons or ''}")
        print(f"bronze tables under {config.tables.bronze}; quarantine at {config.tables.quarantine}")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
