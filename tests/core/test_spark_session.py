"""The Spark session the product builds: what it lets Spark write to the log."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def test_the_csv_header_check_does_not_print_a_row(tmp_path):
    """Spark's CSV reader logs a file's first line ("Header: …") when it disagrees with the schema;
    for a file without a header that line is a person's data. Run in its own process so that
    everything the JVM writes is seen: on the console and in the run's log file."""
    path = tmp_path / "no_header.csv"
    path.write_text("1,header.check.person@example.com\n2,b@example.com\n")
    script = textwrap.dedent(f"""
        from customer_identity.core.config import load_config
        from customer_identity.core.spark import build_session
        spark = build_session(load_config("local", overrides={{"paths": {{"output_root": {str(tmp_path / "out")!r}}}}}))
        rows = spark.read.option("header", "true").schema("id string, email string").csv({str(path)!r}).collect()
        print("rows", len(rows))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "rows 1" in proc.stdout
    jvm_logs = sorted((tmp_path / "out" / "logs").glob("spark-*.log"))
    assert jvm_logs and "Ivy" in "".join(p.read_text() for p in jvm_logs)  # the JVM's own output went to its log file
    assert "header.check.person@example.com" not in proc.stdout + proc.stderr + "".join(p.read_text() for p in jvm_logs)


def test_local_python_workers_run_the_drivers_interpreter(tmp_path):
    """PySpark's default worker is whatever ``python3`` is on PATH, which does not hold this
    package when it is installed in a virtual environment; the file parser runs in workers."""
    script = textwrap.dedent(f"""
        import sys
        from customer_identity.core.config import load_config
        from customer_identity.core.spark import build_session
        spark = build_session(load_config("local", overrides={{"paths": {{"output_root": {str(tmp_path / "out")!r}}}}}))
        worker = spark.sparkContext.parallelize([1], 1).map(lambda _: __import__("sys").executable).first()
        print("same" if worker == sys.executable else f"worker {{worker}} driver {{sys.executable}}")
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "same"
