"""Run the whole batch end to end in one Spark application:
generate (optional) -> ingest -> resolve -> evaluate (ground truth only) -> assess -> analyse.

    python -m jobs.pipeline --env local --profile small      # make demo
    python -m jobs.pipeline --env local --skip-generate      # your own sources, via --config

Ends with the report's path and the headline answers (printed by ``jobs.analyse``).
"""

from __future__ import annotations

import importlib
import sys
import time

from customer_identity.core.catalog import Catalog
from customer_identity.core.cli import base_parser, configure_logging
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session

# stage name -> job module, in run order
STAGES = {
    "generate": "jobs.generate_sources",
    "ingest": "jobs.ingest",
    "resolve": "jobs.resolve",
    "evaluate": "jobs.evaluate",
    "assess": "jobs.assess",
    "analyse": "jobs.analyse",
}


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--profile", default=None, help="generator size profile")
    parser.add_argument("--rates", default=None, help="generator rate preset: realistic (default) or one of generator.rate_presets, e.g. stress")
    parser.add_argument("--skip-generate", action="store_true", help="use existing sources instead of generating them")
    parser.add_argument("--skip-assess", action="store_true", help="leave out the threshold sweep, count interval and review queue")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    common = ["--env", args.env, "--log-level", args.log_level] + (["--config", args.config] if args.config else [])

    timings = {}
    for stage, module_name in STAGES.items():
        if (stage == "generate" and args.skip_generate) or (stage == "assess" and args.skip_assess):
            continue
        if stage == "evaluate" and not _has_ground_truth(args):
            print("== evaluate skipped: no generator ground truth beside these sources")
            continue
        module = importlib.import_module(module_name)
        stage_args = list(common)
        if stage == "generate":
            stage_args += (["--profile", args.profile] if args.profile else []) + (["--rates", args.rates] if args.rates else [])
        started = time.monotonic()
        print(f"== {stage}", flush=True)
        code = module.main(stage_args)
        timings[stage] = time.monotonic() - started
        if code != 0:
            print(f"pipeline stopped: stage '{stage}' exited with {code}", file=sys.stderr)
            return code
    print("stage timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    return 0


def _has_ground_truth(args) -> bool:
    config = load_config(args.env, args.config)
    return Catalog(config).has_truth(build_session(config))


if __name__ == "__main__":
    sys.exit(main())
