"""Typed, validated job configuration.

Configuration is layered: ``conf/base.yaml``, ``conf/model.yaml`` and
``conf/analytics.yaml``, then the environment overlay
``conf/<env>.yaml``, then an optional user overlay (``--config PATH``) whose
values win. It is loaded once, before Spark starts, into frozen dataclasses.
Any unknown key, missing value or bad value raises :class:`ConfigError`
naming the file, the dotted key and what was expected.

Strings may reference the ``paths`` section as ``${data_root}``,
``${output_root}`` etc., and environment variables as ``${env:NAME}``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


def _conf_dir() -> Path:
    """``$EBUY_CONF_DIR``, else the checkout's ``conf/``, else the copy installed with the wheel."""
    if os.environ.get("EBUY_CONF_DIR"):
        return Path(os.environ["EBUY_CONF_DIR"])
    checkout = Path(__file__).resolve().parents[3] / "conf"
    if (checkout / "base.yaml").is_file():
        return checkout
    return Path(sys.prefix) / "share" / "ebuy-customer-identity" / "conf"


CONF_DIR = _conf_dir()

CUSTOMER_ATTRIBUTES = (
    "first_name",
    "middle_name",
    "surname",
    "full_name",
    "email",
    "phone",
    "date_of_birth",
    "street_number",
    "address_line_1",
    "address_line_2",
    "locality",
    "city",
    "region",
    "postcode",
    "country",
)
TRANSACTION_ATTRIBUTES = (
    "event_time",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "session_id",
    "customer_id",
    "guest_first_name",
    "guest_surname",
    "guest_postcode",
)
SOURCE_KINDS = ("customers", "transactions")
SOURCE_FORMATS = ("csv", "json", "parquet", "delta", "jdbc")
ENFORCED_TYPES = ("string", "int", "long", "double", "decimal", "date", "timestamp")
PROFILES = ("tiny", "small", "medium", "large")
SHARED_FILES = ("base", "model", "analytics")  # read by every environment, before its overlay
NOT_OVERLAYS = (*SHARED_FILES, "catalog")  # catalog.yaml: table and file locations (customer_identity.core.catalog)


class ConfigError(ValueError):
    """A configuration file is wrong; the message names file, key and expectation."""


# --------------------------------------------------------------------------- types


@dataclass(frozen=True)
class PathsConfig:
    data_root: str
    output_root: str
    checkpoint_dir: str
    stale_checkpoint_hours: float = 12.0  # a session directory idle this long belongs to a killed run


@dataclass(frozen=True)
class SparkConfig:
    mode: str  # "local" sets a master; "cluster" never does
    app_name: str
    local_master: str
    shuffle_partitions: int
    packages: tuple[str, ...]
    ivy_dir: str
    driver_memory: str
    conf: Mapping[str, str]


@dataclass(frozen=True)
class SourceConfig:
    """How to read one source system and map it onto canonical attributes."""

    name: str
    kind: str
    format: str
    path: str
    options: Mapping[str, str]
    id_column: str | None
    required_columns: tuple[str, ...]
    types: Mapping[str, str]
    formats: Mapping[str, str]
    columns: Mapping[str, str]  # canonical attribute -> raw column
    record_time_column: str | None

    def raw_column(self, attribute: str) -> str | None:
        """Raw column holding ``attribute``, or None when the source lacks it."""
        return self.columns.get(attribute)


@dataclass(frozen=True)
class TablesConfig:
    bronze: str
    quarantine: str
    silver: str
    gold: str
    truth: str


@dataclass(frozen=True)
class GeneratorConfig:
    profile: str
    seed: int
    start_date: str
    days: int
    rates: Mapping[str, float]  # with the chosen preset's values applied
    profiles: Mapping[str, Mapping[str, int]]
    rate_preset: str = "realistic"


@dataclass(frozen=True)
class ComparisonSpec:
    comparison: str  # a class of splink.comparison_library
    columns: tuple[str, ...]
    args: Mapping[str, Any]


@dataclass(frozen=True)
class LinkGuard:
    """Pairs the model's probability alone may not link.

    A pair whose ``comparison`` falls on one of ``levels`` (labels of the saved model's
    levels) is linked only when one of ``unless_equal`` holds the same value on both sides;
    otherwise its match probability is capped at ``max_probability``.
    """

    comparison: str
    levels: tuple[str, ...]
    unless_equal: tuple[str, ...]
    max_probability: float


@dataclass(frozen=True)
class LocaleConfig:
    """The country whose postcode and telephone conventions the sources follow (ISO 3166 alpha-2)."""

    country: str


LINK_TYPES = ("auto", "link_and_dedupe", "dedupe_only", "link_only")


