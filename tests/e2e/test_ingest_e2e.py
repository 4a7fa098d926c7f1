"""End to end on the tiny profile: generate, ingest, check contents and row conservation."""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs import generate_sources, ingest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def overlay(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    path = root / "overlay.yaml"
    path.write_text(f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\ngenerator:\n  profile: tiny\n")
    return path, root


@pytest.fixture(scope="module")
def ingested(spark, overlay):
    path, root = overlay
    assert generate_sources.main(["--env", "local", "--config", str(path)]) == 0
    assert ingest.main(["--env", "local", "--config", str(path)]) == 0
    return root


def _counts(spark, root):
    out = {}
    for name in ("platform", "crm", "transactions"):
        out[name] = spark.read.format("delta").load(f"{root}/output/bronze/{name}").count()
    q = spark.read.format("delta").load(f"{root}/output/quarantine")
    out["quarantine"] = {(r.source_system, r.reason): r["count"] for r in q.groupBy("source_system", "reason").count().collect()}
    return out


def test_every_row_lands_in_bronze_or_quarantine(spark, ingested):
    root = ingested
    truth_bad = {(r.source_system, r.reason): r["count"] for r in spark.read.parquet(f"{root}/sources/truth/bad_rows").collect()}
    counts = _counts(spark, root)
    assert counts["quarantine"] == truth_bad
    raw = {
        "platform": spark.read.option("header", "true").csv(f"{root}/sources/platform").count(),
        "crm": spark.read.text(f"{root}/sources/crm").count(),
        "transactions": spark.read.option("header", "true").csv(f"{root}/sources/transactions").count(),
    }
    for name, n in raw.items():
        quarantined = sum(v for (s, _), v in counts["quarantine"].items() if s == name)
        assert counts[name] + quarantined == n, name
    log = spark.read.format("delta").load(f"{root}/output/meta/ingestion_log")
    assert log.filter("rows_read != rows_accepted + rows_quarantined").count() == 0
    assert log.count() == 3


def test_bronze_keeps_raw_values_and_lineage(spark, ingested):
    bronze = spark.read.format("delta").load(f"{ingested}/output/bronze/crm")
    assert {"_source_file", "_batch_id", "_ingested_at", "customer_name", "telephone"} <= set(bronze.columns)
    assert bronze.filter(F.col("_source_file").isNull() | F.col("_batch_id").isNull()).count() == 0
    # raw strings, untouched: dates still in the CRM's dd/MM/yyyy form
    sample = bronze.filter(F.col("birth_date").isNotNull()).select("birth_date").first()[0]
    assert sample[2] == "/" and sample[5] == "/"


def test_reingesting_the_same_input_changes_nothing(spark, overlay, ingested):
    path, root = overlay
    before = _counts(spark, root)
    assert ingest.main(["--env", "local", "--config", str(path)]) == 0
    assert _counts(spark, root) == before
    # a new file in a source is a new batch, appended beside the first
    spark.read.option("header", "true").csv(f"{root}/sources/transactions").limit(5).coalesce(1).write.mode("append").option("header", "true").csv(
        f"{root}/sources/transactions"
    )
    assert ingest.main(["--env", "local", "--config", str(path), "--source", "transactions"]) == 0
    after = _counts(spark, root)
    assert after["transactions"] - before["transactions"] in range(5, 11)


def test_missing_source_path_fails_with_a_clear_message(overlay, tmp_path, capsys):
    path, _ = overlay
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text() + "sources:\n  crm:\n    path: /no/such/crm\n")
    assert ingest.main(["--env", "local", "--config", str(bad), "--source", "crm"]) == 2
    err = capsys.readouterr().err
    assert "source 'crm'" in err and "/no/such/crm" in err
