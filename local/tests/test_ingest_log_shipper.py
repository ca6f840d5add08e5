"""The log shipper: access lines from api.jsonl into bronze/logs, only the BRONZE_LOGS keys."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import BRONZE_LOGS
from todo_local.delivery_stream import LocalDeliveryStream
from todo_local.log_shipper import LogShipper


def access(request_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "level": "INFO",
        "message": "request",
        "service": "api",
        "timestamp": "2026-11-23 12:00:00,000+0000",
        "log_type": "access",
        "ts": "2026-11-23T12:00:00.000Z",
        "request_id": request_id,
        "correlation_id": f"c-{request_id}",
        "method": "GET",
        "route": "/api/v1/tasks/{task_id}",
        "status": 200,
        "latency_ms": 3.5,
        "user_id": "u1",
        **extra,
    }


def append(log: Path, *lines: str) -> None:
    with log.open("a", encoding="utf-8") as handle:
        handle.write("".join(lines))


def shipped(stream: LocalDeliveryStream) -> list[dict[str, Any]]:
    stream.flush()
    rows: list[dict[str, Any]] = []
    for path in sorted(stream.root.rglob("*.gz")):
        with gzip.open(path, "rb") as handle:
            rows.extend(json.loads(line) for line in handle.read().splitlines())
    return rows


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, LocalDeliveryStream, LogShipper]:
    log = tmp_path / "logs" / "api.jsonl"
    log.parent.mkdir()
    stream = LocalDeliveryStream("logs", tmp_path / "lake", "logs")
    return log, stream, LogShipper(log, tmp_path / "state" / "shipper.json", stream, sleep=lambda _s: None)


def test_ships_only_access_lines_with_only_the_bronze_keys(
    setup: tuple[Path, LocalDeliveryStream, LogShipper],
) -> None:
    log, stream, shipper = setup
    append(
        log,
        json.dumps(access("r1", email="secret@example.com")) + "\n",
        json.dumps({"level": "ERROR", "message": "boom"}) + "\n",
        "not json at all\n",
        json.dumps(access("r2", user_id=None)) + "\n",
    )
    summary = shipper.drain()
    assert (summary.lines, summary.shipped, summary.skipped, summary.unparseable) == (4, 2, 1, 1)
    rows = shipped(stream)
    assert [r["request_id"] for r in rows] == ["r1", "r2"]
    assert all(list(r) == BRONZE_LOGS.column_names() for r in rows)
    assert rows[1]["user_id"] is None


def test_the_offset_is_checkpointed_and_a_half_line_waits(
    setup: tuple[Path, LocalDeliveryStream, LogShipper], tmp_path: Path
) -> None:
    log, stream, shipper = setup
    line = json.dumps(access("r2")) + "\n"
    append(log, json.dumps(access("r1")) + "\n", line[:20])
    assert shipper.drain().shipped == 1
    append(log, line[20:])
    restarted = LogShipper(log, tmp_path / "state" / "shipper.json", stream)  # a new process: same offset
    assert restarted.drain().shipped == 1
    assert restarted.drain().shipped == 0
    assert [r["request_id"] for r in shipped(stream)] == ["r1", "r2"]


def test_undelivered_lines_are_shipped_again_on_the_next_drain(
    setup: tuple[Path, LocalDeliveryStream, LogShipper],
) -> None:
    log, stream, shipper = setup
    append(log, *(json.dumps(access(f"r{i}")) + "\n" for i in range(4)))
    stream.configure_faults(fail_when=lambda data: b'"r2"' in data)
    first = shipper.drain()
    assert (first.shipped, first.failed) == (3, 1)
    stream.configure_faults()
    assert shipper.drain().shipped == 2  # from the first undelivered line: r2 and r3 (r3 again)
    assert sorted({r["request_id"] for r in shipped(stream)}) == ["r0", "r1", "r2", "r3"]


def test_no_log_file_yet_ships_nothing(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("logs", tmp_path, "logs")
    assert LogShipper(tmp_path / "missing.jsonl", tmp_path / "s.json", stream).drain().lines == 0