@dataclass(frozen=True)
class ModelConfig:
    """The matching model. Empty comparisons or rules are derived from a profile of the data."""

    account_source: str
    link_type: str  # "auto": dedupe_only for one source, link_and_dedupe for more
    comparisons: tuple[ComparisonSpec, ...]
    blocking_rules: tuple[tuple[str, ...], ...]
    max_comparisons: int
    deterministic_rules: tuple[tuple[str, ...], ...]
    deterministic_recall: float
    u_max_pairs: int
    u_num_chunks: int
    em_blocking_rules: tuple[tuple[str, ...], ...]
    em_record_sample_proportion: float
    seed: int
    predict_threshold: float
    match_threshold: float
    break_lineage_method: str
    wholestage_codegen: bool
    link_guard: LinkGuard | None = None


@dataclass(frozen=True)
class ClusteringConfig:
    engine: str
    max_iterations: int
    checkpoint_interval: int


SURVIVORSHIP_RULES = ("source_priority", "most_recent", "most_frequent")
GOLDEN_ATTRIBUTES = ("first_name", "surname", "email", "phone", "date_of_birth", "address_line_1", "city", "postcode")


@dataclass(frozen=True)
class SurvivorshipConfig:
    source_priority: tuple[str, ...]
    rules: Mapping[str, str]


@dataclass(frozen=True)
class TrustConfig:
    sweep_thresholds: tuple[float, ...]  # match probabilities the threshold sweep evaluates
    interval_draws: int  # K samplings of the scored pairs for the count interval
    interval_level: float  # e.g. 0.95 for an equal-tailed 95% interval
    seed: int
    review_low: float  # pairs with review_low <= p < review_high go to the review queue
    review_high: float
    review_weak_link: float  # accepted links below this inside customers of 3+ records too
    review_limit: int
    explain_samples: int  # waterfall charts per category
    calibration_per_bin: int  # random pairs per match-weight bin added to the review queue
    calibration_bin_width: float  # in match weight (log2 odds)
    calibration_prior_strength: float  # the model's probability counts as this many labels


@dataclass(frozen=True)
class MonitoringConfig:
    max_customer_change: float  # relative change of the customer count from the previous run
    max_match_rate_shift: float  # absolute change of accepted pairs per identity record
    max_quarantine_rate: float  # share of a source's rows quarantined
    min_source_rows: int  # fewer rows than this from a source is a breach


@dataclass(frozen=True)
class AnalyticsConfig:
    seed: int
    rfm_bins: int
    segment_k: tuple[int, ...]  # candidate k for k-means; the best silhouette wins
    price_bands: Mapping[str, float]  # upper bounds of the "budget" and "mid" median item price
    basket_item: str  # category_code or brand
    min_support: float
    min_confidence: float
    max_rules: int
    repeat_window_days: int
    test_fraction: float
    top_n: int
    mask_pii: bool


@dataclass(frozen=True)
class Config:
    env: str
    files: tuple[str, ...]
    paths: PathsConfig
    spark: SparkConfig
    sources: Mapping[str, SourceConfig]
    tables: TablesConfig
    generator: GeneratorConfig
    model: ModelConfig
    clustering: ClusteringConfig
    survivorship: SurvivorshipConfig
    trust: TrustConfig
    analytics: AnalyticsConfig
    monitoring: MonitoringConfig
    locale: LocaleConfig = LocaleConfig("GB")
    raw: Mapping[str, Any] = field(repr=False, default_factory=dict)

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(f"sources.{name}: no such source; configured sources are {sorted(self.sources)}") from None

    def sources_of_kind(self, kind: str) -> list[SourceConfig]:
        return [s for s in self.sources.values() if s.kind == kind]


# --------------------------------------------------------------------------- loading


class SecretInConfig(ConfigError):
    """A configuration file holds what looks like a credential: the job refuses to start."""


