"""How right is the customer count? Measured over generator seeds against the ground truth.

For each seed: generate a profile (``--rates`` realistic or stress), ingest, resolve,
evaluate, assess. Reports per seed the true number of people, the headline estimate with
its interval (covered? how wide?), the golden table's count and the blocking ceiling (the
count a perfect classifier would reach on the pairs the blocking rules generate) beside the
merges the count estimated blocking lost (``trust.unseen``) and those it truly lost (the ceiling
above the truth). With ``--review`` it also answers the review queue from the ground truth (a perfect reviewer) and assesses again, so the
recalibrated estimate is reported too, and with ``--audit 100,300`` it draws count audits
of those sizes answered from the truth and reports their estimates. Prints the machine, a
markdown table and a summary, and writes JSON beside the runs.

    python bench/count_estimate.py --profile small --rates realistic --seeds 21,22,23,24,25 --root /tmp/count
    python bench/count_estimate.py --profile small --rates stress --seeds 21,22,23,24,25 --root /tmp/count_stress
    python bench/count_estimate.py ... --reuse    # assess again only, on runs already under --root
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq  # Delta tables are parquet files plus a log; these tables are append-only


def _job(module: str, overlay: Path, *extra: str) -> str:
    cmd = [sys.executable, "-m", module, "--env", "local", "--config", str(overlay), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{module} failed for {overlay}")
    return done.stdout


def _rows(table: Path, order: str) -> list[dict]:
    return sorted(pq.ParquetDataset(str(table)).read().to_pylist(), key=lambda r: r[order])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--profile", default="small")
    parser.add_argument("--rates", default="realistic", help="generator rate preset: realistic or stress")
    parser.add_argument("--seeds", default="21,22,23,24,25")
    parser.add_argument("--root", default="/tmp/count")
    parser.add_argument("--review", action="store_true", help="also answer the review queue from the truth and report the recalibrated estimate")
    parser.add_argument("--audit", default="", help="comma-separated count audit sizes, e.g. 100,300 (answered from the truth)")
    parser.add_argument("--reuse", action="store_true", help="keep a seed's resolved run under --root and only assess it again (its labels are dropped)")
    args = parser.parse_args()
    machine = f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"
    print(f"machine: {machine}; profile {args.profile}, rates {args.rates}")
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        started = time.monotonic()
        root = Path(args.root) / f"seed{seed}"
        overlay = root / "overlay.yaml"
        if args.reuse and (root / "output" / "gold" / "evaluation").is_dir():
            for table in ("silver/review_labels", "gold/audit_sample", "gold/audit_candidates", "gold/count_audit", "gold/count_interval"):
                shutil.rmtree(root / "output" / table, ignore_errors=True)  # back to the model's own view: no reviewer has answered
        else:
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)
            overlay.write_text(
                f"paths: {{data_root: {root}/sources, output_root: {root}/output}}\n"
                f"generator: {{profile: {args.profile}, seed: {seed}, rate_preset: {args.rates}}}\n"
            )
            for module in ("jobs.generate_sources", "jobs.ingest", "jobs.resolve", "jobs.evaluate"):
                _job(module, overlay)
        _job("jobs.assess", overlay)
        kinds = ["model probabilities"]
        if args.review:
            _job("jobs.review", overlay, "--simulate-from-truth")
            _job("jobs.assess", overlay)
            kinds.append("recalibrated by review labels")
        gold = root / "output" / "gold"
        audits = {}
        for n in [int(a) for a in args.audit.split(",") if a]:
            _job("jobs.review", overlay, "--audit", str(n), "--audit-seed", str(seed * 1000 + n), "--simulate-from-truth")
            audits[n] = _rows(gold / "count_audit", "assessed_at")[-1]
        evaluation = _rows(gold / "evaluation", "evaluated_at")[-1]
        true = evaluation["true_customers"]
        ceiling = evaluation.get("ceiling_customers")
        for r, kind in zip(_rows(gold / "count_interval", "assessed_at")[-len(kinds) :], kinds, strict=True):
            results.append({
                "seed": seed, "profile": args.profile, "rates": args.rates, "estimate_from": kind, "true": true,
                "estimate": r["estimate"], "error_pct": 100 * (r["estimate"] - true) / true, "lower": r["lower"], "upper": r["upper"],
                "width_pct": 100 * (r["upper"] - r["lower"]) / r["estimate"], "covered": r["lower"] <= true <= r["upper"],
                "golden_count": r["golden_count"], "golden_error_pct": 100 * (r["golden_count"] - true) / true,
                "ceiling_customers": ceiling, "draws_mean": r["mean"], "pairwise_f1": evaluation["pairwise_f1"], "method": r["method"],
                "unseen_merges": r.get("unseen_merges"),
            })  # fmt: skip
        for n, a in audits.items():
            results.append({
                "seed": seed, "profile": args.profile, "rates": args.rates, "estimate_from": f"audit of {n} records", "true": true,
                "estimate": round(a["estimate"]), "error_pct": 100 * (a["estimate"] - true) / true, "lower": math.floor(a["lower"]), "upper": math.ceil(a["upper"]),
                "width_pct": 100 * (a["upper"] - a["lower"]) / a["estimate"], "covered": a["lower"] <= true <= a["upper"], "golden_count": a["golden_count"],
                "golden_error_pct": 100 * (a["golden_count"] - true) / true, "ceiling_customers": ceiling, "draws_mean": None, "pairwise_f1": evaluation["pairwise_f1"], "method": f"audit, se {a['se']:.1f}",
                "unseen_merges": None,
            })  # fmt: skip
        print(f"seed {seed} done in {time.monotonic() - started:.0f}s", flush=True)
    print(
        "\n| seed | estimate from | true | estimate (error) | 95% interval (width) | covers truth | golden table (error) | blocking ceiling "
        "| merges lost to blocking: estimated / true |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        ceiling = f"{r['ceiling_customers']:,}" if r["ceiling_customers"] is not None else "–"
        lost = "–"
        if r.get("unseen_merges") is not None and r["ceiling_customers"] is not None:
            lost = f"{r['unseen_merges']:,.1f} / {r['ceiling_customers'] - r['true']:,}"
        print(
            f"| {r['seed']} | {r['estimate_from']} | {r['true']:,} | {r['estimate']:,} ({r['error_pct']:+.2f}%) | {r['lower']:,}–{r['upper']:,} ({r['width_pct']:.1f}%) "
            f"| {'yes' if r['covered'] else 'no'} | {r['golden_count']:,} ({r['golden_error_pct']:+.2f}%) | {ceiling} | {lost} |"
        )
    for kind in dict.fromkeys(r["estimate_from"] for r in results):
        sel = [r for r in results if r["estimate_from"] == kind]
        worst = max(abs(r["error_pct"]) for r in sel)
        print(f"{kind}: truth covered in {sum(r['covered'] for r in sel)} of {len(sel)}; largest |error| {worst:.2f}%; "
              f"widest interval {max(r['width_pct'] for r in sel):.1f}%; golden table largest |error| {max(abs(r['golden_error_pct']) for r in sel):.2f}%")  # fmt: skip
        decided = [
            (r["ceiling_customers"] - r["true"]) / (r["golden_count"] - r["true"])
            for r in sel
            if r["ceiling_customers"] is not None and r["golden_count"] != r["true"]
        ]
        if decided:
            print(f"  share of the golden table's error that blocking decides (ceiling error / golden error): {', '.join(f'{d:.0%}' for d in decided)}")
    out = Path(args.root) / f"count_estimate_{args.profile}_{args.rates}.json"
    out.write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
