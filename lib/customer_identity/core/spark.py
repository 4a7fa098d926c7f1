"""The one Spark session factory, for local mode and for clusters.

Local mode sets the master, resolves the Delta jars from Maven Central through
Spark's own package resolution (cached in ``spark.ivy_dir``) and adds Splink's
similarity-function jar from the installed wheel. In cluster mode the code
never sets a master: spark-submit, Databricks or EMR decide where it runs, and
the cluster provides the jars (see the README).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

from pyspark import SparkContext
from pyspark.sql import SparkSession

from customer_identity.core import logs
from customer_identity.core.config import Config

log = logging.getLogger(__name__)

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def splink_jar() -> str:
    """Path of the jar with Splink's Spark similarity UDFs (see ``resolution.matching``)."""
    from customer_identity.resolution.matching import similarity_jar  # noqa: PLC0415 (matching is the splink seam; import it only when a session is built)

    return similarity_jar()


def session_conf(config: Config) -> dict[str, str]:
    """All Spark settings the job applies, as a plain dict (useful for tests and spark-submit)."""
    sc = config.spark
    conf: dict[str, str] = {
        "spark.app.name": sc.app_name,
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(sc.shuffle_partitions),
        "spark.jars": splink_jar(),
    }
    if sc.packages:
        conf["spark.jars.packages"] = ",".join(sc.packages)
    if sc.ivy_dir:
        conf["spark.jars.ivy"] = str(Path(sc.ivy_dir).resolve())
    if sc.mode == "local" and sc.driver_memory:
        conf["spark.driver.memory"] = sc.driver_memory
    conf.update(sc.conf)
    return conf


# Spark loggers kept to errors. The CSV header check writes data values: it prints a file's
# first line ("Header: …") when it disagrees with a schema, which for a file without header
# is a row. The others warn about Splink's normal operation, once per step: it registers its
# similarity functions again for every linker; it reads back the tables it writes under names
# starting with "__", which Spark reads as asked after warning that such names are hidden
# files; and its plans are too long to print whole.
QUIET_LOGGERS = (
    "org.apache.spark.sql.catalyst.csv.CSVHeaderChecker",
    "org.apache.spark.sql.catalyst.analysis.SimpleFunctionRegistry",
    "org.apache.spark.sql.execution.datasources.DataSource",
    "org.apache.spark.sql.catalyst.util.SparkStringUtils",
)


def _quiet_loggers(spark: SparkSession) -> None:
    jvm = spark.sparkContext._jvm
    for name in QUIET_LOGGERS:
        jvm.org.apache.logging.log4j.core.config.Configurator.setLevel(name, jvm.org.apache.logging.log4j.Level.ERROR)


def build_session(config: Config, extra_conf: dict[str, str] | None = None) -> SparkSession:
    """Build (or reuse) the session described by ``config.spark``."""
    builder = SparkSession.builder
    if config.spark.mode == "local":
        builder = builder.master(config.spark.local_master)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers (ingestion's file parser) run the driver's interpreter, whose
        # environment holds this package; PySpark's default is whatever `python3` is on PATH
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = session_conf(config)
    conf.update(extra_conf or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    quiet = config.spark.mode == "local" and not logs.verbose() and SparkContext._active_spark_context is None
    log_path = logs.jvm_log_path(config.paths.output_root) if quiet else None
    with logs.jvm_output_to(log_path):
        spark = builder.getOrCreate()
    if log_path is not None:
        logs.set_current(log_path)
        print(f"Spark's, Ivy's and Splink's own output: {log_path} (--verbose shows it here)", file=sys.stderr, flush=True)
    if not logs.verbose() and logs.current() is not None:  # a later job in the same process logs to the same file
        logs.splink_to(logs.current())
    spark.sparkContext.setLogLevel("WARN")
    _quiet_loggers(spark)
    removed = remove_stale_checkpoints(spark, config.paths.checkpoint_dir, config.paths.stale_checkpoint_hours)
    if removed:
        log.info("removed %d checkpoint directories left by runs that ended without cleaning up", removed)
    spark.sparkContext.setCheckpointDir(config.paths.checkpoint_dir)
    log.info(
        "spark session ready: mode=%s master=%s shuffle_partitions=%s",
        config.spark.mode,
        spark.sparkContext.master,
        spark.conf.get("spark.sql.shuffle.partitions"),
    )
    return spark


def remove_stale_checkpoints(spark: SparkSession, directory: str, older_than_hours: float) -> int:
    """Delete the sessions' directories under ``directory`` in which nothing changed for
    ``older_than_hours``: what a killed run left behind (its intermediate tables hold
    personal data). A live job writes to its own directory and is never that idle. Returns
    how many were removed; any filesystem Hadoop reads."""
    jvm = spark.sparkContext._jvm
    root = jvm.org.apache.hadoop.fs.Path(directory)
    fs = root.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        return 0
    cutoff_ms = (time.time() - older_than_hours * 3600) * 1000
    removed = 0
    for status in fs.listStatus(root):
        if not status.isDirectory():
            continue
        newest = status.getModificationTime()
        files = fs.listFiles(status.getPath(), True)
        while files.hasNext():
            newest = max(newest, files.next().getModificationTime())
        if newest < cutoff_ms:
            fs.delete(status.getPath(), True)
            removed += 1
    return removed


def release_checkpoints() -> None:
    """Delete the active session's checkpoint directory, on whatever filesystem it is.

    ``build_session`` gives each session its own directory under ``paths.checkpoint_dir``
    (Spark adds a unique subdirectory); Spark's checkpoints and Splink's intermediate
    tables go there and nothing in it outlives the job. Left in place they pile up, one
    directory per run.
    """
    try:
        spark = SparkSession.getActiveSession()
        if spark is None:
            return
        directory = spark.sparkContext.getCheckpointDir()
        if not directory:
            return
        path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(directory)
        path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(path, True)
        log.info("checkpoint directory removed")
    except Exception as exc:  # never mask the job's own outcome (e.g. a JVM that died)
        log.warning("checkpoint directory not removed: %s", type(exc).__name__)
