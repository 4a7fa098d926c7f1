"""Survivorship, counts and transaction attribution on small inline tables."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from chispa import assert_df_equality

from customer_identity.core.config import SurvivorshipConfig
from customer_identity.resolution.golden import ATTRIBUTE_SOURCES, customer_counts, customer_summary, resolve_transactions, survive

RECORD_SCHEMA = (
    "customer_id string, record_key string, source_system string, source_record_id string, record_time timestamp, "
    "first_name_std string, surname_std string, email_std string, phone_e164 string, date_of_birth date, "
    "address_line_1_std string, city_std string, postcode_std string"
)
T = dt.datetime


def _records(spark):
    rows = [
        # customer A: platform (old), crm (newest), guest
        (
            "A",
            "platform:1",
            "platform",
            "1",
            T(2026, 10, 1),
            "robert",
            "smith",
            "rob@x.com",
            "+447700900001",
            dt.date(1980, 1, 2),
            "1 high st",
            "leeds",
            "LS1 1AA",
        ),
        ("A", "crm:C1", "crm", "C1", T(2026, 10, 20), "bob", "smith", None, "+447700900002", dt.date(1980, 1, 2), "9 new rd", "york", "YO1 1AA"),
        ("A", "guest:g1", "guest", "g1", T(2026, 10, 10), "bob", "smyth", None, None, None, None, None, "YO1 1AA"),
        # customer B: a single record with every attribute missing (the null row)
        ("B", "guest:g2", "guest", "g2", None, None, None, None, None, None, None, None, None),
    ]
    return spark.createDataFrame(rows, RECORD_SCHEMA)


def test_survivorship_rules_and_provenance(spark):
    rules = {"first_name": "most_frequent", "surname": "source_priority", "email": "source_priority", "phone": "most_recent",
             "date_of_birth": "most_frequent", "address_line_1": "most_recent", "city": "source_priority", "postcode": "most_recent"}  # fmt: skip
    got = survive(_records(spark), SurvivorshipConfig(("platform", "crm", "guest"), rules)).select(
        "customer_id", "first_name", "first_name_from", "surname", "surname_from", "email", "phone", "phone_from", "address_line_1", "city", "postcode"
    )
    expected = spark.createDataFrame(
        [
            ("A", "Bob", "crm:C1", "Smith", "platform:1", "rob@x.com", "+447700900002", "crm:C1", "9 New Rd", "Leeds", "YO1 1AA"),
            ("B", None, None, None, None, None, None, None, None, None, None),
        ],
        "customer_id string, first_name string, first_name_from string, surname string, surname_from string, email string, "
        "phone string, phone_from string, address_line_1 string, city string, postcode string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def _oracle(rows: list[tuple], rules: dict[str, str], priority: tuple[str, ...]) -> dict[str, dict[str, tuple]]:
    """Survivorship by plain sorting in Python: customer -> attribute -> (value, source)."""
    columns = RECORD_SCHEMA.replace(",", "").split()[::2]
    records = [dict(zip(columns, row)) for row in rows]
    prio = lambda r: priority.index(r["source_system"]) if r["source_system"] in priority else len(priority)  # noqa: E731
    recent = lambda r: (r["record_time"] is None, -(r["record_time"].timestamp() if r["record_time"] else 0))  # noqa: E731
    out: dict[str, dict[str, tuple]] = {}
    for customer in {r["customer_id"] for r in records}:
        mine = [r for r in records if r["customer_id"] == customer]
        out[customer] = {}
        for attr, (column, style) in ATTRIBUTE_SOURCES.items():
            cands = [r for r in mine if r[column] is not None]
            freq = lambda r, column=column, cands=cands: sum(1 for c in cands if c[column] == r[column])  # noqa: E731
            key = {
                "source_priority": lambda r: (prio(r), recent(r), r["record_key"]),
                "most_recent": lambda r: (recent(r), prio(r), r["record_key"]),
                "most_frequent": lambda r, freq=freq: (-freq(r), prio(r), recent(r), r["record_key"]),
            }[rules[attr]]
            if not cands:
                out[customer][attr] = (None, None)
                continue
            best = min(cands, key=key)
            value = best[column]
            if style == "title":
                value = " ".join(w.capitalize() for w in value.split(" "))
            out[customer][attr] = (value, f"{best['source_system']}:{best['source_record_id']}")
    return out


@pytest.mark.parametrize("seed", [3, 17, 2026])
def test_survivorship_matches_a_sorting_oracle_on_random_records(spark, seed):
    rng = random.Random(seed)
    print(f"survivorship oracle seed {seed}")
    maybe = lambda values: rng.choice([*values, None])  # noqa: E731
    times = [T(2026, 10, d) for d in (1, 5, 5, 9)] + [None]  # equal times force the later tie-breaks
    rows = []
    for i in range(300):
        source = rng.choice(["platform", "crm", "guest", "legacy"])  # "legacy" is not in the priority list
        rows.append((
            f"C{rng.randrange(40)}", f"{source}:{i:04d}", source, str(i), rng.choice(times),
            maybe(["anne", "ann", "mary jo"]), maybe(["smith", "smyth"]), maybe(["a@x.com", "b@y.org"]), maybe(["+447700900001", "+447700900002"]),
            maybe([dt.date(1980, 1, 2), dt.date(1981, 3, 4)]), maybe(["1 high st", "2 low rd"]), maybe(["leeds", "new york"]), maybe(["LS1 1AA", "YO1 1AA"]),
        ))  # fmt: skip
    rules = {attr: rng.choice(["source_priority", "most_recent", "most_frequent"]) for attr in ATTRIBUTE_SOURCES}
    priority = ("platform", "crm", "guest")
    got = survive(spark.createDataFrame(rows, RECORD_SCHEMA), SurvivorshipConfig(priority, rules)).collect()
    expected = _oracle(rows, rules, priority)
    assert len(got) == len(expected)
    for row in got:
        for attr in ATTRIBUTE_SOURCES:
            assert (row[attr], row[f"{attr}_from"]) == expected[row.customer_id][attr], (seed, row.customer_id, attr, rules[attr])


def test_transactions_keep_every_row_and_summary_counts(spark):
    tx = spark.createDataFrame(
        [
            ("platform:1", "s1", 10.0, T(2026, 10, 2)),
            ("platform:1", "s1", 5.0, T(2026, 10, 2)),
            ("guest:g1", "s2", 7.5, T(2026, 10, 25)),
            (None, "s3", 1.0, T(2026, 10, 3)),
        ],
        "record_key string, session_id string, price double, event_time timestamp",
    )
    clusters = spark.createDataFrame([("platform:1", "A"), ("crm:C1", "A"), ("guest:g1", "A"), ("guest:g2", "B")], "record_key string, customer_id string")
    resolved = resolve_transactions(tx, clusters)
    assert resolved.count() == tx.count()
    assert {r.session_id: r.customer_id for r in resolved.collect()} == {"s1": "A", "s2": "A", "s3": None}
    summary = {r.customer_id: r for r in customer_summary(_records(spark), resolved, ["crm", "guest", "platform"]).collect()}
    a = summary["A"]
    assert (a.n_records, a.n_platform_records, a.n_crm_records, a.n_guest_records) == (3, 1, 1, 1)
    assert (a.n_orders, a.n_items, a.total_spend) == (2, 3, 22.5)
    assert a.sources == ["crm", "guest", "platform"]
    assert a.first_seen == T(2026, 10, 1) and a.last_seen == T(2026, 10, 25)
    assert (summary["B"].n_orders, summary["B"].first_seen) == (0, None)


def test_counts_compare_with_the_naive_sum(spark):
    customers = spark.createDataFrame([("A", ["crm", "guest", "platform"]), ("B", ["guest"]), ("C", ["guest"])], "customer_id string, sources array<string>")
    records = _records(spark).select("record_key", "source_system")
    row = customer_counts(customers, records).first()
    assert (row.customers, row.naive_count, row.duplicates_removed) == (3, 4, 1)
    assert dict(row.by_source_combination) == {"crm+guest+platform": 1, "guest": 2}
    assert dict(row.records_by_source) == {"platform": 1, "crm": 1, "guest": 2}
