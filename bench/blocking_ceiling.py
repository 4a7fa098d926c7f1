"""What a blocking rule could buy at best, measured against the generator's ground truth.

Over a resolved synthetic run (``--config``), reports:
- the blocking ceiling of the configured rules: the customers, count error and pairwise F1
  a perfect classifier would reach if it linked exactly the true pairs those rules generate;
- for each ``--extra`` rule, the same ceiling with that rule added, and the pairs the rule
  would add beyond the configured ones: how many, and what share of them are true matches
  (by how many identity records share the rule's key). A rule whose added pairs are mostly
  different people can only raise the ceiling by linking pairs no classifier can tell apart.
Prints the machine, a JSON document and a markdown table; ``--out`` writes the JSON too.

    python bench/blocking_ceiling.py --config /tmp/medium/overlay.yaml --extra first_name_canonical+surname_std
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import asdict

BLOCK_SIZE_BINS = [(2, 2), (3, 4), (5, 8), (9, 16), (17, 50), (51, None)]


def _bin(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else (str(lo) if lo == hi else f"{lo}-{hi}")


def added_pairs(records, truth, base_rules, extra_rule) -> list[dict]:
    """Pairs ``extra_rule`` generates that no rule of ``base_rules`` does, by key block size."""
    from pyspark.sql import functions as F  # noqa: PLC0415
    from pyspark.sql.window import Window  # noqa: PLC0415

    from customer_identity.resolution.matching import all_present  # noqa: PLC0415
    from customer_identity.trust.evaluation import blocked_by  # noqa: PLC0415

    columns = sorted({c for rule in [*base_rules, extra_rule] for c in rule})
    keyed = (
        records.select("record_key", *columns)
        .filter(all_present(extra_rule))
        .join(truth.select("record_key", "person_id"), "record_key")
        .withColumn("block_size", F.count(F.lit(1)).over(Window.partitionBy(*extra_rule)))
    )
    left = keyed.select(*[F.col(c).alias(f"{c}_l") for c in keyed.columns])
    right = keyed.select(*[F.col(c).alias(f"{c}_r") for c in keyed.columns])
    pairs = left.join(right, [F.col(f"{c}_l") == F.col(f"{c}_r") for c in extra_rule]).filter(F.col("record_key_l") < F.col("record_key_r"))
    pairs = pairs.filter(~blocked_by(base_rules)).select(
        F.col("block_size_l").alias("block_size"), (F.col("person_id_l") == F.col("person_id_r")).alias("true")
    )
    size_bin = F.lit(None).cast("string")
    for lo, hi in reversed(BLOCK_SIZE_BINS):
        cond = F.col("block_size") >= lo if hi is None else F.col("block_size").between(lo, hi)
        size_bin = F.when(cond, F.lit(_bin(lo, hi))).otherwise(size_bin)
    rows = pairs.groupBy(size_bin.alias("records_sharing_key")).agg(F.count(F.lit(1)).alias("pairs"), F.sum(F.col("true").cast("long")).alias("true")).collect()
    by_bin = {r["records_sharing_key"]: r for r in rows}
    out = []
    for lo, hi in BLOCK_SIZE_BINS:
        r = by_bin.get(_bin(lo, hi))
        n, t = (int(r["pairs"]), int(r["true"])) if r else (0, 0)
        out.append({"records_sharing_key": _bin(lo, hi), "pairs": n, "true": t, "true_share": round(t / n, 4) if n else None})
    return out


def measure(config_path: str, extras: list[tuple[str, ...]]) -> dict:
    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution.blocking import with_block_keys  # noqa: PLC0415
    from customer_identity.resolution.model_design import saved_blocking_rules  # noqa: PLC0415
    from customer_identity.trust.evaluation import blocking_ceiling  # noqa: PLC0415
    from customer_identity.trust.stage import generator_truth  # noqa: PLC0415

    config = load_config("local", config_path)
    spark = build_session(config)
    catalog = Catalog(config)
    truth = generator_truth(spark, catalog, catalog.read(spark, "gold.customer_crosswalk")).localCheckpoint(eager=True)
    relations = catalog.read(spark, "truth.table", table="relations")
    base = [tuple(r) for r in saved_blocking_rules(catalog.path("model.splink"), config.model)]
    records = with_block_keys(catalog.read(spark, "silver.identity_records"), [*base, *extras]).localCheckpoint(eager=True)
    t0 = time.monotonic()
    results = [{"rules": ["+".join(r) for r in base], "extra": None, **asdict(blocking_ceiling(spark, records, truth, relations, base, config.clustering))}]
    for extra in extras:
        ceiling = blocking_ceiling(spark, records, truth, relations, [*base, extra], config.clustering)
        results.append(
            {
                "rules": ["+".join(r) for r in [*base, extra]],
                "extra": "+".join(extra),
                **asdict(ceiling),
                "added_pairs": added_pairs(records, truth, base, extra),
            }
        )
    return {
        "identity_records": records.count(),
        "true_customers": truth.select("person_id").distinct().count(),
        "ceilings": results,
        "seconds": round(time.monotonic() - t0, 1),
    }


def markdown(doc: dict) -> str:
    lines = [
        f"identity records {doc['identity_records']:,}, true customers {doc['true_customers']:,}",
        "",
        "| rules | true pairs generated | ceiling customers | count error | pairwise recall | pairwise F1 |",
        "|---|---|---|---|---|---|",
    ]
    for c in doc["ceilings"]:
        name = "configured" if c["extra"] is None else f"configured + {c['extra']}"
        lines.append(
            f"| {name} | {c['blocked_true_pairs']:,} of {c['true_pairs']:,} ({100 * c['pair_completeness']:.2f}%) | {c['customers']:,} "
            f"| {c['count_error_pct']:+.2f}% | {c['pairwise_recall']:.4f} | {c['pairwise_f1']:.4f} |"
        )
    for c in doc["ceilings"]:
        if c["extra"] is None:
            continue
        lines += [
            "",
            f"pairs {c['extra']} adds beyond the configured rules, by how many records share its key:",
            "",
            "| records sharing the key | pairs | true matches | share true |",
            "|---|---|---|---|",
        ]
        for b in c["added_pairs"]:
            share = "" if b["true_share"] is None else f"{100 * b['true_share']:.1f}%"
            lines.append(f"| {b['records_sharing_key']} | {b['pairs']:,} | {b['true']:,} | {share} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="overlay YAML of a resolved synthetic run (ground truth needed)")
    parser.add_argument("--extra", action="append", default=[], help="a candidate rule, columns joined by '+'; repeatable")
    parser.add_argument("--out", help="write the JSON here too")
    args = parser.parse_args(argv)
    extras = [tuple(e.split("+")) for e in args.extra]
    doc = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count()}, **measure(args.config, extras)}
    print(json.dumps(doc, indent=2))
    print(markdown(doc))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