# Credentials are recognised by the key that holds them or by their own shape. A value that
# only refers to an environment variable (${env:NAME}) is fine: on a cluster the platform's
# secret store sets that variable (e.g. a Databricks cluster's spark_env_vars from {{secrets/...}}).
_SECRET_KEY = re.compile(
    r"(passw(or)?d|pwd|passphrase|secret|token|api[._-]?key|access[._-]?key|account[._-]?key|private[._-]?key|credential|authorization)", re.IGNORECASE
)
_SECRET_REFERENCE = re.compile(r"^\s*\$\{env:[A-Za-z_][A-Za-z0-9_]*\}\s*$")
_SECRET_SHAPES = {
    "an AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "a Databricks token": re.compile(r"\bdapi[0-9a-f]{32}\b"),
    "a GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    "a Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "a password inside a URL": re.compile(r"://[^/\s:@]+:[^/\s@$]+@"),
    "a password parameter": re.compile(r"[?;&](password|pwd)=[^&;\s$]+", re.IGNORECASE),
    "a bearer token": re.compile(r"\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
}


def check_no_secrets(path: Path | str, text: str, data: Any) -> None:
    """Raise :class:`SecretInConfig` naming the file and key (never the value) if one looks like a credential."""
    for lineno, line in enumerate(text.splitlines(), 1):
        for kind, shape in _SECRET_SHAPES.items():
            if shape.search(line):
                raise SecretInConfig(f"{path}: line {lineno} looks like {kind}. Secrets never go in configuration files: "
                                     "use ${env:NAME} or the platform's secret store")  # fmt: skip

    def walk(node: Any, dotted: str, key: str) -> None:
        if isinstance(node, Mapping):
            for k, value in node.items():
                walk(value, f"{dotted}.{k}" if dotted else str(k), str(k))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                walk(value, f"{dotted}[{i}]", key)
        elif isinstance(node, (str, int)) and not isinstance(node, bool):
            value = str(node)
            if _SECRET_KEY.search(key) and value.strip() and not _SECRET_REFERENCE.match(value):
                raise SecretInConfig(f"{path}: key '{dotted}' holds a literal credential. Secrets never go in configuration "
                                     "files: use ${env:NAME} or the platform's secret store")  # fmt: skip

    walk(data, "", "")


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found")
    text = path.read_text()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        # the parser's message quotes the offending line, which may hold a credential: only where and what
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    check_no_secrets(path, text, data)
    return data


# Within a source, these mappings describe one export's shape: an overlay replaces them whole.
_REPLACED_WHOLE = ("columns", "types", "formats", "options")


def _merge(base: dict[str, Any], overlay: Mapping[str, Any], origin: dict[str, str], file: str, prefix: str = "") -> dict[str, Any]:
    """Deep-merge ``overlay`` into ``base``; remember which file set each key."""
    out = dict(base)
    for key, value in overlay.items():
        dotted = f"{prefix}{key}"
        if value is None and prefix == "sources.":
            out.pop(key, None)  # an overlay can drop a source: `sources: {crm: null}`
            origin["sources"] = file  # the set of sources is now this file's doing
            continue
        replace_whole = re.fullmatch(r"sources\.[^.]+\.", prefix) and key in _REPLACED_WHOLE
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping) and not replace_whole:
            out[key] = _merge(dict(out[key]), value, origin, file, dotted + ".")
        else:
            out[key] = value
            origin[dotted] = file
            if isinstance(value, Mapping):
                _record_origin(value, origin, file, dotted + ".")
    return out


def _record_origin(value: Mapping[str, Any], origin: dict[str, str], file: str, prefix: str) -> None:
    for key, sub in value.items():
        origin[f"{prefix}{key}"] = file
        if isinstance(sub, Mapping):
            _record_origin(sub, origin, file, f"{prefix}{key}.")


_TEMPLATE = re.compile(r"\$\{([^}]+)\}")


