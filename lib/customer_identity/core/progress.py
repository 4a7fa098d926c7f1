"""Progress a user can follow while a long step runs: a bar of the Spark tasks a step runs,
and one of Splink's EM iterations, drawn with tqdm on the console (nothing when the console
is not a terminal, where a one-line summary is printed at the end instead)."""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import threading
import time
from collections.abc import Iterator

from pyspark.sql import SparkSession
from tqdm import tqdm

POLL_SECONDS = 0.5


def _bar(label: str, unit: str) -> tqdm:
    # the terminal's size as Python reads it (a fallback where a terminal reports none: tqdm draws nothing in 0 rows)
    size = shutil.get_terminal_size((100, 24))
    return tqdm(total=0, desc=label, unit=unit, file=sys.stderr, disable=None, leave=True, ncols=size.columns, nrows=max(size.lines, 10))


@contextlib.contextmanager
def spark_tasks(spark: SparkSession, label: str) -> Iterator[None]:
    """Show the tasks of every Spark stage started inside the block, done of total, with
    elapsed time and tqdm's estimate of the rest (the total grows as stages start)."""
    tracker = spark.sparkContext.statusTracker()
    seen: dict[int, tuple[int, int]] = {}  # stage id -> (completed tasks, tasks)
    before = set(tracker.getJobIdsForGroup(None) or [])
    bar = _bar(label, "task")
    stop = threading.Event()
    started = time.monotonic()

    def poll() -> None:
        while not stop.wait(POLL_SECONDS):
            for job_id in tracker.getActiveJobsIds():
                if job_id in before:
                    continue
                job = tracker.getJobInfo(job_id)
                for stage_id in job.stageIds if job else ():
                    stage = tracker.getStageInfo(stage_id)
                    if stage is not None:
                        seen[stage_id] = (stage.numCompletedTasks, stage.numTasks)
            done, total = sum(d for d, _ in seen.values()), sum(t for _, t in seen.values())
            bar.total = max(total, bar.total or 0)
            bar.n = done
            bar.refresh()

    thread = threading.Thread(target=poll, name=f"progress: {label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.n = bar.total or 0
        bar.close()
        if bar.disable:
            print(f"{label}: done in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)


class EMProgress(logging.Handler):
    """Turns Splink's EM log lines ("Iteration 3: Largest change in params ...", "EM converged
    after 12 iterations") into a bar per training session, so the iterations show as one line."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.bar: tqdm | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        if message.startswith("Iteration "):
            if self.bar is None:
                self.bar = _bar("EM training", "iteration")
            self.bar.update(1)
        elif message.startswith("EM converged") and self.bar is not None:
            self.bar.set_postfix_str("converged")
            self.bar.close()
            self.bar = None
