"""Generate the three Ebuy sources and their ground truth, and write them as a shop would
export them (see ``customer_identity.synthetic``)."""

from __future__ import annotations

from pyspark.sql import SparkSession

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import Config
from customer_identity.synthetic import Generated, generate


def write_generated(generated: Generated, config: Config, *, files_per_source: int = 1) -> dict[str, str]:
    """Write the three exports where the configured sources expect them, and the truth beside them."""
    out = {}
    platform, crm, tx = config.source("platform"), config.source("crm"), config.source("transactions")
    generated.platform.coalesce(files_per_source).write.mode("overwrite").option("header", "true").csv(platform.path)
    generated.crm.coalesce(files_per_source).write.mode("overwrite").text(crm.path)
    generated.transactions.coalesce(files_per_source).write.mode("overwrite").option("header", "true").csv(tx.path)
    out.update(platform=platform.path, crm=crm.path, transactions=tx.path)
    catalog = Catalog(config)
    for name in ("people", "records", "sessions", "relations", "bad_rows"):
        path = catalog.path("truth.table", table=name)
        getattr(generated, f"truth_{name}").write.mode("overwrite").parquet(path)
        out[f"truth_{name}"] = path
    return out


def generate_sources(spark: SparkSession, config: Config, files_per_source: int) -> tuple[dict[str, str], dict[str, int]]:
    """Write the generated sources and truth; their paths, and the rows each file set holds as read back."""
    paths = write_generated(generate(spark, config.generator), config, files_per_source=files_per_source)
    counts = {
        "platform": spark.read.option("header", "true").csv(paths["platform"]).count(),
        "crm": spark.read.text(paths["crm"]).count(),
        "transactions": spark.read.option("header", "true").csv(paths["transactions"]).count(),
        "people": spark.read.parquet(paths["truth_people"]).count(),
    }
    return paths, counts
