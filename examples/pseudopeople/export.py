"""Export pseudopeople's sample data sets as a shop's customer exports: CSV files plus a truth file.

pseudopeople (https://pseudopeople.readthedocs.io) simulates a US population and ships
sample data sets with realistic noise: typos, nicknames, swapped fields, missing values,
people who moved, relatives sharing a home. Each export gets a record id of its own, as a
shop's system would; the true person id (``simulant_id``) goes only to ``truth.csv``
(``source_system, source_record_id, person_id``) for ``jobs.evaluate --truth``.

    python examples/pseudopeople/export.py --seed 1 --out data/pseudopeople
    python examples/pseudopeople/export.py --seed 1 --out data/pseudopeople --households 300   # a small slice for tests

Then, as a user would: ``python -m jobs.ingest --config examples/pseudopeople/census_w2.yaml``
and ``python -m jobs.resolve --config ...`` (see the README, "Bring your own exports").
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import pandas as pd

DATASETS = {
    # source name -> (pseudopeople generator, record id column written to the export)
    "census": ("generate_decennial_census", "census_id"),
    "w2": ("generate_taxes_w2_and_1099", "form_id"),
    "ssa": ("generate_social_security", "ssa_id"),
}
TRUTH_COLUMNS = ("simulant_id", "household_id")


def export(out: Path, seed: int, sources: list[str], households: int | None = None) -> dict[str, int]:
    """Write ``<source>.csv`` for each source and ``truth.csv``; return rows per source."""
    import pseudopeople as psp  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    frames = {name: getattr(psp, DATASETS[name][0])(seed=seed, verbose=False) for name in sources}
    keep = None
    if households:
        # a slice of whole households, drawn from the first source, so each source keeps the same people
        first = frames[sources[0]]
        keep = set(pd.Series(sorted(first["household_id"].dropna().unique())).sample(n=min(households, first["household_id"].nunique()), random_state=seed))
    truth, rows = [], {}
    for name in sources:
        df = frames[name]
        if keep is not None:
            people = set(frames[sources[0]].loc[frames[sources[0]]["household_id"].isin(keep), "simulant_id"])
            df = df[df["simulant_id"].isin(people)]
        df = df.reset_index(drop=True)
        id_column = DATASETS[name][1]
        ids = [f"{name[0].upper()}{seed}-{i:07d}" for i in range(len(df))]
        truth.append(pd.DataFrame({"source_system": name, "source_record_id": ids, "person_id": df["simulant_id"].astype(str)}))
        export_df = df.drop(columns=[c for c in TRUTH_COLUMNS if c in df.columns]).astype("string")
        export_df.insert(0, id_column, ids)
        export_df.to_csv(out / f"{name}.csv", index=False)
        rows[name] = len(export_df)
    pd.concat(truth).to_csv(out / "truth.csv", index=False)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=Path, help="folder for the CSV exports and truth.csv")
    parser.add_argument("--seed", type=int, default=1, help="pseudopeople's noise seed")
    parser.add_argument("--sources", default="census,w2", help=f"comma-separated, among {sorted(DATASETS)}")
    parser.add_argument("--households", type=int, default=None, help="keep only this many households (small test data)")
    args = parser.parse_args(argv)
    logging.getLogger("pseudopeople").setLevel(logging.WARNING)
    rows = export(args.out, args.seed, args.sources.split(","), args.households)
    print(", ".join(f"{k}: {v:,} rows" for k, v in rows.items()) + f" -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
