"""Time Splink's training and prediction steps on Spark under one setting change at a time.

Runs on the identity records of a resolve already done under ``--config`` (its
``silver/identity_records``) with the model design that run derived, each variant in a fresh process so JVM warm-up is paid
alike. Training and prediction run as the resolve stage runs them, with the variant's
setting changed through the model configuration or ``matching.SplinkOverrides``. Per
variant and step (train, predict): wall seconds and the number of Spark jobs it ran.
Prints the machine, then one JSON line per variant.

    python bench/matching_levers.py --config my.yaml --variants project,u_ten_chunks,codegen_off

Variants (each changes one thing from the project's configured settings):
  project          the settings in conf/ as they are
  u_ten_chunks     u estimated in Splink's default 10 chunks with early stopping
  em_without_tf    EM iterations ignore term-frequency adjustments
  codegen_off      whole-stage code generation off in the matching stage
  lean_predict     predict without keeping compared values and per-level weights
  repartition_8    Splink repartitions its intermediate tables into 8 (default: shuffle partitions / 2)
  repartition_after_blocking
                   Splink repartitions the blocked pairs before scoring them
  aqe_off          adaptive query execution off while training and predicting, as Splink's own
                   Spark tests run
  splink_threshold the predict threshold passed to Splink (a WHERE in its SQL) instead of
                   filtering its materialised predictions
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import subprocess
import sys
import time

VARIANTS = (
    "project", "u_ten_chunks", "em_without_tf", "codegen_off", "lean_predict", "repartition_8", "repartition_after_blocking", "aqe_off", "splink_threshold",
)  # fmt: skip


def measure(config_path: str, variant: str) -> dict:
    """Train and predict once under ``variant``, as the resolve stage does; seconds and Spark jobs per step."""
    from pyspark.sql import functions as F  # noqa: PLC0415

    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution import matching  # noqa: PLC0415
    from customer_identity.resolution.model_design import designed_model  # noqa: PLC0415

    config = load_config("local", config_path)
    spark = build_session(config)
    model, overrides = designed_model(config.model, Catalog(config).path("model.splink")), matching.NO_OVERRIDES
    if variant == "u_ten_chunks":
        model = dataclasses.replace(model, training=dataclasses.replace(model.training, u_num_chunks=10))
    elif variant == "codegen_off":
        model = dataclasses.replace(model, spark=dataclasses.replace(model.spark, wholestage_codegen=False))
    elif variant == "em_without_tf":
        overrides = matching.SplinkOverrides(em_without_term_frequencies=True)
    elif variant == "lean_predict":
        overrides = matching.SplinkOverrides(settings={"retain_matching_columns": False, "retain_intermediate_calculation_columns": False})
    elif variant == "repartition_8":
        overrides = matching.SplinkOverrides(api={"num_partitions_on_repartition": 8})
    elif variant == "repartition_after_blocking":
        overrides = matching.SplinkOverrides(api={"repartition_after_blocking": True})
    elif variant == "aqe_off":
        spark.conf.set("spark.sql.adaptive.enabled", "false")
    elif variant == "splink_threshold":
        overrides = matching.SplinkOverrides(predict={"threshold_match_probability": model.predict_threshold})
    records = Catalog(config).read(spark, "silver.identity_records").localCheckpoint(eager=True)
    sources = sorted(r[0] for r in records.select("source_system").distinct().collect())
    by_source = {s: records.filter(F.col("source_system") == s) for s in sources}
    status = spark.sparkContext._jsc.sc().statusStore()
    steps: dict[str, list] = {}

    def step(name, fn):
        jobs, started = status.jobsList(None).size(), time.monotonic()
        result = fn()
        steps[name] = [round(time.monotonic() - started, 1), status.jobsList(None).size() - jobs]
        return result

    model_path = f"{config.paths.output_root}/_bench_levers/{variant}/splink_model.json"
    step("train", lambda: matching.train_model(spark, model, by_source, model_path, overrides=overrides))
    pairs = step("predict", lambda: matching.predict_pairs(spark, model, by_source, model_path, model.predict_threshold, overrides))
    return {"variant": variant, "identity_records": records.count(), "pairs_kept": pairs.count(), "steps": steps, "train_seconds": steps["train"][0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print("RESULT " + json.dumps(measure(args.config, args.one)), flush=True)
        return 0
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}, config {args.config}", flush=True)
    for variant in args.variants.split(","):
        if variant not in VARIANTS:
            raise SystemExit(f"unknown variant {variant!r}; choose from {', '.join(VARIANTS)}")
        proc = subprocess.run([sys.executable, __file__, "--config", args.config, "--one", variant], capture_output=True, text=True, check=False)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        print(line[7:] if line else json.dumps({"variant": variant, "failed": proc.returncode, "stderr": proc.stderr[-500:]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
