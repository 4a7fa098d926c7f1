"""Threshold sweep, count interval, error analysis and the clerical review loop."""

from __future__ import annotations

import itertools
import math
import re

import pytest
import yaml
from pyspark.sql import functions as F

from customer_identity.core.config import ClusteringConfig, load_config
from customer_identity.core.io import read_delta, write_delta
from customer_identity.core.masking import masked_personal_columns
from customer_identity.report.page import review_page
from customer_identity.resolution.stage import ResolvePaths
from customer_identity.trust.count import CalibrationBin, calibrated_rates, count_interval, sampled_counts
from customer_identity.trust.evaluation import error_analysis
from customer_identity.trust.review import (
    ReviewFileError,
    apply_labels,
    merge_labels,
    review_cards,
    review_queue,
    validate_decisions,
    with_differences,
)
from customer_identity.trust.stage import answered_from_truth
from customer_identity.trust.sweep import best_threshold, threshold_sweep
from jobs import review as review_job

CC = ClusteringConfig("dataframe", max_iterations=30, checkpoint_interval=2)
PAIRS = "record_key_l string, record_key_r string, match_probability double, match_weight double"


def _records(spark, keys):
    return spark.createDataFrame([(k, k.split(":")[0], k.split(":")[1]) for k in keys], "record_key string, source_system string, source_record_id string")


def _pairs(spark, edges):
    return spark.createDataFrame([(a, b, p, math.log2(p / (1 - p)) if 0 < p < 1 else 0.0) for a, b, p in edges], PAIRS)


def _components(nodes, edges):
    parent = {n: n for n in nodes}

    def find(x):
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in edges:
        parent[find(a)] = find(b)
    return len({find(n) for n in nodes})


def test_sweep_is_monotone_where_it_must_be(spark):
    keys = [f"s:{i}" for i in range(10)]
    edges = [
        ("s:0", "s:1", 0.99),
        ("s:1", "s:2", 0.7),
        ("s:3", "s:4", 0.95),
        ("s:4", "s:5", 0.5),
        ("s:6", "s:7", 0.8),
        ("s:2", "s:3", 0.6),
        ("s:8", "s:9", 0.999),
    ]
    truth = spark.createDataFrame([(k, p) for k, p in zip(keys, [1, 1, 1, 2, 2, 3, 4, 4, 5, 5], strict=True)], "record_key string, person_id long")
    sweep = threshold_sweep(spark, _records(spark, keys), _pairs(spark, edges), [0.55, 0.65, 0.75, 0.9, 0.97, 0.995], CC, truth=truth)
    rows = sweep.orderBy("threshold").collect()
    customers = [r.customers for r in rows]
    recalls = [r.recall for r in rows]
    print(customers, recalls)
    # a higher threshold accepts a subset of the links: never fewer customers, never more recall
    assert customers == sorted(customers) and recalls == sorted(recalls, reverse=True)
    # all thresholds come from one connected-components run over the graph copied per threshold
    assert customers == [_components(keys, [(a, b) for a, b, p in edges if p >= r.threshold]) for r in rows]
    assert best_threshold(sweep) == 0.65  # exactly the true people: 0-1-2, 3-4, 6-7, 8-9


