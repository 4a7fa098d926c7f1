"""File-based sources (CSV, JSON Lines) read on Spark's executors by the product's own parser.

Each file is one task: its bytes are read with Spark's ``binaryFile`` source (files whose
names Spark's readers skip, ``_x.csv`` or ``.x.csv``, are read through the driver), parsed
by :mod:`customer_identity.ingestion.parsing` and counted by
:mod:`customer_identity.ingestion.counting`. The result is one row per record with its raw
values by column name, plus one report per file: its independent record count, its
columns and any error that rejects it whole.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from customer_identity.core import fs
from customer_identity.core.config import SourceConfig
from customer_identity.core.errors import SourceReadError
from customer_identity.core.io import PARSE_ERROR, RAW_RECORD, SOURCE_FILE_COLUMN, SOURCE_LINE_COLUMN
from customer_identity.ingestion.counting import count_csv_records, count_json_lines
from customer_identity.ingestion.parsing import Contract, Dialect, dialect_from_options, parse_file

log = logging.getLogger(__name__)

FILE_FORMATS = ("csv", "json")
PARSED_SCHEMA = T.StructType(
    [
        T.StructField("file", T.StringType()),
        T.StructField("record", T.LongType()),  # 0: the file's report row; 1, 2, …: its records
        T.StructField("line", T.LongType()),
        T.StructField("raw", T.StringType()),
        T.StructField("values", T.StringType()),  # JSON object column -> raw value
        T.StructField("error", T.StringType()),
        T.StructField("counted", T.LongType()),
        T.StructField("columns", T.StringType()),  # JSON list, report row only
    ]
)
ROWS_PER_FRAME = 50_000


@dataclass(frozen=True)
class FileReport:
    path: str
    counted: int  # records in the file by the independent count, header excluded
    columns: tuple[str, ...]
    error: str | None


def is_writer_marker(path: str) -> bool:
    """Files a Hadoop or Spark writer leaves beside its output: ``_SUCCESS``, commit markers, ``.crc`` checksums."""
    name = fs.name(path)
    return name == "_SUCCESS" or name.startswith(("_committed_", "_started_")) or (name.startswith(".") and name.endswith(".crc"))


def hidden_to_spark(path: str) -> bool:
    return fs.name(path).startswith(("_", "."))


def source_contract(source: SourceConfig) -> Contract:
    """The columns the source's configuration names, and the ones every file must carry."""
    declared = {*source.columns.values(), *source.types, *source.formats, *source.required_columns}
    declared |= {c for c in (source.id_column, source.record_time_column) if c}
    required = tuple(dict.fromkeys([*([source.id_column] if source.id_column else []), *source.required_columns]))
    return Contract(frozenset(declared), required)


def list_source_files(source: SourceConfig) -> list[tuple[str, int, int]]:
    """(path, size, modification time) of every file at the source's path; writer markers are skipped and logged."""
    if not fs.exists(source.path) and not any(ch in source.path for ch in "*?["):
        raise SourceReadError(f"source '{source.name}': path {source.path} does not exist (sources.{source.name}.path)")
    files = fs.list_files(source.path)
    kept = [f for f in files if not is_writer_marker(f[0])]
    if len(kept) < len(files):
        log.info("source=%s: skipped %d writer marker/checksum file(s) (_SUCCESS, .crc)", source.name, len(files) - len(kept))
    return kept


def _file_rows(path: str, content: bytes, dialect: Dialect, contract: Contract) -> Iterator[dict]:
    try:
        parsed = parse_file(content, dialect, contract)
        if dialect.format == "csv":
            total = count_csv_records(
                content,
                encoding=dialect.encoding,
                delimiter=dialect.delimiter,
                quote=dialect.quote,
                escape=dialect.escape,
                skip_initial_space=dialect.trim_leading,
            )
        else:
            total = count_json_lines(content, dialect.encoding)
    except SourceReadError:  # an encoding without byte lines (UTF-16) that does not decode: the file is one rejected record
        yield {"file": path, "record": 0, "counted": 1, "columns": "[]", "error": "bad_encoding"}
        yield {"file": path, "record": 1, "line": 1, "raw": content.decode(dialect.encoding, "backslashreplace"), "error": "bad_encoding"}
        return
    counted = total - (1 if parsed.has_header else 0)
    yield {"file": path, "record": 0, "counted": counted, "columns": json.dumps(parsed.columns), "error": parsed.error}
    for n, r in enumerate(parsed.records, start=1):
        yield {
            "file": path,
            "record": n,
            "line": r.line,
            "raw": r.raw,
            "values": json.dumps(r.values, ensure_ascii=False) if r.values is not None else None,
            "error": r.error,
        }


