"""The analyse job on the tiny run: its tables add up, the report is masked and renders in a real browser."""

from __future__ import annotations

import re

import pytest
from browser import assert_draws_offline, screenshot
from pyspark.sql import functions as F

from customer_identity.analytics.pseudonymise import keyed_hash
from customer_identity.analytics.stage import largest_customers
from jobs import pseudonymise

pytestmark = pytest.mark.slow


def _delta(spark, path):
    return spark.read.format("delta").load(str(path))


def _report(root):
    reports = sorted((root / "output/report").glob("ebuy_report_*.html"))
    assert reports, "jobs.analyse wrote no report"
    return reports[-1]


def test_analytics_tables_add_up(spark, tiny_analysed):
    root = tiny_analysed[0]
    gold = root / "output/gold"
    customers = _delta(spark, gold / "customers")
    features = _delta(spark, gold / "customer_features")
    assert features.count() == customers.count() == features.select("customer_id").distinct().count()
    tx = _delta(spark, gold / "transactions_resolved").filter(F.col("customer_id").isNotNull())
    spend = tx.agg(F.sum("price")).first()[0]
    assert features.agg(F.sum("spend")).first()[0] == pytest.approx(spend, rel=1e-6)
    assert features.agg(F.sum("orders")).first()[0] == tx.select("customer_id", "session_id").distinct().count()
    buyers = features.filter("is_buyer")
    assert buyers.filter(F.col("segment").isNull() | F.col("r_score").isNull()).count() == 0
    assert features.filter("not is_buyer").filter(F.col("segment").isNotNull()).count() == 0

    profiles = _delta(spark, gold / "segment_profiles").collect()
    assert sum(p.customers for p in profiles) == buyers.count()
    assert sum(p.spend_share for p in profiles) == pytest.approx(1.0)
    assert all(p.name and p.description for p in profiles)
    for table in ("category_mix", "brand_mix"):
        mix = _delta(spark, gold / table)
        assert mix.filter("segment = 'all'").agg(F.sum("spend_share")).first()[0] == pytest.approx(1.0)
        assert {r.segment for r in mix.select("segment").distinct().collect()} == {"all", *(str(p.segment) for p in profiles)}
    drivers = _delta(spark, gold / "purchase_drivers").collect()
    assert sum(d.importance for d in drivers) == pytest.approx(1.0) and 0.0 <= drivers[0].test_auc <= 1.0
    runs = _delta(spark, gold / "analysis_runs").collect()
    assert runs and runs[-1].customers == customers.count() and _report(root).name in runs[-1].report_path


def test_report_masks_personal_data(spark, tiny_analysed):
    root = tiny_analysed[0]
    page = _report(root).read_text(encoding="utf-8").lower()
    records = _delta(spark, root / "output/silver/identity_records").filter(F.col("first_name_std").isNotNull() & F.col("surname_std").isNotNull())
    names = {f"{r.first_name_std} {r.surname_std}" for r in records.select("first_name_std", "surname_std").collect()}
    postcodes = {r.postcode_std.lower() for r in records.select("postcode_std").dropna().collect() if len(r.postcode_std) >= 6}
    assert names and postcodes
    assert not [n for n in names if n in page] and not [p for p in postcodes if p in page]
    assert "personal data is masked" in page
    # the same table unmasked does show them: the check above can fail
    customers = _delta(spark, root / "output/gold/customers")
    features = _delta(spark, root / "output/gold/customer_features")
    shown = largest_customers(customers, features, masked=False)
    assert any(r["name"] and r["name"].lower() in names for r in shown)
    masked = largest_customers(customers, features, masked=True)
    assert all(r["name"] is None or re.fullmatch(r"(\S\*\*\* ?)+", r["name"]) for r in masked)


def test_report_renders_offline_in_headless_chromium(tiny_analysed, artifacts_dir):
    report = _report(tiny_analysed[0])
    assert_draws_offline(report, min_charts=12)
    for width in (1400, 760):  # a wide screen and a narrow one: charts take the page's width
        shot = screenshot(report, artifacts_dir / f"report_{width}.png", width, 9000)
        assert shot.stat().st_size > 50_000
        print(f"report screenshot: {shot}")


def test_pseudonymised_export_hides_personal_data(spark, tiny_analysed, monkeypatch, capsys):
    root, _, args = tiny_analysed
    monkeypatch.delenv("EBUY_PSEUDONYM_KEY", raising=False)
    assert pseudonymise.main(args) == 2
    assert "EBUY_PSEUDONYM_KEY" in capsys.readouterr().err
    monkeypatch.setenv("EBUY_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    assert pseudonymise.main(args) == 0
    out = root / "output/gold_pseudonymised"
    customers = _delta(spark, root / "output/gold/customers")
    hidden = _delta(spark, out / "customers")
    assert hidden.count() == customers.count()
    key = "a-test-key-of-enough-length"
    clear = customers.select(keyed_hash(F.col("customer_id"), key).alias("customer_id"), F.col("surname").alias("clear"))
    assert hidden.join(clear, "customer_id").count() == customers.count()  # the keyed ids still join, one to one
    assert hidden.join(clear, "customer_id").filter("surname = clear").count() == 0
    tx = _delta(spark, out / "transactions_resolved")
    assert tx.count() == _delta(spark, root / "output/gold/transactions_resolved").count()
    assert tx.filter(F.length("guest_surname_std") != 64).count() == 0
    # re-identification: every identifier and every unkeyed hash one could recompute from the raw
    # exports (source ids, record keys, customer ids, SHA-256 of personal values) is absent
    gold = root / "output/gold"
    ids = ["customer_id", "record_key", "source_record_id", "account_id"]
    recomputable = set()
    for table in ("customers", "customer_crosswalk", "transactions_resolved"):
        df = _delta(spark, gold / table)
        for c in [c for c in df.columns if c in ids or c.endswith("_from")]:
            recomputable |= {r[0] for r in df.select(F.col(c).cast("string")).distinct().collect() if r[0]}
        for c in [c for c in df.columns if any(k in c for k in ("name", "email", "phone", "postcode", "birth", "address"))]:
            recomputable |= {r[0] for r in df.select(F.sha2(F.col(c).cast("string"), 256)).distinct().collect() if r[0]}
    assert len(recomputable) > 1000
    for table in ("customers", "customer_crosswalk", "transactions_resolved", "customer_features"):
        df = _delta(spark, out / table)
        for c, dtype in df.dtypes:
            if dtype == "string":
                found = {r[0] for r in df.select(c).distinct().collect()} & recomputable
                assert not found, f"{table}.{c} holds {len(found)} recomputable values"
