from __future__ import annotations

import pytest

from customer_identity.core.config import ConfigError, SecretInConfig, load_config


def test_local_overlay_sets_local_mode_and_templates_paths():
    config = load_config("local")
    assert config.spark.mode == "local"
    assert config.spark.local_master == "local[2]"
    assert config.tables.bronze == "data/output/bronze"
    assert config.source("platform").path == "data/sources/platform"
    assert config.source("crm").columns["full_name"] == "customer_name"


def test_cluster_overlays_never_set_local_mode_and_use_object_storage():
    emr = load_config("emr")
    assert emr.spark.mode == "cluster"
    assert emr.tables.gold.startswith("s3://")
    dbx = load_config("databricks")
    assert dbx.tables.bronze.startswith("dbfs:/")


def test_user_overlay_wins_and_replaces_a_column_mapping_whole(tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("paths:\n  output_root: /tmp/elsewhere\nsources:\n  crm:\n    columns: {full_name: name, email: mail}\n")
    config = load_config("local", user)
    assert config.tables.gold == "/tmp/elsewhere/gold"
    assert dict(config.source("crm").columns) == {"full_name": "name", "email": "mail"}


def test_unknown_key_names_file_and_key(tmp_path):
    user = tmp_path / "typo.yaml"
    user.write_text("spark:\n  shufle_partitions: 4\n")
    with pytest.raises(ConfigError) as err:
        load_config("local", user)
    assert "typo.yaml" in str(err.value) and "spark.shufle_partitions" in str(err.value)


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("spark:\n  shuffle_partitions: zero\n", "spark.shuffle_partitions"),
        ("sources:\n  crm:\n    format: xml\n", "sources.crm.format"),
        ("sources:\n  crm:\n    columns: {nickname: x}\n", "sources.crm.columns.nickname"),
        ("sources:\n  crm:\n    types: {birth_date: datetime}\n", "sources.crm.types.birth_date"),
        ("generator:\n  rates: {typo: 1.5}\n", "generator.rates.typo"),
        ("generator:\n  rate_preset: harsh\n", "generator.rate_preset"),
        ("generator:\n  rate_presets: {stress: {typos: 0.1}}\n", "generator.rate_presets.stress.typos"),
        ("paths:\n  output_root: ${nowhere}/x\n", "paths.output_root"),
        ("trust:\n  review_low: 0.9\n  review_high: 0.5\n", "trust.review_high"),
        ("trust:\n  sweep_thresholds: [0.5, 1.5]\n", "trust.sweep_thresholds"),
        ("trust:\n  calibration_bin_width: 0\n", "trust.calibration_bin_width"),
        ("model:\n  training:\n    u_num_chunks: 0\n", "model.training.u_num_chunks"),
        (
            "model:\n  comparisons: [{comparison: ExactMatch, columns: [email_std]}]\n  link_guard:\n    unless_equal: [email_std, loyalty_card]\n",
            "model.link_guard.unless_equal[1]",
        ),
        ("locale:\n  country: Britain\n", "locale.country"),
        ("sources:\n  platform: null\n  crm: null\n", "sources"),
        ("model:\n  link_guard:\n    max_probability: 1.0\n", "model.link_guard.max_probability"),
        ("model:\n  link_guard:\n    levels: []\n", "model.link_guard.levels"),
    ],
)
def test_bad_values_are_rejected_with_the_key(tmp_path, yaml_text, key):
    user = tmp_path / "bad.yaml"
    user.write_text(yaml_text)
    with pytest.raises(ConfigError) as err:
        load_config("local", user)
    assert key in str(err.value)
    assert "bad.yaml" in str(err.value)


def test_rate_preset_replaces_only_the_rates_it_names():
    realistic = load_config("local").generator
    stress = load_config("local", overrides={"generator": {"rate_preset": "stress"}}).generator
    assert realistic.rate_preset == "realistic" and stress.rate_preset == "stress"
    changed = {k for k in realistic.rates if realistic.rates[k] != stress.rates[k]}
    assert changed and "moved" in changed and stress.rates["moved"] > realistic.rates["moved"]
    assert set(stress.rates) == set(realistic.rates)
    assert {k: stress.rates[k] for k in set(stress.rates) - changed} == {k: realistic.rates[k] for k in set(realistic.rates) - changed}


def test_missing_environment_and_missing_file():
    with pytest.raises(ConfigError, match="no overlay for environment 'moon'"):
        load_config("moon")
    with pytest.raises(ConfigError, match="not found"):
        load_config("local", "/no/such/file.yaml")


