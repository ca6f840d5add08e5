"""Search every file under a lake folder for strings, reading each file the way its format hides them.

Proof of an erasure (ADR 0013): bronze objects are gzip (decompressed here), Parquet data files are
compressed per page (read back as rows, plus their raw bytes for the footer statistics), Iceberg
manifests and manifest lists are Avro containers with deflate blocks (decompressed here), metadata
JSON and the SQLite catalog are searched as they are.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path


def _avro_long(data: io.BytesIO) -> int:
    shift = result = 0
    while True:
        chunk = data.read(1)
        if not chunk:
            raise ValueError("truncated Avro varint")
        byte = chunk[0]
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1)


def avro_plain(raw: bytes) -> bytes:
    """An Avro container file's header and its data blocks decompressed (null or deflate codec)."""
    data = io.BytesIO(raw)
    if data.read(4) != b"Obj\x01":
        raise ValueError("not an Avro container file")
    meta: dict[str, bytes] = {}
    while count := _avro_long(data):
        if count < 0:
            _avro_long(data)  # the block's byte size
        for _ in range(abs(count)):
            key = data.read(_avro_long(data)).decode()
            meta[key] = data.read(_avro_long(data))
    sync = data.read(16)
    codec = meta.get("avro.codec", b"null")
    if codec not in (b"null", b"deflate"):
        raise ValueError(f"unsupported Avro codec {codec!r}")
    out = [raw[: data.tell()]]
    while data.tell() < len(raw):
        _avro_long(data)  # objects in the block
        block = data.read(_avro_long(data))
        out.append(zlib.decompress(block, -15) if codec == b"deflate" else block)
        if data.read(16) != sync:
            raise ValueError("Avro sync marker mismatch")
    return b"".join(out)


def readable_bytes(path: Path) -> bytes:
    """The file's content with its compression undone, so a plain substring search is meaningful."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        return gzip.decompress(raw)
    if raw[:4] == b"PAR1":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
        return raw + json.dumps(rows, default=str, ensure_ascii=False).encode("utf-8")
    if raw[:4] == b"Obj\x01":
        return avro_plain(raw)
    return raw


def lake_files(lake_dir: Path) -> list[Path]:
    return sorted(p for p in lake_dir.rglob("*") if p.is_file())


def find_in_lake(lake_dir: Path, needles: tuple[str, ...]) -> list[tuple[str, str]]:
    """(file relative to the lake, needle) for every needle found in any file under `lake_dir`."""
    found: list[tuple[str, str]] = []
    encoded = [(n, n.encode("utf-8")) for n in needles]
    for path in lake_files(lake_dir):
        content = readable_bytes(path)
        found += [(str(path.relative_to(lake_dir)), n) for n, e in encoded if e in content]
    return found
