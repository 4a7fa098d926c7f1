"""The catalog of tables and files, and the filesystem layer under it."""

from __future__ import annotations

import pytest

from customer_identity.core import fs
from customer_identity.core.catalog import Catalog, beside_model, load_entries
from customer_identity.core.config import CONF_DIR, ConfigError, load_config


def test_every_entry_resolves_under_the_configured_roots(tmp_path):
    overlay = tmp_path / "o.yaml"
    overlay.write_text("paths:\n  data_root: s3a://bucket/in\n  output_root: s3a://bucket/out\n")
    catalog = Catalog(load_config("local", overlay))
    params = {
        "source": "crm",
        "table": "customers",
        "chart": "match_weights",
        "customer_id": "C1",
        "generated_at": "20261201T000000Z",
        "model_base": "m",
        "column": "c",
    }
    for name, entry in catalog.entries.items():
        where = catalog.path(name, **{k: v for k, v in params.items() if k in entry.parameters()})
        assert "{" not in where and "//" not in where.removeprefix("s3a://"), (name, where)
    assert catalog.path("gold.customers") == "s3a://bucket/out/gold/customers"
    assert catalog.path("bronze.source", source="crm") == "s3a://bucket/out/bronze/crm"
    assert catalog.path("truth.table", table="records") == "s3a://bucket/in/truth/records"


def test_a_missing_parameter_or_entry_is_named():
    catalog = Catalog(load_config("local"))
    with pytest.raises(ConfigError, match=r"bronze\.source.*\['source'\]"):
        catalog.path("bronze.source")
    with pytest.raises(ConfigError, match=r"no entry 'gold\.nowhere'"):
        catalog.path("gold.nowhere")
    with pytest.raises(ConfigError, match="is html, not a Delta table"):
        catalog.write(None, "report.html", generated_at="x")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("gold.x: {format: xml, path: a}\n", r"gold\.x\.format.*'xml'"),
        ("gold.x: {format: delta}\n", r"gold\.x: expected exactly the keys format and path"),
        ("Gold X: {format: delta, path: a}\n", r"Gold X: entry names are dotted lower-case words"),
    ],
)
def test_a_bad_catalog_file_names_the_entry(tmp_path, text, expected):
    path = tmp_path / "catalog.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_entries(path)


def test_files_beside_a_model_keep_its_scheme():
    assert load_entries(CONF_DIR / "catalog.yaml")["model.design"].path.startswith("{model_base}")
    assert beside_model("s3://b/out/model/splink_model.json", "design") == "s3://b/out/model/splink_model_design.json"
    assert beside_model("dbfs:/m/splink_model.json", "term_frequencies", "email_std") == "dbfs:/m/splink_model_term_frequencies/email_std"


def test_the_filesystem_layer_reads_what_it_wrote(spark, tmp_path):
    target = fs.join(str(tmp_path), "deep", "er", "page.html")
    assert not fs.exists(target)
    fs.write_text(target, "<p>café</p>")  # parent folders are made as needed
    assert fs.read_text(target) == "<p>café</p>" and fs.is_file(target) and fs.is_dir(fs.parent(target))
    fs.write_json(fs.join(str(tmp_path), "m.json"), {"a": [1, 2]})
    assert fs.read_json(fs.join(str(tmp_path), "m.json")) == {"a": [1, 2]}
    assert fs.join("s3a://bucket/", "/out", "x") == "s3a://bucket/out/x" and fs.name("s3a://b/out/x.json") == "x.json"
    with pytest.raises(fs.FileSystemError, match="no such file"):
        fs.read_text(fs.join(str(tmp_path), "missing.txt"))
