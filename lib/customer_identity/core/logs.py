"""What a job shows on the console, and where the rest goes.

The console gets the product's own lines. In local mode the JVM's output (Ivy's package
resolution, Spark's and Delta's log4j warnings, the Python workers' stderr) goes to a log
file in the output folder instead, ``<output_root>/logs/spark-<time>.log`` (a temporary
folder when the output is on an object store), and Splink's own INFO lines (EM iterations,
"model not yet fully trained") are not shown. ``--verbose`` puts both back on the console.
On a cluster the JVM's output is the cluster's to keep and nothing is redirected.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

_verbose = False
_current: Path | None = None  # the log file of this process's JVM, once one was started quietly


def set_verbose(flag: bool) -> None:
    global _verbose
    _verbose = flag


def verbose() -> bool:
    return _verbose


def set_current(path: Path) -> None:
    global _current
    _current = path


def current() -> Path | None:
    """The log file this process's JVM writes to (None when it writes to the console)."""
    return _current


def jvm_log_path(output_root: str) -> Path:
    """Where this job's JVM output goes: ``<output_root>/logs`` for a local output folder,
    otherwise the machine's temporary folder."""
    local = output_root.removeprefix("file://").removeprefix("file:")
    folder = Path(local) / "logs" if "://" not in local else Path(tempfile.gettempdir()) / "ebuy-customer-identity-logs"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"spark-{dt.datetime.now():%Y%m%dT%H%M%S}-{os.getpid()}.log"


def splink_to(path: Path) -> None:
    """Splink's log lines into the run's log file (when they are not on the console)."""
    splink = logging.getLogger("splink")
    if not splink.propagate and not any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path) for h in splink.handlers):
        for old in [h for h in splink.handlers if isinstance(h, logging.FileHandler)]:
            splink.removeHandler(old)
            old.close()
        handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        splink.addHandler(handler)


@contextlib.contextmanager
def jvm_output_to(path: Path | None) -> Iterator[None]:
    """While the JVM starts, this process's stdout and stderr point at ``path``: the JVM and
    the workers it starts inherit them and keep writing there, while Python's own streams
    go back to the console. ``None`` changes nothing. If the start fails, the log's last
    lines are shown, since the reason is in them."""
    if path is None:
        yield
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.dup2(target, 1)
        os.dup2(target, 2)
        yield
    except BaseException:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        tail = path.read_text(errors="replace").splitlines()[-20:]
        print(f"the JVM did not start; the last lines of {path}:", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in (*saved, target):
            os.close(fd)
