"""The file parser and the independent record counter, without Spark.

Oracle: files written by Python's csv writer from known rows must parse back to exactly
those rows, and both the parser and the counter must agree on how many there are.
"""

from __future__ import annotations

import csv
import io
import random

import pytest

from customer_identity.core.config import ConfigError
from customer_identity.ingestion.counting import count_csv_records, count_json_lines
from customer_identity.ingestion.parsing import Contract, Dialect, dialect_from_options, parse_csv, parse_json_lines

CONTRACT = Contract(frozenset({"id", "name", "city"}), ("id",))
ALPHABET = ["a", "Z", "é", " ", ",", '"', "\n", "\r\n", "'", ";", "ß", "0"]


def _write(rows: list[list[str]], header=("id", "name", "city"), **kw) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator=kw.pop("lineterminator", "\n"), **kw)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _counted(content: bytes, dialect: Dialect = Dialect()) -> int:
    return count_csv_records(content, encoding=dialect.encoding, delimiter=dialect.delimiter, quote=dialect.quote, escape=dialect.escape) - 1


@pytest.mark.parametrize("seed", range(20))
def test_rfc4180_files_parse_back_to_the_rows_written(seed):
    rnd = random.Random(seed)
    rows = [[str(i), "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 8))), rnd.choice(["Leeds", "", "St. Ives, Cornwall"])] for i in range(40)]
    rows = [r for r in rows if r[1].strip(" \r\n")]  # a record of blanks only is a blank line, not a row
    content = _write(rows, lineterminator=rnd.choice(["\n", "\r\n"]))
    parsed = parse_csv(content, Dialect(), CONTRACT)
    assert parsed.error is None and all(r.error is None for r in parsed.records)
    got = [[r.values["id"], r.values["name"], r.values["city"] or ""] for r in parsed.records]
    assert got == rows
    assert _counted(content) == len(rows)


def test_a_quoted_newline_is_one_row_and_doubled_quotes_are_quotes():
    content = b'id,name,city\n1,"Ann\nMarie",Leeds\n2,"O""Brien","York"\n'
    parsed = parse_csv(content, Dialect(), CONTRACT)
    assert [r.values for r in parsed.records] == [{"id": "1", "name": "Ann\nMarie", "city": "Leeds"}, {"id": "2", "name": 'O"Brien', "city": "York"}]
    assert [r.line for r in parsed.records] == [2, 4]
    assert _counted(content) == 2


def test_an_unbalanced_quote_costs_its_own_row_only():
    good = [f"{i},name{i},town{i}" for i in range(172)]
    good[53] = '53,"Smith,town53'
    content = ("id,name,city\n" + "\n".join(good) + "\n").encode()
    parsed = parse_csv(content, Dialect(), CONTRACT)
    errors = [(r.line, r.error) for r in parsed.records if r.error]
    assert errors == [(55, "malformed")]
    assert len(parsed.records) == 172 == _counted(content)


def test_columns_are_taken_by_name_and_a_file_without_header_is_rejected_whole():
    parsed = parse_csv(b"city,id,name\nLeeds,1,Ann\n", Dialect(), CONTRACT)
    assert parsed.records[0].values == {"city": "Leeds", "id": "1", "name": "Ann"}
    headerless = b"1,Ann,Leeds\n2,Bob,York\n"
    parsed = parse_csv(headerless, Dialect(), CONTRACT)
    assert parsed.error == "no_header" and not parsed.has_header
    assert [r.error for r in parsed.records] == ["no_header", "no_header"]  # the first line is a row, not lost
    assert count_csv_records(headerless) == 2
    assert parse_csv(b"name,city\nAnn,Leeds\n", Dialect(), CONTRACT).error == "missing_column:id"
    assert parse_csv(b"id,name,ID\n1,Ann,2\n", Dialect(), CONTRACT).error == "duplicate_column:ID"


def test_bytes_that_do_not_decode_quarantine_their_row_not_the_file():
    content = "id,name,city\n1,Zoë,Leeds\n2,Bob,York\n".encode("latin-1")
    parsed = parse_csv(content, Dialect(), CONTRACT)
    assert [(r.error, r.values) for r in parsed.records] == [("bad_encoding", None), (None, {"id": "2", "name": "Bob", "city": "York"})]
    assert "\ufffd" not in parsed.records[0].raw and "\\xeb" in parsed.records[0].raw
    declared = parse_csv(content, dialect_from_options("s", "csv", {"header": "true", "encoding": "ISO-8859-1"}), CONTRACT)
    assert declared.records[0].values["name"] == "Zoë"
    utf16 = "id,name,city\n1,Zoë,Leeds\n".encode("utf-16")
    assert parse_csv(utf16, dialect_from_options("s", "csv", {"encoding": "UTF-16"}), CONTRACT).records[0].values["name"] == "Zoë"
    assert count_csv_records(utf16, encoding="utf-16") == 2


def test_blank_lines_bom_and_trimmed_spaces():
    content = b"\xef\xbb\xbfid, name, city\n\n1, Ann , Leeds\n   \n"
    dialect = dialect_from_options("s", "csv", {"header": "true", "ignoreLeadingWhiteSpace": "true", "ignoreTrailingWhiteSpace": "true"})
    parsed = parse_csv(content, dialect, CONTRACT)
    assert parsed.columns == ["id", "name", "city"]
    assert [r.values for r in parsed.records] == [{"id": "1", "name": "Ann", "city": "Leeds"}]
    assert count_csv_records(content, skip_initial_space=True) - 1 == 1


def test_json_lines_duplicate_keys_and_values_kept_as_written():
    content = (
        b'{"crm_ref": 1, "amount": 1.50, "vip": true, "tags": ["a"]}\n'
        b'{"crm_ref": 2, "crm_ref": 3}\n'
        b'{"crm_ref": 4, "CRM_REF": 5}\n'
        b'{"crm_ref": 6, "name": "trunc\n'
        b"\n"
        b"[1, 2]\n"
        b'{"crm_ref": 7, "amount": NaN}\n'
    )
    parsed = parse_json_lines(content, Dialect(format="json"))
    assert [(r.line, r.error) for r in parsed.records] == [
        (1, None),
        (2, "duplicate_key:crm_ref"),
        (3, "duplicate_key:CRM_REF"),
        (4, "malformed"),
        (6, "malformed"),
        (7, None),
    ]
    assert parsed.records[0].values == {"crm_ref": "1", "amount": "1.50", "vip": "true", "tags": '["a"]'}
    assert parsed.records[-1].values == {"crm_ref": "7", "amount": "NaN"}
    assert count_json_lines(content) == len(parsed.records) == 6


def test_reader_options_are_checked():
    with pytest.raises(ConfigError, match=r"sources\.shop\.options\.multiline: not an option of the csv reader"):
        dialect_from_options("shop", "csv", {"multiline": "true"})
    with pytest.raises(ConfigError, match=r"sources\.shop\.options\.header"):
        dialect_from_options("shop", "csv", {"header": "false"})
    with pytest.raises(ConfigError, match="unknown encoding"):
        dialect_from_options("shop", "csv", {"encoding": "klingon"})
    assert dialect_from_options("shop", "csv", {"escape": '"'}).escape is None  # Spark's spelling of RFC 4180 doubling
    semicolons = dialect_from_options("shop", "csv", {"sep": ";", "escape": "\\"})
    content = b'id;name;city\n1;"a\\"b";x\\;y\n'
    assert parse_csv(content, semicolons, CONTRACT).records[0].values == {"id": "1", "name": 'a"b', "city": "x;y"}
    assert _counted(content, semicolons) == 1
