"""Customer analytics on small inline tables: features, RFM, segments, baskets, drivers, masking, report."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import re

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from customer_identity.analytics.baskets import association_rules, session_baskets
from customer_identity.analytics.drivers import DRIVER_FEATURES, fit_drivers, repeat_purchase_examples
from customer_identity.analytics.features import RFM_ORDER, customer_features, price_band, rfm_rules, top_category, with_rfm
from customer_identity.analytics.overview import customers_by_age, customers_by_district, orders_over_time, trend_grain
from customer_identity.analytics.segments import describe_segments, fit_segments, naming_rules
from customer_identity.core.config import load_config
from customer_identity.core.masking import mask_name, mask_postcode, masked_personal_columns
from customer_identity.report import charts
from customer_identity.report.page import ReportData, driver_direction, headline_answers, render_report

T = dt.datetime
TX_SCHEMA = "customer_id string, session_id string, event_time timestamp, category_code string, brand string, price double, attribution string"
CUSTOMER_SCHEMA = "customer_id string, sources array<string>, n_records long"


@pytest.fixture(scope="module")
def config():
    return load_config("local").analytics


def test_column_helpers_handle_nulls_empty_and_non_latin(spark):
    df = spark.createDataFrame(
        [("electronics.audio.headphone", 20.0, "jane smith", "SW1A 1AA"), ("", 60.0, "  ", ""), (None, None, None, None),
         ("kids", 900.0, "Zoë Ωmega-Łukasz", " m1 4bt ")],
        "code string, price double, name string, postcode string",
    )  # fmt: skip
    got = df.select(
        top_category(F.col("code")).alias("category"),
        price_band(F.col("price"), {"budget": 50, "mid": 250}).alias("band"),
        mask_name(F.col("name")).alias("name"),
        mask_postcode(F.col("postcode")).alias("postcode"),
    )
    expected = spark.createDataFrame(
        [("electronics", "budget", "J*** S***", "SW1A ***"), ("unknown", "mid", None, None), ("unknown", None, None, None),
         ("kids", "premium", "Z*** Ω***", "M1 ***")],
        "category string, band string, name string, postcode string",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def _shop(spark):
    customers = spark.createDataFrame([("A", ["platform", "guest"], 2), ("B", ["guest"], 1), ("C", ["crm"], 1), ("D", ["platform"], 1)], CUSTOMER_SCHEMA)
    tx = spark.createDataFrame(
        [
            # A: two orders, one registered (2 items), one as a guest
            ("A", "s1", T(2026, 10, 1, 10), "electronics.smartphone", "apple", 300.0, "registered"),
            ("A", "s1", T(2026, 10, 1, 10, 1), "electronics.audio.headphone", "sony", 100.0, "registered"),
            ("A", "s2", T(2026, 10, 21, 9), "kids.toys", None, 40.0, "guest"),
            # B: one guest order with an item lacking a category
            ("B", "s3", T(2026, 10, 31, 12), None, None, 10.0, "guest"),
            # C has no purchase; D bought at the very end
            ("D", "s4", T(2026, 10, 31, 12), "electronics.smartphone", "apple", 500.0, "registered"),
            # an unattributed row belongs to nobody
            (None, "s5", T(2026, 10, 5), "kids.toys", None, 999.0, "unattributed"),
        ],
        TX_SCHEMA,
    )
    return customers, tx


def test_review_pairs_are_masked_column_by_column(spark):
    pairs = spark.createDataFrame(
        [
            ("platform:1", "jane smith", "SW1A 1AA", "jane.s@example.com", "+447700900123", dt.date(1990, 5, 17), ["jane", "janey"], 7, 0.97),
            ("crm:2", None, None, None, None, None, None, None, None),  # null row
        ],
        "record_key_l string, full_name_std_l string, postcode_std_r string, email_std_l string, phone_e164_r string, "
        "date_of_birth_l date, first_name_variants_r array<string>, gamma_name int, match_probability double",
    )
    expected = spark.createDataFrame(
        [("platform:1", "J*** S***", "SW1A ***", "j***@***", "***23", "1990", "J*** J***", 7, 0.97), ("crm:2", None, None, None, None, None, None, None, None)],
        "record_key_l string, full_name_std_l string, postcode_std_r string, email_std_l string, phone_e164_r string, "
        "date_of_birth_l string, first_name_variants_r string, gamma_name int, match_probability double",
    )
    assert_df_equality(masked_personal_columns(pairs), expected, ignore_row_order=True, ignore_nullable=True)


def test_customer_features_by_hand(spark, config):
    customers, tx = _shop(spark)
    got = customer_features(customers, tx, config).select(
        "customer_id", "is_buyer", "orders", "items", "spend", "avg_order_value", "recency_days", "guest_share", "top_category", "top_brand", "price_band"
    )
    expected = spark.createDataFrame(
        [("A", True, 2, 3, 440.0, 220.0, 10.125, 0.5, "electronics", "apple", "mid"),
         ("B", True, 1, 1, 10.0, 10.0, 0.0, 1.0, "unknown", None, "budget"),
         ("C", False, 0, 0, 0.0, None, None, None, None, None, None),
         ("D", True, 1, 1, 500.0, 500.0, 0.0, 0.0, "electronics", "apple", "premium")],
        "customer_id string, is_buyer boolean, orders long, items long, spend double, avg_order_value double, recency_days double, "
        "guest_share double, top_category string, top_brand string, price_band string",
    )  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_rfm_scores_are_monotone_and_ties_share_a_score(spark):
    rows = [(f"c{i}", True, i % 7 + 1, float(100 * (i % 7 + 1)), float(30 - i % 30)) for i in range(200)]
    rows.append(("none", False, 0, 0.0, None))
    df = spark.createDataFrame(rows, "customer_id string, is_buyer boolean, orders long, spend double, recency_days double")
    scored = with_rfm(df, 5).collect()
    buyers = [r for r in scored if r.is_buyer]
    for a, b in itertools.combinations(buyers, 2):
        if a.orders == b.orders:
            assert a.f_score == b.f_score
        if a.orders < b.orders:
            assert a.f_score <= b.f_score
        if a.recency_days < b.recency_days:  # more recent scores at least as high
            assert a.r_score >= b.r_score
    assert {r.r_score for r in buyers} == {1, 2, 3, 4, 5}
    none = next(r for r in scored if not r.is_buyer)
    assert (none.r_score, none.f_score, none.m_score, none.rfm_segment) == (None, None, None, "no purchase")


def test_rfm_groups_follow_the_rules_the_report_prints(spark):
    """Recency is sliced on the data's own period; the printed rule's days and order counts decide every buyer's group."""
    rows = [(f"c{i}", True, i % 7 + 1, float(100 * (i % 7 + 1)), float(30 - i % 30), 30.0) for i in range(200)]
    rows.append(("none", False, 0, 0.0, None, None))
    df = spark.createDataFrame(rows, "customer_id string, is_buyer boolean, orders long, spend double, recency_days double, tenure_days double")
    rules = rfm_rules(df, 5)
    found = re.search(
        r"\((\d+) days, in 5 slices.*latest (\d+) days, not recent .*latest (\d+); frequent means (\d+) orders or more.*few orders means (\d+) or fewer", rules
    )
    assert found, rules
    span, recent, quiet, frequent, few = map(int, found.groups())
    assert (span, recent, quiet) == (30, 12, 18)
    for r in with_rfm(df, 5).filter("is_buyer").collect():
        is_recent, is_quiet = r.recency_days < recent, r.recency_days >= quiet
        if is_recent and r.orders >= frequent:
            assert r.rfm_segment == "recent, frequent", r
        if is_quiet and r.orders <= few:
            assert r.rfm_segment == "few orders, not recent", r
        if not is_recent and not is_quiet and frequent > r.orders > few:
            assert r.rfm_segment == "in between", r
    assert {r.rfm_segment for r in with_rfm(df, 5).collect()} <= set(RFM_ORDER)


