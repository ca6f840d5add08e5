"""File-system operations on lake URIs (local paths or s3://) through Spark's Hadoop FileSystem.

Spark already knows how to reach every URI the jobs use (the local disk here, S3 on Glue), so
listing bronze partitions and reading and writing the small JSON objects (checkpoint, KPI export)
go through the same Hadoop FileSystem instead of a second client (no boto3 in the jobs). Silver
and gold tables are Iceberg tables: their files are Iceberg's business, never moved here.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession

from todo_contracts.lake_layout import HOUR_PARTITIONS

_HOUR_DIR = re.compile(r"year=(\d{4})/month=(\d{2})/day=(\d{2})/hour=(\d{2})/?$")


def join(base: str, *parts: str) -> str:
    """`base/part/...` without doubled slashes (works for paths and URIs alike)."""
    out = base.rstrip("/")
    for part in parts:
        out = f"{out}/{part.strip('/')}"
    return out


@dataclass(frozen=True)
class HourPartition:
    """One arrival-hour folder of a bronze prefix."""

    hour: datetime
    uri: str


def parse_hour(path: str) -> datetime | None:
    """The arrival hour encoded in a `year=/month=/day=/hour=` path, or None when there is none."""
    match = _HOUR_DIR.search(path)
    if not match:
        return None
    year, month, day, hour = (int(g) for g in match.groups())
    try:
        return datetime(year, month, day, hour, tzinfo=UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class Entry:
    """One child of a listed folder: a file or a folder, with its modification time (ms)."""

    uri: str
    name: str
    is_dir: bool
    modified_ms: int


class LakeFs:
    """A thin wrapper over the JVM Hadoop FileSystem of the active SparkSession."""

    def __init__(self, spark: SparkSession) -> None:
        self._spark = spark
        self._jvm: Any = spark.sparkContext._jvm
        self._conf: Any = spark.sparkContext._jsc.hadoopConfiguration()

    def _path(self, uri: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(uri)

    def _fs(self, path: Any) -> Any:
        return path.getFileSystem(self._conf)

    def exists(self, uri: str) -> bool:
        path = self._path(uri)
        return bool(self._fs(path).exists(path))

    def delete(self, uri: str) -> None:
        path = self._path(uri)
        fs = self._fs(path)
        if fs.exists(path):
            fs.delete(path, True)

    def write_text(self, uri: str, text: str) -> None:
        """Write (replace) one small object so that a reader sees the old or the new, never neither."""
        self.write_bytes(uri, text.encode("utf-8"))

    def write_bytes(self, uri: str, data: bytes) -> None:
        """Write (replace) one object so that a reader sees the old or the new, never neither.

        On S3 a PUT is atomic (the object appears whole when the stream closes), so the object is
        written in place. On a local disk the bytes go to a temporary file that `os.replace`
        then moves over the old one: one atomic rename, no moment without the file.
        """
        path = self._path(uri)
        fs = self._fs(path)
        if str(path.toUri().getScheme() or "file") == "file":
            target = Path(str(path.toUri().getPath()))
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            staging.write_bytes(data)
            os.replace(staging, target)
            # A file Spark wrote locally has a Hadoop checksum beside it (`.<name>.crc`); after a
            # replacement outside Hadoop it would no longer match and every later read through
            # the FileSystem would fail. Without one, Hadoop reads the file unchecked.
            target.with_name(f".{target.name}.crc").unlink(missing_ok=True)
            return
        stream = fs.create(path, True)
        try:
            stream.write(bytearray(data))
        finally:
            stream.close()

    def read_bytes(self, uri: str) -> bytes | None:
        """The content of one object, or None when it does not exist (read on the driver)."""
        path = self._path(uri)
        fs = self._fs(path)
        if not fs.exists(path):
            return None
        buffer = self._jvm.java.io.ByteArrayOutputStream()
        stream = fs.open(path)
        try:
            self._jvm.org.apache.hadoop.io.IOUtils.copyBytes(stream, buffer, self._conf, False)
        finally:
            stream.close()
        return bytes(buffer.toByteArray())

    def read_text(self, uri: str) -> str | None:
        """The content of one small object (UTF-8), or None when it does not exist.

        Read on the driver through the FileSystem stream: a Spark read would start a job.
        """
        data = self.read_bytes(uri)
        return None if data is None else data.decode("utf-8")

    def list_dir(self, uri: str) -> list[Entry]:
        """The direct children of a folder (none when it does not exist), by name."""
        path = self._path(uri)
        fs = self._fs(path)
        if not fs.exists(path):
            return []
        entries = [
            Entry(
                uri=str(status.getPath().toString()),
                name=str(status.getPath().getName()),
                is_dir=bool(status.isDirectory()),
                modified_ms=int(status.getModificationTime()),
            )
            for status in fs.listStatus(path)
        ]
        return sorted(entries, key=lambda e: e.name)

    def hour_partitions(self, root: str) -> list[HourPartition]:
        """Every `year=/month=/day=/hour=` folder under `root`, oldest first."""
        pattern = join(root, *(f"{name}=*" for name in HOUR_PARTITIONS))
        path = self._path(pattern)
        statuses = self._fs(path).globStatus(path) or []
        found: list[HourPartition] = []
        for status in statuses:
            if not status.isDirectory():
                continue
            uri = str(status.getPath().toString())
            hour = parse_hour(uri)
            if hour is not None:
                found.append(HourPartition(hour=hour, uri=uri))
        return sorted(found, key=lambda p: p.hour)