def test_a_source_can_be_dropped_and_transactions_are_optional(tmp_path):
    user = tmp_path / "drop.yaml"
    user.write_text("sources:\n  crm: null\n")
    assert set(load_config("local", user).sources) == {"platform", "transactions"}
    user.write_text("sources:\n  transactions: null\n")
    config = load_config("local", user)
    assert set(config.sources) == {"platform", "crm"} and config.model.account_source == ""  # nothing refers to accounts
    user.write_text("sources:\n  platform: null\n")  # purchases still refer to platform accounts
    with pytest.raises(ConfigError, match=r"model.account_source.*customer_id"):
        load_config("local", user)
    user.write_text("sources:\n  platform: null\n  crm: null\n")
    with pytest.raises(ConfigError, match=r"drop.yaml.*customers"):
        load_config("local", user)


def test_env_variables_in_templates(tmp_path, monkeypatch):
    user = tmp_path / "env.yaml"
    user.write_text("paths:\n  output_root: ${env:EBUY_OUT}/run\n")
    monkeypatch.setenv("EBUY_OUT", "/data/x")
    assert load_config("local", user).paths.output_root == "/data/x/run"
    monkeypatch.delenv("EBUY_OUT")
    with pytest.raises(ConfigError, match="EBUY_OUT"):
        load_config("local", user)


@pytest.mark.parametrize(
    "yaml_text, names",
    [
        ("sources:\n  crm:\n    options: {user: etl, password: hunter2}\n", "sources.crm.options.password"),
        ("spark:\n  conf:\n    spark.hadoop.fs.s3a.secret.key: abcdEFGH1234\n", "spark.conf.spark.hadoop.fs.s3a.secret.key"),
        ("spark:\n  conf:\n    spark.hadoop.fs.s3a.access.key: AKIAABCDEFGHIJKLMNOP\n", "line 3"),
        ("paths:\n  data_root: s3://etl:hunter2@bucket/raw\n", "line 2"),
        ("# old token: dapi0123456789abcdef0123456789abcdef\npaths: {data_root: /x}\n", "line 1"),
        ("sources:\n  crm:\n    options: {url: 'jdbc:postgresql://db/crm?user=etl&password=hunter2'}\n", "line 3"),
        ("sources:\n  crm:\n    options: {user: etl, pwd: hunter2}\n", "sources.crm.options.pwd"),
        ("sources:\n  crm:\n    options: {passphrase: hunter2}\n", "sources.crm.options.passphrase"),
        ("sources:\n  api:\n    options: {header: 'Authorization: Bearer hunter2hunter2'}\n", "line 3"),
        (
            "spark:\n  conf:\n    spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net: hunter2\n",
            "spark.conf.spark.hadoop.fs.azure.account.key.acct.dfs.core.windows.net",
        ),
    ],
)
def test_a_config_holding_a_secret_is_refused_without_echoing_it(tmp_path, yaml_text, names):
    user = tmp_path / "leaky.yaml"
    user.write_text(yaml_text)
    with pytest.raises(SecretInConfig) as err:
        load_config("local", user)
    message = str(err.value)
    assert "leaky.yaml" in message and names in message and "${env:NAME}" in message
    for value in ("hunter2", "abcdEFGH1234", "AKIAABCDEFGHIJKLMNOP", "dapi0123456789abcdef"):
        assert value not in message


def test_a_yaml_syntax_error_never_echoes_the_line(tmp_path):
    user = tmp_path / "broken.yaml"
    user.write_text("sources:\n  crm:\n    options: {password: 'hunter2}\n")
    with pytest.raises(ConfigError) as err:
        load_config("local", user)
    assert "broken.yaml" in str(err.value) and "line" in str(err.value) and "hunter2" not in str(err.value)


def test_references_to_secrets_are_allowed(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_DB_PASSWORD", "from-the-environment")
    user = tmp_path / "refs.yaml"
    user.write_text(
        "sources:\n  crm:\n    options:\n      password: ${env:CRM_DB_PASSWORD}\n"
        "spark:\n  conf:\n    spark.hadoop.fs.s3a.aws.credentials.provider: ${env:CRM_DB_PASSWORD}\n"
    )
    config = load_config("local", user)
    assert config.source("crm").options["password"] == "from-the-environment"


@pytest.mark.parametrize("env", ["local", "databricks", "emr"])
def test_shipped_configuration_holds_no_secret(env):
    load_config(env)
