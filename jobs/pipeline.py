"""Run the whole batch end to end in one Spark application:
generate (optional) -> ingest -> resolve -> evaluate (ground truth only) -> assess -> explain -> analyse.

    python -m jobs.pipeline --env local --profile small      # make demo
    python -m jobs.pipeline --env local --skip-generate      # your own sources, via --config

Each stage is announced as "stage k of n" with the run time so far and, once a run has
finished here before, how long the stage took then. Ends with the headline answers
(printed by ``jobs.analyse``) and the paths of the report, the trust pages and the model
charts.
"""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Callable

from customer_identity.core import fs
from customer_identity.core.catalog import Catalog
from customer_identity.core.cli import base_parser, configure_logging
from customer_identity.core.config import PROFILES, load_config
from customer_identity.core.spark import build_session

# stage name -> job module, in run order
STAGES = {
    "generate": "jobs.generate_sources",
    "ingest": "jobs.ingest",
    "resolve": "jobs.resolve",
    "evaluate": "jobs.evaluate",
    "assess": "jobs.assess",
    "explain": "jobs.explain",
    "analyse": "jobs.analyse",
}
PAGES = ("trust.count_interval_chart", "trust.threshold_sweep_chart", "trust.review_queue_html", "trust.audit_queue_html")


def main(argv: list[str] | None = None) -> int:
    parser = base_parser(__doc__)
    parser.add_argument("--profile", choices=PROFILES, default=None, help="generator size profile (default: generator.profile)")
    parser.add_argument("--rates", default=None, help="generator rate preset: realistic (default) or one of generator.rate_presets, e.g. stress")
    parser.add_argument("--skip-generate", action="store_true", help="use existing sources instead of generating them")
    parser.add_argument("--skip-assess", action="store_true", help="leave out the threshold sweep, count interval and review queue")
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.verbose)
    common = ["--env", args.env, "--log-level", args.log_level] + (["--config", args.config] if args.config else []) + (["--verbose"] if args.verbose else [])
    config = load_config(args.env, args.config)
    build_session(config)  # one application: every stage's job reuses this session
    catalog = Catalog(config)
    before = _last_timings(catalog)

    planned = planned_stages(args.skip_generate, args.skip_assess, lambda: _has_ground_truth(args))
    if "evaluate" not in planned:
        print("evaluate is left out: no generator ground truth beside these sources")
    timings = {}
    began = time.monotonic()
    for number, stage in enumerate(planned, start=1):
        module = importlib.import_module(STAGES[stage])
        stage_args = list(common)
        if stage == "generate":
            stage_args += (["--profile", args.profile] if args.profile else []) + (["--rates", args.rates] if args.rates else [])
        started = time.monotonic()
        last = f"; took {_duration(before[stage])} last time" if stage in before else ""
        print(f"== stage {number} of {len(planned)}: {stage} (run time so far {_duration(started - began)}{last})", flush=True)
        code = module.main(stage_args)
        timings[stage] = time.monotonic() - started
        if code != 0:
            print(f"pipeline stopped: stage '{stage}' exited with {code}", file=sys.stderr)
            return code
        print(f"== {stage} done in {_duration(timings[stage])}", flush=True)
    print("stage timings: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    fs.write_json(catalog.path("meta.pipeline_timings"), {**before, **timings})
    _print_pages(catalog)
    return 0


def _last_timings(catalog: Catalog) -> dict[str, float]:
    """Each stage's seconds in the last finished run on this output folder (none before the first)."""
    path = catalog.path("meta.pipeline_timings")
    try:
        return {k: float(v) for k, v in fs.read_json(path).items()} if fs.exists(path) else {}
    except (ValueError, AttributeError):  # a file someone edited: no estimate, the run goes on
        return {}


def _print_pages(catalog: Catalog) -> None:
    """Where to look: the newest report, the trust pages and the model charts."""
    report_dir = fs.parent(catalog.path("report.html", generated_at="x"))
    reports = sorted(p for p, _, _ in fs.list_files(report_dir) if p.endswith(".html")) if fs.exists(report_dir) else []
    if reports:
        print(f"report: {reports[-1].removeprefix('file:')}")
    for key in PAGES:
        if fs.exists(catalog.path(key)):
            print(f"trust page: {catalog.path(key)}")
    charts = fs.parent(catalog.path("explain.chart", chart="x"))
    if fs.exists(charts):
        print(f"model charts: {charts}/")


def planned_stages(skip_generate: bool, skip_assess: bool, has_ground_truth: Callable[[], bool]) -> list[str]:
    """The stages this run will take, in order: evaluate only where there is ground truth
    (generated sources always bring theirs; ``has_ground_truth`` is asked otherwise)."""
    skipped = {"generate"} if skip_generate else set()
    if skip_assess:
        skipped.add("assess")
    if skip_generate and not has_ground_truth():
        skipped.add("evaluate")
    return [stage for stage in STAGES if stage not in skipped]


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _has_ground_truth(args) -> bool:
    config = load_config(args.env, args.config)
    return Catalog(config).has_truth(build_session(config))


if __name__ == "__main__":
    sys.exit(main())
