"""Files that are not Delta tables (the model, its design, reports, trust pages, review CSVs),
read and written through Hadoop's FileSystem of the active Spark session.

Whatever scheme a path has, Hadoop picks the filesystem: a local folder (no scheme or
``file:``), ``s3a://`` (hadoop-aws), ``s3://`` on EMR (EMRFS), ``dbfs:/`` on Databricks,
``abfss://`` on Azure. The driver never needs the file on its own disk, and paths are
handled as strings (``pathlib`` would turn ``s3://bucket`` into ``s3:/bucket``).
"""

from __future__ import annotations

import json
from typing import Any

from pyspark.sql import SparkSession

from customer_identity.core.errors import CustomerIdentityError


class FileSystemError(CustomerIdentityError):
    """A file could not be read or written, named with its path."""


def _session() -> SparkSession:
    spark = SparkSession.getActiveSession()
    if spark is None:
        raise FileSystemError("no active Spark session: files are read and written through Spark's Hadoop filesystem")
    return spark


def _hadoop(path: str):
    spark = _session()
    jvm = spark.sparkContext._jvm
    hpath = jvm.org.apache.hadoop.fs.Path(path)
    return jvm, hpath, hpath.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def join(base: str, *parts: str) -> str:
    """``base`` and ``parts`` joined with single slashes, the scheme's ``//`` kept."""
    out = base.rstrip("/")
    for p in parts:
        out = f"{out}/{p.strip('/')}"
    return out


def parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0]


def name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def exists(path: str) -> bool:
    _, hpath, fs = _hadoop(path)
    return bool(fs.exists(hpath))


def is_file(path: str) -> bool:
    _, hpath, fs = _hadoop(path)
    return bool(fs.exists(hpath) and fs.getFileStatus(hpath).isFile())


def is_dir(path: str) -> bool:
    _, hpath, fs = _hadoop(path)
    return bool(fs.exists(hpath) and fs.getFileStatus(hpath).isDirectory())


def list_files(path: str) -> list[tuple[str, int, int]]:
    """Every file at ``path`` (a file, a folder searched recursively, or a glob), whatever its
    name, as (qualified path, size in bytes, modification time in seconds), sorted by path."""
    _, hpath, fs = _hadoop(path)
    matches = fs.globStatus(hpath)
    out: list[tuple[str, int, int]] = []
    stack = list(matches or [])
    while stack:
        status = stack.pop()
        if status.isDirectory():
            stack.extend(fs.listStatus(status.getPath()))
        else:
            out.append((status.getPath().toString(), int(status.getLen()), int(status.getModificationTime()) // 1000))
    return sorted(out)


def read_bytes(path: str) -> bytes:
    jvm, hpath, fs = _hadoop(path)
    if not fs.exists(hpath):
        raise FileSystemError(f"{path}: no such file")
    stream = fs.open(hpath)
    try:
        return bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def write_bytes(path: str, data: bytes) -> str:
    """Write (replace) ``path``; parent folders are created as the filesystem needs them."""
    _, hpath, fs = _hadoop(path)
    stream = fs.create(hpath, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()
    return path


def read_text(path: str) -> str:
    return read_bytes(path).decode("utf-8")


def write_text(path: str, text: str) -> str:
    return write_bytes(path, text.encode("utf-8"))


def read_json(path: str) -> Any:
    return json.loads(read_text(path))


def write_json(path: str, value: Any) -> str:
    return write_text(path, json.dumps(value, indent=2, default=str))
