"""Reading one exported file by its source's contract: CSV (RFC 4180) and JSON Lines, in plain Python.

Spark's own CSV and JSON readers decide silently what a row is: a missing header costs
the first row, a bad byte becomes U+FFFD, a duplicated JSON key stops the whole read,
columns are taken by position. Here every decision is the contract's and every record
comes out with the physical line it started on, its raw text and, when it cannot be used,
a reason:

``malformed``            wrong number of fields, or a JSON line that is not one object
``bad_encoding``         bytes that do not decode in the declared encoding
``duplicate_key:<k>``    a JSON line naming a key twice (names compare case-insensitively)
``no_header``            the file's first line names none of the contract's columns
``missing_column:<c>``   the header lacks a column the contract requires
``duplicate_column:<c>`` the header names a column twice

A quoted CSV field may hold newlines. When a record spanning several lines has the wrong
number of fields (an unbalanced quote swallowing the lines after it), each of its lines is
read as a record of its own, so one stray quote costs one row, not the rest of the file.
:mod:`customer_identity.ingestion.counting` counts the same records by a separate
implementation, so that the two can be checked against each other.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from customer_identity.core.config import ConfigError
from customer_identity.core.errors import SourceReadError

csv.field_size_limit(2**31 - 1)

BLANK = " \t\r\n\x0b\x0c"  # a record of nothing but these is a blank line, not a row
CSV_OPTIONS = frozenset({"header", "encoding", "charset", "sep", "delimiter", "quote", "escape", "ignoreLeadingWhiteSpace", "ignoreTrailingWhiteSpace"})
JSON_OPTIONS = frozenset({"encoding", "charset"})


@dataclass(frozen=True)
class Dialect:
    """How a source writes its files (from ``sources.<name>.options``, Spark's option names)."""

    format: str = "csv"
    encoding: str = "utf-8"
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None  # None: quotes inside a quoted field are doubled (RFC 4180)
    trim_leading: bool = False
    trim_trailing: bool = False

    @property
    def ascii_compatible(self) -> bool:
        return "\n,\"'\\;|\t".encode(self.encoding) == b"\n,\"'\\;|\t"


@dataclass(frozen=True)
class Contract:
    """The columns a source declares (any of them marks a header) and those a file must have."""

    columns: frozenset[str]
    required: tuple[str, ...] = ()


@dataclass
class Record:
    line: int  # physical line the record starts on, from 1
    raw: str
    values: dict[str, str | None] | None = None
    error: str | None = None


@dataclass
class ParsedFile:
    """What one file holds: its column names (header, or JSON keys in order of appearance),
    an error that rejects the whole file, and its records in order."""

    columns: list[str] = field(default_factory=list)
    has_header: bool = False
    error: str | None = None
    records: list[Record] = field(default_factory=list)


def _flag(options: dict[str, str], key: str) -> bool:
    return str(options.get(key, "false")).strip().lower() == "true"


def dialect_from_options(source_name: str, fmt: str, options: dict[str, str]) -> Dialect:
    """The dialect a source's options describe; an option this reader does not know is a configuration error."""
    known = CSV_OPTIONS if fmt == "csv" else JSON_OPTIONS
    for key in options:
        if key not in known:
            raise ConfigError(f"sources.{source_name}.options.{key}: not an option of the {fmt} reader (known: {', '.join(sorted(known))})")
    if fmt == "csv" and str(options.get("header", "true")).strip().lower() != "true":
        raise ConfigError(f'sources.{source_name}.options.header: exports must carry a header line naming their columns (header: "true")')
    encoding = options.get("encoding") or options.get("charset") or "utf-8"
    try:
        encoding = codecs.lookup(encoding).name
    except LookupError:
        raise ConfigError(f"sources.{source_name}.options.encoding: unknown encoding {encoding!r}") from None
    delimiter = options.get("sep") or options.get("delimiter") or ","
    quote = options.get("quote", '"')
    escape = options.get("escape")
    for key, value in (("sep", delimiter), ("quote", quote), ("escape", escape)):
        if value is not None and len(value) != 1:
            raise ConfigError(f"sources.{source_name}.options.{key}: expected one character, got {value!r}")
    return Dialect(
        format=fmt,
        encoding=encoding,
        delimiter=delimiter,
        quote=quote,
        escape=None if escape in (None, quote) else escape,  # escape = quote is RFC 4180's doubling
        trim_leading=_flag(options, "ignoreLeadingWhiteSpace"),
        trim_trailing=_flag(options, "ignoreTrailingWhiteSpace"),
    )


# --------------------------------------------------------------------------- lines


def physical_lines(content: bytes, encoding: str) -> list[tuple[str, bool]]:
    """The file's lines (each with its terminator), decoded strictly one by one: (text, decoded).

    A line that does not decode is kept with its bad bytes written as ``\\xNN`` and marked,
    so that only its row is quarantined. Encodings in which a newline is not the byte
    ``\\n`` (UTF-16, UTF-32) are decoded whole; a bad byte there rejects the file.
    """
    if not content:
        return []
    if "\n".encode(encoding) != b"\n":
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError as exc:
            raise SourceReadError(f"bytes {exc.start}-{exc.end} do not decode as {encoding}") from None
        text = text.removeprefix("\ufeff")
        return [(line + "\n", True) for line in text.split("\n")[:-1]] + ([(text.rsplit("\n", 1)[-1], True)] if not text.endswith("\n") else [])
    if encoding == "utf-8" and content.startswith(codecs.BOM_UTF8):
        content = content[len(codecs.BOM_UTF8) :]
    pieces = content.split(b"\n")
    lines = [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    out = []
    for line in lines:
        try:
            out.append((line.decode(encoding), True))
        except UnicodeDecodeError:
            out.append((line.decode(encoding, "backslashreplace"), False))
    return out


def _strip_terminator(text: str) -> str:
    return text.removesuffix("\n").removesuffix("\r")


# --------------------------------------------------------------------------- csv


def _reader(lines: Sequence[str], dialect: Dialect) -> Iterator:
    return csv.reader(
        iter(lines),
        delimiter=dialect.delimiter,
        quotechar=dialect.quote,
        escapechar=dialect.escape,
        doublequote=True,
        skipinitialspace=dialect.trim_leading,
        strict=False,
    )


def _csv_spans(lines: Sequence[str], dialect: Dialect) -> Iterator[tuple[int, int, list[str] | None]]:
    """(first line index, end line index, fields or None when the csv module refuses it) per record."""
    reader = _reader(lines, dialect)
    consumed = 0
    while True:
        start = consumed
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error:
            fields = None
        consumed = reader.line_num
        yield start, consumed, fields


def _one_line(text: str, dialect: Dialect) -> list[str] | None:
    try:
        return next(_reader([text], dialect), [])
    except csv.Error:
        return None


def _value(text: str, dialect: Dialect) -> str | None:
    if dialect.trim_leading:
        text = text.lstrip(" \t")
    if dialect.trim_trailing:
        text = text.rstrip(" \t")
    return text if text != "" else None  # an empty field is a missing value


def _header_error(names: list[str], contract: Contract) -> str | None:
    seen: set[str] = set()
    for n in names:
        if n.lower() in seen:
            return f"duplicate_column:{n}"
        seen.add(n.lower())
    if not set(names) & contract.columns:
        return "no_header"
    for col in contract.required:
        if col not in names:
            return f"missing_column:{col}"
    return None


def parse_csv(content: bytes, dialect: Dialect, contract: Contract) -> ParsedFile:
    """Parse one CSV file: header by name against the contract, records by RFC 4180."""
    lines = physical_lines(content, dialect.encoding)
    texts = [t for t, _ in lines]
    decoded = [ok for _, ok in lines]
    out = ParsedFile()
    pending: list[tuple[int, int, list[str] | None]] = []
    header_read = False
    for start, end, fields in _csv_spans(texts, dialect):
        if "".join(texts[start:end]).strip(BLANK) == "":
            continue
        if not header_read:
            header_read = True
            names = [f.strip(BLANK) for f in fields or []]
            out.error = _header_error(names, contract) if fields is not None else "no_header"
            if out.error != "no_header":
                out.columns, out.has_header = names, True
                continue
            # no header: the first line is a row like the others, and the file is rejected whole
        pending.append((start, end, fields))
    expected = len(out.columns) if out.has_header else (len(pending[0][2] or []) if pending else 0)
    for start, end, fields in pending:
        if (fields is not None and len(fields) == expected) or end - start == 1:
            pieces = [(start, end, fields)]
        else:  # a record over several lines with the wrong shape: an unbalanced quote; read its lines one by one
            pieces = [(i, i + 1, _one_line(texts[i], dialect)) for i in range(start, end) if texts[i].strip(BLANK) != ""]
        for s, e, f in pieces:
            out.records.append(_csv_record(s, e, f, texts, decoded, expected, out, dialect))
    return out


def _csv_record(start: int, end: int, fields, texts, decoded, expected: int, parsed: ParsedFile, dialect: Dialect) -> Record:
    record = Record(line=start + 1, raw=_strip_terminator("".join(texts[start:end])))
    if parsed.error is not None:
        record.error = parsed.error
    elif not all(decoded[start:end]):
        record.error = "bad_encoding"
    elif fields is None or len(fields) != expected:
        record.error = "malformed"
    else:
        record.values = {name: _value(v, dialect) for name, v in zip(parsed.columns, fields, strict=True)}
    return record


# --------------------------------------------------------------------------- json lines


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key.lower() in seen:
            raise _DuplicateKey(key)
        seen.add(key.lower())
    return dict(pairs)


def _json_text(value: object) -> str | None:
    """A JSON value as the text it was written as: numbers keep their digits, nested values their JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_json_lines(content: bytes, dialect: Dialect) -> ParsedFile:
    """Parse one JSON Lines file: one object per non-blank line, keys as columns."""
    out = ParsedFile()
    columns: dict[str, None] = {}
    for index, (text, ok) in enumerate(physical_lines(content, dialect.encoding)):
        if text.strip(BLANK) == "":
            continue
        record = Record(line=index + 1, raw=_strip_terminator(text))
        out.records.append(record)
        if not ok:
            record.error = "bad_encoding"
            continue
        try:
            value = json.loads(text, object_pairs_hook=_no_duplicates, parse_float=str, parse_int=str, parse_constant=str)
        except _DuplicateKey as exc:
            record.error = f"duplicate_key:{exc.key}"
            continue
        except ValueError:
            record.error = "malformed"
            continue
        if not isinstance(value, dict):
            record.error = "malformed"
            continue
        record.values = {k: _json_text(v) for k, v in value.items()}
        columns.update(dict.fromkeys(record.values))
    out.columns = list(columns)
    return out


def parse_file(content: bytes, dialect: Dialect, contract: Contract) -> ParsedFile:
    return parse_csv(content, dialect, contract) if dialect.format == "csv" else parse_json_lines(content, dialect)
