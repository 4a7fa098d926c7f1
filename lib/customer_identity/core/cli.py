"""Shared command-line plumbing for the thin jobs in ``jobs/``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pyspark.errors import AnalysisException

from customer_identity.core import logs, progress
from customer_identity.core.config import CONF_DIR, NOT_OVERLAYS, ConfigError
from customer_identity.core.errors import CustomerIdentityError
from customer_identity.core.spark import release_checkpoints

log = logging.getLogger(__name__)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
EXIT_CODES = """exit codes:
  0  done
  1  an unexpected failure (the traceback says where)
  2  a configuration or input problem; the message names the setting, source or column
  3  row counts do not add up (rows read != rows accepted + rows quarantined)
  4  the run finished and wrote its tables, but drifted beyond monitoring's bounds"""


def help_text(docstring: str | None) -> str:
    """A job's docstring as help: reStructuredText literals (````x````) shown as plain ``x``."""
    return (docstring or "").replace("``", "")


def environments() -> list[str]:
    """The environment overlays ``--env`` accepts: ``conf/<env>.yaml`` files."""
    return sorted(p.stem for p in CONF_DIR.glob("*.yaml") if p.stem not in NOT_OVERLAYS)


def base_parser(description: str | None) -> argparse.ArgumentParser:
    """The options every job shares; the docstring's layout (examples, one per line) is kept."""
    parser = argparse.ArgumentParser(description=help_text(description), epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    envs = environments()
    parser.add_argument("--env", default="local", metavar="ENV", help=f"environment overlay conf/<env>.yaml, one of {', '.join(envs)} (default: local)")
    parser.add_argument("--config", default=None, help="your own overlay YAML; its values win")
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="how much the job logs (default: INFO)")
    parser.add_argument("--verbose", action="store_true", help="also show Spark's, Ivy's and Splink's own output (by default in <output_root>/logs)")
    return parser


def configure_logging(level: str, verbose: bool = False) -> None:
    """The product's log lines on stderr at ``level``; Splink's and py4j's only with ``verbose``
    (otherwise Splink's go to the run's log file, see ``core.logs``, and its EM iterations
    show as a progress bar)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logs.set_verbose(verbose)
    logging.getLogger("py4j").setLevel(logging.INFO if verbose else logging.WARNING)
    splink = logging.getLogger("splink")
    splink.setLevel(logging.INFO)
    splink.propagate = verbose
    if not verbose and not any(isinstance(h, progress.EMProgress) for h in splink.handlers):
        splink.addHandler(progress.EMProgress())


def run(body: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse args, run ``body`` and turn known failures into a message and exit code."""
    args = parser.parse_args(argv)
    configure_logging(args.log_level, args.verbose)
    try:
        return int(body(args) or 0)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except CustomerIdentityError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except AnalysisException as exc:  # an input that does not fit what the configuration says (a column, a table)
        first = (str(exc).strip().splitlines() or [""])[0]
        print(f"input error: {first[:400]} (check the source's columns and paths in your overlay)", file=sys.stderr)
        return 2
    finally:
        release_checkpoints()  # the job's intermediate files, whatever its outcome