def test_association_rules_match_brute_force(spark):
    """Support, confidence and lift of every rule against counting the baskets directly (seed printed)."""
    seed = random.randrange(10_000)
    print(f"seed={seed}")
    rng = random.Random(seed)
    items = list("abcdef")
    baskets = [sorted(set(rng.choices(items, weights=[6, 5, 4, 3, 2, 1], k=rng.randint(1, 4)))) for _ in range(300)]
    df = spark.createDataFrame([(str(i), b) for i, b in enumerate(baskets)], "session_id string, items array<string>")
    rules = association_rules(df, min_support=0.05, min_confidence=0.1).collect()
    assert rules
    n = len(baskets)

    def support(itemset):
        return sum(1 for b in baskets if set(itemset) <= set(b)) / n

    for r in rules:
        both = support(r.antecedent + r.consequent)
        assert r.support == pytest.approx(both)
        assert r.confidence == pytest.approx(both / support(r.antecedent))
        assert r.lift == pytest.approx(both / support(r.antecedent) / support(r.consequent))
    # and every qualifying one-to-one rule is found
    pairs = {(tuple(r.antecedent), tuple(r.consequent)) for r in rules}
    for a, c in itertools.permutations(items, 2):
        if support([a, c]) >= 0.05 and support([a, c]) / support([a]) >= 0.1:
            assert ((a,), (c,)) in pairs