def test_interval_matches_exact_calculation_on_a_tiny_graph(spark):
    keys = ["t:a", "t:b", "t:c", "t:d", "t:e", "t:f"]
    uncertain = [("t:a", "t:b", 0.5), ("t:b", "t:c", 0.3), ("t:c", "t:d", 0.8), ("t:a", "t:c", 0.2)]
    certain = [("t:d", "t:e", 1.0)]
    # exact distribution of the customer count over the 2^4 accept/reject outcomes
    exact: dict[int, float] = {}
    for outcome in itertools.product([0, 1], repeat=len(uncertain)):
        prob = math.prod(p if take else 1 - p for (_, _, p), take in zip(uncertain, outcome, strict=True))
        kept = [(a, b) for (a, b, _), take in zip(uncertain, outcome, strict=True) if take] + [(a, b) for a, b, _ in certain]
        n = _components(keys, kept)
        exact[n] = exact.get(n, 0.0) + prob
    mean = sum(n * p for n, p in exact.items())
    sd = math.sqrt(sum((n - mean) ** 2 * p for n, p in exact.items()))
    draws = 2000
    counts = [r.customers for r in sampled_counts(spark, _records(spark, keys), _pairs(spark, uncertain + certain), draws, 11, CC).collect()]
    assert len(counts) == draws
    got_mean = sum(counts) / draws
    print(f"exact mean {mean:.4f} sd {sd:.4f}; sampled mean {got_mean:.4f}; exact pmf {exact}")
    assert abs(got_mean - mean) < 4 * sd / math.sqrt(draws)
    for n, p in exact.items():
        assert abs(counts.count(n) / draws - p) < 0.035, n
    interval = count_interval(counts, golden_count=4, level=0.9, uncertain_pairs=len(uncertain))
    assert interval.lower <= mean <= interval.upper and interval.draws == draws
    assert interval.estimate == round(got_mean)  # nothing unseen: the estimate is the draws' mean


def test_guarded_pairs_are_accepted_at_a_rate_between_zero_and_their_bound(spark):
    # 30 separate guarded pairs at their bound 0.6: each draw takes a rate uniformly in [0, 0.6], so
    # a pair merges in 30% of draws on average; without the guard it would in 60%
    keys = [f"g:{i}" for i in range(60)]
    edges = [(f"g:{2 * i}", f"g:{2 * i + 1}", 0.6) for i in range(30)]
    pairs = _pairs(spark, edges).withColumn("link_guarded", F.lit(True))
    draws = 400
    counts = [r.customers for r in sampled_counts(spark, _records(spark, keys), pairs, draws, 5, CC).collect()]
    merges = [60 - c for c in counts]
    mean = sum(merges) / draws
    print(f"mean merges {mean:.2f} (expected 9.0; 18.0 unguarded)")
    assert abs(mean - 9.0) < 1.0
    plain = [60 - r.customers for r in sampled_counts(spark, _records(spark, keys), pairs.drop("link_guarded"), draws, 5, CC).collect()]
    assert abs(sum(plain) / draws - 18.0) < 1.0
    # the rate is drawn per draw, not per pair: the draws spread far wider than 30 independent coins
    sd = math.sqrt(sum((m - mean) ** 2 for m in merges) / (draws - 1))
    assert sd > 1.7 * math.sqrt(30 * 0.3 * 0.7)  # about 5.7 against 2.5


def test_review_job_refuses_a_new_audit_together_with_answers(tmp_path):
    answers = tmp_path / "answers.csv"
    answers.write_text("record_key_l,record_key_r,decision\n")
    for argv in (["--audit", "10", "--decisions", str(answers)], []):
        with pytest.raises(SystemExit) as stop:
            review_job.main(argv)
        assert stop.value.code == 2


def test_interval_needs_draws():
    with pytest.raises(ValueError):
        count_interval([], golden_count=1, level=0.95, uncertain_pairs=0)


def test_estimate_is_the_mean_of_the_draws_inside_its_equal_tailed_interval():
    counts = [12, 10, 11, 11, 12, 11, 11, 10, 12, 12, 11]  # 90% of 11 draws: int(0.05 * 10) = 0, the lowest and the highest
    got = count_interval(counts, golden_count=13, level=0.9, uncertain_pairs=3)
    assert (got.estimate, got.lower, got.upper, got.mean, got.draws) == (11, 10, 12, pytest.approx(123 / 11, abs=0.01), 11)
    assert got.golden_count == 13  # kept beside the estimate, outside its interval here
    narrower = count_interval(list(range(100, 121)), golden_count=13, level=0.5, uncertain_pairs=3)  # 21 draws: int(0.25 * 20) = 5
    assert (narrower.lower, narrower.estimate, narrower.upper) == (105, 110, 115)
    skewed = count_interval([10, 10, 10, 10, 20], golden_count=10, level=0.5, uncertain_pairs=1)  # the mean, not the median
    assert (skewed.lower, skewed.estimate, skewed.upper) == (10, 12, 12)  # the range is widened to hold its estimate
    one_draw = count_interval([7], golden_count=7, level=0.95, uncertain_pairs=0)
    assert one_draw.lower == one_draw.estimate == one_draw.upper == 7


