"""A shop's own exports, brought through one overlay: pseudopeople's data sets, one to dedupe and two to link.

The same code path as the Ebuy profile: ingest -> resolve -> evaluate, the model derived
from a profile of the data. Small slices of whole households keep the runs short.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import yaml
from pyspark.sql import functions as F

from customer_identity.resolution.matching import training_times_path, u_refined_path
from customer_identity.resolution.model_design import design_path, untolerated_attributes
from customer_identity.trust.evaluation import labelled_truth
from jobs import evaluate, ingest, resolve

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "pseudopeople"
HOUSEHOLDS = 250


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    sys.path.insert(0, str(EXAMPLES))
    from export import export  # noqa: PLC0415

    data = tmp_path_factory.mktemp("pseudopeople")
    rows = export(data, seed=7, sources=["census", "w2"], households=HOUSEHOLDS)
    assert rows["census"] > 0 and rows["w2"] > 0
    return data


def _overlay(tmp_path: Path, example: str, data: Path, **extra) -> Path:
    overlay = yaml.safe_load((EXAMPLES / f"{example}.yaml").read_text())
    overlay["paths"] = {"data_root": str(data), "output_root": str(tmp_path / "output")}
    for key, value in extra.items():
        overlay.setdefault(key, {}).update(value)
    path = tmp_path / f"{example}.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def _run(path: Path, data: Path, resolve_exit: int = 0) -> dict:
    args = ["--env", "local", "--config", str(path)]
    assert ingest.main(args) == 0
    assert resolve.main(args) == resolve_exit
    assert evaluate.main([*args, "--truth", str(data / "truth.csv")]) == 0
    return json.loads(Path(design_path(str(path.parent / "output/model/splink_model.json"))).read_text())


def _evaluation(spark, path: Path):
    return spark.read.format("delta").load(str(path.parent / "output/gold/evaluation")).orderBy(F.desc("evaluated_at")).first()


def test_one_export_is_deduplicated(spark, exports, tmp_path):
    path = _overlay(tmp_path, "w2", exports, model={"training": {"engine": "spark"}})  # every training step on Spark
    design = _run(path, exports)
    steps = json.loads(Path(training_times_path(str(path.parent / "output/model/splink_model.json"))).read_text())
    assert "EM" in steps and "sample to driver" not in steps
    assert design["link_type"] == "dedupe_only"
    assert design["untolerated_attributes"] == [] and untolerated_attributes(design["blocking_rules"]) == ()
    assert not {"email_std", "phone_e164", "date_of_birth"} & set(design["used_attributes"])  # W-2 forms carry none
    ev = _evaluation(spark, path)
    print(ev.asDict())
    assert ev.pairwise_f1 >= 0.85 and abs(ev.count_error_pct) <= 10.0


def test_two_exports_are_linked_with_a_header_only_transactions_file(spark, exports, tmp_path, caplog, capsys):
    (exports / "tx").mkdir(exist_ok=True)
    (exports / "tx" / "purchases.csv").write_text("event_time,product_id,price,session_id,customer_id\n")
    transactions = {"kind": "transactions", "format": "csv", "path": str(exports / "tx"), "options": {"header": "true"},
                    "required_columns": ["event_time"], "columns": {"event_time": "event_time", "price": "price", "customer_id": "customer_id"}}  # fmt: skip
    path = _overlay(tmp_path, "census_w2", exports, sources={"purchases": transactions}, model={"account_source": "census"})
    design = _run(path, exports, resolve_exit=4)  # tables written; the empty source is reported as drift (exit 4)
    assert "purchases" in capsys.readouterr().err
    assert design["link_type"] == "link_and_dedupe"
    assert design["untolerated_attributes"] == []
    assert "header-only" in caplog.text and "purchases" in caplog.text
    ev = _evaluation(spark, path)
    print(ev.asDict())
    assert ev.pairwise_f1 >= 0.85 and abs(ev.count_error_pct) <= 10.0
    # a bad date of birth nulls the field, not the record: every census row is an identity record
    out = path.parent / "output"
    records = spark.read.format("delta").load(str(out / "silver/identity_records"))
    bronze = spark.read.format("delta").load(str(out / "bronze/census")).count()
    assert records.filter(F.col("source_system") == "census").count() == bronze
    issues = spark.read.format("delta").load(str(out / "silver/field_issues"))
    assert set(issues.columns) >= {"source_system", "source_record_id", "attribute", "raw_column", "reason"}
    nulled = issues.filter((F.col("attribute") == "date_of_birth")).select("record_key").join(records, "record_key")
    assert nulled.filter(F.col("date_of_birth").isNotNull()).count() == 0
    metrics = spark.read.format("delta").load(str(out / "meta/run_metrics")).first()
    assert sum(metrics.field_issues.values()) == issues.count()
    # u of the exact full-name level, measured on every pair on it, lies nearer the truth than sampling's
    refined = json.loads(Path(u_refined_path(str(out / "model/splink_model.json"))).read_text())["name"]
    truth, _ = labelled_truth(spark, str(exports / "truth.csv"))
    named = records.filter(F.col("full_name_std").isNotNull()).join(truth, "record_key")
    pairs = lambda df: df.agg(F.sum(F.col("count") * (F.col("count") - 1) / 2)).first()[0] or 0  # noqa: E731
    non_matches = pairs(named.groupBy("full_name_std").count()) - pairs(named.groupBy("full_name_std", "person_id").count())
    true_u = max(non_matches, 1) / refined["non_matching_pairs"]
    print(refined, true_u)
    assert abs(math.log(refined["refined"] / true_u)) < abs(math.log(refined["sampled"] / true_u))


def test_the_ebuy_profile_comes_out_of_the_same_mechanism(spark, tiny_run):
    root = tiny_run[0]
    # accounts with an impossible date of birth are kept, the field nulled and recorded
    bad = spark.read.parquet(str(root / "sources/truth/records")).filter(F.col("bad_kind") == "field:date_of_birth").count()
    issues = spark.read.format("delta").load(str(root / "output/silver/field_issues"))
    assert issues.filter((F.col("source_system") == "platform") & (F.col("attribute") == "date_of_birth")).count() == bad
    design = json.loads(Path(design_path(str(root / "output/model/splink_model.json"))).read_text())
    assert design["link_type"] == "link_and_dedupe" and design["pinned"] == []
    assert design["untolerated_attributes"] == []
    assert {"email_std", "phone_e164", "date_of_birth"} <= set(design["used_attributes"])
