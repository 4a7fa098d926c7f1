"""Typed, validated job configuration.

Configuration is layered: ``conf/base.yaml``, ``conf/model.yaml`` and
``conf/analytics.yaml``, then the environment overlay
``conf/<env>.yaml``, then an optional user overlay (``--config PATH``) whose
values win. It is loaded once, before Spark starts, into frozen pydantic dataclasses: each
key is declared once, with its type, constraints and default, and cross-field rules are
validators. Any unknown key, missing value or bad value raises :class:`ConfigError`
naming the file that set the key, the dotted key and what was expected.

Strings may reference the ``paths`` section as ``${data_root}``,
``${output_root}`` etc., and environment variables as ``${env:NAME}``.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.dataclasses import dataclass


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

_STRICT = ConfigDict(extra="forbid")


def _frozen(cls):
    """A frozen pydantic dataclass that rejects unknown keys."""
    return dataclass(frozen=True, config=_STRICT)(cls)


def _as_strings(value: Any) -> Any:
    """Options and Spark settings are strings; YAML may write them as booleans or numbers."""
    if not isinstance(value, Mapping):
        return value
    return {str(k): (str(v).lower() if isinstance(v, bool) else str(v) if isinstance(v, (int, float)) else v) for k, v in value.items()}


Text = Annotated[str, Field(min_length=1, strict=True, pattern=r"\S")]
StrMap = Annotated[dict[str, Annotated[str, Field(strict=True)]], BeforeValidator(_as_strings)]
Count = Annotated[int, Field(ge=0, strict=True)]
PositiveCount = Annotated[int, Field(ge=1, strict=True)]
Positive = Annotated[float, Field(gt=0, strict=True)]
Probability = Annotated[float, Field(gt=0, lt=1, strict=True)]
Rate = Annotated[float, Field(ge=0, le=1, strict=True)]
Rule = Annotated[tuple[Text, ...], Field(min_length=1)]


@_frozen
class PathsConfig:
    data_root: Text
    output_root: Text
    checkpoint_dir: Text  # default ${output_root}/_checkpoints, filled in before validation
    stale_checkpoint_hours: Positive = 12.0  # a session directory idle this long belongs to a killed run


@_frozen
class SparkConfig:
    mode: Literal["local", "cluster"]  # "local" sets a master; "cluster" never does
    app_name: Text
    local_master: Text = "local[*]"
    shuffle_partitions: PositiveCount = 200
    packages: tuple[Text, ...] = ()
    ivy_dir: str = ""
    driver_memory: str = ""
    conf: StrMap = Field(default_factory=dict)


@_frozen
class SourceConfig:
    """How to read one source system and map it onto canonical attributes."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    kind: Literal[SOURCE_KINDS]  # type: ignore[valid-type]
    format: Literal[SOURCE_FORMATS]  # type: ignore[valid-type]
    path: Text
    columns: StrMap  # canonical attribute -> raw column
    options: StrMap = Field(default_factory=dict)
    id_column: Text | None = None
    required_columns: tuple[Text, ...] = ()
    types: dict[str, Literal[ENFORCED_TYPES]] = Field(default_factory=dict)  # type: ignore[valid-type]
    formats: StrMap = Field(default_factory=dict)
    record_time_column: Text | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SourceConfig:
        allowed = CUSTOMER_ATTRIBUTES if self.kind == "customers" else TRANSACTION_ATTRIBUTES
        for attr in self.columns:
            if attr not in allowed:
                raise _at(f"columns.{attr}", f"a {self.kind} attribute among {list(allowed)}")
        for col in self.formats:
            if self.types.get(col) not in ("date", "timestamp"):
                raise _at(f"formats.{col}", "a column declared as date or timestamp under types")
        if self.kind == "customers" and self.id_column is None:
            raise _at("id_column", "the raw column holding the source's record id (customers sources)")
        return self

    def raw_column(self, attribute: str) -> str | None:
        """Raw column holding ``attribute``, or None when the source lacks it."""
        return self.columns.get(attribute)


@_frozen
class TablesConfig:
    bronze: Text
    quarantine: Text
    silver: Text
    gold: Text
    truth: Text


