"""How the blocking rules' comparisons grow with the number of identity records.

For each resolve already done under one of ``--configs`` (populations of different sizes
from the generator), reads ``silver/identity_records`` and reports per blocking rule: the
pairs it generates, the pairs it adds beyond the earlier rules (what Splink scores: a pair
found by an earlier rule is not scored again) and its largest block. Then fits each
rule's growth exponent (comparisons ~ N^k, least squares on log-log) and projects the
comparisons at ``--project`` records. Every size takes the rules in one order, the last
config's design order (the largest run, by convention), so that each rule's added pairs
mean the same at every size. Prints the machine, a JSON document and a markdown
table; ``--out`` writes the JSON too.

    python bench/blocking_growth.py --configs /tmp/bench_engines/n100000/overlay.yaml,/tmp/bench_engines/n300000/overlay.yaml
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
from pathlib import Path


def analyse(config_path: str, order: list[list[str]] | None = None) -> dict:
    """Per-rule pair counts of one run's identity records, its rules in ``order`` first."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution.blocking import rule_attributes, with_block_keys  # noqa: PLC0415
    from customer_identity.resolution.matching import all_present, count_comparisons  # noqa: PLC0415
    from customer_identity.resolution.model_design import saved_blocking_rules  # noqa: PLC0415
    from customer_identity.trust.evaluation import blocked_by  # noqa: PLC0415

    config = load_config("local", config_path)
    spark = build_session(config)
    own = [tuple(r) for r in saved_blocking_rules(Catalog(config).path("model.splink"), config.model)]
    first = [tuple(r) for r in order or [] if tuple(r) in own]
    rules = first + [r for r in own if r not in first]
    attributes = sorted({c for rule in rules for c in rule_attributes(rule)})
    records = Catalog(config).read(spark, "silver.identity_records").select("record_key", *attributes)
    records = with_block_keys(records, rules).localCheckpoint(eager=True)
    n = records.count()
    counts = count_comparisons(records, rules)
    rows = []
    for i, rule in enumerate(rules):
        keyed = records.filter(all_present(rule))
        left = keyed.select(*[F.col(c).alias(f"{c}_l") for c in records.columns])
        right = keyed.select(*[F.col(c).alias(f"{c}_r") for c in records.columns])
        on = [F.col(f"{c}_l") == F.col(f"{c}_r") for c in rule]
        pairs = left.join(right, on=on).where(F.col("record_key_l") < F.col("record_key_r"))
        # a pair an earlier rule generated is scored once, under that rule
        pairs = pairs.where(~blocked_by(rules[:i]))
        rows.append({"rule": "+".join(rule), "generated": counts[i].comparisons, "added": pairs.count(), "largest_block": counts[i].largest_block})
    return {"identity_records": n, "rules": rows, "scored": sum(r["added"] for r in rows)}


def exponent(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of log(count) on log(records); None with fewer than two usable points."""
    pts = [(math.log(x), math.log(y)) for x, y in points if x > 0 and y > 0]
    if len(pts) < 2:
        return None
    mx, my = sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts)
    sxx = sum((p[0] - mx) ** 2 for p in pts)
    return round(sum((p[0] - mx) * (p[1] - my) for p in pts) / sxx, 2) if sxx else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", required=True, help="comma-separated overlays of runs at different sizes")
    parser.add_argument("--project", type=float, default=1e8, help="identity records to project the comparisons to")
    parser.add_argument("--out")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--order", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(analyse(args.one, json.loads(args.order) if args.order else None)), flush=True)
        return 0
    import subprocess  # noqa: PLC0415

    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.resolution.model_design import design_path  # noqa: PLC0415

    last = load_config("local", args.configs.split(",")[-1])
    design = Path(design_path(Catalog(last).path("model.splink")))  # a local run: read without Spark
    order = json.dumps(json.loads(design.read_text())["blocking_rules"] if design.is_file() else [])
    sizes = []
    for path in args.configs.split(","):
        cmd = [sys.executable, __file__, "--configs", path, "--one", path, "--order", order]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            raise SystemExit(f"blocking analysis of {path} failed (exit {proc.returncode}): {proc.stderr[-800:]}")
        sizes.append(json.loads(line[7:]))
    sizes.sort(key=lambda s: s["identity_records"])
    by_rule = [{r["rule"]: r for r in s["rules"]} for s in sizes]
    names = list(dict.fromkeys(r["rule"] for s in sizes for r in s["rules"]))
    growth = {}
    for name in names:
        points = [(s["identity_records"], rules[name]["added"]) for s, rules in zip(sizes, by_rule) if name in rules]
        k = exponent(points)
        projected = round(points[-1][1] * (args.project / points[-1][0]) ** k) if k is not None else None
        growth[name] = {"exponent": k, "projected_added": projected}
    total_k = exponent([(s["identity_records"], s["scored"]) for s in sizes])
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "sizes": sizes,
        "growth": growth,
        "scored_exponent": total_k,
        "project_to": args.project,
        "projected_scored": sum(g["projected_added"] or 0 for g in growth.values()),
    }
    print(json.dumps(result, indent=2))
    header = (
        "| rule | "
        + " | ".join(f"{s['identity_records']:,}: added (largest block)" for s in sizes)
        + " | exponent | projected at {:,.0f} |".format(args.project)
    )
    lines = [header, "|" + "---|" * (len(sizes) + 3)]
    for name in names:
        cells = " | ".join(f"{r[name]['added']:,} ({r[name]['largest_block']})" if name in r else "–" for r in by_rule)
        g = growth[name]
        lines.append(f"| {name} | {cells} | {g['exponent']} | {g['projected_added'] or 0:,} |")
    lines.append("| all rules (scored) | " + " | ".join(f"{s['scored']:,}" for s in sizes) + f" | {total_k} | {result['projected_scored']:,} |")
    print("\n".join(lines))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