def test_error_analysis_by_corruption_and_relation(spark):
    crosswalk = spark.createDataFrame([("p:1", "A"), ("p:2", "A"), ("p:3", "B"), ("p:4", "C"), ("p:5", "C")], "record_key string, customer_id string")
    truth = spark.createDataFrame([("p:1", 1), ("p:2", 1), ("p:3", 1), ("p:4", 2), ("p:5", 3)], "record_key string, person_id long")
    tags = spark.createDataFrame([("p:1", "clean"), ("p:2", "clean"), ("p:3", "moved"), ("p:4", "clean"), ("p:5", "clean")], "record_key string, tag string")
    relations = spark.createDataFrame([(2, 3, "twins")], "person_a long, person_b long, relation string")
    got = {(r.kind, r.category): (r.pairs, r.errors) for r in error_analysis(crosswalk, truth, tags, relations).collect()}
    assert got[("missed_merge", "moved")] == (2, 2)  # p3 split from p1 and p2
    assert got[("missed_merge", "clean")] == (3, 2)  # (1,2) kept, (1,3) and (2,3) missed
    assert got[("false_merge", "twins")] == (None, 1)


def test_labels_force_links_and_splits(spark):
    keys = ["r:1", "r:2", "r:3", "r:4"]
    pairs = _pairs(spark, [("r:1", "r:2", 0.99), ("r:3", "r:4", 0.2)])
    labels = spark.createDataFrame(
        [("r:1", "r:2", False), ("r:2", "r:3", True), ("r:3", "r:4", True)], "record_key_l string, record_key_r string, is_match boolean"
    )
    forced = apply_labels(pairs, labels)
    sweep = threshold_sweep(spark, _records(spark, keys), forced, [0.5], CC).first()
    assert sweep.customers == 2  # 1 | 2-3-4


@pytest.fixture
def review_setup(spark, tmp_path):
    out = tmp_path / "output"
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(yaml.safe_dump({"paths": {"data_root": str(tmp_path / "sources"), "output_root": str(out)}}))
    paths = ResolvePaths.from_config(load_config("local", str(overlay)))
    write_delta(_records(spark, ["platform:1", "crm:A", "guest:x"]), paths.identity_records)
    write_delta(_pairs(spark, [("crm:A", "platform:1", 0.97), ("guest:x", "platform:1", 0.4)]), paths.match_pairs)
    existing = spark.createDataFrame([("crm:A", "platform:1", True)], "record_key_l string, record_key_r string, is_match boolean")
    write_delta(merge_labels(None, existing, "first.csv"), paths.review_labels)
    return overlay, paths, tmp_path


