"""Accuracy on data that is not ours: the product against Splink 5 on DuckDB, out of the box.

    python bench/own_exports.py --seeds 11,12 --work build/own_exports
    python bench/own_exports.py --seeds 11 --example w2 --work build/own_exports    # one export, deduplicated

For each seed, pseudopeople's sample data sets are exported as a shop's CSV files
(``examples/pseudopeople/export.py``) and:

(a) ``product``: ``jobs.ingest``, ``jobs.resolve`` and ``jobs.evaluate --truth`` run through
    the example overlay only, as a user would (the model is derived from the data);
(b) ``splink_duckdb``: Splink 5 on DuckDB configured as its documentation recommends for
    the same fields, with no ground truth: a comparison per field from Splink's library
    (``NameComparison``, ``DateOfBirthComparison``, exact middle initial, street name with
    Levenshtein levels, exact street number, city, state and ZIP), one blocking rule per
    attribute, the prior from ``first_name + last_name + date_of_birth``, u by random
    sampling, EM blocked on names and on date of birth and on street; predict, then cluster
    at 0.95. Without any date of birth (W-2 forms alone) the prior comes from first name +
    surname + street instead, since a rule that finds nothing gives Splink a prior of 0.

Both are scored the same way: pairwise precision, recall and F1 over all pairs of records,
and the count of clusters against the true number of people. Figures go to
``<work>/own_exports.json`` and a markdown table to ``<work>/own_exports.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = {"census_w2": ["census", "w2"], "w2": ["w2"]}


def pairwise(assigned: pd.Series, truth: pd.Series) -> dict:
    """Pairwise precision, recall, F1 and count error of a clustering (both indexed by record key)."""
    df = pd.DataFrame({"c": assigned, "p": truth}).dropna()
    pairs = lambda s: (s * (s - 1) // 2).sum()  # noqa: E731
    tp = pairs(df.groupby(["c", "p"]).size())
    pred = pairs(df.groupby("c").size())
    true = pairs(df.groupby("p").size())
    precision = tp / pred if pred else 1.0
    recall = tp / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    n_pred, n_true = df["c"].nunique(), df["p"].nunique()
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "customers": int(n_pred), "true_people": int(n_true),
            "count_error_pct": round(100.0 * (n_pred - n_true) / n_true, 2)}  # fmt: skip


def run_product(example: str, data: Path, out: Path) -> dict:
    overlay = yaml.safe_load((ROOT / "examples" / "pseudopeople" / f"{example}.yaml").read_text())
    overlay["paths"] = {"data_root": str(data), "output_root": str(out)}
    path = out.parent / f"{out.name}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    t0 = time.monotonic()
    for job in ("ingest", "resolve"):
        subprocess.run([sys.executable, "-m", f"jobs.{job}", "--config", str(path)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.monotonic() - t0
    script = (
        "import sys, json\n"
        "from customer_identity.core.config import load_config\nfrom customer_identity.core.spark import build_session\nfrom customer_identity.core.io import read_delta\n"
        "c = load_config('local', sys.argv[1]); s = build_session(c)\n"
        "x = read_delta(s, f'{c.tables.gold}/customer_crosswalk').select('record_key', 'customer_id').toPandas()\n"
        "x.to_csv(sys.argv[2], index=False)\n"
    )
    crosswalk_csv = out.parent / f"{out.name}_crosswalk.csv"
    subprocess.run([sys.executable, "-c", script, str(path), str(crosswalk_csv)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    crosswalk = pd.read_csv(crosswalk_csv).set_index("record_key")["customer_id"]
    return {"seconds": round(seconds, 1), "clusters": crosswalk}


def run_splink_duckdb(sources: list[str], data: Path) -> dict:
    """Splink 5 on DuckDB with its documented defaults for these fields (no ground truth)."""
    import splink.comparison_library as cl  # noqa: PLC0415
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on  # noqa: PLC0415

    frames = []
    for name in sources:
        raw = pd.read_csv(data / f"{name}.csv", dtype=str)
        if name == "census":
            df = raw.rename(columns={"census_id": "id", "last_name": "surname"})
        else:
            df = raw.rename(columns={"form_id": "id", "last_name": "surname", "mailing_address_street_number": "street_number",
                                     "mailing_address_street_name": "street_name", "mailing_address_city": "city",
                                     "mailing_address_state": "state", "mailing_address_zipcode": "zipcode"})  # fmt: skip
            df["date_of_birth"] = None
        df["unique_id"] = name + ":" + df["id"]
        frames.append(df[["unique_id", "first_name", "middle_initial", "surname", "date_of_birth", "street_number", "street_name", "city", "state", "zipcode"]])
    t0 = time.monotonic()
    db_api = DuckDBAPI()
    settings = SettingsCreator(
        link_type="dedupe_only",  # one table of all records: within and across sources
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.ExactMatch("middle_initial"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%m/%d/%Y"),
            cl.ExactMatch("street_number"),
            cl.LevenshteinAtThresholds("street_name", [1, 3]),
            cl.ExactMatch("city"),
            cl.ExactMatch("state"),
            cl.ExactMatch("zipcode"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("first_name"),
            block_on("surname"),
            block_on("date_of_birth"),
            block_on("street_number", "street_name"),
        ],
    )
    records = db_api.register(pd.concat(frames, ignore_index=True))
    linker = Linker(records, settings)
    has_dob = pd.concat(frames)["date_of_birth"].notna().any()
    prior_rule = block_on("first_name", "surname", "date_of_birth") if has_dob else block_on("first_name", "surname", "street_number", "street_name")
    linker.training.estimate_probability_two_random_records_match([prior_rule], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6)
    for rule in (block_on("first_name", "surname"), block_on("date_of_birth"), block_on("street_number", "street_name")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except Exception as exc:
            print(f"splink_duckdb: EM on {rule} failed: {type(exc).__name__}", file=sys.stderr)
    predictions = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=0.95).as_pandas_dataframe()
    return {"seconds": round(time.monotonic() - t0, 1), "clusters": clusters.set_index("unique_id")["cluster_id"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="11,12")
    parser.add_argument("--example", default="census_w2", choices=sorted(EXAMPLES))
    parser.add_argument("--work", default="build/own_exports", type=Path)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "examples" / "pseudopeople"))
    from export import export  # noqa: PLC0415

    work = args.work.resolve()
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        data = work / f"{args.example}_seed{seed}" / "sources"
        rows = export(data, seed, EXAMPLES[args.example])
        truth = pd.read_csv(data / "truth.csv", dtype=str)
        truth = truth.set_index(truth["source_system"] + ":" + truth["source_record_id"])["person_id"]
        for engine in ("product", "splink_duckdb"):
            if engine == "product":
                got = run_product(args.example, data, work / f"{args.example}_seed{seed}" / "output")
            else:
                try:
                    got = run_splink_duckdb(EXAMPLES[args.example], data)
                except Exception as exc:  # e.g. a prior of exactly 0 when its rule finds no pair: recorded, not fatal
                    results.append({"example": args.example, "seed": seed, "rows": rows, "engine": engine, "failed": f"{type(exc).__name__}: {exc}"})
                    print(json.dumps(results[-1]))
                    continue
            results.append(
                {"example": args.example, "seed": seed, "rows": rows, "engine": engine, "seconds": got["seconds"], **pairwise(got["clusters"], truth)}
            )
            print(json.dumps(results[-1]))
    doc = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}", "results": results}
    work.mkdir(parents=True, exist_ok=True)
    (work / "own_exports.json").write_text(json.dumps(doc, indent=2))
    lines = [
        "| example | seed | engine | precision | recall | F1 | customers | true people | count error | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "failed" in r:
            lines.append(f"| {r['example']} | {r['seed']} | {r['engine']} | failed: {r['failed']} | | | | | | |")
            continue
        lines.append(
            f"| {r['example']} | {r['seed']} | {r['engine']} | {r['precision']} | {r['recall']} | {r['f1']} | {r['customers']:,} | {r['true_people']:,} | {r['count_error_pct']:+.2f}% | {r['seconds']} |"
        )
    (work / "own_exports.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
