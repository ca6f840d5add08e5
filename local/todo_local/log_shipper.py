"""Ships the API's access-log lines into the logs delivery stream (`bronze/logs/`).

On AWS a subscription filter sends the api function's log events to Firehose, whose message
extraction keeps just the log message; the lake keeps only the `BRONZE_LOGS` keys of the access
lines. Locally the function's lines are in `DIR/logs/api.jsonl`: this reads what is new since the
stored offset, keeps the same keys, and sends them through the same chunk-and-resend sender.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import BRONZE_LOGS
from todo_etl.cdc.firehose_sender import FirehoseSender, Outbound
from todo_local.delivery_stream import LocalDeliveryStream

LOG = logging.getLogger("todo_local.log_shipper")
ACCESS_LOG_TYPE = "access"


@dataclass
class ShipSummary:
    lines: int = 0
    shipped: int = 0
    skipped: int = 0
    unparseable: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def access_record(line: bytes) -> dict[str, Any] | None:
    """The BRONZE_LOGS keys of an access-log line; None for any other line. ValueError if not JSON."""
    value = json.loads(line)
    if not isinstance(value, dict) or value.get("log_type") != ACCESS_LOG_TYPE:
        return None
    return {name: value.get(name) for name in BRONZE_LOGS.column_names()}


class LogShipper:
    """Reads `log_path` from a checkpointed byte offset and delivers the access lines."""

    def __init__(
        self,
        log_path: Path,
        state_path: Path,
        stream: LocalDeliveryStream,
        *,
        max_attempts: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.log_path = Path(log_path)
        self.state_path = Path(state_path)
        self.stream = stream
        self._sender = FirehoseSender(stream, stream.name, max_attempts=max_attempts, sleep=sleep)
        self._lock = threading.Lock()  # the background loop and a platform drain may both call drain()

    def _offset(self) -> int:
        try:
            offset = int(json.loads(self.state_path.read_text(encoding="utf-8"))["offset"])
        except FileNotFoundError:
            return 0
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        return offset if offset <= size else 0  # a shorter file is a new file

    def _save(self, offset: int) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_path.with_name(self.state_path.name + ".partial")
        partial.write_text(json.dumps({"log": str(self.log_path), "offset": offset}), encoding="utf-8")
        partial.replace(self.state_path)

    def drain(self) -> ShipSummary:
        """Ship every complete line written so far; the offset moves past what reached the stream."""
        with self._lock:
            return self._drain()

    def _drain(self) -> ShipSummary:
        summary = ShipSummary()
        if not self.log_path.exists():
            return summary
        start = self._offset()
        with self.log_path.open("rb") as handle:
            handle.seek(start)
            text = handle.read()
        complete = text[: text.rfind(b"\n") + 1]  # a half-written last line waits for the next drain
        outbound: list[Outbound] = []
        line_ends: list[int] = []  # offset after each outbound record's line
        position = start
        for line in complete.splitlines(keepends=True):
            position += len(line)
            summary.lines += 1
            try:
                record = access_record(line)
            except ValueError:
                summary.unparseable += 1
                continue
            if record is None:
                summary.skipped += 1
                continue
            outbound.append(Outbound(str(len(outbound)), (json.dumps(record) + "\n").encode()))
            line_ends.append(position)
        result = self._sender.send(outbound)
        summary.shipped = len(result.delivered)
        summary.failed = len(result.failed)
        if result.failed:
            # Resume at the first undelivered line; lines after it that did arrive come again
            # (silver deduplicates requests by request_id).
            first = min(int(key) for key in result.failed)
            position = line_ends[first - 1] if first else start
            LOG.warning(
                "%d access-log records not delivered; will retry from offset %d", summary.failed, position
            )
        self._save(position)
        return summary
