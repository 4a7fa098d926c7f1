"""The model derived from a profile: comparisons for populated attributes, blocking that tolerates one bad field, EM that estimates everything."""

from __future__ import annotations

import dataclasses
import json

import pytest

from customer_identity.core.config import load_config
from customer_identity.core.errors import ComparisonBudgetExceeded, ModelTrainingError
from customer_identity.resolution.blocking import bounded_rule, rule_attributes, rule_bound
from customer_identity.resolution.model_design import (
    MIN_HOUSEHOLD_PAIRS,
    RuleCount,
    comparison_columns,
    decide_link_guard,
    derive_design,
    link_type_for,
    model_from_design,
    name_block_bound,
    possible_pairs,
    select_blocking_rules,
    untolerated_attributes,
)
from customer_identity.resolution.profile import AttributeProfile, HouseholdEvidence, Profile

MODEL = load_config("local").model


def _profile(records: int, attrs: dict[str, tuple[float, int, float]], sources: dict[str, int] | None = None) -> Profile:
    """attrs: attribute -> (fill rate, distinct values, share of the most common value)."""
    sources = sources or {"only": records}
    out = {}
    for a, (fill, distinct, top) in attrs.items():
        filled = int(records * fill)
        out[a] = AttributeProfile(a, records, filled, distinct, int(filled * top), 0, 5.0, {s: fill for s in sources})
    return Profile(records, sources, out)


