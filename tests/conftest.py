"""One Spark session for the whole test run: local mode, few partitions, UI off."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from customer_identity.core.config import load_config
from customer_identity.core.spark import build_session
from jobs import analyse, evaluate, generate_sources, ingest, resolve


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    root = tmp_path_factory.mktemp("spark")
    config = load_config(
        "local",
        overrides={
            "paths": {"data_root": str(root / "sources"), "output_root": str(root / "output")},
            "spark": {"shuffle_partitions": 2, "driver_memory": "4g"},
        },
    )
    os.environ.setdefault("PYSPARK_PYTHON", os.sys.executable)
    session = build_session(config, extra_conf={"spark.sql.warehouse.dir": str(root / "warehouse")})
    yield session
    session.stop()


@pytest.fixture
def make_config(tmp_path):
    """A config whose every path lives under this test's tmp dir."""

    def _make(**overrides):
        base = {"paths": {"data_root": str(tmp_path / "sources"), "output_root": str(tmp_path / "output")}}
        for key, value in overrides.items():
            base.setdefault(key, {}).update(value) if isinstance(value, dict) else base.__setitem__(key, value)
        return load_config("local", overrides=base)

    return _make


@pytest.fixture(scope="session")
def tiny_run(spark, tmp_path_factory):
    """The jobs run once on the tiny profile: generate -> ingest -> resolve -> evaluate. Returns (root, overlay, args)."""
    root = tmp_path_factory.mktemp("tiny")
    overlay = root / "overlay.yaml"
    overlay.write_text(f"paths:\n  data_root: {root}/sources\n  output_root: {root}/output\ngenerator:\n  profile: tiny\n")
    args = ["--env", "local", "--config", str(overlay)]
    for job in (generate_sources, ingest, resolve, evaluate):
        assert job.main(args) == 0, job.__name__
    return root, overlay, args


@pytest.fixture(scope="session")
def tiny_analysed(tiny_run):
    """``tiny_run`` plus one run of ``jobs.analyse`` (tables and report)."""
    args = tiny_run[2]
    assert analyse.main(args) == 0
    return tiny_run


@pytest.fixture(scope="session")
def artifacts_dir():
    """Where tests leave files for people to look at (screenshots, executed notebooks)."""
    path = Path(os.environ.get("TEST_ARTIFACTS_DIR", Path(__file__).resolve().parents[1] / "build" / "test-artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path
