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
# # 2. Data preparation and modelling
#
# CRISP-DM part 2 of 3: how the three sources become identity records, how the matching
# model is specified and trained, and the models behind the business answers.
# Configure the run with `EBUY_ENV` / `EBUY_CONFIG` as in part 1.

# %%
import json
import os

from pyspark.sql import functions as F

from customer_identity.core.catalog import Catalog
from customer_identity.core.config import load_config
from customer_identity.core.runs import published
from customer_identity.core.spark import build_session
from customer_identity.report import charts
from customer_identity.resolution import standardise
from customer_identity.resolution.model_design import load_design

config = load_config(os.environ.get("EBUY_ENV", "local"), os.environ.get("EBUY_CONFIG") or None)
spark = build_session(config)
catalog = Catalog(config)
gold = published(spark, catalog)  # the tables as the last successful resolve left them, never half-written

# %% [markdown]
# ## Data preparation
# ### Standardisation
# The same column expressions the resolve job uses, on made-up examples: titles and
# suffixes, "SURNAME, First" forms, accents, e-mail provider rules, E.164 phones, UK postcodes.

# %%
examples = spark.createDataFrame(
    [("Dr. JOHN  O'Neil Jr", "SMITH, Anne-Marie", "J.Smith+shop@GoogleMail.com ", "07700 900123", "sw1a1aa"),
     ("  zoë   ", "Müller", "someone@example.org", "+44 (0)20 7946 0000", "EC1A 1BB"),
     (None, "", None, "", None)],
    "name string, full_name string, email string, phone string, postcode string",
)  # fmt: skip
first, last = standardise.split_full_name(F.col("full_name"))
examples.select(
    standardise.standardise_name(F.col("name")).alias("name_std"),
    first.alias("split_first"),
    last.alias("split_surname"),
    standardise.standardise_email(F.col("email")).alias("email_std"),
    standardise.standardise_phone(F.col("phone")).alias("phone_e164"),
    standardise.standardise_postcode(F.col("postcode")).alias("postcode_std"),
).show(truncate=False)

# %% [markdown]
# ### Identity records
# One record per platform account, per CRM record and per distinct guest identity (guest
# rows with the same standardised name and postcode collapse into one record).

# %%
records = gold.read(spark, "silver.identity_records")
by_source = {r.source_system: r["count"] for r in records.groupBy("source_system").count().collect()}
print({k: f"{v:,}" for k, v in sorted(by_source.items())})
coverage = records.groupBy("source_system").agg(
    *[F.avg(F.col(c).isNotNull().cast("double")).alias(c) for c in ("email_std", "phone_e164", "date_of_birth", "postcode_std", "address_line_1_std")]
)
coverage.show()

# %% [markdown]
# ## Modelling: the matching model
# The model is derived from a profile of the identity records (`customer_identity.resolution.model_design`):
# a comparison per populated attribute, blocking rules on different attributes counted
# against a cap, EM rules that estimate every comparison. `conf/model.yaml` can pin any part.
# The design and the profile figures that chose it are saved beside the model.

# %%
design = load_design(catalog.path("model.splink"))
print("comparisons:", [c["comparison"] for c in design["comparisons"]])
for rc in design["blocking_counts"]:
    print(rc)
print("attributes used:", design["used_attributes"])
print("match threshold:", config.model.match_threshold)

# %% [markdown]
# The trained model: the match weight each comparison level contributes (log2 of m/u).

# %%
model = json.loads(catalog.read_text("model.splink"))
for comparison in model["comparisons"]:
    levels = [(lv.get("label_for_charts"), lv.get("m_probability"), lv.get("u_probability")) for lv in comparison["comparison_levels"]]
    print(comparison.get("output_column_name"))
    for label, m, u in levels:
        if m and u:
            print(f"   {label:<55} m={m:.3f} u={u:.5f}")
print("probability two random records match:", model.get("probability_two_random_records_match"))

# %%
pairs = gold.read(spark, "silver.match_pairs")
pairs.select(F.floor("match_weight").alias("weight")).groupBy("weight").count().orderBy("weight").show(40)

# %% [markdown]
# ## Modelling: the business questions
# Segments (k-means on recency, frequency, spend, basket and channel; k by silhouette),
# association rules (FP-Growth over orders) and a random forest of repeat purchase.

# %%
profiles = [r.asDict() for r in catalog.read(spark, "gold.segment_profiles").orderBy("segment").collect()]
for p in profiles:
    print(f"{p['name']}: {p['description']}")
display(charts.altair_chart(charts.segment_share_spec(profiles)))  # noqa: F821 (IPython's display); the report's chart
catalog.read(spark, "gold.association_rules").orderBy(F.desc("lift")).show(5, truncate=False)
catalog.read(spark, "gold.purchase_drivers").orderBy(F.desc("importance")).show(truncate=False)
