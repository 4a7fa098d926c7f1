"""Counting the records of an exported file the way a person would, without any parser.

Ingestion's row-conservation check compares this count with what was written to bronze
and quarantine. It is written separately from :mod:`customer_identity.ingestion.parsing`
(a byte scanner here, Python's csv module there), so that a parser that drops, merges or
splits rows is caught rather than trusted. The counting rules:

- CSV: a record ends at a newline outside quotes; a quote opens a quoted field only at
  the start of a field; inside one, a doubled quote is a quote. A record spanning several
  lines whose number of fields differs from the first record's (an unbalanced quote)
  counts as one record per non-blank line. Blank lines are not records.
- JSON Lines: one record per non-blank line.

Both return the records in the file, header included; the caller subtracts the header.
"""

from __future__ import annotations

BLANK = b" \t\r\n\x0b\x0c"


def _lines(content: bytes, encoding: str) -> list[bytes]:
    if "\n".encode(encoding) != b"\n":  # UTF-16/32: count on the text's UTF-8 bytes
        content = content.decode(encoding).removeprefix("\ufeff").encode("utf-8")
    pieces = content.split(b"\n")
    return [p + b"\n" for p in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])


def count_json_lines(content: bytes, encoding: str = "utf-8") -> int:
    return sum(1 for line in _lines(content, encoding) if line.strip(BLANK))


def count_csv_records(
    content: bytes, *, encoding: str = "utf-8", delimiter: str = ",", quote: str = '"', escape: str | None = None, skip_initial_space: bool = False
) -> int:
    """Records in a CSV file (header included) by the rules in the module docstring."""
    d, q = ord(delimiter), ord(quote)
    e = ord(escape) if escape else -1
    expected: int | None = None
    total = 0
    in_quotes = False
    record: list[bytes] = []  # physical lines of the record being read
    fields = 1
    at_field_start = True
    after_escape = False

    def close() -> None:
        nonlocal expected, total, record, fields
        if b"".join(record).strip(BLANK):
            if expected is None:
                expected = fields
                total += 1
            elif len(record) > 1 and fields != expected:
                total += sum(1 for line in record if line.strip(BLANK))
            else:
                total += 1
        record, fields = [], 1

    for line in _lines(content, encoding):
        record.append(line)
        if not in_quotes and not after_escape and q not in line and (e < 0 or e not in line):
            fields += line.count(d)  # the common line: no quotes, no escapes
            close()
            at_field_start = True
            continue
        i, n = 0, len(line)
        escaped_newline = False
        while i < n:
            c = line[i]
            if after_escape:
                after_escape = False
                at_field_start = False
                escaped_newline = c in (0x0A, 0x0D)
            elif c == e:
                after_escape = True
            elif in_quotes:
                if c == q:
                    if i + 1 < n and line[i + 1] == q:
                        i += 1  # a doubled quote inside quotes is a quote
                    else:
                        in_quotes = False
            elif c == d:
                fields += 1
                at_field_start = True
                i += 1
                continue
            elif c == q and at_field_start:
                in_quotes = True
                at_field_start = False
            elif c in (0x20, 0x09) and at_field_start and skip_initial_space:
                pass
            elif c not in (0x0A, 0x0D):
                at_field_start = False
            i += 1
        if not in_quotes and not after_escape and not escaped_newline:
            close()
            at_field_start = True
    if record:
        close()
    return total
