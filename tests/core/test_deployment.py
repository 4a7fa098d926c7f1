"""The cluster deployment files parse and point at things that exist: entry points, jobs, config overlays."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from customer_identity.core.config import check_no_secrets, load_config

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "deploy/databricks/databricks.yml"
EMR_STEPS = ROOT / "deploy/emr/steps.json"
BOOTSTRAP = ROOT / "deploy/emr/bootstrap.sh"


def _setup_jobs() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "JOBS")
    return ast.literal_eval(node.value)


def _env_of(args: list[str]) -> str:
    return args[args.index("--env") + 1]


def test_every_console_command_is_a_job_with_main():
    for name in _setup_jobs():
        assert callable(importlib.import_module(f"jobs.{name}").main), name
    assert set(_setup_jobs()) >= {p.stem for p in (ROOT / "jobs").glob("*.py")} - {"__init__", "warm_jars"}


def test_databricks_bundle_runs_ingest_resolve_assess_analyse():
    bundle = yaml.safe_load(BUNDLE.read_text())
    check_no_secrets(BUNDLE, BUNDLE.read_text(), bundle)
    job = bundle["resources"]["jobs"]["customer_identity_daily"]
    tasks = {t["task_key"]: t for t in job["tasks"]}
    assert list(tasks) == ["ingest", "resolve", "assess", "analyse"]
    for before, after in zip(list(tasks), list(tasks)[1:], strict=False):
        assert tasks[after]["depends_on"] == [{"task_key": before}]
    commands = {f"ebuy-{n.replace('_', '-')}" for n in _setup_jobs()}
    for task in tasks.values():
        wheel = task["python_wheel_task"]
        assert wheel["package_name"] == "ebuy_customer_identity" and wheel["entry_point"] in commands
        assert any("whl" in lib for lib in task["libraries"])
        load_config(_env_of(wheel["parameters"]))  # the overlay exists and loads
    assert job["schedule"]["quartz_cron_expression"] and job["max_concurrent_runs"] == 1
    assert (BUNDLE.parent / bundle["artifacts"]["wheel"]["path"]).resolve() == ROOT


def test_emr_steps_submit_existing_jobs_with_the_configured_delta():
    steps = json.loads(EMR_STEPS.read_text())
    check_no_secrets(EMR_STEPS, EMR_STEPS.read_text(), steps)
    delta = next(p for p in load_config("emr").spark.packages if p.startswith("io.delta:"))
    names = []
    for step in steps:
        args = step["HadoopJarStep"]["Args"]
        assert args[0] == "spark-submit" and "--py-files" in args
        script = next(a for a in args if a.endswith(".py"))
        name = re.search(r"jobs/(\w+)\.py$", script).group(1)
        assert (ROOT / "jobs" / f"{name}.py").is_file()
        assert delta in args[args.index("--packages") + 1]
        load_config(_env_of(args))
        names.append(name)
    assert names == ["ingest", "resolve", "assess", "analyse"]


def test_emr_bootstrap_is_valid_bash():
    subprocess.run(["bash", "-n", str(BOOTSTRAP)], check=True)
    assert "pip install" in BOOTSTRAP.read_text()


@pytest.mark.slow
def test_the_wheel_carries_jobs_package_conf_and_commands(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)], check=True, timeout=600)
    wheel = next(tmp_path.glob("ebuy_customer_identity-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {
        "jobs/resolve.py",
        "jobs/analyse.py",
        "customer_identity/core/config.py",
        "customer_identity/core/catalog.py",
        "customer_identity/resolution/matching.py",
        "customer_identity/data/categories.csv",
    } <= names
    conf = {Path(n).name for n in names if "/share/ebuy-customer-identity/conf/" in n}
    assert conf == {p.name for p in (ROOT / "conf").glob("*.yaml")}
    for name in _setup_jobs():
        assert f"ebuy-{name.replace('_', '-')} = jobs.{name}:main" in entry_points
