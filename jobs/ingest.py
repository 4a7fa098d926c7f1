"""Ingest every configured source into its bronze Delta table, quarantining rows that break its contract.

python -m jobs.ingest --env local
spark-submit jobs/ingest.py --env emr --source transactions
"""

from __future__ import annotations

import sys

from customer_identity.core.catalog import Catalog
from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from customer_identity.ingestion.stage import ingest_sources


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--source", action="append", help="ingest only this source (repeatable)")
    parser.add_argument("--batch-id", default=None, help="batch id (default: derived from the input files)")

    def body(args) -> int:
        config = load_config(args.env, args.config)
        names = args.source or list(config.sources)
        for n in names:
            config.source(n)  # an unknown source name fails here, before Spark starts
        results = ingest_sources(build_session(config), config, names, args.batch_id)
        print(f"{'source':<14}{'batch':<18}{'read':>10}{'accepted':>10}{'quarantined':>13}")
        for r in results:
            if r.status == "failed":
                print(f"{r.source:<14}{'FAILED':<18}  {r.error}")
            else:
                print(f"{r.source:<14}{r.batch_id or '(no new files)':<18}{r.rows_read:>10,}{r.rows_accepted:>10,}{r.rows_quarantined:>13,}  {r.reasons or ''}")
        catalog = Catalog(config)
        print(f"bronze tables at {catalog.path('bronze.source', source='<source>')}; quarantine at {catalog.path('quarantine')}")
        failed = [r for r in results if r.status == "failed"]
        for r in failed:
            print(f"source '{r.source}' was not ingested: {r.error}", file=sys.stderr)
        return max((r.exit_code for r in failed), default=0)

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
