"""The evidence inside one customer, comparison by comparison, with what shared evidence took away."""

from __future__ import annotations

from customer_identity.trust.explain import customer_evidence

PAIRS = (
    "record_key_l string, record_key_r string, match_weight double, match_probability double, link_guarded boolean, "
    "gamma_name int, mw_name double, mw_tf_adj_name double, mw_given_name double, gamma_location int, mw_location double"
)


def test_each_comparison_shows_its_weight_and_what_a_shared_home_took_away(spark):
    crosswalk = spark.createDataFrame([("a", "C1"), ("b", "C1"), ("c", "C1"), ("d", "C2")], "record_key string, customer_id string")
    pairs = spark.createDataFrame(
        [
            ("a", "b", 4.0, 0.94, False, 5, 9.9, None, -6.0, 8, 18.2),  # sisters' names weigh less at their shared home
            ("a", "c", 20.0, 1.0, False, 9, 14.0, 1.0, 0.0, 8, 18.2),  # the same person: nothing taken away
            ("a", "d", 1.0, 0.6, False, None, None, None, None, None, None),  # another customer (null row)
        ],
        PAIRS,
    )
    levels = spark.createDataFrame(
        [("name", 5, "similar names"), ("name", 9, "same name"), ("location", 8, "same home")], "comparison string, gamma int, level string"
    )
    rows = {(r.record_key_r, r.comparison): r for r in customer_evidence("C1", crosswalk, pairs, levels, 0.5).collect()}
    assert set(rows) == {("b", "name"), ("b", "location"), ("c", "name"), ("c", "location")}
    assert (rows[("b", "name")].level, rows[("b", "name")].weight, rows[("b", "name")].given_change) == ("similar names", 9.9, -6.0)
    assert rows[("b", "location")].given_change == 0.0 and rows[("c", "name")].tf_adjustment == 1.0
    assert all(r.accepted for r in rows.values())
