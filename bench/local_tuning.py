"""Time the resolve stage in Spark local mode under different shuffle-partition settings.

Runs on sources already generated and ingested under the given overlay (``--config``),
reusing a saved model so every run does the same work: standardise, blocking count,
predict, cluster and golden tables. Prints one line per setting with the machine.

    python bench/local_tuning.py --config my.yaml --model data/output/model/splink_model.json --partitions 2,4,8
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--partitions", default="2,4,8")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {os.cpu_count()} cores, {platform.python_version()}, config {args.config}")
    for n in [int(x) for x in args.partitions.split(",")]:
        overlay = f"{args.config}.partitions{n}.yaml"
        with open(args.config) as src, open(overlay, "w") as dst:
            # AQE starts from initialPartitionNum when it is set, so both are pinned to n
            dst.write(src.read() + f"\nspark:\n  shuffle_partitions: {n}\n  conf:\n    spark.sql.adaptive.coalescePartitions.initialPartitionNum: '{n}'\n")
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "jobs.resolve", "--env", "local", "--config", overlay, "--model", args.model, "--log-level", "WARNING"],
            capture_output=True,
            text=True,
            check=False,  # a failed run is reported, not raised
        )
        elapsed = time.monotonic() - started
        stages = next((line for line in proc.stdout.splitlines() if line.startswith("stage seconds")), "")
        print(f"shuffle_partitions={n}: exit {proc.returncode}, wall {elapsed:.1f}s ({stages})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
