"""Every table and file the product reads or writes, by name (``conf/catalog.yaml``).

A stage asks for ``gold.customers`` and gets its location, or its DataFrame; it never builds
a path. Delta tables are read and written through :mod:`customer_identity.core.io`, every
other file (the model, its design, charts, review CSVs, the report) through
:mod:`customer_identity.core.fs`, so the same code runs on a laptop folder, ``s3a://``,
``s3://`` (EMR), ``dbfs:/`` and ``abfss://``.

Locations are templates: ``{output_root}``, ``{data_root}``, ``{bronze}``, ``{quarantine}``,
``{silver}``, ``{gold}`` and ``{truth}`` come from the configuration; any other ``{name}``
is a parameter the caller gives (``catalog.path("bronze.source", source="crm")``).
"""

from __future__ import annotations

import functools
import re
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pyspark.sql import DataFrame, SparkSession

from customer_identity.core import fs, io
from customer_identity.core.config import CONF_DIR, Config, ConfigError
from customer_identity.core.errors import TableNotFound

FORMATS = ("delta", "parquet", "json", "html", "csv")
_ENTRY_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


@dataclass(frozen=True)
class Entry:
    name: str
    format: str
    path: str  # the template

    def parameters(self) -> set[str]:
        return {f for _, f, _, _ in string.Formatter().parse(self.path) if f}


@functools.cache
def load_entries(path: Path) -> dict[str, Entry]:
    """The catalog file's entries, each checked: a known format and a location template (read once per process)."""
    if not path.is_file():
        raise ConfigError(f"{path}: the catalog of tables and files is missing")
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of entry name -> {{format, path}}")
    entries = {}
    for name, spec in raw.items():
        where = f"{path}: {name}"
        if not isinstance(name, str) or not _ENTRY_NAME.match(name):
            raise ConfigError(f"{where}: entry names are dotted lower-case words (e.g. gold.customers)")
        if not isinstance(spec, dict) or set(spec) != {"format", "path"}:
            raise ConfigError(f"{where}: expected exactly the keys format and path")
        if spec["format"] not in FORMATS:
            raise ConfigError(f"{where}.format: {spec['format']!r} is not one of {list(FORMATS)}")
        if not isinstance(spec["path"], str) or not spec["path"]:
            raise ConfigError(f"{where}.path: expected a location template")
        entries[name] = Entry(name, spec["format"], spec["path"])
    return entries


class Catalog:
    """The configured catalog, with the configuration's roots filled in."""

    def __init__(self, config: Config, entries: dict[str, Entry] | None = None):
        conf_dir = Path(config.files[0]).parent if config.files else CONF_DIR
        self.entries = entries if entries is not None else load_entries(conf_dir / "catalog.yaml")
        t, p = config.tables, config.paths
        self.roots = {
            "output_root": p.output_root, "data_root": p.data_root, "bronze": t.bronze, "quarantine": t.quarantine,
            "silver": t.silver, "gold": t.gold, "truth": t.truth,
        }  # fmt: skip

    def entry(self, name: str) -> Entry:
        if name not in self.entries:
            raise ConfigError(f"catalog: no entry '{name}' in conf/catalog.yaml")
        return self.entries[name]

    def path(self, name: str, /, **params: Any) -> str:
        """The location of ``name``, its template filled with the roots and ``params``."""
        entry = self.entry(name)
        values = {**self.roots, **{k: str(v) for k, v in params.items()}}
        missing = entry.parameters() - set(values)
        if missing:
            raise ConfigError(f"catalog: '{name}' ({entry.path}) needs {sorted(missing)}")
        return entry.path.format(**values)

    # ----------------------------------------------------------------------- Delta tables

    def _delta(self, name: str) -> Entry:
        entry = self.entry(name)
        if entry.format != "delta":
            raise ConfigError(f"catalog: '{name}' is {entry.format}, not a Delta table")
        return entry

    def exists(self, spark: SparkSession, name: str, /, **params: Any) -> bool:
        entry = self.entry(name)
        where = self.path(name, **params)
        if entry.format == "delta":
            return io.delta_exists(spark, where)
        return fs.exists(where)

    def read(self, spark: SparkSession, name: str, /, *, version: int | None = None, **params: Any) -> DataFrame:
        entry = self.entry(name)
        where = self.path(name, **params)
        if entry.format == "parquet":
            if not fs.exists(where):
                raise TableNotFound(f"{name} not found at {where}: run the stage that writes it first")
            return spark.read.parquet(where)
        self._delta(name)
        return io.read_delta(spark, where, what=name, version=version)

    def write(
        self, df: DataFrame, name: str, /, *, mode: str = "overwrite", merge_schema: bool = False, replace_where: str | None = None, **params: Any
    ) -> str:
        self._delta(name)
        where = self.path(name, **params)
        io.write_delta(df, where, mode=mode, merge_schema=merge_schema, replace_where=replace_where)
        return where

    def has_truth(self, spark: SparkSession) -> bool:
        """Whether the generator's ground truth sits beside the sources (synthetic runs only)."""
        return fs.exists(self.path("truth.table", table="records"))

    # ----------------------------------------------------------------------- other files

    def read_text(self, name: str, /, **params: Any) -> str:
        return fs.read_text(self.path(name, **params))

    def write_text(self, text: str, name: str, /, **params: Any) -> str:
        return fs.write_text(self.path(name, **params), text)

    def write_table(self, df: DataFrame, csv_name: str, html_name: str | None = None, /, **params: Any) -> str:
        """A small table as one CSV file (and an HTML table) for people to read, from one collect."""
        frame = df.toPandas()
        where = fs.write_text(self.path(csv_name, **params), frame.to_csv(index=False))
        if html_name is not None:
            fs.write_text(self.path(html_name, **params), frame.to_html(index=False, na_rep=""))
        return where


def beside_model(model: str, kind: str, column: str = "") -> str:
    """A file that sits beside the saved model file ``model`` (``model.design``,
    ``model.u_refined``, ``model.term_frequencies``; the latter per ``column``), wherever
    that model is: the one a full run trains, or the one an earlier run recorded."""
    entry = load_entries(CONF_DIR / "catalog.yaml").get(f"model.{kind}")
    if entry is None:
        raise ConfigError(f"catalog: no entry 'model.{kind}' in conf/catalog.yaml")
    base = model[: -len(".json")] if model.endswith(".json") else model
    return entry.path.format(model_base=base, column=column).rstrip("/")
