"""Generate the synthetic Ebuy sources (platform, CRM, transactions) with ground truth.

python -m jobs.generate_sources --env local --profile small
python -m jobs.generate_sources --env local --profile small --rates stress   # harsher than real life
spark-submit jobs/generate_sources.py --env emr --profile large
"""

from __future__ import annotations

import logging
import sys
import time

from customer_identity.core.cli import base_parser, run
from customer_identity.core.config import PROFILES, load_config
from customer_identity.core.spark import build_session
from customer_identity.synthetic.stage import generate_sources

log = logging.getLogger("jobs.generate_sources")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--profile", choices=PROFILES, default=None, help="size profile (default: generator.profile)")
    parser.add_argument("--seed", type=int, default=None, help="random seed: the same seed and settings give the same data (default: generator.seed)")
    parser.add_argument("--rates", default=None, help="rate preset: realistic or one of generator.rate_presets, e.g. stress (default: generator.rate_preset)")
    parser.add_argument("--files", type=int, default=None, help="files per source (default: 1 for tiny/small, 8 otherwise)")

    def body(args) -> int:
        overrides = {"generator": {k: v for k, v in (("profile", args.profile), ("seed", args.seed), ("rate_preset", args.rates)) if v is not None}}
        config = load_config(args.env, args.config, overrides=overrides)
        spark = build_session(config)
        started = time.monotonic()
        gen = config.generator
        files = args.files or (1 if gen.profile in ("tiny", "small") else 8)
        paths, counts = generate_sources(spark, config, files)
        elapsed = time.monotonic() - started
        print(f"generated profile={gen.profile} seed={gen.seed} rates={gen.rate_preset} in {elapsed:.1f}s")
        for name, n in counts.items():
            print(f"  {name:<13} {n:>10,} rows")
        for name, path in paths.items():
            print(f"  {name:<16} -> {path}")
        return 0

    return run(body, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
