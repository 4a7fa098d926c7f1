"""The jobs with every output on an object store: a real S3 endpoint (moto's server on
127.0.0.1), reached through Spark's ``s3a`` connector (hadoop-aws, resolved from Maven Central
like the Delta jars).

Day one ingests the first half of the ``tiny`` month and trains the model; day two ingests
the rest and must find that model again on S3 and run incrementally; then the trust stage
and the report write their pages. Every table, the model and every page must be in the
bucket, and nothing may land on the local disk instead (``pathlib`` would turn
``s3a://bucket`` into a local ``s3a:/bucket`` folder).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from customer_identity.core.config import load_config
from customer_identity.synthetic.daily import release_days

pytestmark = pytest.mark.slow

boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "ebuy-test"
HALF = dt.date(2026, 10, 15)
# hadoop-aws at the version of Spark's own Hadoop; its SDK bundle (560 MB) is replaced by the
# three SDK modules S3A uses (the version hadoop-aws 3.4.1 declares, 2.24.6, is not served here)
S3A_PACKAGES = [
    "io.delta:delta-spark_2.13:4.0.0",
    "org.apache.hadoop:hadoop-aws:3.4.1",
    "software.amazon.awssdk:s3:2.57.8",
    "software.amazon.awssdk:s3-transfer-manager:2.57.8",
    "software.amazon.awssdk:apache-client:2.57.8",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    yield endpoint, env, client
    server.stop()


def _keys(client) -> list[str]:
    keys, token = [], None
    while True:
        page = client.list_objects_v2(Bucket=BUCKET, **({"ContinuationToken": token} if token else {}))
        keys += [o["Key"] for o in page.get("Contents", [])]
        if not page.get("IsTruncated"):
            return keys
        token = page["NextContinuationToken"]


@pytest.fixture(scope="module")
def two_days(spark, tiny_run, s3, tmp_path_factory):
    endpoint, env, client = s3
    work = tmp_path_factory.mktemp("s3run")
    overlay = work / "overlay.yaml"
    packages = "".join(f"\n    - {p}" for p in S3A_PACKAGES)
    overlay.write_text(
        f"paths:\n  data_root: {work}/sources\n  output_root: s3a://{BUCKET}/ebuy\n"
        f"spark:\n  ivy_dir: {ROOT}/.ivy2\n  packages:{packages}\n  conf:\n"
        f"    spark.jars.excludes: software.amazon.awssdk:bundle\n"
        f"    spark.hadoop.fs.s3a.endpoint: {endpoint}\n"
        f"    spark.hadoop.fs.s3a.endpoint.region: us-east-1\n"
        f"    spark.hadoop.fs.s3a.path.style.access: 'true'\n"
        f"    spark.hadoop.fs.s3a.connection.ssl.enabled: 'false'\n"
        f"    spark.sql.warehouse.dir: s3a://{BUCKET}/warehouse\n"
        f"monitoring:\n  max_customer_change: 10.0\n  max_match_rate_shift: 10.0\n"
    )
    staged, live = load_config("local", str(tiny_run[1])), load_config("local", str(overlay))
    run_env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join([str(ROOT / "lib"), str(ROOT)])}
    logs = {}

    def job(name: str, *extra: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", f"jobs.{name}", "--env", "local", "--config", str(overlay), *extra],
            cwd=work, env=run_env, capture_output=True, text=True, timeout=1800, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"jobs.{name} exited {done.returncode}:\n{done.stderr[-4000:]}"
        return done.stdout

    for day, (after, through) in enumerate([(None, HALF), (HALF, dt.date(2026, 10, 31))], start=1):
        assert sum(release_days(spark, staged, live, after, through).values()) > 0
        job("ingest")
        logs[f"resolve_{day}"] = job("resolve")
    logs["assess"] = job("assess", "--skip-interval")
    logs["analyse"] = job("analyse")
    return work, _keys(client), logs


def test_day_two_finds_the_model_on_s3_and_runs_incrementally(two_days):
    _, keys, logs = two_days
    assert re.search(r"^run \S+: full ", logs["resolve_1"], re.M), logs["resolve_1"][:500]
    assert re.search(r"^run \S+: incremental ", logs["resolve_2"], re.M), logs["resolve_2"][:500]
    assert "ebuy/model/splink_model.json" in keys
    assert "ebuy/model/splink_model_design.json" in keys
    assert any(k.startswith("ebuy/model/splink_model_term_frequencies/") for k in keys)
    assert f"model: s3a://{BUCKET}/ebuy/model/splink_model.json" in logs["resolve_2"]


def test_every_table_and_page_is_in_the_bucket_and_nothing_on_local_disk(two_days):
    work, keys, _ = two_days
    for table in ("bronze/platform", "quarantine", "silver/identity_records", "silver/match_pairs", "gold/customers", "gold/customer_crosswalk",
                  "gold/threshold_sweep", "gold/review_queue", "gold/segment_profiles", "meta/resolve_runs", "meta/ingestion_log"):  # fmt: skip
        assert f"ebuy/{table}/_delta_log/00000000000000000000.json" in keys, table
    for page in ("trust/review_queue.csv", "trust/review_queue.html", "trust/threshold_sweep.html"):
        assert f"ebuy/{page}" in keys, page
    assert any(k.startswith("ebuy/report/ebuy_report_") and k.endswith(".html") for k in keys)
    # the jobs ran in `work`: only the overlay and the released sources may be there
    assert sorted(p.name for p in work.iterdir()) == ["overlay.yaml", "sources"]