def test_session_baskets_drop_missing_items_keep_the_order(spark):
    tx = spark.createDataFrame([("s1", "a"), ("s1", "b"), ("s1", "a"), ("s2", None), ("s2", " "), (None, "c")], "session_id string, category_code string")
    got = session_baskets(tx)
    expected = spark.createDataFrame([("s1", ["a", "b"]), ("s2", [])], "session_id string, items array<string>")
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_kmeans_picks_the_number_of_separated_groups(spark):
    rng = random.Random(3)
    rows = []
    for g, (orders, spend, recency) in enumerate([(1, 20.0, 25.0), (6, 3000.0, 1.0), (2, 400.0, 12.0)]):
        for i in range(40):
            o = orders + rng.choice([0, 0, 1]) * (g == 1)
            rows.append((f"{g}-{i}", True, o, spend * rng.uniform(0.9, 1.1), recency + rng.uniform(-1, 1), None, 1, 0.0))
    rows.append(("none", False, 0, 0.0, None, None, 0, None))
    schema = (
        "customer_id string, is_buyer boolean, orders long, spend double, recency_days double, avg_order_value double, n_categories long, guest_share double"
    )
    df = spark.createDataFrame(rows, schema).withColumn("avg_order_value", F.when(F.col("orders") > 0, F.col("spend") / F.col("orders")))
    model = fit_segments(df, (2, 3, 4, 5), seed=1)
    assert model.k == 3, model.silhouettes
    assigned = model.transform(df).collect()
    groups = {}
    for r in assigned:
        if r.is_buyer:
            groups.setdefault(r.customer_id.split("-")[0], set()).add(r.segment)
    assert all(len(s) == 1 for s in groups.values()) and len(set().union(*groups.values())) == 3
    assert next(r for r in assigned if r.customer_id == "none").segment is None


