"""One Spark session for the whole test run: local mode, few partitions, UI off."""

from __future__ import annotations

import os

import pytest

from customer_identity.config import load_config
from customer_identity.spark import build_session


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
