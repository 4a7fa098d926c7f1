"""The shared job runner: exit codes and what a job leaves behind."""

from __future__ import annotations

import importlib
import os
import re
import time
from pathlib import Path

import pytest

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


JOBS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "jobs").glob("*.py") if p.stem != "__init__")


@pytest.mark.parametrize("job", JOBS)
def test_every_job_explains_itself(job, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # argparse wraps to the terminal
    module = importlib.import_module(f"jobs.{job}")
    with pytest.raises(SystemExit) as stop:
        module.main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "``" not in text  # reStructuredText literals are shown plain
    lines = [line.strip() for line in (module.__doc__ or "").splitlines()]
    examples = [line for line in lines if re.sub(r"^[A-Z_]+=\S+ ", "", line).startswith(("python -m jobs.", "spark-submit"))]  # after any VAR=value
    assert examples, f"jobs/{job}.py shows no example command"
    shown = {line.strip() for line in text.splitlines()}
    assert all(example in shown for example in examples)  # each on a line of its own, not rewrapped
    assert "one of databricks, emr, local" in text and "{DEBUG,INFO,WARNING,ERROR}" in text
    assert all(f"  {code}  " in text for code in "01234")
    lines = text.splitlines()
    for i, line in enumerate(lines):  # an option alone on its line must have its help on the next one
        if re.fullmatch(r"  (-\w, )?--[\w-]+( \S+)?", line):
            assert lines[i + 1].startswith(" " * 8) and lines[i + 1].strip(), f"jobs/{job}.py: {line.strip()} has no help"


def test_the_pipeline_plans_its_stages():
    from jobs.pipeline import _duration, planned_stages  # noqa: PLC0415

    everything = ["generate", "ingest", "resolve", "evaluate", "assess", "explain", "analyse"]
    assert planned_stages(False, False, lambda: pytest.fail("generated sources bring their truth")) == everything
    assert planned_stages(True, False, lambda: True) == everything[1:]
    assert planned_stages(True, True, lambda: False) == ["ingest", "resolve", "explain", "analyse"]
    assert (_duration(9.6), _duration(125)) == ("10s", "2m05s")
