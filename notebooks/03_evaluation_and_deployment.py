# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Evaluation and deployment
#
# CRISP-DM part 3 of 3: how good the resolved customers are against the business
# objectives, the answers themselves, and how the job runs in production.
# Configure the run with `EBUY_ENV` / `EBUY_CONFIG` as in part 1.

# %%
import os

from pyspark.sql import functions as F

from customer_identity.analytics.overview import orders_over_time, trend_grain
from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.core.runs import published
from customer_identity.core.spark import build_session
from customer_identity.report import charts

config = load_config(os.environ.get("EBUY_ENV", "local"), os.environ.get("EBUY_CONFIG") or None)
spark = build_session(config)
catalog = Catalog(config)
gold = published(spark, catalog)  # the tables as the last successful resolve left them, never half-written

# %% [markdown]
# ## Evaluation
# ### The count
# Resolved customers against the naive count (every record a customer).

# %%
counts = gold.read(spark, "gold.customer_counts").orderBy(F.desc("computed_at")).first()
print(f"resolved customers {counts.customers:,}; naive count {counts.naive_count:,} ({(counts.naive_count - counts.customers) / counts.customers:+.1%})")
print("customers by source combination:", dict(sorted(counts.by_source_combination.items(), key=lambda kv: -kv[1])))
if catalog.exists(spark, "gold.count_interval"):
    catalog.read(spark, "gold.count_interval").orderBy(F.desc("assessed_at")).select("estimate", "lower", "upper", "level", "golden_count", "draws").show(1)

# %% [markdown]
# ### Accuracy against ground truth
# On generated data the truth is known: pairwise precision/recall/F1, the count error, and how
# many look-alike pairs (family, twins, common names) were wrongly merged.

# %%
if catalog.exists(spark, "gold.evaluation"):
    ev = catalog.read(spark, "gold.evaluation").orderBy(F.desc("evaluated_at")).first()
    count_met, f1_met = abs(ev.count_error_pct) <= 0.5, ev.pairwise_f1 >= 0.99
    print(f"count error {ev.count_error_pct:+.2f}%: objective (within 0.5%) {'met' if count_met else 'missed'}")
    print(
        f"pairwise precision {ev.pairwise_precision:.4f} recall {ev.pairwise_recall:.4f} F1 {ev.pairwise_f1:.4f}: objective (F1 >= 0.99) {'met' if f1_met else 'missed'}"
    )
    if not count_met:
        print(
            "the headline estimate of distinct people (gold.count_interval above) is the number to quote; the golden table's count is what the error above measures"
        )
    print(f"look-alike pairs merged {ev.hard_negatives_merged_pct:.2f}%")
else:
    print("no ground truth for these sources: accuracy comes from reviewers' labels (jobs.review)")

# %% [markdown]
# ### Threshold and weakest spots
# The threshold sweep and, with ground truth, which corruptions the model misses most.

# %%
if catalog.exists(spark, "gold.threshold_sweep"):
    sweep = [r.asDict() for r in catalog.read(spark, "gold.threshold_sweep").orderBy("threshold").collect()]
    for spec in charts.threshold_sweep_spec(sweep, config.model.match_threshold):  # the trust page's charts
        display(charts.altair_chart(spec))  # noqa: F821 (IPython's display)
    best = max((r for r in sweep if r["f1"] is not None), key=lambda r: r["f1"], default=None)
    if best:
        print(f"best F1 {best['f1']:.4f} at threshold {best['threshold']}; configured {config.model.match_threshold}")
if catalog.exists(spark, "gold.error_analysis"):
    catalog.read(spark, "gold.error_analysis").orderBy(F.desc("error_rate")).show(10, truncate=False)

# %% [markdown]
# ### The business answers
# As written by the latest `jobs.analyse` run, with the report that carries the charts.

# %%
tx = gold.read(spark, "gold.transactions_resolved")
days = tx.agg(F.min(F.to_date("event_time")).alias("first"), F.max(F.to_date("event_time")).alias("last")).first()
grain = trend_grain(days["first"], days["last"])
for spec in charts.trend_spec([r.asDict() for r in orders_over_time(tx, grain).collect()], grain):  # the report's charts
    display(charts.altair_chart(spec))  # noqa: F821

# %%
latest = catalog.read(spark, "gold.analysis_runs").orderBy(F.desc("analysed_at")).first()
for key in sorted(k for k in latest.asDict() if k.startswith("answer_")):
    print("-", latest[key])
print("report:", latest.report_path)

# %% [markdown]
# ## Deployment
# A daily batch: `jobs.ingest` -> `jobs.resolve` -> `jobs.assess` -> `jobs.analyse`, run by
# `spark-submit` or a scheduled Databricks/EMR job with `conf/databricks.yaml` or `conf/emr.yaml`.
# Every stage writes Delta atomically, so a failed run leaves yesterday's tables readable.
# Monitoring: the ingestion log and quarantine (rows per source), `customer_counts`
# (customers per run), `evaluation`/`threshold_sweep` (match quality) and `analysis_runs`.

# %%
if catalog.exists(spark, "meta.ingestion_log"):
    catalog.read(spark, "meta.ingestion_log").orderBy(F.desc("ingested_at")).show(6, truncate=False)
