"""Checks that personal data stays out of logs, shared by the end-to-end tests."""

from __future__ import annotations

import logging

from customer_identity.core import logs


def _delta(spark, path):
    return spark.read.format("delta").load(str(path))


def personal_values(spark, root) -> set[str]:
    """Distinctive personal values of the run's records: full names, long surnames, e-mails, phones, postcodes, dates of birth."""
    records = _delta(spark, root / "output/silver/identity_records").collect()
    values = set()
    for r in records:
        if r.first_name_std and r.surname_std:
            values.add(f"{r.first_name_std} {r.surname_std}")
        if r.surname_std and len(r.surname_std) >= 7:
            values.add(r.surname_std)
        values.update(v for v in (r.email_std, r.phone_e164, r.postcode_std) if v)
        if r.date_of_birth:
            values.add(r.date_of_birth.isoformat())
    return {v.lower() for v in values}


def assert_no_personal_data_logged(spark, root, records: list[logging.LogRecord]) -> None:
    """No personal value of the run in the log records captured, nor in the log file the JVM's
    output and Splink's log lines went to."""
    messages = [r.getMessage().lower() for r in records if r.levelno >= logging.INFO]
    if logs.current() is not None and logs.current().is_file():
        messages += logs.current().read_text(errors="replace").lower().splitlines()
    assert messages, "nothing was logged: the check would be empty"
    values = personal_values(spark, root)
    leaked = sorted({v for v in values for m in messages if v in m})
    assert not leaked, f"{len(leaked)} personal values appear in log messages"
