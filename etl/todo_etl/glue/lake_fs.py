"""File-system operations on lake URIs (local paths or s3://) through Spark's Hadoop FileSystem.

Spark already knows how to reach every URI the jobs use (the local disk here, S3 on Glue), so
listing partitions, swapping table folders and writing the small JSON objects go through the same
Hadoop FileSystem instead of a second client (no boto3 in the jobs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession

from todo_etl.lake_layout import HOUR_PARTITIONS

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

    def replace_dir(self, staged: str, target: str) -> None:
        """Put the staged folder in place of the target folder (delete, then rename)."""
        source, destination = self._path(staged), self._path(target)
        fs = self._fs(destination)
        if fs.exists(destination):
            fs.delete(destination, True)
        parent = destination.getParent()
        if parent is not None and not fs.exists(parent):
            fs.mkdirs(parent)
        if not fs.rename(source, destination):
            raise OSError(f"could not move {staged} to {target}")

    def has_data_files(self, uri: str) -> bool:
        """True when the folder holds at least one visible (not `_`/`.` prefixed) file."""
        path = self._path(uri)
        fs = self._fs(path)
        if not fs.exists(path):
            return False
        return any(not str(s.getPath().getName()).startswith(("_", ".")) for s in fs.listStatus(path))

    def write_text(self, uri: str, text: str) -> None:
        """Write (replace) one small object; on local disk via a temporary file and rename."""
        path = self._path(uri)
        fs = self._fs(path)
        staging = self._path(f"{uri}.tmp")
        stream = fs.create(staging, True)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()
        if fs.exists(path):
            fs.delete(path, False)
        if not fs.rename(staging, path):
            raise OSError(f"could not write {uri}")

    def read_text(self, uri: str) -> str | None:
        """The content of one small object (UTF-8), or None when it does not exist.

        Read on the driver through the FileSystem stream: a Spark read would start a job.
        """
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
        return str(buffer.toString("UTF-8"))

    def parquet_rows(self, uri: str) -> int:
        """Rows in the Parquet files of a folder (0 when it does not exist), from the file footers.

        The count Spark gives for the folder, without starting a job: Spark ignores the same
        `_`/`.` prefixed files, and the tables here are never partitioned into subfolders.
        """
        path = self._path(uri)
        fs = self._fs(path)
        if not fs.exists(path):
            return 0
        parquet = self._jvm.org.apache.parquet.hadoop
        total = 0
        for status in fs.listStatus(path):
            if not status.isFile() or str(status.getPath().getName()).startswith(("_", ".")):
                continue
            source = parquet.util.HadoopInputFile.fromStatus(status, self._conf)
            reader = parquet.ParquetFileReader.open(source)
            try:
                total += int(reader.getRecordCount())
            finally:
                reader.close()
        return total

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
