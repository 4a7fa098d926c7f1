"""Daily batches end to end: incremental runs, a killed run and its recovery, idempotent re-runs,
and a full rebuild that finds the same customers with the same ids.

The tiny profile's month arrives in three releases (days 1-10, 11-20, 21-31). The first
resolve is a full run with the model ``tiny_run`` trained; the next two are incremental.
The third is first killed twice (while it writes its first table, then between two stages)
and then run to completion.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from personal_data import assert_no_personal_data_logged
from pyspark.sql import functions as F

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.core.io import read_delta
from customer_identity.core.runs import RunLedger, published, table_versions
from customer_identity.resolution.stage import ResolvePaths
from customer_identity.synthetic.daily import release_days
from jobs import ingest, pseudonymise, resolve

pytestmark = pytest.mark.slow

CUTS = [None, dt.date(2026, 10, 10), dt.date(2026, 10, 20), dt.date(2026, 10, 31)]
GOLD = ("customers", "crosswalk", "transactions_resolved", "customer_counts", "customer_id_history")


def _kill_resolve(args: list[str], until, timeout: float = 600) -> str:
    """Start ``jobs.resolve`` in its own process and SIGKILL it once ``until(line)`` is true for a
    line of its log, or once ``until(None)`` is true while it runs. Returns the log it wrote."""
    proc = subprocess.Popen([sys.executable, "-m", "jobs.resolve", *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, start_new_session=True)
    os.set_blocking(proc.stderr.fileno(), False)
    seen, started = [], time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            line = proc.stderr.readline()
            if line:
                seen.append(line)
            if (line and until(line)) or until(None):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return "".join(seen)
            if proc.poll() is not None:
                raise AssertionError("resolve finished before it could be killed:\n" + "".join(seen[-20:]))
            if not line:
                time.sleep(0.005)
        raise AssertionError("resolve was not killed in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _new_data_file(table: Path, before: set[str]):
    """True once a data file appears in ``table`` that was not there before."""
    return lambda _line: any(p.name not in before for p in table.glob("*.parquet"))


@pytest.fixture(scope="module")
def chain(spark, tiny_run, tmp_path_factory):
    staged = load_config("local", str(tiny_run[1]))
    root = tmp_path_factory.mktemp("daily")
    overlay = root / "overlay.yaml"
    # a third of a month at a time: the customer count rightly grows by half per release
    overlay.write_text(
        f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\nmonitoring:\n  max_customer_change: 10.0\n  max_match_rate_shift: 10.0\n"
    )
    live = load_config("local", str(overlay))
    args = ["--env", "local", "--config", str(overlay)]
    paths = ResolvePaths.from_config(live)
    model = str(tiny_run[0] / "output/model/splink_model.json")
    seen: dict = {"crosswalks": [], "log": []}
    handler, root_logger = _Collect(seen["log"]), logging.getLogger()
    level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.INFO)
    for i, (after, through) in enumerate(itertools.pairwise(CUTS)):
        assert sum(release_days(spark, staged, live, after, through).values()) > 0
        assert ingest.main(args) == 0
        if i == 2:
            good = RunLedger(spark, paths.run_ledger).last_good().table_versions
            # killed while MERGE writes the new identity records' files, before it commits them
            silver = Path(paths.identity_records)
            before = {p.name for p in silver.glob("*.parquet")}
            _kill_resolve(args, _new_data_file(silver, before))
            seen["after_kill_during_write"] = table_versions(spark, paths.owned_tables())
            committed = {Path(f).name for f in read_delta(spark, paths.identity_records).inputFiles()}
            seen["uncommitted_files"] = {p.name for p in silver.glob("*.parquet")} - before - committed
            # killed between two stages: the silver records are written, no gold table yet
            log = _kill_resolve(args, lambda line: line is not None and "stage standardise took" in line)
            assert "incremental" in log
            seen["after_kill_between_stages"] = table_versions(spark, paths.owned_tables())
            seen["good_before_kills"] = good
            seen["records_published_latest_good"] = (
                published(spark, Catalog(live)).read(spark, "silver.identity_records").count(),
                read_delta(spark, paths.identity_records).count(),
                read_delta(spark, paths.identity_records, version=good["identity_records"]).count(),
            )
            # killed between two gold commits: the crosswalk merged, the customers not yet
            commits = Path(paths.crosswalk) / "_delta_log"
            before = {p.name for p in commits.glob("*.json")}
            _kill_resolve(args, _new_commit(commits, before))
            seen["after_kill_between_gold_commits"] = table_versions(spark, paths.owned_tables())
            seen["consumers_after_kill"] = _what_consumers_see(spark, live, args, paths)
        assert resolve.main(args + (["--model", model] if i == 0 else [])) == 0
        seen["crosswalks"].append(read_delta(spark, paths.crosswalk).select("record_key", "customer_id").localCheckpoint())
    seen["versions_after_chain"] = table_versions(spark, paths.owned_tables())
    seen["again"] = resolve.main(args)
    seen["versions_after_again"] = table_versions(spark, paths.owned_tables())
    # the rebuild doubles as the drift alarm's test: with a bound no source can meet, the run
    # writes its tables and then exits with code 4
    strict = root / "strict.yaml"
    strict.write_text(f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\nmonitoring:\n  min_source_rows: 1000000000\n")
    assert resolve.main(["--env", "local", "--config", str(strict), "--full-refresh", "--model", model]) == 4
    seen["full"] = read_delta(spark, paths.crosswalk).select("record_key", "customer_id").localCheckpoint()
    seen["metrics"] = read_delta(spark, paths.run_metrics).orderBy("finished_at").collect()
    seen["ledger"] = read_delta(spark, paths.run_ledger).orderBy("recorded_at").collect()
    root_logger.removeHandler(handler)
    root_logger.setLevel(level)
    seen["paths"], seen["spark"], seen["root"] = paths, spark, root
    return seen


def _new_commit(delta_log: Path, before: set[str]):
    """True once a commit appears in ``delta_log`` that was not there before."""
    return lambda _line: any(p.name not in before for p in delta_log.glob("*.json"))


def _ids(df) -> set[str]:
    return {r.customer_id for r in df.select("customer_id").distinct().collect()}


def _what_consumers_see(spark, config, args, paths) -> dict:
    """Customer ids as the current table versions hold them, and as consumers read them:
    the published snapshot (analyse, the report, notebooks) and the pseudonymised export."""
    gold = published(spark, Catalog(config))
    os.environ["EBUY_PSEUDONYM_KEY"] = "kill-test-key-not-a-secret-0123456789"
    assert pseudonymise.main(args) == 0
    out = Path(config.paths.output_root) / "gold_pseudonymised"
    return {
        "current": (_ids(read_delta(spark, paths.crosswalk)), _ids(read_delta(spark, paths.customers))),
        "published": (_ids(gold.read(spark, "gold.customer_crosswalk")), _ids(gold.read(spark, "gold.customers"))),
        "exported": (_ids(read_delta(spark, str(out / "customer_crosswalk"))), _ids(read_delta(spark, str(out / "customers")))),
        "published_customers": gold.read(spark, "gold.customers").count(),
        "published_count": gold.read(spark, "gold.customer_counts").orderBy(F.desc("computed_at")).first().customers,
    }


class _Collect(logging.Handler):
    def __init__(self, records: list):
        super().__init__(logging.INFO)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_incremental_batches_give_the_partition_and_ids_of_a_full_rebuild(chain):
    incremental, full = chain["crosswalks"][-1], chain["full"]
    assert set(_by_customer(incremental).values()) == set(_by_customer(full).values())
    assert sorted(incremental.collect()) == sorted(full.collect())  # same ids too
    runs = chain["ledger"]
    refresh = runs[-1]
    assert refresh.mode == "full" and refresh.status == "succeeded"
    history = read_delta(chain["spark"], chain["paths"].customer_id_history)
    assert history.filter(F.col("run_id") == refresh.run_id).count() == 0


def test_run_metrics_and_the_drift_alarm(chain):
    metrics = chain["metrics"]
    assert [m.mode for m in metrics] == ["full", "incremental", "incremental", "full"]
    assert all(not m.drift_breaches for m in metrics[:3]) and any("arrived with" in b for b in metrics[-1].drift_breaches)
    assert len({m.model_fingerprint for m in metrics}) == 1 and set(metrics[-1].rows_read) == {"platform", "crm", "transactions"}
    assert metrics[-1].customers == metrics[-2].customers == len({r.customer_id for r in chain["full"].collect()})
    assert metrics[1].pairs_kept < metrics[-1].pairs_kept  # an incremental day scores only pairs with a new record


def test_the_runs_were_incremental_and_the_ledger_shows_the_kills(chain):
    rows = [(r.mode, r.status) for r in chain["ledger"]]
    assert rows == [
        ("full", "started"), ("full", "succeeded"),
        ("incremental", "started"), ("incremental", "succeeded"),
        ("incremental", "started"), ("incremental", "started"), ("incremental", "started"),  # the three killed runs never finished
        ("incremental", "started"), ("incremental", "succeeded"),
        ("full", "started"), ("full", "succeeded"),
    ]  # fmt: skip
    assert len({b for r in chain["ledger"] if r.mode == "incremental" and r.status == "succeeded" for b in r.batches}) == 6  # 2 releases x 3 sources


def test_customers_without_new_records_keep_their_ids(chain):
    for before, after in zip(chain["crosswalks"], chain["crosswalks"][1:]):
        old, new = _by_customer(before), _by_customer(after)
        unchanged = {cid for cid, keys in old.items() if new.get(cid) == keys}
        # a customer whose record set is the same today must have the same id: find any that moved
        moved = {keys for cid, keys in old.items() if cid not in unchanged and keys in set(new.values())}
        assert not moved
        assert len(unchanged) > 0.5 * len(old)  # the check above must cover most customers to mean something


def _by_customer(crosswalk) -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    for r in crosswalk.collect():
        groups.setdefault(r.customer_id, set()).add(r.record_key)
    return {c: frozenset(k) for c, k in groups.items()}


def test_a_run_killed_between_stages_leaves_the_gold_tables_at_their_last_good_version(chain):
    good, versions = chain["good_before_kills"], chain["after_kill_between_stages"]
    assert {t: versions[t] for t in GOLD} == {t: good[t] for t in GOLD}
    # it was killed after writing silver tables: the next run had to restore them
    assert versions["identity_records"] != good["identity_records"]
    # until then, readers of the published versions see the last good run, not the killed one's records
    published, latest, last_good = chain["records_published_latest_good"]
    assert published == last_good != latest


def test_a_run_killed_during_a_write_leaves_that_table_at_its_last_good_version(chain):
    """The kill landed after the MERGE wrote data files and before it committed them: the
    files are there, the table does not show them, no gold table moved, and the next run completed."""
    good, versions = chain["good_before_kills"], chain["after_kill_during_write"]
    assert chain["uncommitted_files"]
    assert versions["identity_records"] == good["identity_records"]
    assert {t: versions[t] for t in GOLD} == {t: good[t] for t in GOLD}


def test_a_run_killed_between_two_gold_commits_is_never_read_as_a_mix(chain):
    """The kill landed after the crosswalk's MERGE and before the customers' upsert: the current
    versions disagree, while every consumer reads the previous run whole."""
    good, versions = chain["good_before_kills"], chain["after_kill_between_gold_commits"]
    assert versions["crosswalk"] != good["crosswalk"] and versions["customers"] == good["customers"]
    seen = chain["consumers_after_kill"]
    crosswalk_ids, customer_ids = seen["current"]
    assert crosswalk_ids != customer_ids  # the mixture a careless reader would see
    crosswalk_ids, customer_ids = seen["published"]
    assert crosswalk_ids == customer_ids and len(customer_ids) == seen["published_customers"] == seen["published_count"]
    exported_crosswalk, exported_customers = seen["exported"]
    assert exported_crosswalk == exported_customers and len(exported_customers) == seen["published_customers"]


def test_rerunning_with_nothing_new_changes_nothing(chain):
    assert chain["again"] == 0
    assert chain["versions_after_again"] == chain["versions_after_chain"]


def test_no_personal_data_in_the_logs_of_incremental_runs(chain):
    assert any("incremental" in r.getMessage() for r in chain["log"])
    assert_no_personal_data_logged(chain["spark"], chain["root"], chain["log"])