def test_repeat_purchase_label_uses_the_window_and_only_first_order_facts(spark):
    as_of = T(2026, 10, 31, 23)
    features = spark.createDataFrame(
        [("A", True, False, as_of), ("B", False, True, as_of), ("C", False, False, as_of), ("D", True, True, as_of)],
        "customer_id string, has_account boolean, in_crm boolean, as_of timestamp",
    )
    tx = spark.createDataFrame(
        [
            ("A", "a1", T(2026, 10, 1), "kids.toys", None, 10.0, "registered"),
            ("A", "a2", T(2026, 10, 10), "electronics.tv", None, 900.0, "guest"),  # within 14 days: repeat
            ("B", "b1", T(2026, 10, 2), "kids.toys", None, 20.0, "guest"),
            ("B", "b2", T(2026, 10, 30), "kids.toys", None, 20.0, "guest"),  # too late: no repeat
            ("C", "c1", T(2026, 10, 25), "kids.toys", None, 5.0, "guest"),  # first order too late to judge: left out
            ("D", "d1", T(2026, 10, 3), None, None, 7.0, "registered"),
        ],
        TX_SCHEMA,
    )
    got = repeat_purchase_examples(features, tx, 14).select("customer_id", "repeat", "first_order_value", "first_order_guest", "has_account", "first_category")
    expected = spark.createDataFrame(
        [("A", 1.0, 10.0, 0.0, 1.0, "kids"), ("B", 0.0, 20.0, 1.0, 0.0, "kids"), ("D", 0.0, 7.0, 0.0, 1.0, "unknown")],
        "customer_id string, repeat double, first_order_value double, first_order_guest double, has_account double, first_category string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_orders_over_time_split_buyers_into_first_and_returning(spark):
    tx = spark.createDataFrame(
        [
            ("A", "a1", T(2026, 10, 1, 9), "kids.toys", None, 10.0, "registered"),
            ("A", "a1", T(2026, 10, 1, 9, 5), "kids.toys", None, 5.0, "registered"),  # same checkout: one order
            ("A", "a2", T(2026, 10, 2, 8), "kids.toys", None, 20.0, "guest"),  # returning on day 2
            ("B", "b1", T(2026, 10, 2, 23), None, None, 7.0, "guest"),  # first order on day 2
            (None, "x1", T(2026, 10, 2, 12), None, None, 99.0, "guest"),  # no customer: not a buyer's order
        ],
        TX_SCHEMA,
    )
    expected = spark.createDataFrame(
        [(dt.date(2026, 10, 1), 1, 15.0, 1, 0), (dt.date(2026, 10, 2), 2, 27.0, 1, 1)],
        "period date, orders long, revenue double, new_buyers long, returning_buyers long",
    )
    assert_df_equality(orders_over_time(tx, "day"), expected, ignore_row_order=True, ignore_nullable=True)
    weekly = orders_over_time(tx, "week").collect()
    assert [(r.period, r.orders, r.new_buyers, r.returning_buyers) for r in weekly] == [(dt.date(2026, 9, 28), 3, 2, 0)]  # a Monday; A counts once
    assert (trend_grain(dt.date(2026, 10, 1), dt.date(2026, 11, 30)), trend_grain(dt.date(2026, 1, 1), dt.date(2026, 6, 1))) == ("day", "week")


def test_customers_by_age_and_district(spark):
    customers = spark.createDataFrame(
        [("A", dt.date(1991, 11, 1), "SW1A 1AA"), ("B", dt.date(1991, 10, 31), "SW1A 2BB"), ("C", None, None), ("D", dt.date(2010, 1, 1), "not a postcode")],
        "customer_id string, date_of_birth date, postcode string",
    )
    features = spark.createDataFrame(
        [("A", 10.0, T(2026, 10, 31)), ("B", 20.0, T(2026, 10, 31)), ("C", None, T(2026, 10, 31)), ("D", 5.0, T(2026, 10, 31))],
        "customer_id string, spend double, as_of timestamp",
    )
    ages = {r.age_band: (r.customers, r.spend) for r in customers_by_age(customers, features).collect()}
    assert ages == {"35-44": (1, 20.0), "25-34": (1, 10.0), "unknown": (1, 0.0), "under 18": (1, 5.0)}  # A turns 35 a day after the end, B on its last day
    districts = [(r.district, r.customers, r.spend, r.rank) for r in customers_by_district(customers, features, "GB").collect()]
    assert districts == [("SW1A", 2, 30.0, 1)]  # no postcode, or none of the country's shape: no district


def test_driver_model_finds_the_planted_driver(spark):
    """Repeat purchase planted on account holders only: the forest must rank it first and beat chance."""
    rng = random.Random(5)
    rows = []
    for i in range(1200):
        account = rng.random() < 0.5
        repeat = float(rng.random() < (0.8 if account else 0.2))
        rows.append((f"c{i}", repeat, rng.uniform(5, 500), float(rng.randint(1, 4)), 1.0, float(rng.random() < 0.5), float(rng.random() < 0.3),
                     float(rng.randint(0, 23)), float(account), float(rng.random() < 0.3), rng.choice(["kids", "electronics"])))  # fmt: skip
    cols = ["customer_id", "repeat", *[f for f in DRIVER_FEATURES if f != "first_category_index"], "first_category"]
    model = fit_drivers(spark.createDataFrame(rows, cols), test_fraction=0.25, seed=2)
    assert model.importances[0]["feature"] == "has_account"
    assert model.test_auc > 0.7
    lead = model.importances[0]
    assert lead["rate_high"] > 0.7 > 0.3 > lead["rate_low"]
    assert "holds a platform account" in model.reading()[0]


def _report_data(**changes) -> ReportData:
    base = dict(
        generated_at=dt.datetime(2026, 11, 1, 9, 0), env="local", customers=1000, naive_count=1500,
        records_by_source={"platform": 700, "crm": 300, "guest": 500}, by_source_combination={"platform": 600, "guest": 400},
        interval={"estimate": 990, "golden_count": 1000, "lower": 980, "upper": 1030, "level": 0.95, "method": "model probabilities", "draws": 50},
        buyers=900, spend=123456.0, orders=1400,
        segments=[{"segment": 0, "name": "high spend, mostly repeat buyers, bought recently", "description": "d0", "customers": 300, "customer_share": 1 / 3, "spend_share": 0.7},
                  {"segment": 1, "name": "low spend, mostly one order, not lately", "description": "d1", "customers": 600, "customer_share": 2 / 3, "spend_share": 0.3}],
        segment_k=2, silhouettes={2: 0.5, 3: 0.4}, segment_criterion="highest silhouette", rfm_counts=[{"rfm_segment": "new", "customers": 900}],
        category_mix=[{"segment": "all", "category": "electronics", "spend_share": 0.61}, {"segment": "all", "category": "kids", "spend_share": 0.39},
                      {"segment": "0", "category": "kids", "spend_share": 1.0}],
        brand_mix=[{"segment": "all", "brand": "apple", "items": 10, "spend": 100.0, "spend_share": 1.0}],
        rules=[{"antecedent": ["a"], "consequent": ["b"], "support": 0.01, "confidence": 0.2, "lift": 1.04}], orders_with_two_categories=0.25,
        drivers={"outcome": "another order", "window_days": 14, "examples": 800, "positive_rate": 0.4, "train_rows": 600, "test_rows": 200, "test_auc": 0.66,
                 "importances": [{"feature": "has_account", "label": "holds a platform account", "importance": 0.5, "rate_high": 0.6, "rate_low": 0.3,
                                  "high_means": "when yes", "low_means": "when no"}], "reading": ["r1"]},
        ingestion=[{"source_system": "platform", "rows_read": 701, "rows_accepted": 700, "rows_quarantined": 1}],
        quarantine_reasons=[{"source_system": "platform", "reason": "bad_type:date_of_birth", "rows": 1}], match_threshold=0.95, accepted_pairs=420,
        evaluation=None, sweep=None,
        largest_customers=[{"customer_id": "C1", "name": "J*** S***", "postcode": "SW1A ***", "sources": ["platform"], "n_records": 3, "orders": 2, "spend": 10.0}],
        masked=True,
    )  # fmt: skip
    base.update(changes)
    return ReportData(**base)


def test_headline_answers_are_computed_from_the_figures():
    answers = headline_answers(_report_data())
    how_many = answers["How many customers do we have?"]
    assert how_many.startswith("About 990 distinct people, and 95% sure it is between 980 and 1,030 (from the matching model's own probabilities).")
    assert (
        "The customer table holds 1,000 customers because it merges two records only when the matching model puts the chance that they are one person at 95% or more"
        in how_many
    )
    assert "1,500, +50% off" in how_many
    assert "900 of them bought in the period (90%)" in answers["Who are our customers?"]
    assert "high spend, mostly repeat buyers, bought recently, is 33% of buyers and brings 70% of spend" in answers["Who are our customers?"]
    assert "electronics 61%, kids 39%" in answers["What do they buy?"] and "lift 1.04" in answers["What do they buy?"]
    assert "no more often than chance" in answers["What do they buy?"]
    assert "40% ordered again" in answers["What drives their purchasing?"] and "AUC 0.66" in answers["What drives their purchasing?"]
    over_merged = headline_answers(
        _report_data(interval={"estimate": 1010, "lower": 990, "upper": 1030, "level": 0.95, "method": "calibrated by 9 review labels"})
    )
    assert "calibrated by 9 review labels" in over_merged["How many customers do we have?"]
    assert "a few of those merges join different people" in over_merged["How many customers do we have?"]
    unseen = headline_answers(
        _report_data(interval={"estimate": 990, "lower": 980, "upper": 1030, "level": 0.95, "method": "model probabilities", "unseen_merges": 6.4})
    )
    assert "some people still appear more than once; about 6 of them have records the model never compared" in unseen["How many customers do we have?"]
    same = headline_answers(_report_data(interval={"estimate": 1000, "lower": 990, "upper": 1030, "level": 0.95, "method": "model probabilities"}))
    assert "The customer table holds the same 1,000." in same["How many customers do we have?"]
    audited = headline_answers(_report_data(audit={"estimate": 993.4, "lower": 985.2, "upper": 1001.6, "audited_records": 300, "golden_error": 6.6}))
    assert "A reviewer's audit of 300 records chosen at random puts it at 993 (95% between 985 and 1,002)." in audited["How many customers do we have?"]
    assert "audit" not in how_many
    changed = headline_answers(_report_data(customers=1200, interval=None))
    assert changed["How many customers do we have?"].startswith("1,200 distinct customers (no count estimate yet")


def _report_specs(page: str) -> list:
    start = page.index("var SPECS = ") + len("var SPECS = ")
    return json.loads(page[start : page.index(";\nSPECS.forEach")])


def _chart_rows(spec: dict) -> list[dict]:
    """Every data row a chart draws: inline in it or its layers, or in the top-level datasets Altair may gather them into."""
    rows = [*spec.get("data", {}).get("values", []), *(row for values in spec.get("datasets", {}).values() for row in values)]
    return rows + [row for layer in spec.get("layer", []) for row in _chart_rows(layer)]


def test_report_is_self_contained_and_escapes_text():
    trend = [{"period": dt.date(2026, 10, day), "orders": 10, "revenue": 100.0 * day, "new_buyers": 5, "returning_buyers": day % 3} for day in range(1, 31)]
    districts = [{"district": f"SW{i}", "customers": 30 - i, "spend": 1000.0 * i} for i in range(1, 30)]
    rules = [{"antecedent": ["a"], "consequent": ["b"], "support": 0.01, "confidence": 0.2, "lift": 1.04},
             {"antecedent": ["c"], "consequent": ["d"], "support": 0.02, "confidence": 0.5, "lift": 1.6}]  # fmt: skip
    page = render_report(_report_data(extra_notes=["<script>alert(1)</script>"], trend=trend, districts=districts, rules=rules,
                                      period=(dt.date(2026, 10, 1), dt.date(2026, 10, 30)), links=[("The count", "../trust/count_interval.html")]))  # fmt: skip
    # count, overlap, orders and buyers over time, segments, RFM, districts, categories, brands, the one notable rule, drivers, data quality
    assert page.count('class="chart"') == 12
    specs = _report_specs(page)
    assert page.count('class="chart"') == len(specs)
    assert 'src="http' not in page and "cdn.jsdelivr" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "Personal data is masked" in page
    assert "J*** S***" in page
    assert "Purchases from 01 Oct 2026 to 30 Oct 2026 (30 days)" in page and "$88.18" in page  # the period and the average order value
    assert '<a href="../trust/count_interval.html">The count</a>' in page
    shown = {r["district"] for spec in specs for r in _chart_rows(spec) if "district" in r}
    assert shown == {f"SW{i}" for i in range(1, 16)}  # the 15 largest; SW25-SW29 have fewer than 5 customers and would not show anyway
    rule_rows = [r for spec in specs for r in _chart_rows(spec) if "rule" in r]
    assert [r["rule"] for r in rule_rows] == ["c -> d"]  # lift 1.04 is no association: not charted
    quiet = render_report(_report_data())
    assert "about as often as chance would give, so there is no pairing to act on yet" in quiet and quiet.count('class="chart"') == 8
    audited = render_report(_report_data(audit={"estimate": 993.4, "lower": 985.2, "upper": 1001.6, "audited_records": 300, "golden_error": 6.6}))
    assert "Count audit: 300 records" in audited and "customer table is off by +7" in audited
    count_rows = _chart_rows(_report_specs(audited)[0])
    assert [r["count"] for r in count_rows][-3:] == ["distinct people (model estimate)", "distinct people (audit)", "customer table"]
    assert count_rows[-3]["label"] == "990 (95%: 980 to 1,030)"


def test_chart_colours_never_repeat_within_a_chart():
    rows = [{"segment": s, "brand": f"brand{b}", "spend_share": 1 / (b + 1)} for s in ("all", "0") for b in range(30)]
    folded = charts.fold_to_top(rows, "brand", "spend_share")
    assert len({r["brand"] for r in folded}) == charts.MAX_COLOURS and "other" in {r["brand"] for r in folded}
    spec = charts.mix_spec(folded, "brand", "brand", ["all", "0"])
    assert spec["encoding"]["color"]["scale"]["scheme"] == "tableau20"
    with pytest.raises(ValueError, match="22 colours in one chart"):  # 21 brands and "other"
        charts.mix_spec(charts.fold_to_top(rows, "brand", "spend_share", keep=21), "brand", "brand", ["all", "0"])


def test_a_driver_has_a_direction_only_when_the_rates_differ_beyond_chance():
    flat = {"rate_high": 0.51, "rate_low": 0.50, "n_high": 400, "n_low": 400, "high_means": "when yes", "low_means": "when no"}
    assert driver_direction(flat, 800)[0] == "no clear direction"
    assert driver_direction({**flat, "rate_low": 0.40}, 800)[0] == "more likely to buy again"
    assert driver_direction({**flat, "rate_high": 0.30, "rate_low": 0.40}, 800)[0] == "less likely to buy again"
    assert driver_direction({**flat, "rate_low": 0.40, "n_high": 20, "n_low": 20}, 40)[0] == "no clear direction"  # 51% vs 40% of 20 each: chance


def test_segment_names_compare_each_segment_with_all_buyers():
    def profile(segment, customers, spend, orders, repeat, recency, guest, category="electronics"):
        return {"segment": segment, "customers": customers, "spend": spend, "avg_orders": orders, "repeat_share": repeat, "median_recency_days": recency,
                "guest_order_share": guest, "customer_share": customers / 300, "spend_share": spend / 130_000, "items_per_order": 1.5,
                "avg_order_value": spend / customers / orders, "top_category": category, "account_share": 0.8, "crm_share": 0.2}  # fmt: skip

    profiles = [
        profile(0, 100, 100_000, 3.0, 0.9, 2.0, 0.2),
        profile(1, 100, 20_000, 1.6, 0.3, 25.0, 0.9),
        profile(2, 100, 10_000, 1.2, 0.1, 26.0, 0.1, "kids"),
    ]
    named = describe_segments(profiles, span_days=30.0)
    assert [d["name"] for d in named] == [
        "high spend, mostly repeat buyers, bought recently",
        "low spend, mostly one order, not lately, mostly electronics",  # 1.6 orders each, but only 30% ordered twice
        "low spend, mostly one order, not lately, mostly kids",
    ]
    assert named[0]["description"].startswith("100 customers (33% of buyers) bringing 77% of spend; $1,000 per customer against $433 for all buyers")
    assert "30% ordered more than once" in named[1]["description"] and "90% of their orders placed as a guest, 80% hold an account" in named[1]["description"]
    rules = naming_rules(profiles, 30.0)
    assert "spend per buyer across all segments ($433)" in rules and "(10 days)" in rules and "(20 days)" in rules
