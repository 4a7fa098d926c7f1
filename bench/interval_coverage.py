"""Does the count interval cover the true count? Measured over generator seeds.

For each seed: generate a profile, ingest, resolve, evaluate; assess (interval from the
model's probabilities); answer the review queue from ground truth (a perfect reviewer,
including the calibration sample); assess again (interval recalibrated by those labels).
Prints a markdown table and writes JSON beside it.

    python bench/interval_coverage.py --profile tiny --seeds 1,2,3 --root /tmp/coverage
    python bench/interval_coverage.py --profile tiny --seeds 1,2,3 --root /tmp/coverage --reuse   # assess again only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq  # Delta tables are parquet files plus a log; reading the newest rows is enough here


def _job(module: str, overlay: Path, *extra: str) -> None:
    cmd = [sys.executable, "-m", module, "--env", "local", "--config", str(overlay), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{module} failed for {overlay}")


def _latest(table: Path, order: str) -> dict:
    rows = pq.ParquetDataset(str(table)).read().to_pylist()
    return max(rows, key=lambda r: r[order])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="tiny")
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--root", default="/tmp/coverage")
    parser.add_argument("--reuse", action="store_true", help="keep a seed's resolved run under --root (and its review labels) and only assess it again")
    args = parser.parse_args()
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; profile {args.profile}")
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        started = time.monotonic()
        root = Path(args.root) / f"seed{seed}"
        overlay = root / "overlay.yaml"
        reused = args.reuse and (root / "output" / "gold" / "evaluation").is_dir()
        if not reused:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            overlay.write_text(
                f"paths: {{data_root: {root}/sources, output_root: {root}/output}}\ngenerator: {{profile: {args.profile}, seed: {seed}}}\n"
            )
            for module in ("jobs.generate_sources", "jobs.ingest", "jobs.resolve", "jobs.evaluate"):
                _job(module, overlay)
        _job("jobs.assess", overlay)
        if not (reused and (root / "output" / "silver" / "review_labels").is_dir()):
            _job("jobs.review", overlay, "--simulate-from-truth")
        _job("jobs.assess", overlay)
        gold = root / "output" / "gold"
        evaluation = _latest(gold / "evaluation", "evaluated_at")
        rows = sorted(pq.ParquetDataset(str(gold / "count_interval")).read().to_pylist(), key=lambda r: r["assessed_at"])
        true = evaluation["true_customers"]
        for r, kind in zip(rows[-2:], ("model probabilities", "recalibrated"), strict=True):
            results.append({
                "seed": seed, "profile": args.profile, "interval": kind, "true": true, "point": r["point"], "lower": r["lower"], "upper": r["upper"],
                "mean": r["mean"], "covered": r["lower"] <= true <= r["upper"], "method": r["method"], "draws": r["draws"],
                "sampled_lower": r.get("sampled_lower"), "unseen_matches": r.get("unseen_matches"),
                "sampled_covered": r.get("sampled_lower") is not None and r["sampled_lower"] <= true <= r["upper"],
            })  # fmt: skip
        print(f"seed {seed} done in {time.monotonic() - started:.0f}s", flush=True)
    print("\n| seed | interval | true | point | draws alone | unseen matches | interval | covered (draws alone) |\n|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['seed']} | {r['interval']} | {r['true']:,} | {r['point']:,} | {r['sampled_lower']:,}–{r['upper']:,} | {r['unseen_matches']:,.1f} "
            f"| {r['lower']:,}–{r['upper']:,} | {'yes' if r['covered'] else 'no'} ({'yes' if r['sampled_covered'] else 'no'}) |"
        )
    for kind in ("model probabilities", "recalibrated"):
        sel = [r for r in results if r["interval"] == kind]
        print(f"coverage ({kind}): {sum(r['covered'] for r in sel)} of {len(sel)}; the draws alone {sum(r['sampled_covered'] for r in sel)} of {len(sel)}")
    out = Path(args.root) / f"interval_coverage_{args.profile}.json"
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
