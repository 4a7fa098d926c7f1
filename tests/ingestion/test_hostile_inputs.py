"""Hostile inputs through ``jobs.ingest``: every case is a named file among good ones.

For every case: the rows the test wrote (known by construction, not by any parser) equal
the rows in bronze plus the rows in quarantine, with the expected reasons, and every
accepted value equals the value written. One source that cannot be read fails alone.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs import ingest

HEADER = ["account_id", "given_name", "family_name", "email", "town"]


def _csv(rows: list[list[str]], header=HEADER, terminator="\n") -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator=terminator)
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _person(i: int, **kw) -> list[str]:
    row = {"account_id": str(i), "given_name": f"Given{i}", "family_name": f"Family{i}", "email": f"p{i}@example.com", "town": "Leeds"} | kw
    return [row[c] for c in HEADER]


# case name -> (file name, bytes, rows written, {reason: rows quarantined}, accepted rows the test checks by id)
CASES: dict[str, tuple[str, bytes, int, dict[str, int], dict[str, dict[str, str]]]] = {}


def _case(name, file, content, rows, reasons=None, expect=None):
    CASES[name] = (file, content if isinstance(content, bytes) else content.encode("utf-8"), rows, reasons or {}, expect or {})


_case(
    "good",
    "good.csv",
    _csv([_person(i) for i in range(1, 6)] + [_person(6, given_name="Zoë", town="Bjørnstad")]),
    6,
    expect={"6": {"given_name": "Zoë", "town": "Bjørnstad"}},
)
_case("quoted newline", "quoted_newline.csv", _csv([_person(10, town="Flat 2\nHigh Street"), _person(11)]), 2, expect={"10": {"town": "Flat 2\nHigh Street"}})
_case(
    "doubled quotes",
    "doubled_quotes.csv",
    _csv([_person(20, family_name='O"Brien', town='"Old" Town, Leeds')]),
    1,
    expect={"20": {"family_name": 'O"Brien', "town": '"Old" Town, Leeds'}},
)
_case("no header", "no_header.csv", "\n".join(",".join(_person(i)) for i in (30, 31, 32)) + "\n", 3, {"no_header": 3})
_case("underscore name", "_underscore.csv", _csv([_person(40)]), 1, expect={"40": {"given_name": "Given40"}})
_case("dot name", ".dot.csv", _csv([_person(41)]), 1, expect={"41": {"given_name": "Given41"}})
_unbalanced = _csv([_person(i) for i in range(100, 272)]).splitlines(keepends=True)
_unbalanced[54] = _unbalanced[54].replace("Given153", '"Given153')  # one stray quote in the 54th row
_case("unbalanced quote", "unbalanced.csv", "".join(_unbalanced), 172, {"malformed": 1}, expect={"271": {"town": "Leeds"}})
_reordered = [HEADER[4], HEADER[3], HEADER[0], HEADER[2], HEADER[1]]
_case("reordered columns", "reordered.csv", _csv([["York", "r@example.com", "300", "Rfamily", "Rgiven"]], header=_reordered), 1,
      expect={"300": {"given_name": "Rgiven", "family_name": "Rfamily", "email": "r@example.com", "town": "York"}})  # fmt: skip
_case("missing id column", "missing_id.csv", _csv([["Ann", "A", "a@example.com", "Leeds"]], header=HEADER[1:]), 1, {"missing_column:account_id": 1})
_case(
    "windows line ends and BOM",
    "crlf_bom.csv",
    b"\xef\xbb\xbf" + _csv([_person(400), _person(401)], terminator="\r\n").encode(),
    2,
    expect={"401": {"town": "Leeds"}},
)
_case(
    "latin-1 in a UTF-8 source",
    "latin1.csv",
    _csv([_person(500, given_name="Zoë"), _person(501)]).encode("latin-1"),
    2,
    {"bad_encoding": 1},
    expect={"501": {"given_name": "Given501"}},
)
_mixed_rows = [
    ",".join(_person(600)),  # good
    "601,Too,Many,fields@example.com,Leeds,extra",  # malformed
    "602,Too,Few",  # malformed
    ",NoId,Person,noid@example.com,Leeds",  # missing:account_id
    "abc,Bad,Id,badid@example.com,Leeds",  # bad_type:account_id
    '603,"Multi\nLine",Person,m@example.com,Leeds',  # good, two physical lines
    '604,"Say ""hi""",Person,h@example.com,Leeds',  # good
    "",  # blank line: not a row
    ",".join(_person(605)),  # good
]
_case("mixed good and broken", "mixed.csv", ",".join(HEADER) + "\n" + "\n".join(_mixed_rows) + "\n", 8,
      {"malformed": 2, "missing:account_id": 1, "bad_type:account_id": 1}, expect={"603": {"given_name": "Multi\nLine"}, "604": {"given_name": 'Say "hi"'}})  # fmt: skip

