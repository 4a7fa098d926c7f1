"""What reading exports with the product's own parser and counter costs, against Spark's CSV reader.

    python bench/ingest_files.py --rows 100000 1000000 --work /tmp/bench_ingest

For each size, writes a transactions export of that many rows (the brief's eleven columns,
split into 4 files, 1 row in 1,000 broken), then times in one Spark session:

(a) ``ingest_source``: list, parse (RFC 4180) and count every file, check the contract,
    write bronze and quarantine, read both back for the row-conservation check;
(b) Spark's own CSV reader (``multiLine``, RFC 4180 quoting) writing the same rows to Delta,
    with no contract, no count of its own and no quarantine.

Prints one line per size and writes ``<work>/ingest_files.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shutil
import time
from pathlib import Path

from customer_identity.core.config import TRANSACTION_ATTRIBUTES, load_config
from customer_identity.core.spark import build_session
from customer_identity.ingestion.stage import ingest_source

HEADER = list(TRANSACTION_ATTRIBUTES)  # the brief's eleven columns


def _write_export(folder: Path, rows: int, files: int = 4, seed: int = 1) -> None:
    rnd = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    per_file = -(-rows // files)
    for f in range(files):
        with (folder / f"part-{f:03d}.csv").open("w", newline="", encoding="utf-8") as out:
            w = csv.writer(out, lineterminator="\n")
            w.writerow(HEADER)
            for i in range(f * per_file, min(rows, (f + 1) * per_file)):
                guest = rnd.random() < 0.3
                price = "NaN" if i % 1000 == 7 else f"{rnd.uniform(1, 900):.2f}"
                w.writerow([
                    f"2026-10-{1 + i % 28:02d} {i % 24:02d}:00:00 UTC", 1000 + i % 5000, 2053013555631882655, "electronics.smartphone",
                    rnd.choice(["samsung", "apple", "xiaomi", ""]), price, f"s{i // 3}", "" if guest else str(i % 20000),
                    "Anne-Marie" if guest else "", "O'Neil, Jr" if guest else "", "LS1 4AP" if guest else "",
                ])  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work", default="/tmp/bench_ingest")
    args = parser.parse_args()
    work = Path(args.work)
    figures: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Spark local[2], 4 shuffle partitions", "sizes": []}
    base = load_config("local", overrides={"paths": {"data_root": str(work / "sources"), "output_root": str(work / "output")}})
    spark = build_session(base)
    for rows in args.rows:
        shutil.rmtree(work, ignore_errors=True)
        _write_export(work / "sources/transactions", rows)
        source = base.source("transactions")
        started = time.monotonic()
        result = ingest_source(spark, base, source)
        product = round(time.monotonic() - started, 1)
        started = time.monotonic()
        reader = spark.read.options(header="true", multiLine="true", escape='"').csv(source.path)
        reader.write.format("delta").mode("overwrite").save(str(work / "output/spark_csv"))
        spark_rows = spark.read.format("delta").load(str(work / "output/spark_csv")).count()
        spark_seconds = round(time.monotonic() - started, 1)
        line = {
            "rows": rows, "product_seconds": product, "spark_csv_seconds": spark_seconds, "rows_read": result.rows_read,
            "accepted": result.rows_accepted, "quarantined": result.rows_quarantined, "spark_csv_rows": spark_rows,
        }  # fmt: skip
        figures["sizes"].append(line)
        print(f"{rows:>10,} rows: product {product:6.1f}s (read {result.rows_read:,} = {result.rows_accepted:,} + {result.rows_quarantined:,}); "
              f"Spark CSV to Delta {spark_seconds:6.1f}s ({spark_rows:,} rows)")  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    (work / "ingest_files.json").write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
