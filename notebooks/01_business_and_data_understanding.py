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
# # 1. Business understanding and data understanding
#
# CRISP-DM walk-through for Ebuy Emporium, part 1 of 3. The notebooks call the
# `customer_identity` package and read the tables its jobs wrote; they re-implement nothing.
# They run on whatever run the configuration points at: set `EBUY_ENV` (default `local`) and
# `EBUY_CONFIG` (an overlay YAML) before starting, or run `make demo` first for `data/`.
#
# ## Business understanding
# **Problem.** Ebuy, one month old, cannot say how many customers it has: the platform's
# accounts, the CRM and guest checkouts overlap, with typos, nicknames and moves.
#
# **Objectives.** (1) Count distinct customers with a stated uncertainty; (2) say who they
# are, (3) what they buy and (4) what drives their purchases, per real customer.
#
# **Success criteria.** Count within 0.5% of the truth on the generator's profiles, pairwise
# F1 at least 0.99, look-alike family members almost never merged; every answer reproducible
# from one batch job and one report.
#
# **Stakeholders.** Marketing (segments, campaigns), finance (customer counts, spend),
# customer service (one view of a customer), data protection (personal data stays masked).
#
# **Plan.** Ingest the three sources to Delta (bronze), standardise into identity records
# (silver), match with Splink and cluster into customers (gold), then analyse and report.

# %%
import os

from pyspark.sql import functions as F

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session

config = load_config(os.environ.get("EBUY_ENV", "local"), os.environ.get("EBUY_CONFIG") or None)
spark = build_session(config)
catalog = Catalog(config)
print("sources:", ", ".join(f"{name} ({s.format})" for name, s in config.sources.items()))

# %% [markdown]
# ## Data understanding
# ### Size and structure
# Rows accepted into bronze per source, and rows quarantined by the source contracts.

# %%
bronze = {name: catalog.read(spark, "bronze.source", source=name) for name in config.sources}
sizes = {name: df.count() for name, df in bronze.items()}
print({name: f"{n:,}" for name, n in sizes.items()})
assert all(n > 0 for n in sizes.values()), "every source should have accepted rows"
if catalog.exists(spark, "quarantine"):
    catalog.read(spark, "quarantine").groupBy("source_system", "reason").count().orderBy("source_system", "reason").show(truncate=False)

# %%
for name, df in bronze.items():
    print(name, [f"{f.name}:{f.dataType.simpleString()}" for f in df.schema.fields if not f.name.startswith("_")])

# %% [markdown]
# ### Missing values
# Share of rows with no value, per canonical attribute the source maps (no values are shown).

# %%
for name, source in config.sources.items():
    df = bronze[name]
    columns = [c for c in source.columns.values() if c in df.columns]
    missing = df.select([F.avg(F.col(c).isNull().cast("double")).alias(c) for c in columns]).first().asDict()
    print(name, {k: f"{v:.1%}" for k, v in missing.items()})

# %% [markdown]
# ### Distributions of the transactions
# Items per checkout, price, purchases per day and the category mix.

# %%
tx = bronze["transactions"]
per_session = tx.groupBy("session_id").agg(F.count(F.lit(1)).alias("items"), F.sum("price").alias("value"))
per_session.select(F.avg("items").alias("items_per_order"), F.expr("percentile_approx(value, array(0.25, 0.5, 0.75))").alias("order_value_quartiles")).show(
    truncate=False
)
tx.select(F.expr("percentile_approx(price, array(0.1, 0.5, 0.9))").alias("price_p10_p50_p90")).show(truncate=False)
tx.groupBy(F.to_date("event_time").alias("day")).count().orderBy("day").show(40)
tx.groupBy(F.split("category_code", r"\.").getItem(0).alias("category")).agg(F.count(F.lit(1)).alias("items")).orderBy(F.desc("items")).show()

# %% [markdown]
# ### Registered versus guest purchases
# A guest purchase carries only a name and a postcode; those rows are the hardest to link.

# %%
guest = F.col(config.source("transactions").raw_column("customer_id")).isNull()
tx.groupBy(F.when(guest, "guest").otherwise("registered").alias("checkout")).agg(
    F.count(F.lit(1)).alias("items"), F.countDistinct("session_id").alias("orders")
).show()
