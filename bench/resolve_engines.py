"""The resolve stage against Splink's out-of-the-box Spark and DuckDB runs, on the same records.

    python bench/resolve_engines.py --sizes 100000,300000,1000000 --work /tmp/bench_engines

For each size (identity records, approximately: the generator is asked for size / 1.85
people, its ratio of records to people) the script generates and ingests a population once,
then times in separate processes:

(a) ``ours``: ``jobs.resolve --full-refresh`` (standardise -> train -> predict -> cluster ->
    golden tables) with this project's settings;
(b) ``splink_spark``: Splink 5 on Spark with Splink's defaults and no tuning (local[2], the
    Spark defaults, ``SparkAPI`` default lineage breaking) on (a)'s identity records, the
    same comparisons, blocking rules and training recipe; predict, then Splink's own
    clustering;
(c) ``splink_duckdb``: the same on DuckDB;
(a') ``ours_spark``: (a) with ``model.training.engine: spark`` (every training step on Spark
    over all records, instead of the default bounded sample trained with Splink on DuckDB in the
    driver).

Per engine: wall time and time per stage, comparisons scored, peak resident memory of the
process tree (driver and its JVM), and the ratios a/b and a/c. The figures go to
``<work>/resolve_engines.json`` and a markdown table to ``<work>/resolve_engines.md``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

RECORDS_PER_PERSON = 1.85  # identity records per person on the generator's default rates


def _tree_rss(pid: int) -> tuple[int, int]:
    """Resident bytes of a process and all its descendants, and of the process alone (Linux /proc)."""
    total, own, stack = 0, 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            rss = next(int(line.split()[1]) * 1024 for line in status.splitlines() if line.startswith("VmRSS:"))
            total += rss
            own = rss if p == pid else own
            for task in Path(f"/proc/{p}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total, own


def _run(cmd: list[str], log: Path) -> tuple[float, int, int]:
    """Run ``cmd``; (wall seconds, peak resident bytes of its process tree, peak of the Python
    process alone: the driver's own memory, apart from the JVM that local mode runs the tasks in)."""
    started, peak, python_peak = time.monotonic(), 0, 0
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        done = threading.Event()

        def watch() -> None:
            nonlocal peak, python_peak
            while not done.is_set():
                tree, own = _tree_rss(proc.pid)
                peak, python_peak = max(peak, tree), max(python_peak, own)
                time.sleep(0.5)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        code = proc.wait()
        done.set()
        watcher.join()
    if code not in (0, 4):
        raise SystemExit(f"{' '.join(cmd[:4])} exited with {code}; see {log}")
    return round(time.monotonic() - started, 1), peak, python_peak


def _overlay(work: Path, size: int) -> Path:
    root = work / f"n{size}"
    root.mkdir(parents=True, exist_ok=True)
    people = int(size / RECORDS_PER_PERSON)
    path = root / "overlay.yaml"
    path.write_text(
        f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\n"
        f"generator:\n  profile: large\n  profiles:\n    large: {{people: {people}, products: 20000}}\n"  # the scale profile, resized
        "monitoring:\n  max_customer_change: 10.0\n  max_match_rate_shift: 10.0\n"
    )
    return path


# --------------------------------------------------------------------------- Splink baselines (run in their own process)


def splink_baseline(engine: str, overlay: str, out: str) -> None:
    """Train, predict and cluster with Splink's defaults on the identity records of ``overlay``'s run."""
    import splink.comparison_library  # noqa: F401,PLC0415  (loads Splink before the timers)
    from splink import DuckDBAPI, Linker, SparkAPI, block_on  # noqa: PLC0415

    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.resolution.matching import build_settings, effective_recall  # noqa: PLC0415

    config = load_config("local", overlay)
    model = _designed_model(config)
    records_path = f"{config.tables.silver}/identity_records_parquet"
    times: dict[str, float] = {}
    t = time.monotonic()
    if engine == "splink_spark":
        from pyspark.sql import SparkSession  # noqa: PLC0415

        from customer_identity.core.spark import splink_jar  # noqa: PLC0415

        spark = SparkSession.builder.master("local[2]").config("spark.jars", splink_jar()).config("spark.driver.memory", "8g").getOrCreate()
        spark.sparkContext.setCheckpointDir(f"{config.paths.output_root}/_bench_checkpoints")
        records = spark.read.parquet(records_path)
        db_api = SparkAPI(spark_session=spark)
        by_source = {s: records.filter(records.source_system == s) for s in sorted(r[0] for r in records.select("source_system").distinct().collect())}
        inputs = [db_api.register(df, dataset_display_name=name) for name, df in by_source.items()]
    else:
        import duckdb  # noqa: PLC0415

        con = duckdb.connect()
        db_api = DuckDBAPI(connection=con)
        table = con.sql(f"select * from read_parquet('{records_path}/*.parquet')")
        sources = sorted(r[0] for r in con.sql(f"select distinct source_system from read_parquet('{records_path}/*.parquet')").fetchall())
        by_source = {s: table.filter(f"source_system = '{s}'") for s in sources}
        inputs = [db_api.register(rel, dataset_display_name=name) for name, rel in by_source.items()]
        by_source = None
    times["load"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    linker = Linker(inputs, build_settings(model))
    recall = effective_recall(by_source, model) if by_source is not None else _duckdb_recall(con, records_path, model)
    linker.training.estimate_probability_two_random_records_match([block_on(*r) for r in model.training.deterministic_rules], recall=recall)
    linker.training.estimate_u_using_random_sampling(max_pairs=model.training.u_max_pairs, seed=model.training.seed)
    for rule in model.training.em_blocking_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                block_on(*rule), record_sample_proportion=model.training.em_record_sample_proportion
            )
        except ValueError:
            pass  # the same EM sessions are discarded as in the project's own training
    times["train"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    predictions = linker.inference.predict(threshold_match_probability=model.predict_threshold)
    scored = predictions.as_duckdbpyrelation().shape[0] if engine == "splink_duckdb" else predictions.as_spark_dataframe().count()
    times["predict"] = round(time.monotonic() - t, 1)

    t = time.monotonic()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=model.match_threshold)
    if engine == "splink_duckdb":
        customers = con.sql(f"select count(distinct cluster_id) from {clusters.physical_name}").fetchall()[0][0]
    else:
        customers = clusters.as_spark_dataframe().select("cluster_id").distinct().count()
    times["cluster"] = round(time.monotonic() - t, 1)
    Path(out).write_text(json.dumps({"stage_seconds": times, "pairs_kept": scored, "customers": customers}))


def _designed_model(config):
    """The configured model with what (a)'s run derived from the data (comparisons, blocking,
    training rules, link type), read from the design saved beside its model: the baselines
    compare, block and train as (a) does."""
    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.resolution.model_design import design_path, model_from_design  # noqa: PLC0415

    path = Path(design_path(Catalog(config).path("model.splink")))  # a local run: read without Spark
    if not path.is_file():
        raise SystemExit(f"the baselines need (a)'s saved model design ({path}): run (a) first at this size")
    return model_from_design(config.model, json.loads(path.read_text()))


def _duckdb_recall(con, records_path: str, model) -> float:
    """The project's effective recall of the deterministic rules, computed in DuckDB."""
    any_rule = " or ".join("(" + " and ".join(f"{c} is not null" for c in rule) + ")" for rule in model.training.deterministic_rules)
    n, k = con.sql(f"select count(*), count(*) filter (where {any_rule}) from read_parquet('{records_path}/*.parquet')").fetchall()[0]
    return max(min(model.training.deterministic_recall * (k / n) ** 2, 1.0), 1e-3)


# --------------------------------------------------------------------------- driver


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,300000,1000000")
    parser.add_argument("--engines", default="ours,ours_spark,splink_spark,splink_duckdb")
    parser.add_argument("--work", default="/tmp/bench_engines")
    parser.add_argument("--baseline", nargs=3, metavar=("ENGINE", "OVERLAY", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        splink_baseline(*args.baseline)
        return 0

    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB"
    # engines not run this time keep their last figures (same work directory, same machine)
    previous = work / "resolve_engines.json"
    results = json.loads(previous.read_text()) if previous.exists() else {}
    if results.get("machine") != machine:
        results = {}
    results.update({"machine": machine, "python": platform.python_version()})
    results.setdefault("sizes", {})
    for size in [int(s) for s in args.sizes.split(",")]:
        overlay = _overlay(work, size)
        root = overlay.parent
        common = ["--env", "local", "--config", str(overlay)]
        if not (root / "output/bronze/transactions").exists():
            _run([py, "-m", "jobs.generate_sources", *common], root / "generate.log")
            _run([py, "-m", "jobs.ingest", *common], root / "ingest.log")
        row: dict = results["sizes"].get(str(size), {})
        if "ours" in args.engines.split(","):
            wall, peak, python_peak = _run([py, "-m", "jobs.resolve", *common, "--full-refresh"], root / "ours.log")
            row["ours"] = {"wall_seconds": wall, **_gb(peak, python_peak), **_last_metrics(overlay)}
            _export_records(overlay)
        if "ours_spark" in args.engines.split(","):  # (a) with model.training.engine: spark
            on_spark = root / "overlay_spark.yaml"
            on_spark.write_text(overlay.read_text() + "model:\n  training:\n    engine: spark\n")
            wall, peak, python_peak = _run([py, "-m", "jobs.resolve", "--env", "local", "--config", str(on_spark), "--full-refresh"], root / "ours_spark.log")
            row["ours_spark"] = {"wall_seconds": wall, **_gb(peak, python_peak), **_last_metrics(on_spark)}
            if "ours" not in args.engines.split(","):
                _export_records(overlay)
        for engine in ("splink_spark", "splink_duckdb"):
            if engine in args.engines.split(","):
                out = root / f"{engine}.json"
                wall, peak, python_peak = _run([py, __file__, "--baseline", engine, str(overlay), str(out)], root / f"{engine}.log")
                row[engine] = {"wall_seconds": wall, **_gb(peak, python_peak), **json.loads(out.read_text())}
        for ours in ("ours", "ours_spark"):
            for engine in ("splink_spark", "splink_duckdb"):
                if ours in row and engine in row:
                    row[f"{ours}_over_{engine}"] = round(row[ours]["wall_seconds"] / row[engine]["wall_seconds"], 2)
        results["sizes"][str(size)] = row
        (work / "resolve_engines.json").write_text(json.dumps(results, indent=2))
        print(json.dumps({size: row}, indent=2), flush=True)
    (work / "resolve_engines.md").write_text(_markdown(results))
    print(_markdown(results))
    return 0


def _gb(tree: int, python: int) -> dict:
    return {"peak_rss_gb": round(tree / 2**30, 2), "python_peak_rss_gb": round(python / 2**30, 2)}


def _last_metrics(overlay: Path) -> dict:
    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution.matching import training_times_path  # noqa: PLC0415

    config = load_config("local", str(overlay))
    spark = build_session(config)
    catalog = Catalog(config)
    last = catalog.read(spark, "meta.run_metrics").orderBy("finished_at").collect()[-1]
    steps = json.loads(Path(training_times_path(catalog.path("model.splink"))).read_text())  # local runs only
    return {
        "identity_records": last.identity_records, "stage_seconds": dict(last.stage_seconds), "training_steps": steps,
        "pairs_kept": last.pairs_kept, "customers": last.customers,
    }  # fmt: skip


def _export_records(overlay: Path) -> None:
    """The identity records of (a) as plain parquet, the baselines' input."""
    from customer_identity.core.catalog import Catalog  # noqa: PLC0415
    from customer_identity.core.config import load_config  # noqa: PLC0415
    from customer_identity.core.spark import build_session  # noqa: PLC0415
    from customer_identity.resolution.blocking import with_block_keys  # noqa: PLC0415

    config = load_config("local", str(overlay))
    spark = build_session(config)
    # with (a)'s bounded blocking keys, sized over all records as (a) sizes them: the baselines block as (a) does
    records = with_block_keys(Catalog(config).read(spark, "silver.identity_records"), _designed_model(config).blocking_rules)
    records.write.mode("overwrite").parquet(f"{config.tables.silver}/identity_records_parquet")


def _markdown(results: dict) -> str:
    lines = [f"Machine: {results['machine']}; Spark local[2]. Wall seconds (train / predict / cluster), peak RSS of the process tree "
             "(of the Python driver process alone). a/b: wall time; tpc a/b: train + predict + cluster.", "",
             "| identity records | (a) this project (training on a driver sample) | (a') training on Spark | (b) Splink on Spark, defaults | (c) Splink on DuckDB | a/b | tpc a/b | a'/b | a/c |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def cell(r: dict | None) -> str:
        if not r:
            return "not run"
        st = r["stage_seconds"]
        python = f" ({r['python_peak_rss_gb']})" if "python_peak_rss_gb" in r else ""
        return f"{r['wall_seconds']} s ({st.get('train', 0)} / {st.get('predict', 0)} / {st.get('cluster', 0)}), {r['peak_rss_gb']} GB{python}"

    for size, row in sorted(results["sizes"].items(), key=lambda item: int(item[0])):
        n = row.get("ours", row.get("ours_spark", {})).get("identity_records", int(size))
        lines.append(f"| {n:,} | {cell(row.get('ours'))} | {cell(row.get('ours_spark'))} | {cell(row.get('splink_spark'))} | {cell(row.get('splink_duckdb'))} | "
                     f"{row.get('ours_over_splink_spark', '')} | {_core_ratio(row.get('ours'), row.get('splink_spark'))} | "
                     f"{row.get('ours_spark_over_splink_spark', '')} | {row.get('ours_over_splink_duckdb', '')} |")  # fmt: skip
    for engine, name in (("ours", "(a)"), ("ours_spark", "(a')")):
        ours = sorted((r[engine]["identity_records"], r[engine]["wall_seconds"]) for r in results["sizes"].values() if engine in r)
        if len(ours) >= 2:
            steps = [f"{a[0]:,} -> {b[0]:,}: N^{growth_exponent(a, b):.2f}" for a, b in itertools.pairwise(ours)]
            lines += ["", f"Growth of {name}'s wall time: {'; '.join(steps)}; overall N^{growth_exponent(ours[0], ours[-1]):.2f}."]
    for size, row in sorted(results["sizes"].items(), key=lambda item: int(item[0])):
        for engine, name in (("ours", "(a)"), ("ours_spark", "(a')")):
            if row.get(engine, {}).get("training_steps"):
                steps = ", ".join(f"{step} {seconds:.1f}" for step, seconds in row[engine]["training_steps"].items())
                lines += ["", f"{name} training steps at {int(size):,}, seconds: {steps}."]
    return "\n".join(lines) + "\n"


def _core_ratio(ours: dict | None, theirs: dict | None) -> str:
    """(a)'s train + predict + cluster seconds over the baseline's."""
    if not ours or not theirs:
        return ""
    core = lambda r: sum(r["stage_seconds"].get(s, 0) for s in ("train", "predict", "cluster"))  # noqa: E731
    return f"{core(ours) / core(theirs):.2f}" if core(theirs) else ""


def growth_exponent(small: tuple[float, float], large: tuple[float, float]) -> float:
    """k in time ~ N^k between two (records, seconds) points."""
    return math.log(large[1] / small[1]) / math.log(large[0] / small[0])


if __name__ == "__main__":
    sys.exit(main())