CRM_LINES = [
    {"crm_ref": "C1", "customer_name": "Ann Example", "email_address": "c1@example.com"},
    '{"crm_ref": "C2", "customer_name": "Dup", "crm_ref": "C3"}',  # duplicate key
    '{"crm_ref": "C4", "CRM_REF": "C5", "customer_name": "Case"}',  # the id key again, another case
    '{"crm_ref": "C6", "customer_name": "Trunc',  # truncated
    '{"crm_ref": "C7", "customer_name": "Björk Example", "email_address": null, "spend": 1.50}',  # a number kept as written
]
CRM = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in CRM_LINES) + "\n\n"
ORDERS = (
    "event_time,product_id,price,session_id\n"
    "2026-10-01 10:00:00,1,9.99,s1\n2026-10-01 10:00:00,2,NaN,s2\n2026-10-01 10:00:00,3,Infinity,s3\n"
    "2026-10-01 10:00:00,4,-Infinity,s4\n2026-10-01 10:00:00,5,12.50,s5\n"
)


def _overlay(root: Path) -> Path:
    text = f"""
paths: {{data_root: {root}/sources, output_root: {root}/output}}
sources:
  platform: null
  crm: null
  transactions: null
  shop:
    kind: customers
    format: csv
    path: ${{data_root}}/shop
    options: {{header: "true"}}
    id_column: account_id
    required_columns: [account_id]
    types: {{account_id: long}}
    columns: {{first_name: given_name, surname: family_name, email: email, city: town}}
  legacy:
    kind: customers
    format: csv
    path: ${{data_root}}/legacy
    options: {{header: "true", encoding: ISO-8859-1}}
    id_column: account_id
    columns: {{first_name: given_name, surname: family_name, email: email, city: town}}
  callcentre:
    kind: customers
    format: json
    path: ${{data_root}}/callcentre
    id_column: crm_ref
    required_columns: [crm_ref]
    columns: {{full_name: customer_name, email: email_address}}
  orders:
    kind: transactions
    format: csv
    path: ${{data_root}}/orders
    options: {{header: "true"}}
    required_columns: [event_time, product_id, price, session_id]
    types: {{product_id: long, price: double}}
    columns: {{event_time: event_time, product_id: product_id, price: price, session_id: session_id}}
  gone:
    kind: customers
    format: csv
    path: ${{data_root}}/no_such_folder
    options: {{header: "true"}}
    id_column: account_id
    columns: {{first_name: given_name}}
survivorship: {{source_priority: [shop, legacy, callcentre, gone]}}
"""
    (root / "overlay.yaml").write_text(text)
    return root / "overlay.yaml"