class _Validator:
    """Reads typed values out of the merged mapping, raising precise errors."""

    def __init__(self, data: Mapping[str, Any], origin: Mapping[str, str]):
        self.data = data
        self.origin = origin
        self.variables: dict[str, str] = {}

    def _file_for(self, dotted: str) -> str:
        parts = dotted.split(".")
        while parts:
            key = ".".join(parts)
            found = self.origin.get(key) or self.origin.get(re.sub(r"\[\d+\]$", "", key))  # list items: the list's file
            if found:
                return found
            parts.pop()
        return next(iter(self.origin.values()), "<config>")

    def error(self, dotted: str, expected: str, got: Any = dataclasses.MISSING) -> ConfigError:
        msg = f"{self._file_for(dotted)}: key '{dotted}': expected {expected}"
        if got is not dataclasses.MISSING:
            msg += f", got {got!r}"
        return ConfigError(msg)

    def section(self, dotted: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Mapping[str, Any]:
        node: Any = self.data
        for part in dotted.split(".") if dotted else []:
            if not isinstance(node, Mapping) or part not in node:
                raise self.error(dotted, "a mapping (section missing)")
            node = node[part]
        if not isinstance(node, Mapping):
            raise self.error(dotted, "a mapping", node)
        for key in node:
            if key not in allowed:
                raise self.error(f"{dotted}.{key}" if dotted else key, f"one of the known keys {sorted(allowed)}")
        for key in required:
            if node.get(key) is None:
                raise self.error(f"{dotted}.{key}" if dotted else key, "a value (required key missing)")
        return node

    def render(self, dotted: str, value: str) -> str:
        def sub(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("env:"):
                env_name = name[4:]
                if env_name not in os.environ:
                    raise self.error(dotted, f"environment variable {env_name} to be set")
                return os.environ[env_name]
            if name not in self.variables:
                raise self.error(dotted, f"a template variable among {sorted(self.variables)}", f"${{{name}}}")
            return self.variables[name]

        for _ in range(5):  # variables may reference each other
            rendered = _TEMPLATE.sub(sub, value)
            if rendered == value:
                break
            value = rendered
        return value

    def string(self, node: Mapping[str, Any], key: str, dotted: str, *, choices: tuple[str, ...] = (), optional=False):
        value = node.get(key)
        if value is None:
            if optional:
                return None
            raise self.error(dotted, "a string (required key missing)")
        if not isinstance(value, str) or not value.strip():
            raise self.error(dotted, "a non-empty string", value)
        value = self.render(dotted, value)
        if choices and value not in choices:
            raise self.error(dotted, f"one of {list(choices)}", value)
        return value

    def integer(self, node: Mapping[str, Any], key: str, dotted: str, *, minimum: int = 0) -> int:
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.error(dotted, f"an integer >= {minimum}", value)
        return value

    def str_map(self, node: Mapping[str, Any], key: str, dotted: str) -> dict[str, str]:
        value = node.get(key) or {}
        if not isinstance(value, Mapping):
            raise self.error(dotted, "a mapping of strings", value)
        out = {}
        for k, v in value.items():
            if isinstance(v, bool):
                v = str(v).lower()
            if not isinstance(v, (str, int, float)):
                raise self.error(f"{dotted}.{k}", "a string or number", v)
            out[str(k)] = self.render(f"{dotted}.{k}", str(v))
        return out

    def str_list(self, node: Mapping[str, Any], key: str, dotted: str) -> tuple[str, ...]:
        value = node.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(dotted, "a list of strings", value)
        return tuple(self.render(dotted, v) for v in value)


def _parse_source(v: _Validator, name: str, node: Mapping[str, Any]) -> SourceConfig:
    dotted = f"sources.{name}"
    v.section(
        dotted,
        allowed=(
            "kind",
            "format",
            "path",
            "options",
            "id_column",
            "required_columns",
            "types",
            "formats",
            "columns",
            "record_time_column",
        ),
        required=("kind", "format", "path", "columns"),
    )
    kind = v.string(node, "kind", f"{dotted}.kind", choices=SOURCE_KINDS)
    fmt = v.string(node, "format", f"{dotted}.format", choices=SOURCE_FORMATS)
    columns = v.str_map(node, "columns", f"{dotted}.columns")
    allowed_attrs = CUSTOMER_ATTRIBUTES if kind == "customers" else TRANSACTION_ATTRIBUTES
    for attr in columns:
        if attr not in allowed_attrs:
            raise v.error(f"{dotted}.columns.{attr}", f"a {kind} attribute among {list(allowed_attrs)}")
    types = v.str_map(node, "types", f"{dotted}.types")
    for col, typ in types.items():
        if typ not in ENFORCED_TYPES:
            raise v.error(f"{dotted}.types.{col}", f"one of {list(ENFORCED_TYPES)}", typ)
    formats = v.str_map(node, "formats", f"{dotted}.formats")
    for col in formats:
        if types.get(col) not in ("date", "timestamp"):
            raise v.error(f"{dotted}.formats.{col}", "a column declared as date or timestamp under types")
    id_column = v.string(node, "id_column", f"{dotted}.id_column", optional=True)
    if kind == "customers" and id_column is None:
        raise v.error(f"{dotted}.id_column", "the raw column holding the source's record id (customers sources)")
    return SourceConfig(
        name=name,
        kind=kind,
        format=fmt,
        path=v.string(node, "path", f"{dotted}.path"),
        options=v.str_map(node, "options", f"{dotted}.options"),
        id_column=id_column,
        required_columns=v.str_list(node, "required_columns", f"{dotted}.required_columns"),
        types=types,
        formats=formats,
        columns=columns,
        record_time_column=v.string(node, "record_time_column", f"{dotted}.record_time_column", optional=True),
    )


def _build(data: Mapping[str, Any], origin: Mapping[str, str], env: str, files: tuple[str, ...]) -> Config:
    v = _Validator(data, origin)
    v.section(
        "",
        allowed=("paths", "spark", "sources", "tables", "generator", "model", "clustering", "survivorship", "trust", "analytics", "monitoring", "locale"),
        required=("paths", "spark", "tables", "model", "clustering", "survivorship", "trust", "analytics", "monitoring"),
    )

    p = v.section("paths", allowed=("data_root", "output_root", "checkpoint_dir", "stale_checkpoint_hours"), required=("data_root", "output_root"))
    v.variables = {}
    data_root = v.string(p, "data_root", "paths.data_root")
    v.variables["data_root"] = data_root
    output_root = v.string(p, "output_root", "paths.output_root")
    v.variables["output_root"] = output_root
    checkpoint = v.string(p, "checkpoint_dir", "paths.checkpoint_dir", optional=True) or f"{output_root}/_checkpoints"
    v.variables["checkpoint_dir"] = checkpoint
    stale = p.get("stale_checkpoint_hours", 12.0)
    if isinstance(stale, bool) or not isinstance(stale, (int, float)) or stale <= 0:
        raise v.error("paths.stale_checkpoint_hours", "a positive number of hours", stale)
    paths = PathsConfig(data_root, output_root, checkpoint, float(stale))

    s = v.section(
        "spark",
        allowed=("mode", "app_name", "local_master", "shuffle_partitions", "packages", "ivy_dir", "driver_memory", "conf"),
        required=("mode", "app_name"),
    )
    spark = SparkConfig(
        mode=v.string(s, "mode", "spark.mode", choices=("local", "cluster")),
        app_name=v.string(s, "app_name", "spark.app_name"),
        local_master=v.string(s, "local_master", "spark.local_master", optional=True) or "local[*]",
        shuffle_partitions=v.integer(s, "shuffle_partitions", "spark.shuffle_partitions", minimum=1) if "shuffle_partitions" in s else 200,
        packages=v.str_list(s, "packages", "spark.packages"),
        ivy_dir=v.string(s, "ivy_dir", "spark.ivy_dir", optional=True) or "",
        driver_memory=v.string(s, "driver_memory", "spark.driver_memory", optional=True) or "",
        conf=v.str_map(s, "conf", "spark.conf"),
    )

    t = v.section("tables", allowed=("bronze", "quarantine", "silver", "gold", "truth"), required=("bronze", "quarantine", "silver", "gold", "truth"))
    tables = TablesConfig(**{k: v.string(t, k, f"tables.{k}") for k in ("bronze", "quarantine", "silver", "gold", "truth")})

    sources_node = data.get("sources") or {}
    if not isinstance(sources_node, Mapping):
        raise v.error("sources", "a mapping of source name to source description", sources_node)
    sources = {}
    for name, node in sources_node.items():
        if not re.fullmatch(r"[a-z][a-z0-9_]*", str(name)):
            raise v.error(f"sources.{name}", "a lower-case identifier as source name")
        sources[name] = _parse_source(v, name, node)
    if sources_node and not any(s.kind == "customers" for s in sources.values()):
        raise v.error("sources", "at least one source of kind 'customers' (transactions sources are optional)")
    loc = v.section("locale", allowed=("country",)) if data.get("locale") is not None else {}
    country = (v.string(loc, "country", "locale.country", optional=True) or "GB").upper()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise v.error("locale.country", "a two-letter ISO 3166 country code such as GB, US or AU", country)

    g = v.section(
        "generator", allowed=("profile", "seed", "start_date", "days", "rates", "rate_preset", "rate_presets", "profiles"), required=("profile", "seed")
    )

    def rate_map(node: Any, where: str) -> dict[str, float]:
        if not isinstance(node, Mapping):
            raise v.error(where, "a mapping of rate name to a number in [0, 1]", node)
        out = {}
        for k, r in node.items():
            if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r <= 1:
                raise v.error(f"{where}.{k}", "a number in [0, 1]", r)
            out[k] = float(r)
        return out

    rates = rate_map(g.get("rates") or {}, "generator.rates")
    presets_node = g.get("rate_presets") or {}
    if not isinstance(presets_node, Mapping):
        raise v.error("generator.rate_presets", "a mapping of preset name to rates", presets_node)
    presets = {name: rate_map(node or {}, f"generator.rate_presets.{name}") for name, node in presets_node.items()}
    for name, preset in presets.items():
        unknown = sorted(set(preset) - set(rates))
        if unknown:
            raise v.error(f"generator.rate_presets.{name}.{unknown[0]}", f"one of the rates in generator.rates ({', '.join(sorted(rates))})")
    rate_preset = v.string(g, "rate_preset", "generator.rate_preset", optional=True, choices=("realistic", *presets)) or "realistic"
    rates.update(presets.get(rate_preset, {}))
    profiles_node = g.get("profiles") or {}
    profiles: dict[str, dict[str, int]] = {}
    for prof, spec in profiles_node.items():
        if prof not in PROFILES:
            raise v.error(f"generator.profiles.{prof}", f"one of {list(PROFILES)}")
        if not isinstance(spec, Mapping):
            raise v.error(f"generator.profiles.{prof}", "a mapping", spec)
        profiles[prof] = {k: v.integer(spec, k, f"generator.profiles.{prof}.{k}", minimum=1) for k in spec}
    generator = GeneratorConfig(
        profile=v.string(g, "profile", "generator.profile", choices=PROFILES),
        seed=v.integer(g, "seed", "generator.seed"),
        start_date=v.string(g, "start_date", "generator.start_date", optional=True) or "2026-10-01",
        days=v.integer(g, "days", "generator.days", minimum=1) if "days" in g else 31,
        rates=rates,
        profiles=profiles,
        rate_preset=rate_preset,
    )
    model = _parse_model(v, sources)
    c = v.section("clustering", allowed=("engine", "max_iterations", "checkpoint_interval"), required=("engine",))
    clustering = ClusteringConfig(
        engine=v.string(c, "engine", "clustering.engine", choices=("dataframe", "graphframes")),
        max_iterations=v.integer(c, "max_iterations", "clustering.max_iterations", minimum=1) if "max_iterations" in c else 40,
        checkpoint_interval=v.integer(c, "checkpoint_interval", "clustering.checkpoint_interval", minimum=1) if "checkpoint_interval" in c else 2,
    )
    sv = v.section("survivorship", allowed=("source_priority", "rules"), required=("source_priority", "rules"))
    priority = v.str_list(sv, "source_priority", "survivorship.source_priority")
    rules = v.str_map(sv, "rules", "survivorship.rules")
    for attr, rule in rules.items():
        if attr not in GOLDEN_ATTRIBUTES:
            raise v.error(f"survivorship.rules.{attr}", f"a golden attribute among {list(GOLDEN_ATTRIBUTES)}")
        if rule not in SURVIVORSHIP_RULES:
            raise v.error(f"survivorship.rules.{attr}", f"one of {list(SURVIVORSHIP_RULES)}", rule)
    survivorship = SurvivorshipConfig(priority, {a: rules.get(a, "most_recent") for a in GOLDEN_ATTRIBUTES})
    trust = _parse_trust(v)
    analytics = _parse_analytics(v)
    keys = ("max_customer_change", "max_match_rate_shift", "max_quarantine_rate", "min_source_rows")
    mon = v.section("monitoring", allowed=keys, required=keys)
    monitoring = MonitoringConfig(
        max_customer_change=_positive(v, mon, "max_customer_change", "monitoring.max_customer_change"),
        max_match_rate_shift=_positive(v, mon, "max_match_rate_shift", "monitoring.max_match_rate_shift"),
        max_quarantine_rate=_probability(v, mon, "max_quarantine_rate", "monitoring.max_quarantine_rate"),
        min_source_rows=v.integer(mon, "min_source_rows", "monitoring.min_source_rows"),
    )
    return Config(
        env=env, files=files, paths=paths, spark=spark, sources=sources, tables=tables, generator=generator,
        model=model, clustering=clustering, survivorship=survivorship, trust=trust, analytics=analytics, monitoring=monitoring,
        locale=LocaleConfig(country), raw=data,
    )  # fmt: skip


def _parse_trust(v: _Validator) -> TrustConfig:
    keys = (
        "sweep_thresholds",
        "interval_draws",
        "interval_level",
        "seed",
        "review_low",
        "review_high",
        "review_weak_link",
        "review_limit",
        "explain_samples",
        "calibration_per_bin",
        "calibration_bin_width",
        "calibration_prior_strength",
    )
    t = v.section("trust", allowed=keys, required=keys)
    sweep = t["sweep_thresholds"]
    if not isinstance(sweep, list) or not sweep:
        raise v.error("trust.sweep_thresholds", "a non-empty list of probabilities", sweep)
    for i, x in enumerate(sweep):
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not 0 < x < 1:
            raise v.error("trust.sweep_thresholds", f"probabilities strictly between 0 and 1 (item {i} is not)", x)
    thresholds = tuple(float(x) for x in sweep)
    low, high = _probability(v, t, "review_low", "trust.review_low"), _probability(v, t, "review_high", "trust.review_high")
    if low >= high:
        raise v.error("trust.review_high", f"greater than trust.review_low ({low})", high)
    return TrustConfig(
        sweep_thresholds=thresholds,
        interval_draws=v.integer(t, "interval_draws", "trust.interval_draws", minimum=1),
        interval_level=_probability(v, t, "interval_level", "trust.interval_level"),
        seed=v.integer(t, "seed", "trust.seed"),
        review_low=low,
        review_high=high,
        review_weak_link=_probability(v, t, "review_weak_link", "trust.review_weak_link"),
        review_limit=v.integer(t, "review_limit", "trust.review_limit", minimum=1),
        explain_samples=v.integer(t, "explain_samples", "trust.explain_samples", minimum=0),
        calibration_per_bin=v.integer(t, "calibration_per_bin", "trust.calibration_per_bin", minimum=0),
        calibration_bin_width=_positive(v, t, "calibration_bin_width", "trust.calibration_bin_width"),
        calibration_prior_strength=_positive(v, t, "calibration_prior_strength", "trust.calibration_prior_strength"),
    )


def _parse_analytics(v: _Validator) -> AnalyticsConfig:
    keys = (
        "seed",
        "rfm_bins",
        "segment_k",
        "price_bands",
        "basket_item",
        "min_support",
        "min_confidence",
        "max_rules",
        "repeat_window_days",
        "test_fraction",
        "top_n",
        "mask_pii",
    )
    a = v.section("analytics", allowed=keys, required=keys)
    ks = a["segment_k"]
    if not isinstance(ks, list) or not ks or any(isinstance(k, bool) or not isinstance(k, int) or k < 2 for k in ks):
        raise v.error("analytics.segment_k", "a non-empty list of integers >= 2", ks)
    bands = v.section("analytics.price_bands", allowed=("budget", "mid"), required=("budget", "mid"))
    budget, mid = _positive(v, bands, "budget", "analytics.price_bands.budget"), _positive(v, bands, "mid", "analytics.price_bands.mid")
    if budget >= mid:
        raise v.error("analytics.price_bands.mid", f"greater than analytics.price_bands.budget ({budget})", mid)
    test_fraction = _probability(v, a, "test_fraction", "analytics.test_fraction")
    if not 0 < test_fraction < 1:
        raise v.error("analytics.test_fraction", "a fraction strictly between 0 and 1", test_fraction)
    if not isinstance(a["mask_pii"], bool):
        raise v.error("analytics.mask_pii", "true or false", a["mask_pii"])
    return AnalyticsConfig(
        seed=v.integer(a, "seed", "analytics.seed"),
        rfm_bins=v.integer(a, "rfm_bins", "analytics.rfm_bins", minimum=2),
        segment_k=tuple(sorted(set(ks))),
        price_bands={"budget": budget, "mid": mid},
        basket_item=v.string(a, "basket_item", "analytics.basket_item", choices=("category_code", "brand")),
        min_support=_probability(v, a, "min_support", "analytics.min_support"),
        min_confidence=_probability(v, a, "min_confidence", "analytics.min_confidence"),
        max_rules=v.integer(a, "max_rules", "analytics.max_rules", minimum=1),
        repeat_window_days=v.integer(a, "repeat_window_days", "analytics.repeat_window_days", minimum=1),
        test_fraction=test_fraction,
        top_n=v.integer(a, "top_n", "analytics.top_n", minimum=1),
        mask_pii=a["mask_pii"],
    )


def _positive(v: _Validator, node: Mapping[str, Any], key: str, dotted: str) -> float:
    value = node.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise v.error(dotted, "a positive number", value)
    return float(value)


def _probability(v: _Validator, node: Mapping[str, Any], key: str, dotted: str) -> float:
    value = node.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        raise v.error(dotted, "a probability strictly between 0 and 1", value)
    return float(value)


def _rules(v: _Validator, node: Mapping[str, Any], key: str, dotted: str, minimum: int = 1) -> tuple[tuple[str, ...], ...]:
    """A list of rules, each a list of column names; an absent key is an empty list when ``minimum`` is 0."""
    value = node.get(key)
    if value is None and minimum == 0:
        return ()
    if not isinstance(value, list) or len(value) < minimum:
        raise v.error(dotted, f"a list of at least {minimum} rule(s), each a list of column names", value)
    out = []
    for i, rule in enumerate(value):
        if not isinstance(rule, list) or not rule or not all(isinstance(c, str) for c in rule):
            raise v.error(f"{dotted}[{i}]", "a non-empty list of column names", rule)
        out.append(tuple(rule))
    return tuple(out)


def _parse_model(v: _Validator, sources: Mapping[str, SourceConfig]) -> ModelConfig:
    m = v.section(
        "model",
        allowed=("account_source", "link_type", "comparisons", "blocking_rules", "max_comparisons", "training",
                 "predict_threshold", "match_threshold", "link_guard", "spark"),
        required=("training", "predict_threshold", "match_threshold"),
    )  # fmt: skip
    account_source = v.string(m, "account_source", "model.account_source", optional=True) or ""
    referring = [s.name for s in sources.values() if s.kind == "transactions" and "customer_id" in s.columns]
    if referring and account_source not in sources:
        raise v.error(
            "model.account_source",
            f"the customers source among {sorted(sources)} whose ids sources.{referring[0]}.columns.customer_id refers to",
            account_source or None,
        )
    if not referring:
        account_source = ""  # no purchase refers to an account: nothing to attach
    comparisons = []
    raw_comparisons = m.get("comparisons") or []
    if not isinstance(raw_comparisons, list):
        raise v.error("model.comparisons", "a list of comparisons (leave it out to derive them from the data)", raw_comparisons)
    for i, spec in enumerate(raw_comparisons):
        dotted = f"model.comparisons[{i}]"
        if not isinstance(spec, Mapping):
            raise v.error(dotted, "a mapping with comparison, columns and optional args", spec)
        for key in spec:
            if key not in ("comparison", "columns", "args"):
                raise v.error(f"{dotted}.{key}", "one of ['args', 'columns', 'comparison']")
        columns = spec.get("columns")
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise v.error(f"{dotted}.columns", "a non-empty list of column names", columns)
        args = spec.get("args") or {}
        if not isinstance(args, Mapping):
            raise v.error(f"{dotted}.args", "a mapping of keyword arguments", args)
        comparisons.append(ComparisonSpec(v.string(spec, "comparison", f"{dotted}.comparison"), tuple(columns), dict(args)))
    t = v.section(
        "model.training",
        allowed=("deterministic_rules", "deterministic_recall", "u_max_pairs", "u_num_chunks", "em_blocking_rules", "em_record_sample_proportion", "seed"),
        required=("deterministic_recall",),
    )
    ms = m.get("spark") or {}
    if not isinstance(ms, Mapping):
        raise v.error("model.spark", "a mapping", ms)
    for key in ms:
        if key not in ("break_lineage_method", "wholestage_codegen"):
            raise v.error(f"model.spark.{key}", "one of ['break_lineage_method', 'wholestage_codegen']")
    codegen = ms.get("wholestage_codegen", False)
    if not isinstance(codegen, bool):
        raise v.error("model.spark.wholestage_codegen", "true or false", codegen)
    em_sample = t.get("em_record_sample_proportion", 1.0)
    if isinstance(em_sample, bool) or not isinstance(em_sample, (int, float)) or not 0 < em_sample <= 1:
        raise v.error("model.training.em_record_sample_proportion", "a number in (0, 1]", em_sample)
    return ModelConfig(
        account_source=account_source,
        link_type=v.string(m, "link_type", "model.link_type", choices=LINK_TYPES, optional=True) or "auto",
        comparisons=tuple(comparisons),
        blocking_rules=_rules(v, m, "blocking_rules", "model.blocking_rules", minimum=0),
        max_comparisons=v.integer(m, "max_comparisons", "model.max_comparisons", minimum=1) if "max_comparisons" in m else 50_000_000,
        deterministic_rules=_rules(v, t, "deterministic_rules", "model.training.deterministic_rules", minimum=0),
        deterministic_recall=_probability(v, t, "deterministic_recall", "model.training.deterministic_recall"),
        u_max_pairs=v.integer(t, "u_max_pairs", "model.training.u_max_pairs", minimum=1000) if "u_max_pairs" in t else 1_000_000,
        u_num_chunks=v.integer(t, "u_num_chunks", "model.training.u_num_chunks", minimum=1) if "u_num_chunks" in t else 1,
        em_blocking_rules=_rules(v, t, "em_blocking_rules", "model.training.em_blocking_rules", minimum=0),
        em_record_sample_proportion=float(em_sample),
        seed=v.integer(t, "seed", "model.training.seed") if "seed" in t else 42,
        predict_threshold=_probability(v, m, "predict_threshold", "model.predict_threshold"),
        match_threshold=_probability(v, m, "match_threshold", "model.match_threshold"),
        break_lineage_method=v.string(
            ms, "break_lineage_method", "model.spark.break_lineage_method", choices=("parquet", "persist", "checkpoint"), optional=True
        )
        or "parquet",
        wholestage_codegen=codegen,
        link_guard=_parse_link_guard(v, {c for spec in comparisons for c in spec.columns}) if m.get("link_guard") is not None else None,
    )


def _parse_link_guard(v: _Validator, compared: set[str]) -> LinkGuard:
    keys = ("comparison", "levels", "unless_equal", "max_probability")
    g = v.section("model.link_guard", allowed=keys, required=keys)
    lists = {}
    for key in ("levels", "unless_equal"):
        value = g[key]
        if not isinstance(value, list) or not value or not all(isinstance(x, str) and x for x in value):
            raise v.error(f"model.link_guard.{key}", "a non-empty list of strings", value)
        lists[key] = tuple(value)
    for i, column in enumerate(lists["unless_equal"]):
        if compared and column not in compared:  # only compared columns are kept beside each scored pair
            raise v.error(f"model.link_guard.unless_equal[{i}]", f"a column of model.comparisons {sorted(compared)}", column)
    return LinkGuard(
        comparison=v.string(g, "comparison", "model.link_guard.comparison"),
        levels=lists["levels"],
        unless_equal=lists["unless_equal"],
        max_probability=_probability(v, g, "max_probability", "model.link_guard.max_probability"),
    )


def load_config(
    env: str = "local",
    user_config: str | os.PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
) -> Config:
    """Load base + ``<env>`` overlay + optional user overlay + programmatic overrides."""
    root = Path(conf_dir) if conf_dir else CONF_DIR
    origin: dict[str, str] = {}
    files = [*(root / f"{name}.yaml" for name in SHARED_FILES), root / f"{env}.yaml"]
    if not files[-1].is_file():
        envs = sorted(p.stem for p in root.glob("*.yaml") if p.stem not in NOT_OVERLAYS)
        raise ConfigError(f"{files[-1]}: no overlay for environment '{env}'; known environments: {envs}")
    if user_config:
        files.append(Path(user_config))
    merged: dict[str, Any] = {}
    for f in files:
        merged = _merge(merged, _read_yaml(f), origin, str(f))
    if overrides:
        merged = _merge(merged, overrides, origin, "<overrides>")
    return _build(merged, origin, env, tuple(str(f) for f in files))
