"""Run metrics and drift checks: what each resolve run did, and whether it looks like yesterday's.

Every resolve appends one row to ``run_metrics``. The drift checks compare it with the
previous successful run against the bounds in ``conf/`` (``monitoring:``); a breach is
logged (figures only, never personal data) and the job exits with :class:`DriftDetected`'s
code, after its tables are written, so the scheduler alerts while the data stays usable.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from customer_identity.core import fs
from customer_identity.core.config import MonitoringConfig
from customer_identity.core.errors import CustomerIdentityError

log = logging.getLogger(__name__)

RUN_METRICS_SCHEMA = (
    "run_id string, finished_at timestamp, mode string, rows_read map<string,long>, rows_accepted map<string,long>, rows_quarantined map<string,long>, "
    "identity_records long, comparisons long, pairs_kept long, accepted_pairs long, customers long, "
    "id_changes map<string,long>, stage_seconds map<string,double>, model_fingerprint string, drift_breaches array<string>, "
    "field_issues map<string,long>"
)


class DriftDetected(CustomerIdentityError):
    """The run finished, but its figures moved beyond the configured bounds."""

    exit_code = 4


@dataclass(frozen=True)
class RunFigures:
    """The figures the drift checks compare between runs."""

    customers: int
    identity_records: int
    accepted_pairs: int
    rows_read: dict[str, int]
    rows_quarantined: dict[str, int]

    @property
    def match_rate(self) -> float:
        """Accepted pairs per identity record."""
        return self.accepted_pairs / self.identity_records if self.identity_records else 0.0


def model_fingerprint(model_path: str) -> str:
    """SHA-256 of the saved Splink model: which model produced a run's customers."""
    return hashlib.sha256(fs.read_bytes(model_path)).hexdigest()


def drift_breaches(current: RunFigures, previous: RunFigures | None, bounds: MonitoringConfig) -> list[str]:
    """Human-readable breaches of the configured bounds (empty when the run looks normal)."""
    breaches = []
    for source, read in sorted(current.rows_read.items()):
        if read < bounds.min_source_rows:
            breaches.append(f"source '{source}' arrived with {read:,} rows (minimum {bounds.min_source_rows:,})")
        elif read and current.rows_quarantined.get(source, 0) / read > bounds.max_quarantine_rate:
            rate = current.rows_quarantined[source] / read
            breaches.append(f"source '{source}': {rate:.2%} of rows quarantined (maximum {bounds.max_quarantine_rate:.2%})")
    if previous is not None and previous.customers:
        change = (current.customers - previous.customers) / previous.customers
        if abs(change) > bounds.max_customer_change:
            breaches.append(f"customer count moved {change:+.2%} ({previous.customers:,} -> {current.customers:,}; bound ±{bounds.max_customer_change:.2%})")
        shift = current.match_rate - previous.match_rate
        if abs(shift) > bounds.max_match_rate_shift:
            breaches.append(
                f"accepted pairs per record moved {shift:+.4f} ({previous.match_rate:.4f} -> {current.match_rate:.4f}; bound ±{bounds.max_match_rate_shift})"
            )
    return breaches