BAD_FILES = {
    "unknown key": "record_key_l,record_key_r,decision\nplatform:1,crm:NOPE,match\n",
    "bad decision": "record_key_l,record_key_r,decision\nplatform:1,guest:x,maybe\n",
    "contradiction": "record_key_l,record_key_r,decision\nplatform:1,guest:x,match\nguest:x,platform:1,non_match\n",
    "self pair": "record_key_l,record_key_r,decision\nplatform:1,platform:1,match\n",
    "missing column": "record_key_l,record_key_r\nplatform:1,guest:x\n",
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_review_files_are_rejected_without_side_effects(spark, review_setup, case, capsys):
    overlay, paths, tmp_path = review_setup
    before = sorted(read_delta(spark, paths.review_labels).collect())
    version = spark.sql(f"DESCRIBE HISTORY delta.`{paths.review_labels}`").agg(F.max("version")).first()[0]
    bad = tmp_path / "decisions.csv"
    bad.write_text(BAD_FILES[case])
    assert review_job.main(["--env", "local", "--config", str(overlay), "--decisions", str(bad)]) != 0
    err = capsys.readouterr().err
    assert "ReviewFileError" in err and ("nothing was applied" in err or case == "missing column")
    assert sorted(read_delta(spark, paths.review_labels).collect()) == before
    assert spark.sql(f"DESCRIBE HISTORY delta.`{paths.review_labels}`").agg(F.max("version")).first()[0] == version


def test_simulated_answers_need_the_generators_truth(spark, review_setup):
    overlay, _, tmp_path = review_setup  # sources without the generator's truth beside them
    queue = _pairs(spark, [("crm:A", "platform:1", 0.97)])
    with pytest.raises(ReviewFileError, match=re.escape(f"ground truth at {tmp_path / 'sources' / 'truth' / 'records'}")):
        answered_from_truth(spark, load_config("local", str(overlay)), queue)


def test_good_review_file_is_added_and_newer_decisions_win(spark, review_setup, capsys):
    overlay, paths, tmp_path = review_setup
    good = tmp_path / "decisions.csv"
    good.write_text("record_key_l,record_key_r,decision,reason\nplatform:1,crm:A,non_match,x\nguest:x,platform:1,MATCH,y\ncrm:A,guest:x,,z\n")
    assert review_job.main(["--env", "local", "--config", str(overlay), "--decisions", str(good)]) == 0
    got = {(r.record_key_l, r.record_key_r): r.is_match for r in read_delta(spark, paths.review_labels).collect()}
    assert got == {("crm:A", "platform:1"): False, ("guest:x", "platform:1"): True}
    out = capsys.readouterr().out
    assert "accepted 1 match and 1 non_match" in out and "precision 0.0" in out  # the model linked crm:A-platform:1, the reviewer split it


def test_validation_names_rows(spark):
    decisions = spark.createDataFrame([("a:1", "a:2", "match"), ("a:1", "zz:9", "match")], "record_key_l string, record_key_r string, decision string")
    with pytest.raises(ReviewFileError, match=r"row 3: unknown record key zz:9"):
        validate_decisions(decisions, _records(spark, ["a:1", "a:2"]), "f.csv")


def test_calibrated_rates_follow_the_labels(spark):
    bins = [CalibrationBin(0, 0.5, 0, 0), CalibrationBin(1, 0.5, 40, 2), CalibrationBin(5, 0.999, 20, 20)]
    rates = calibrated_rates(bins, draws=400, seed=3, prior_strength=2.0)
    by_bin = {b: [r for d, bb, r in rates if bb == b] for b in (0, 1, 5)}
    assert by_bin[0] == []  # no labels: the model's probabilities stay
    assert abs(sum(by_bin[1]) / 400 - 3 / 42) < 0.02  # Beta(1 + 2, 1 + 38): mean 3/42
    assert min(by_bin[5]) > 0.8


def test_calibrated_sampling_uses_the_bin_rates(spark):
    keys = ["c:1", "c:2", "c:3", "c:4"]
    pairs = _pairs(spark, [("c:1", "c:2", 0.9), ("c:3", "c:4", 0.9)])  # match weight 3.17: bin 1 at width 2
    records = _records(spark, keys)
    never = [(d, 1, 0.0) for d in range(5)]
    always = [(d, 1, 1.0) for d in range(5)]
    assert {r.customers for r in sampled_counts(spark, records, pairs, 5, 1, CC, never, 2.0).collect()} == {4}
    assert {r.customers for r in sampled_counts(spark, records, pairs, 5, 1, CC, always, 2.0).collect()} == {2}


def test_review_queue_holds_near_misses_weak_links_and_a_calibration_sample(spark):
    pairs = _pairs(spark, [("q:1", "q:2", 0.96), ("q:2", "q:3", 0.999), ("q:4", "q:5", 0.1), ("q:6", "q:7", 0.6), ("q:8", "q:9", 0.02)])
    crosswalk = spark.createDataFrame(
        [("q:1", "A"), ("q:2", "A"), ("q:3", "A"), ("q:4", "B"), ("q:5", "C"), ("q:6", "D"), ("q:7", "E"), ("q:8", "F"), ("q:9", "G")],
        "record_key string, customer_id string",
    )
    queue = review_queue(pairs, crosswalk, 0.95, 0.5, 0.995, 0.99, 100, calibration_per_bin=1, bin_width=2.0, seed=1)
    got = {(r.record_key_l, r.record_key_r): r.reason for r in queue.collect()}
    assert got[("q:1", "q:2")] == "near threshold" and got[("q:6", "q:7")] == "near threshold"
    assert ("q:2", "q:3") not in got or got[("q:2", "q:3")] == "calibration sample"
    assert got[("q:4", "q:5")] == "calibration sample" and got[("q:8", "q:9")] == "calibration sample"
    assert all(r.decision is None for r in queue.collect())


def test_review_page_is_masked_unless_asked_and_marks_what_differs(spark):
    """Both records side by side, differences from the unmasked values (a null differs from a value), the
    evidence adding up to the pair's weight, and no personal value on the page unless the reviewer asks."""
    cols = ("record_key_l string, record_key_r string, source_dataset_l string, source_dataset_r string, match_probability double, "
            "match_weight double, model_match_weight double, full_name_std_l string, full_name_std_r string, email_std_l string, email_std_r string, "
            "postcode_std_l string, postcode_std_r string, gamma_name int, mw_name double, mw_tf_adj_name double, mw_given_name double, "
            "gamma_email_std int, mw_email_std double, reason string, decision string")  # fmt: skip
    rows = [("platform:1", "crm:7", "platform", "crm", 0.9, 3.0, 4.0, "margaret oyelaran", "margaret oyelaran", "m.oyelaran@example.com", None,
             "SW1A 1AA", "SW1A 2BB", 3, 9.0, 1.5, -1.0, 0, 0.0, "near threshold", None),
            ("guest:3", "crm:9", "guest", "crm", 0.2, -2.0, -2.0, "tomasz wierzbicki", "tom wierzbicki", None, None, None, None, 1, 2.0, None, None, 0, -1.0,
             "calibration sample", "match")]  # fmt: skip
    pairs = spark.createDataFrame(rows, cols)
    fields = ["full_name_std", "email_std", "postcode_std"]
    levels = {("name", 3): "Exact match on full name", ("email_std", 0): "All other comparisons"}

    def page(masked: bool) -> tuple[list[dict], str]:
        shown = with_differences(pairs, fields)
        shown = masked_personal_columns(shown) if masked else shown
        cards = review_cards([r.asDict() for r in shown.orderBy("record_key_l").collect()], fields, levels, threshold=0.5)
        return cards, review_page("Review queue", cards, ["intro"], masked, "review_decisions.csv")

    cards, html = page(masked=True)
    values = ["margaret oyelaran", "m.oyelaran@example.com", "sw1a 1aa", "sw1a 2bb", "tomasz wierzbicki", "wierzbicki"]
    assert not [v for v in values if v in html.lower()]
    _, unmasked = page(masked=False)
    assert all(v in unmasked.lower() for v in values)  # the same page unmasked shows them: the check above can fail
    first = next(c for c in cards if c["record_key_l"] == "platform:1")
    assert {f["label"]: f["differs"] for f in first["fields"]} == {"name": False, "e-mail": True, "postcode": True}
    assert [(e["comparison"], e["level"], e["weight"]) for e in first["evidence"]] == [
        ("e-mail", "All other comparisons", 0.0),
        ("name", "Exact match on full name", 9.5),
    ]
    assert first["prior"] == pytest.approx(4.0 - 10.5) and first["accepted"] is True
    second = next(c for c in cards if c["record_key_l"] == "guest:3")
    assert {f["label"]: f["differs"] for f in second["fields"]} == {"name": True, "e-mail": False, "postcode": False}  # null against null: nothing to compare
    assert second["decision"] == "match" and 'value="match" checked' in html
    assert html.count('<section class="pair"') == 2 and 'data-l="platform:1" data-r="crm:7"' in html