ARROW_SCHEMA = pa.schema([(f.name, pa.int64() if isinstance(f.dataType, T.LongType) else pa.string()) for f in PARSED_SCHEMA.fields])


def _parse_partition(dialect: Dialect, contract: Contract):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            for path, content in zip(batch.column("path").to_pylist(), batch.column("content").to_pylist(), strict=True):
                rows: list[dict] = []
                for row in _file_rows(path, content, dialect, contract):
                    rows.append(row)
                    if len(rows) >= ROWS_PER_FRAME:
                        yield pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)
                        rows = []
                if rows:
                    yield pa.RecordBatch.from_pylist(rows, schema=ARROW_SCHEMA)

    return run


def read_files(spark: SparkSession, source: SourceConfig, paths: list[str]) -> tuple[DataFrame, list[FileReport], DataFrame]:
    """The records of ``paths`` as raw string columns by name (plus parse error, raw text, file
    and line), a report per file, and the cached parse both come from: unpersist it when done."""
    dialect = dialect_from_options(source.name, source.format, dict(source.options))
    contract = source_contract(source)
    for_spark = [p for p in paths if not hidden_to_spark(p)]
    parts = []
    if for_spark:
        parts.append(spark.read.format("binaryFile").load(for_spark).select("path", "content"))
    for path in paths:
        if hidden_to_spark(path):
            log.warning("source=%s: file %s has a name Spark's readers skip; it is read through the driver", source.name, fs.name(path))
    through_driver = [(p, bytearray(fs.read_bytes(p))) for p in paths if hidden_to_spark(p)]
    if through_driver:
        parts.append(spark.createDataFrame(through_driver, "path string, content binary"))
    binary = parts[0]
    for part in parts[1:]:
        binary = binary.unionByName(part)
    parsed = binary.mapInArrow(_parse_partition(dialect, contract), PARSED_SCHEMA).cache()
    reports = [
        FileReport(r.file, int(r.counted), tuple(json.loads(r.columns)), r.error)
        for r in parsed.filter(F.col("record") == 0).select("file", "counted", "columns", "error").collect()
    ]
    names: dict[str, None] = {}
    for report in sorted(reports, key=lambda r: r.path):
        names.update(dict.fromkeys(report.columns))
    values = F.from_json("values", T.MapType(T.StringType(), T.StringType()))
    records = parsed.filter(F.col("record") > 0).select(
        *[values[n].alias(n) for n in names],
        F.col("error").alias(PARSE_ERROR),
        F.col("raw").alias(RAW_RECORD),
        F.col("file").alias(SOURCE_FILE_COLUMN),
        F.col("line").alias(SOURCE_LINE_COLUMN),
    )
    return records, reports, parsed


def contract_notices(source: SourceConfig, reports: list[FileReport]) -> list[str]:
    """One line per file whose columns differ from the contract: mapped by name, missing, or new."""
    contract = source_contract(source)
    notices = []
    for r in reports:
        name = fs.name(r.path)
        if r.error:
            notices.append(f"source '{source.name}': file {name} rejected whole ({r.error}); its {r.counted} row(s) are quarantined")
            continue
        if source.format != "csv" or not r.columns:
            continue
        missing = sorted(contract.columns - set(r.columns))
        extra = [c for c in r.columns if c not in contract.columns]
        if missing:
            notices.append(f"source '{source.name}': file {name} lacks column(s) {missing}; they are empty for its rows")
        if extra:
            notices.append(f"source '{source.name}': file {name} has column(s) {extra} the configuration does not name; kept in bronze")
    return notices