def _counter(pairs_per_key: dict[str, int]):
    """Counts a rule's pairs as the product of made-up per-column sizes, so a wider rule costs more."""

    def count(rules):
        out = []
        for r in rules:
            n = 1
            for c in r:
                n *= pairs_per_key.get(c, 10)
            out.append(RuleCount(tuple(r), n if len(r) == 1 else max(n // 100, 1), 5))
        return out

    return count


UK_LIKE = {  # names, date of birth, address, postcode, e-mail, phone
    "first_name_std": (0.99, 900, 0.02), "first_name_canonical": (0.99, 800, 0.02), "surname_std": (0.99, 2000, 0.01),
    "date_of_birth": (0.6, 9000, 0.001), "address_line_1_std": (0.6, 5000, 0.002), "postcode_std": (0.9, 4000, 0.003),
    "postcode_outward": (0.9, 300, 0.02), "email_std": (0.5, 5000, 0.001), "phone_e164": (0.4, 5000, 0.001),
}  # fmt: skip
NO_CONTACT = {  # a US-like export: no e-mail or phone, one ZIP for almost everyone
    "first_name_std": (0.99, 900, 0.02), "first_name_canonical": (0.99, 800, 0.02), "surname_std": (0.99, 2000, 0.01),
    "middle_name_std": (0.99, 26, 0.15), "middle_initial": (0.99, 26, 0.15), "address_line_1_std": (0.98, 5000, 0.016),
    "street_number_std": (0.95, 3000, 0.02), "postcode_std": (0.99, 100, 0.98), "postcode_outward": (0.99, 30, 0.99),
    "city_std": (0.99, 70, 0.99), "email_std": (0.0, 0, 0.0), "phone_e164": (0.0, 0, 0.0),
}  # fmt: skip


@pytest.mark.parametrize("attrs", [UK_LIKE, NO_CONTACT], ids=["uk_like", "no_contact"])
def test_every_blocked_attribute_has_a_rule_that_avoids_it_and_every_comparison_is_estimated(attrs):
    profile = _profile(10_000, attrs)
    design = derive_design(MODEL, profile, 2, _counter({"postcode_std": 40_000_000, "postcode_outward": 49_000_000}))
    assert design.untolerated == ()
    keyed = {c for r in design.blocking_rules for c in rule_attributes(r)}
    assert all(any(c not in rule_attributes(r) for r in design.blocking_rules) for c in keyed)
    for spec in design.comparisons:  # each comparison is free in at least one EM session
        assert any(not comparison_columns(spec) & set(rule) for rule in design.em_blocking_rules), spec
    compared = {c for spec in design.comparisons for c in comparison_columns(spec)}
    assert not compared & {a for a, (fill, _, _) in attrs.items() if fill == 0}  # nothing absent is compared


def test_the_derived_model_follows_the_data_not_a_data_set():
    uk = derive_design(MODEL, _profile(10_000, UK_LIKE), 3, _counter({}))
    us = derive_design(MODEL, _profile(10_000, NO_CONTACT), 1, _counter({}))
    assert {c.comparison for c in uk.comparisons} >= {"PersonNameComparison", "DateOfBirthComparison", "LocationComparison", "EmailComparison", "ExactMatch"}
    assert {c.comparison for c in us.comparisons} == {"PersonNameComparison", "MiddleNameComparison", "LocationComparison"}
    assert ("email_std",) in uk.blocking_rules and not any("email_std" in r for r in us.blocking_rules)
    # a ZIP shared by almost everyone narrows nothing: no rule keys on it, and its exact level is adjusted by frequency
    assert not any({"postcode_std", "postcode_outward", "city_std"} & set(r) for r in us.blocking_rules + us.em_blocking_rules)
    location = next(c for c in us.comparisons if c.comparison == "LocationComparison")
    assert "postcode" in location.args["term_frequencies"]
    assert (uk.link_type, us.link_type) == ("link_and_dedupe", "dedupe_only")
    assert all("postcode_std" not in r for r in us.deterministic_rules)


def test_pinned_settings_win_and_are_reported():
    pinned = dataclasses.replace(MODEL, blocking_rules=(("email_std",), ("surname_std", "postcode_outward")), link_type="link_only")
    design = derive_design(pinned, _profile(10_000, UK_LIKE), 2, _counter({}))
    assert design.blocking_rules == (("email_std",), ("surname_std", "postcode_outward"))
    assert design.pinned == ("blocking_rules",) and design.link_type == "link_only"


def test_a_saved_design_gives_back_the_model_it_designed():
    design = derive_design(MODEL, _profile(10_000, UK_LIKE), 2, _counter({}))
    saved = json.loads(json.dumps(design.as_dict()))  # as written beside the model
    assert model_from_design(MODEL, saved) == design.apply(MODEL)
    off = {**saved, "link_guard": {"active": False, "why": "no relatives"}}
    assert model_from_design(MODEL, off).link_guard is None and MODEL.link_guard is not None


def test_blocking_keeps_the_cheapest_rules_within_the_budget():
    counts = [RuleCount(("a",), 600, 30), RuleCount(("b",), 300, 20), RuleCount(("c",), 0, 0), RuleCount(("d",), 200, 10)]
    kept, rejected = select_blocking_rules(counts, budget=1000)
    assert [c.rule for c in kept] == [("d",), ("b",)]
    assert {c.rule for c, _ in rejected} == {("a",), ("c",)}
    with pytest.raises(ComparisonBudgetExceeded, match="max_comparisons"):
        derive_design(dataclasses_replace(MODEL, max_comparisons=1), _profile(10_000, UK_LIKE), 2, _counter(dict.fromkeys(UK_LIKE, 1000)))


def test_names_alone_key_only_on_names_few_records_share_within_the_budget():
    bound = name_block_bound(MODEL)
    assert bound == round(1 / MODEL.predict_threshold)
    design = derive_design(MODEL, _profile(10_000, UK_LIKE), 2, _counter({}))
    assert bounded_rule(("first_name_canonical", "surname_std"), bound) in design.blocking_rules
    assert ("first_name_canonical", "surname_std") not in design.blocking_rules
    assert all(rule_bound(r) is None for r in design.blocking_rules if set(rule_attributes(r)) != {"first_name_canonical", "surname_std"})

    def count(rules):  # the name rule's pairs shrink with its bound; every other rule costs 100
        return [RuleCount(tuple(r), (rule_bound(r) or 0) * 1000 if rule_bound(r) else 100, 5) for r in rules]

    others = len(design.blocking_rules) - 1
    tight = dataclasses_replace(MODEL, max_comparisons=others * 100 + 30_000)  # bound 100 costs 100,000, 50 costs 50,000, 25 costs 25,000
    design = derive_design(tight, _profile(10_000, UK_LIKE), 2, count)
    assert bounded_rule(("first_name_canonical", "surname_std"), 25) in design.blocking_rules
    assert any(rule_bound(c.rule) == bound for c, _ in design.rejected_blocking)  # the wider bound is reported as left out


def test_untolerated_attributes():
    assert untolerated_attributes([("a", "b"), ("a", "c")]) == ("a",)
    assert untolerated_attributes([("a", "b"), ("c",)]) == ()
    assert untolerated_attributes([("a",)]) == ("a",)
    assert untolerated_attributes([bounded_rule(("a", "b"), 9), ("a", "c")]) == ("a",)  # a bounded rule keys on its attributes


def test_nothing_to_compare_is_one_clear_error():
    with pytest.raises(ModelTrainingError, match="no attribute is populated"):
        derive_design(MODEL, _profile(100, {"email_std": (0.0, 0, 0.0)}), 1, _counter({}))


def test_link_type_follows_the_number_of_sources():
    assert link_type_for("auto", 1) == "dedupe_only"
    assert link_type_for("auto", 3) == "link_and_dedupe"
    assert link_type_for("link_only", 2) == "link_only"


def dataclasses_replace(model, **changes):
    return dataclasses.replace(model, **changes)


def test_em_never_keys_on_a_value_most_records_share():
    attrs = {k: v for k, v in NO_CONTACT.items() if k not in ("address_line_1_std", "street_number_std", "middle_name_std", "middle_initial")}
    attrs["date_of_birth"] = (0.9, 9000, 0.001)
    design = derive_design(MODEL, _profile(10_000, attrs), 1, _counter({}))
    assert design.em_blocking_rules and not any({"postcode_std", "postcode_outward", "city_std"} & set(r) for r in design.em_blocking_rules)


def test_em_avoids_crowds_and_prefers_rules_every_source_can_take_part_in():
    sources = {"accounts": 6000, "guests": 4000}
    profile = _profile(10_000, UK_LIKE, sources)
    guests_lack = ("date_of_birth", "address_line_1_std", "email_std", "phone_e164")
    attrs = {a: AttributeProfile(p.attribute, p.records, p.filled, p.distinct, p.top_count, 0, 5.0,
                                 {"accounts": p.fill_rate, "guests": 0.0 if a in guests_lack else p.fill_rate}) for a, p in profile.attributes.items()}  # fmt: skip
    crowd = _counter({})

    def count(rules):  # common names: the name-only rule's largest block is a crowd of different people
        return [RuleCount(c.rule, c.comparisons, 200 if c.rule == ("first_name_canonical", "surname_std") else 5) for c in crowd(rules)]

    design = derive_design(MODEL, Profile(10_000, sources, attrs), 2, count)
    assert ("first_name_canonical", "surname_std", "postcode_outward") in design.em_blocking_rules  # every source takes part
    # the crowded name rule only estimates what no narrow rule can (where people live), after them
    crowded = ("first_name_canonical", "surname_std")
    assert design.em_blocking_rules[-1] == crowded and design.em_blocking_rules.count(crowded) == 1


def test_link_guard_follows_the_relatives_the_data_shows():
    relatives = HouseholdEvidence("address_line_1_std", pairs=200, same_birth_date=6)  # different birthdays: relatives
    one_person = HouseholdEvidence("address_line_1_std", pairs=200, same_birth_date=190)  # same birthday: a first name replaced
    too_few = HouseholdEvidence("address_line_1_std", pairs=MIN_HOUSEHOLD_PAIRS - 1, same_birth_date=MIN_HOUSEHOLD_PAIRS - 1)
    assert decide_link_guard(MODEL, relatives)["active"] is True
    assert decide_link_guard(MODEL, one_person)["active"] is False
    assert decide_link_guard(MODEL, too_few)["active"] is True  # cannot tell: keep the protection
    assert decide_link_guard(MODEL, None)["active"] is True
    assert decide_link_guard(dataclasses.replace(MODEL, link_guard=None), relatives) == {}  # nothing configured, nothing to decide
    profile = _profile(10_000, UK_LIKE)
    kept = derive_design(MODEL, profile, 2, _counter({}), relatives)
    dropped = derive_design(MODEL, profile, 2, _counter({}), one_person)
    guard = kept.apply(MODEL).link_guard
    assert guard is not None and MODEL.link_guard is not None
    assert (guard.comparison, guard.levels, guard.unless_equal) == (MODEL.link_guard.comparison, MODEL.link_guard.levels, MODEL.link_guard.unless_equal)
    assert guard.max_probability == pytest.approx(7 / 202)  # 6 of 200 agree on date of birth, by the rule of succession
    many_twins = HouseholdEvidence("address_line_1_std", pairs=40, same_birth_date=19)  # relatives, but the share is above the configured cap
    assert decide_link_guard(MODEL, many_twins)["max_probability"] == MODEL.link_guard.max_probability
    assert "max_probability" not in decide_link_guard(MODEL, too_few)  # no evidence: the configured cap
    assert dropped.apply(MODEL).link_guard is None
    assert dropped.as_dict()["link_guard"]["pairs"] == 200 and any(line.startswith("link guard off") for line in dropped.summary_lines())


def test_em_rules_pair_records_across_sources_when_linking():
    """A rule only one source fills pairs that source with itself: its relatives, not its duplicates."""
    sources = {"census": 6000, "tax_forms": 4000}
    profile = _profile(10_000, dict(NO_CONTACT, date_of_birth=(0.6, 9000, 0.001)), sources)
    attrs = {a: AttributeProfile(p.attribute, p.records, p.filled, p.distinct, p.top_count, 0, 5.0,
                                 {"census": 1.0 if a == "date_of_birth" else p.fill_rate, "tax_forms": 0.0 if a == "date_of_birth" else p.fill_rate})
             for a, p in profile.attributes.items()}  # fmt: skip
    crowd = _counter({})

    def count(rules):  # a name alone, or a street alone, gathers crowds
        return [
            RuleCount(c.rule, c.comparisons, 200 if c.rule in (("first_name_canonical", "surname_std"), ("address_line_1_std",)) else 5) for c in crowd(rules)
        ]

    linked = derive_design(MODEL, Profile(10_000, sources, attrs), 2, count)
    assert linked.em_blocking_rules and not any("date_of_birth" in r for r in linked.em_blocking_rules)
    # every narrow rule keys on the street: the name rule, crowded as it is, estimates where people live
    assert ("first_name_canonical", "surname_std") in linked.em_blocking_rules and linked.unestimated == ()
    assert any("largest block 200" in line for line in linked.summary_lines())

    def count_without_names(rules):  # no rule without the street finds a pair: nothing can estimate it
        return [c if "address_line_1_std" in c.rule else RuleCount(c.rule, 0, 0) for c in count(rules)]

    stuck = derive_design(MODEL, Profile(10_000, sources, attrs), 2, count_without_names)
    assert stuck.unestimated == ("LocationComparison",)  # reported, Splink's default m kept
    assert "LocationComparison" in stuck.as_dict()["m_not_estimated"]
    deduped = derive_design(MODEL, _profile(10_000, dict(NO_CONTACT, date_of_birth=(0.6, 9000, 0.001))), 1, count)
    assert any("date_of_birth" in r for r in deduped.em_blocking_rules)  # one source: its own pairs are what we want


def test_possible_pairs_by_link_type():
    assert possible_pairs({"a": 3, "b": 2}, "link_and_dedupe") == possible_pairs({"a": 3, "b": 2}, "dedupe_only") == 10
    assert possible_pairs({"a": 3, "b": 2}, "link_only") == 6  # across sources only
    assert possible_pairs({"a": 1}, "link_and_dedupe") == 0