@pytest.fixture(scope="module")
def hostile(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    sources = root / "sources"
    for name in ("shop", "legacy", "callcentre", "orders"):
        (sources / name).mkdir(parents=True)
    for file, content, *_ in CASES.values():
        (sources / "shop" / file).write_bytes(content)
    (sources / "legacy" / "latin1.csv").write_bytes(_csv([_person(700, given_name="Zoë", town="Tromsø")]).encode("latin-1"))
    (sources / "callcentre" / "crm.jsonl").write_text(CRM, encoding="utf-8")
    (sources / "orders" / "orders.csv").write_text(ORDERS)
    overlay = _overlay(root)
    return root, overlay


@pytest.fixture(scope="module")
def first_ingest(hostile):
    """The first ingest, run as a user runs it (its own process), with everything it printed and
    the log file the JVM's output went to (``<output_root>/logs``)."""
    root, overlay = hostile
    env = {k: v for k, v in os.environ.items() if k != "PYSPARK_PYTHON"}  # as a user's shell has it
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.ingest", "--env", "local", "--config", str(overlay)], capture_output=True, text=True, timeout=600, check=False, env=env
    )
    logs = sorted((root / "output" / "logs").glob("spark-*.log"))
    assert logs, "the job wrote no log file for the JVM's output"
    return proc.returncode, proc.stdout + proc.stderr + "".join(p.read_text(errors="replace") for p in logs)


def _table(spark, root, name):
    return spark.read.format("delta").load(f"{root}/output/{name}")


def test_one_unreadable_source_fails_alone_and_is_logged(spark, hostile, first_ingest):
    root, _ = hostile
    code, output = first_ingest
    assert code == 2
    assert "source 'gone' was not ingested" in output and "no_such_folder" in output
    log = {r.source_system: r for r in _table(spark, root, "meta/ingestion_log").collect()}
    assert set(log) == {"shop", "legacy", "callcentre", "orders", "gone"}
    assert log["gone"].status == "failed" and "no_such_folder" in log["gone"].error
    assert all(
        log[s].status == "succeeded" and log[s].rows_read == log[s].rows_accepted + log[s].rows_quarantined for s in ("shop", "legacy", "callcentre", "orders")
    )


@pytest.mark.parametrize("case", list(CASES))
def test_every_row_written_is_accepted_or_quarantined_with_its_reason(spark, hostile, first_ingest, case):
    root, _ = hostile
    file, _, rows, reasons, expect = CASES[case]
    bronze = _table(spark, root, "bronze/shop").filter(F.col("_source_file").endswith("/" + file))
    quarantine = _table(spark, root, "quarantine").filter((F.col("source_system") == "shop") & F.col("source_file").endswith("/" + file))
    got_reasons = {r.reason: r["count"] for r in quarantine.groupBy("reason").count().collect()}
    assert got_reasons == reasons
    assert bronze.count() + quarantine.count() == rows
    accepted = {r.account_id: r.asDict() for r in bronze.collect()}
    for account_id, values in expect.items():
        assert {k: accepted[account_id][k] for k in values} == values
    for r in bronze.collect():  # nothing silently changed: no replacement characters, values as written
        assert all("\ufffd" not in str(v) for v in r.asDict().values())


def test_quarantined_rows_keep_their_raw_text_and_line(spark, hostile, first_ingest):
    root, _ = hostile
    q = _table(spark, root, "quarantine").filter(F.col("source_file").endswith("/unbalanced.csv")).first()
    assert q.source_line == 55 and '"Given153' in q.raw_record
    enc = _table(spark, root, "quarantine").filter(F.col("reason") == "bad_encoding").first()
    assert "\\xeb" in enc.raw_record  # the undecodable byte, shown rather than replaced


def test_a_declared_encoding_is_honoured(spark, hostile, first_ingest):
    root, _ = hostile
    row = _table(spark, root, "bronze/legacy").first()
    assert (row.given_name, row.town) == ("Zoë", "Tromsø")


def test_json_lines_with_duplicate_keys_quarantine_the_line_not_the_run(spark, hostile, first_ingest):
    root, _ = hostile
    q = {r.reason: r["count"] for r in _table(spark, root, "quarantine").filter(F.col("source_system") == "callcentre").groupBy("reason").count().collect()}
    assert q == {"duplicate_key:crm_ref": 1, "duplicate_key:CRM_REF": 1, "malformed": 1}
    bronze = {r.crm_ref: r for r in _table(spark, root, "bronze/callcentre").collect()}
    assert set(bronze) == {"C1", "C7"}
    assert bronze["C7"].customer_name == "Björk Example" and bronze["C7"].spend == "1.50" and bronze["C7"].email_address is None


