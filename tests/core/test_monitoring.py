"""Drift checks against the configured bounds."""

from __future__ import annotations

from customer_identity.core.config import MonitoringConfig
from customer_identity.core.monitoring import RunFigures, drift_breaches

BOUNDS = MonitoringConfig(max_customer_change=0.10, max_match_rate_shift=0.05, max_quarantine_rate=0.02, min_source_rows=1)


def _run(customers=1000, records=1500, accepted=600, read=None, quarantined=None) -> RunFigures:
    return RunFigures(customers, records, accepted, read or {"platform": 1000, "crm": 500}, quarantined or {"platform": 1, "crm": 0})


def test_a_normal_run_breaks_nothing():
    assert drift_breaches(_run(customers=1050), _run(), BOUNDS) == []
    assert drift_breaches(_run(), None, BOUNDS) == []  # first run: nothing to compare with


def test_each_bound_is_reported():
    assert drift_breaches(_run(customers=1200), _run(), BOUNDS) == ["customer count moved +20.00% (1,000 -> 1,200; bound ±10.00%)"]
    assert drift_breaches(_run(customers=880), _run(), BOUNDS)[0].startswith("customer count moved -12.00%")
    shifted = drift_breaches(_run(accepted=700), _run(), BOUNDS)
    assert shifted == ["accepted pairs per record moved +0.0667 (0.4000 -> 0.4667; bound ±0.05)"]
    empty = drift_breaches(_run(read={"platform": 1000, "crm": 0}, quarantined={"platform": 0, "crm": 0}), None, BOUNDS)
    assert empty == ["source 'crm' arrived with 0 rows (minimum 1)"]
    bad = drift_breaches(_run(quarantined={"platform": 30, "crm": 0}), None, BOUNDS)
    assert bad == ["source 'platform': 3.00% of rows quarantined (maximum 2.00%)"]