@_frozen
class GeneratorConfig:
    profile: Literal[PROFILES]  # type: ignore[valid-type]
    seed: Count
    rates: dict[str, Rate]  # with the chosen preset's values applied
    start_date: Text = "2026-10-01"
    days: PositiveCount = 31
    profiles: dict[Literal[PROFILES], dict[str, PositiveCount]] = Field(default_factory=dict)  # type: ignore[valid-type]
    rate_preset: Text = "realistic"
    rate_presets: dict[str, dict[str, Rate]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """The chosen preset's rates replace the ones they name; a preset names only known rates."""
        if not isinstance(data, Mapping) or not isinstance(data.get("rates"), Mapping) or not isinstance(data.get("rate_presets", {}), Mapping):
            return data
        rates, presets = dict(data["rates"]), data.get("rate_presets") or {}
        for name, preset in presets.items():
            for rate in preset or {}:
                if rate not in rates:
                    raise _at(f"rate_presets.{name}.{rate}", f"one of the rates in generator.rates ({', '.join(sorted(rates))})")
        chosen = data.get("rate_preset", "realistic")
        if chosen != "realistic" and chosen not in presets:
            raise _at("rate_preset", f"one of {['realistic', *presets]}", chosen)
        rates.update(presets.get(chosen) or {})
        return {**data, "rates": rates}


@_frozen
class ComparisonSpec:
    comparison: Text  # a class of splink.comparison_library
    columns: tuple[Text, ...]  # empty for a comparison that takes its columns through args (LocationComparison)
    args: dict[str, Any] = Field(default_factory=dict)


@_frozen
class LinkGuard:
    """Pairs the model's probability alone may not link.

    A pair whose ``comparison`` falls on one of ``levels`` (labels of the saved model's
    levels) is linked only when one of ``unless_equal`` holds the same value on both sides;
    otherwise its match probability is capped at ``max_probability``.
    """

    comparison: Text
    levels: Annotated[tuple[Text, ...], Field(min_length=1)]
    unless_equal: Annotated[tuple[Text, ...], Field(min_length=1)]
    max_probability: Probability


@_frozen
class ConditionalEvidence:
    """What ``comparison`` may weigh between records on ``levels`` of comparison ``given``
    (labels of the saved model's levels, e.g. the same address and postcode): at most what
    its level says among the different people on those levels (``resolution.dependence``)."""

    comparison: Text
    given: Text
    levels: Annotated[tuple[Text, ...], Field(min_length=1)]


@_frozen
class LocaleConfig:
    """The country whose postcode and telephone conventions the sources follow (ISO 3166 alpha-2)."""

    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", strict=True)] = "GB"

    @field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


LINK_TYPES = ("auto", "link_and_dedupe", "dedupe_only", "link_only")


@_frozen
class TrainingConfig:
    """How the model's parameters are estimated (Splink's prior, u sampling and EM)."""

    deterministic_recall: Probability
    deterministic_rules: tuple[Rule, ...] = ()  # empty: derived from the data
    u_max_pairs: Annotated[int, Field(ge=1000, strict=True)] = 1_000_000
    u_num_chunks: PositiveCount = 1
    em_blocking_rules: tuple[Rule, ...] = ()  # empty: derived from the data
    em_record_sample_proportion: Annotated[float, Field(gt=0, le=1, strict=True)] = 1.0
    seed: Count = 42
    engine: Literal["spark", "driver_sample"] = "driver_sample"  # where Splink estimates the parameters
    sample_records: Annotated[int, Field(ge=1000, strict=True)] = 300_000  # the driver_sample engine's bound
    refine_max_pairs: Annotated[int, Field(ge=1, strict=True)] = 1_000_000  # pairs scored per round of u refinement


@_frozen
class ModelSparkConfig:
    """Spark settings in force while Splink runs."""

    break_lineage_method: Literal["parquet", "persist", "checkpoint"] = "parquet"
    wholestage_codegen: Annotated[bool, Field(strict=True)] = False


@_frozen
class ModelConfig:
    """The matching model. Empty comparisons or rules are derived from a profile of the data."""

    training: TrainingConfig
    predict_threshold: Probability
    match_threshold: Probability
    account_source: str = ""
    link_type: Literal[LINK_TYPES] = "auto"  # type: ignore[valid-type]  # "auto": dedupe_only for one source, link_and_dedupe for more
    comparisons: tuple[ComparisonSpec, ...] = ()
    blocking_rules: tuple[Rule, ...] = ()
    max_comparisons: PositiveCount = 50_000_000
    spark: ModelSparkConfig = Field(default_factory=ModelSparkConfig)
    link_guard: LinkGuard | None = None
    conditional_evidence: tuple[ConditionalEvidence, ...] = ()


@_frozen
class ClusteringConfig:
    engine: Literal["dataframe", "graphframes"]
    max_iterations: PositiveCount = 40
    checkpoint_interval: PositiveCount = 2


SURVIVORSHIP_RULES = ("source_priority", "most_recent", "most_frequent")
GOLDEN_ATTRIBUTES = ("first_name", "surname", "email", "phone", "date_of_birth", "address_line_1", "city", "postcode")


@_frozen
class SurvivorshipConfig:
    source_priority: tuple[Text, ...]
    rules: dict[Literal[GOLDEN_ATTRIBUTES], Literal[SURVIVORSHIP_RULES]]  # type: ignore[valid-type]  # attributes left out: most_recent

    @field_validator("rules")
    @classmethod
    def _every_attribute(cls, rules: dict[str, str]) -> dict[str, str]:
        return {a: rules.get(a, "most_recent") for a in GOLDEN_ATTRIBUTES}


@_frozen
class TrustConfig:
    sweep_thresholds: Annotated[tuple[Probability, ...], Field(min_length=1)]  # match probabilities the threshold sweep evaluates
    interval_draws: PositiveCount  # K samplings of the scored pairs for the count interval
    interval_level: Probability  # e.g. 0.95 for an equal-tailed 95% interval
    seed: Count
    review_low: Probability  # pairs with review_low <= p < review_high go to the review queue
    review_high: Probability
    review_weak_link: Probability  # accepted links below this inside customers of 3+ records too
    review_limit: PositiveCount
    explain_samples: Count  # waterfall charts per category
    calibration_per_bin: Count  # random pairs per match-weight bin added to the review queue
    calibration_bin_width: Positive  # in match weight (log2 odds)
    calibration_prior_strength: Positive  # the model's probability counts as this many labels

    @model_validator(mode="after")
    def _review_band(self) -> TrustConfig:
        if self.review_low >= self.review_high:
            raise _at("review_high", f"greater than trust.review_low ({self.review_low})", self.review_high)
        return self


@_frozen
class MonitoringConfig:
    max_customer_change: Positive  # relative change of the customer count from the previous run
    max_match_rate_shift: Positive  # absolute change of accepted pairs per identity record
    max_quarantine_rate: Probability  # share of a source's rows quarantined
    min_source_rows: Count  # fewer rows than this from a source is a breach


@_frozen
class AnalyticsConfig:
    seed: Count
    rfm_bins: Literal[5]  # the RFM grid (customer_identity.analytics.features.rfm_segment) reads scores 1..5
    segment_k: Annotated[tuple[Annotated[int, Field(ge=2, strict=True)], ...], Field(min_length=1)]  # candidate k; the best silhouette wins
    price_bands: dict[Literal["budget", "mid"], Positive]  # upper bounds of the "budget" and "mid" median item price
    basket_item: Literal["category_code", "brand"]
    min_support: Probability
    min_confidence: Probability
    max_rules: PositiveCount
    repeat_window_days: PositiveCount
    test_fraction: Probability
    top_n: PositiveCount
    mask_pii: Annotated[bool, Field(strict=True)]

    @field_validator("segment_k")
    @classmethod
    def _distinct(cls, ks: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(sorted(set(ks)))

    @model_validator(mode="after")
    def _bands(self) -> AnalyticsConfig:
        if set(self.price_bands) != {"budget", "mid"}:
            raise _at("price_bands", "both budget and mid")
        if self.price_bands["budget"] >= self.price_bands["mid"]:
            raise _at("price_bands.mid", f"greater than analytics.price_bands.budget ({self.price_bands['budget']})", self.price_bands["mid"])
        return self


@_frozen
class Config:
    env: str
    files: tuple[str, ...]
    paths: PathsConfig
    spark: SparkConfig
    tables: TablesConfig
    generator: GeneratorConfig
    model: ModelConfig
    clustering: ClusteringConfig
    survivorship: SurvivorshipConfig
    trust: TrustConfig
    analytics: AnalyticsConfig
    monitoring: MonitoringConfig
    sources: dict[str, SourceConfig] = Field(default_factory=dict)
    locale: LocaleConfig = Field(default_factory=LocaleConfig)

    @model_validator(mode="after")
    def _sources_and_accounts(self) -> Config:
        if self.sources and not any(s.kind == "customers" for s in self.sources.values()):
            raise _at("sources", "at least one source of kind 'customers' (transactions sources are optional)", top=True)
        referring = [s.name for s in self.sources.values() if s.kind == "transactions" and "customer_id" in s.columns]
        if referring and self.model.account_source not in self.sources:
            raise _at(
                "model.account_source",
                f"the customers source among {sorted(self.sources)} whose ids sources.{referring[0]}.columns.customer_id refers to",
                self.model.account_source or None, top=True,
            )  # fmt: skip
        # pinned comparisons only: a derived model's guard is checked against its own design
        compared = {c for spec in self.model.comparisons for c in spec.columns}
        for i, column in enumerate(self.model.link_guard.unless_equal if self.model.link_guard else ()):
            if compared and column not in compared:  # only compared columns are kept beside each scored pair
                raise _at(f"model.link_guard.unless_equal[{i}]", f"a column of model.comparisons {sorted(compared)}", column, top=True)
        return self

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(f"sources.{name}: no such source; configured sources are {sorted(self.sources)}") from None

    def sources_of_kind(self, kind: str) -> list[SourceConfig]:
        return [s for s in self.sources.values() if s.kind == kind]


class _KeyError(ValueError):
    """Raised inside a validator: ``key`` is relative to the section validated (or the whole
    configuration with ``top``), ``expected`` what it should be."""

    def __init__(self, key: str, expected: str, got: Any, top: bool):
        super().__init__(f"{key}: expected {expected}")
        self.key, self.expected, self.got, self.top = key, expected, got, top


_NOTHING = object()


def _at(key: str, expected: str, got: Any = _NOTHING, top: bool = False) -> _KeyError:
    return _KeyError(key, expected, got, top)


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
_CONFIG = TypeAdapter(Config)


def _file_for(origin: Mapping[str, str], dotted: str) -> str:
    parts = re.sub(r"\[\d+\]", "", dotted).split(".")
    while parts:
        found = origin.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return next(iter(origin.values()), "<config>")


def _error(origin: Mapping[str, str], dotted: str, expected: str, got: Any = _NOTHING) -> ConfigError:
    msg = f"{_file_for(origin, dotted)}: key '{dotted}': expected {expected}"
    if got is not _NOTHING:
        msg += f", got {got!r}"
    return ConfigError(msg)


def _render(data: Any, origin: Mapping[str, str], variables: Mapping[str, str], dotted: str = "") -> Any:
    """Every string with ``${name}`` (a paths variable) and ``${env:NAME}`` filled in."""
    if isinstance(data, Mapping):
        return {k: _render(v, origin, variables, f"{dotted}.{k}" if dotted else str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [_render(v, origin, variables, f"{dotted}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, str):
        return data

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.startswith("env:"):
            if name[4:] not in os.environ:
                raise _error(origin, dotted, f"environment variable {name[4:]} to be set")
            return os.environ[name[4:]]
        if name not in variables:
            raise _error(origin, dotted, f"a template variable among {sorted(variables)}", f"${{{name}}}")
        return variables[name]

    value = data
    for _ in range(5):  # variables may reference each other
        rendered = _TEMPLATE.sub(sub, value)
        if rendered == value:
            break
        value = rendered
    return value


def _dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _build(data: Mapping[str, Any], origin: Mapping[str, str], env: str, files: tuple[str, ...]) -> Config:
    """Fill in the templates, then validate every section against its declared model."""
    paths = data.get("paths")
    if not isinstance(paths, Mapping):
        raise _error(origin, "paths", "a mapping (section missing)")
    variables: dict[str, str] = {}
    for key in ("data_root", "output_root"):
        if not isinstance(paths.get(key), str):
            raise _error(origin, f"paths.{key}", "a string (required key missing)")
        variables[key] = _render(paths[key], origin, variables, f"paths.{key}")
    variables["checkpoint_dir"] = _render(paths.get("checkpoint_dir") or "${output_root}/_checkpoints", origin, variables, "paths.checkpoint_dir")
    rendered = dict(_render(data, origin, variables))
    rendered["paths"] = {**rendered["paths"], "checkpoint_dir": variables["checkpoint_dir"]}
    sources = rendered.get("sources")
    if isinstance(sources, Mapping):  # a source's name is its key
        rendered["sources"] = {k: ({**v, "name": k} if isinstance(v, Mapping) else v) for k, v in sources.items()}
    model = rendered.get("model")
    if isinstance(model, Mapping) and isinstance(sources, Mapping):
        referring = any(isinstance(s, Mapping) and s.get("kind") == "transactions" and "customer_id" in (s.get("columns") or {}) for s in sources.values())
        if not referring:
            rendered["model"] = {**model, "account_source": ""}  # no purchase refers to an account: nothing to attach
    try:
        return _CONFIG.validate_python({**rendered, "env": env, "files": files})
    except ValidationError as exc:
        raise _from_pydantic(exc, origin) from None


def _from_pydantic(exc: ValidationError, origin: Mapping[str, str]) -> ConfigError:
    """The first problem, as file, dotted key and what was expected."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    dotted, got = _dotted(loc), err.get("input", _NOTHING)
    expected = err["msg"]
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, _KeyError):
        dotted = cause.key if cause.top or not dotted else f"{dotted}.{cause.key}"
        expected, got = cause.expected, cause.got
    elif err["type"] == "missing":
        expected, got = "a value (required key missing)", _NOTHING
    elif err["type"] == "unexpected_keyword_argument":
        section = _section(loc[:-1])
        known = sorted(f.name for f in dataclasses.fields(section)) if section is not None else []
        expected, got = f"one of the known keys {[k for k in known if k not in ('name', 'env', 'files')]}", _NOTHING
    else:
        expected = re.sub(
            r"^(Input should be|Value should be|String should|Tuple should|Dictionary should|List should) ?",
            lambda m: {
                "String should": "a string that should ",
                "Tuple should": "a list that should ",
                "List should": "a list that should ",
                "Dictionary should": "a mapping that should ",
            }.get(m[1], ""),
            expected,
        )
        expected = expected[0].lower() + expected[1:] if expected else err["type"]
        if isinstance(got, (Mapping, list)) and len(repr(got)) > 200:
            got = _NOTHING
    return _error(origin, dotted, expected, got)


def _section(loc: tuple) -> type | None:
    """The dataclass validating the section at ``loc`` (for the list of its known keys)."""
    cls: Any = Config
    skip = False
    for part in loc:
        if skip:  # a dict key or a list index inside a field
            skip = False
            continue
        fields = {f.name: f for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else {}
        if part not in fields:
            return None
        annotation = str(fields[part].type)
        names = [n for n in re.findall(r"[A-Z]\w+", annotation) if n in _TYPES]
        if not names:
            return None
        cls, skip = _TYPES[names[0]], annotation.startswith(("dict[", "tuple["))
    return cls


_TYPES = {c.__name__: c for c in (PathsConfig, SparkConfig, SourceConfig, TablesConfig, GeneratorConfig, ComparisonSpec, LinkGuard, ConditionalEvidence, LocaleConfig,
                                  TrainingConfig, ModelSparkConfig, ModelConfig, ClusteringConfig, SurvivorshipConfig, TrustConfig, MonitoringConfig,
                                  AnalyticsConfig)}  # fmt: skip


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
