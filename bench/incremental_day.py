"""One incremental day against a full rebuild, on a generated profile split into daily batches.

    python bench/incremental_day.py --profile medium --work /tmp/bench_incremental

1. generates the profile once into ``<work>/staged`` (skipped when already there);
2. releases days 1..N-1 into ``<work>/live``, ingests them and resolves (a full run that trains
   the model);
3. releases day N, ingests it and resolves incrementally (timed);
4. rebuilds everything with ``--full-refresh`` and the same model (timed), and compares.

Prints, and writes to ``<work>/incremental_day.json``: the time of each run and its stages,
customer-id changes for customers that got no new records (target 0), and whether the
incremental result equals the rebuild (same partition, same ids). Each step runs as its own
process, as the scheduler would run it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def _job(module: str, overlay: Path, *extra: str) -> float:
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", module, "--env", "local", "--config", str(overlay), *extra])
    if code not in (0, 4):  # 4: drift alarm, the tables are written
        raise SystemExit(f"{module} exited with {code}")
    return round(time.monotonic() - started, 1)


def _overlay(path: Path, root: Path, profile: str) -> Path:
    path.write_text(
        f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\ngenerator:\n  profile: {profile}\n"
        "monitoring:\n  max_customer_change: 10.0\n  max_match_rate_shift: 10.0\n"
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="medium")
    parser.add_argument("--work", default="/tmp/bench_incremental")
    args = parser.parse_args()
    work = Path(args.work)
    staged_root, live_root = work / "staged", work / "live"
    staged_root.mkdir(parents=True, exist_ok=True)
    live_root.mkdir(parents=True, exist_ok=True)
    staged, live = _overlay(work / "staged.yaml", staged_root, args.profile), _overlay(work / "live.yaml", live_root, args.profile)
    figures: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Spark local[2]", "profile": args.profile}

    if not (staged_root / "sources/truth/records").exists():
        figures["generate_seconds"] = _job("jobs.generate_sources", staged)

    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.io import read_delta  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution.stage import ResolvePaths  # noqa: PLC0415
    from customer_identity.synthetic.daily import release_days  # noqa: PLC0415

    staged_cfg, live_cfg = load_config("local", str(staged)), load_config("local", str(live))
    start = dt.date.fromisoformat(staged_cfg.generator.start_date)
    last_day = start + dt.timedelta(days=staged_cfg.generator.days - 1)
    spark = build_session(live_cfg)
    paths = ResolvePaths.from_config(live_cfg)

    def crosswalk() -> dict[str, str]:
        return {r.record_key: r.customer_id for r in read_delta(spark, paths.crosswalk).select("record_key", "customer_id").toLocalIterator()}

    def last_run() -> dict:
        r = read_delta(spark, paths.run_metrics).orderBy("finished_at").collect()[-1]
        return {"mode": r.mode, "stage_seconds": dict(r.stage_seconds), "customers": r.customers, "identity_records": r.identity_records,
                "pairs_scored": r.pairs_kept, "id_changes": dict(r.id_changes)}  # fmt: skip

    figures["released_until_yesterday"] = release_days(spark, staged_cfg, live_cfg, None, last_day - dt.timedelta(days=1))
    figures["ingest_month_seconds"] = _job("jobs.ingest", live)
    figures["first_run_seconds"] = _job("jobs.resolve", live)
    figures["first_run"] = last_run()
    before = crosswalk()

    figures["released_today"] = release_days(spark, staged_cfg, live_cfg, last_day - dt.timedelta(days=1), last_day)
    figures["ingest_day_seconds"] = _job("jobs.ingest", live)
    figures["incremental_day_seconds"] = _job("jobs.resolve", live)
    figures["incremental_day"] = last_run()
    after = crosswalk()

    model = str(Path(paths.model))
    figures["full_rebuild_seconds"] = _job("jobs.resolve", live, "--full-refresh", "--model", model)
    figures["full_rebuild"] = last_run()
    rebuilt = crosswalk()

    # customers whose records are exactly the same after the day: their id must not change
    def groups(xw: dict[str, str]) -> dict[str, frozenset[str]]:
        out: dict[str, set[str]] = {}
        for k, c in xw.items():
            out.setdefault(c, set()).add(k)
        return {c: frozenset(v) for c, v in out.items()}

    old, new = groups(before), groups(after)
    id_of_new = {keys: c for c, keys in new.items()}
    untouched = {c: keys for c, keys in old.items() if keys in id_of_new}
    figures["customers_without_new_records"] = len(untouched)
    figures["id_changes_for_customers_without_new_records"] = sum(1 for c, keys in untouched.items() if id_of_new[keys] != c)
    figures["incremental_equals_rebuild_partition"] = set(groups(after).values()) == set(groups(rebuilt).values())
    figures["incremental_equals_rebuild_ids"] = after == rebuilt
    figures["speed_up_vs_rebuild"] = round(figures["full_rebuild_seconds"] / figures["incremental_day_seconds"], 2)
    (work / "incremental_day.json").write_text(json.dumps(figures, indent=2, default=str))
    print(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
