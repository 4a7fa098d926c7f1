"""The shared job runner: exit codes and what a job leaves behind."""

from __future__ import annotations

from pathlib import Path

from customer_identity import cli
from customer_identity.errors import CustomerIdentityError


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

    monkeypatch.setattr("customer_identity.spark.SparkSession.getActiveSession", broken)
    assert cli.run(lambda _args: 0, cli.base_parser("test"), []) == 0
    assert cli.run(stopped, cli.base_parser("test"), []) == CustomerIdentityError.exit_code
