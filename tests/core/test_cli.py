"""The shared job runner: exit codes and what a job leaves behind."""

from __future__ import annotations

import os
import time
from pathlib import Path

from customer_identity.core import cli
from customer_identity.core.errors import CustomerIdentityError
from customer_identity.core.spark import remove_stale_checkpoints


def _local(directory: str) -> Path:
    return Path(directory.removeprefix("file:"))


def test_a_job_leaves_no_checkpoint_files_whatever_its_outcome(spark, tmp_path):
    seen = []

    def job(fail: bool):
        def body(_args):
            spark.sparkContext.setCheckpointDir(str(tmp_path / "checkpoints"))  # as build_session does
            spark.range(100).checkpoint(eager=True)
            seen.append(_local(spark.sparkContext.getCheckpointDir()))
            assert any(seen[-1].iterdir())
            if fail:
                raise CustomerIdentityError("stopped")
            return 0

        return body

    assert cli.run(job(fail=False), cli.base_parser("test"), []) == 0
    assert cli.run(job(fail=True), cli.base_parser("test"), []) == CustomerIdentityError.exit_code
    assert len(set(seen)) == 2 and not any(d.exists() for d in seen)
    # the session can still checkpoint afterwards
    assert spark.range(10).checkpoint(eager=True).count() == 10


def test_a_failed_clean_up_does_not_mask_the_job_outcome(monkeypatch):
    def broken():
        raise RuntimeError("the JVM is gone")

    def stopped(_args):
        raise CustomerIdentityError("stopped")

    monkeypatch.setattr("customer_identity.core.spark.SparkSession.getActiveSession", broken)
    assert cli.run(lambda _args: 0, cli.base_parser("test"), []) == 0
    assert cli.run(stopped, cli.base_parser("test"), []) == CustomerIdentityError.exit_code


def test_the_next_start_removes_what_a_killed_run_left(spark, tmp_path):
    root = tmp_path / "checkpoints"
    killed, live = root / "killed-run", root / "live-run"
    for directory in (killed / "rdd-1", live / "rdd-2"):
        directory.mkdir(parents=True)
        (directory / "part-00000").write_text("personal data")
    two_days_ago = time.time() - 48 * 3600
    for path in (killed / "rdd-1" / "part-00000", killed / "rdd-1", killed, live / "rdd-2", live):
        os.utime(path, (two_days_ago, two_days_ago))  # the live run's directories are old, its newest file is not
    (root / "a-file").write_text("not a session directory")
    assert remove_stale_checkpoints(spark, str(root), older_than_hours=12) == 1
    assert not killed.exists() and (live / "rdd-2" / "part-00000").exists() and (root / "a-file").exists()
    assert remove_stale_checkpoints(spark, str(tmp_path / "nothing-yet"), older_than_hours=12) == 0