def test_non_finite_prices_break_the_contract(spark, hostile, first_ingest):
    root, _ = hostile
    q = {r.reason: r["count"] for r in _table(spark, root, "quarantine").filter(F.col("source_system") == "orders").groupBy("reason").count().collect()}
    assert q == {"bad_value:price": 3}
    assert sorted(r.price for r in _table(spark, root, "bronze/orders").collect()) == ["12.50", "9.99"]


def test_no_source_value_reaches_the_log(hostile, first_ingest):
    _, output = first_ingest
    assert output  # the job did write its summary
    for value in ("p30@example.com", "Given30", "Family153", "Zoë", "c1@example.com", "Ann Example", "Tromsø"):
        assert value not in output, value  # a header-less file's first row, an unbalanced line, decoded names


def test_a_later_export_with_a_new_column_is_kept(spark, hostile, first_ingest):
    root, overlay = hostile
    later = "event_time,product_id,price,session_id,voucher_code\n2026-10-02 09:00:00,6,3.00,s6,AUTUMN\n"
    (root / "sources" / "orders" / "orders_day2.csv").write_text(later)
    assert ingest.main(["--env", "local", "--config", str(overlay), "--source", "orders"]) == 0
    bronze = _table(spark, root, "bronze/orders")
    assert "voucher_code" in bronze.columns
    assert {r.session_id: r.voucher_code for r in bronze.collect()} == {"s1": None, "s5": None, "s6": "AUTUMN"}


def _run_until(args: list[str], until, timeout: float = 300) -> None:
    """Start ``jobs.ingest`` in its own process group and SIGKILL it once ``until()`` is true."""
    proc = subprocess.Popen([sys.executable, "-m", "jobs.ingest", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            if until():
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return
            assert proc.poll() is None, "ingest finished before it could be killed"
            time.sleep(0.005)
        raise AssertionError("ingest was not killed in time")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_an_ingest_killed_after_its_first_source_is_completed_by_the_next_run(spark, tmp_path):
    """Each source commits and logs on its own: a kill after the first source's log row leaves the
    others to the next run, which ingests them once, with nothing lost or doubled."""
    sources = tmp_path / "sources"
    for name in ("shop", "callcentre", "orders"):
        (sources / name).mkdir(parents=True)
    (sources / "shop" / "good.csv").write_bytes(CASES["good"][1])
    (sources / "shop" / "mixed.csv").write_bytes(CASES["mixed good and broken"][1])
    (sources / "callcentre" / "crm.jsonl").write_text(CRM, encoding="utf-8")
    (sources / "orders" / "orders.csv").write_text(ORDERS)
    overlay = _overlay(tmp_path)
    args = ["--env", "local", "--config", str(overlay), "--source", "shop", "--source", "callcentre", "--source", "orders"]
    commits = tmp_path / "output/meta/ingestion_log/_delta_log"
    _run_until(args, lambda: any(commits.glob("*.json")))
    killed = {r.source_system for r in _table(spark, tmp_path, "meta/ingestion_log").collect()}
    assert killed == {"shop"}  # the kill landed after the first source and before the last
    assert ingest.main(args) == 0
    log = _table(spark, tmp_path, "meta/ingestion_log").collect()
    assert sorted((r.source_system, r.status) for r in log) == [
        ("callcentre", "succeeded"),
        ("orders", "succeeded"),
        ("shop", "succeeded"),
        ("shop", "unchanged"),
    ]
    written = {"shop": 6 + 8, "callcentre": 5, "orders": 5}
    for source, rows in written.items():
        bronze = _table(spark, tmp_path, f"bronze/{source}").count()
        quarantined = _table(spark, tmp_path, "quarantine").filter(F.col("source_system") == source).count()
        assert bronze + quarantined == rows, source
