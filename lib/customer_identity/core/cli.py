"""Shared command-line plumbing for the thin jobs in ``jobs/``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pyspark.errors import AnalysisException

from customer_identity.core.config import ConfigError
from customer_identity.core.errors import CustomerIdentityError
from customer_identity.core.spark import release_checkpoints

log = logging.getLogger(__name__)


def base_parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--env", default="local", help="environment overlay conf/<env>.yaml (default: local)")
    parser.add_argument("--config", default=None, help="your own overlay YAML; its values win")
    parser.add_argument("--log-level", default="INFO")
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("py4j", "splink"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def run(body: Callable[[argparse.Namespace], int | None], parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Parse args, run ``body`` and turn known failures into a message and exit code."""
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
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
