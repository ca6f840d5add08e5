"""A local Firehose delivery stream: the `put_record_batch` contract, buffering, gzip objects in the lake.

Objects land under `lake_dir/bronze/` at the key `lake_layout.object_key` gives (the layout the
Firehose prefix produces on AWS), written to a hidden temporary file and renamed into place so a
reader never sees half an object. A fault hook fails a chosen fraction of records in a call (or
the records a predicate picks), the way Firehose answers with per-record `ErrorCode`s.
"""

from __future__ import annotations

import gzip
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import Layer, object_key
from todo_etl.cdc.firehose_sender import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, MAX_RECORD_BYTES

LOG = logging.getLogger("todo_local.delivery_stream")

DEFAULT_BUFFER_BYTES = 1024 * 1024
DEFAULT_BUFFER_SECONDS = 60.0
FAULT_ERROR_CODE = "ServiceUnavailableException"
FAULT_ERROR_MESSAGE = "Slow down."

FaultPredicate = Callable[[bytes], bool]


class DeliveryStreamError(Exception):
    """A whole call refused, as Firehose refuses it; `code` is the service's error type."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass
class DeliveryStats:
    """What the stream has done since it was created."""

    records_in: int = 0
    records_failed: int = 0
    calls: int = 0
    objects_written: int = 0
    records_written: int = 0
    bytes_written: int = 0


class LocalDeliveryStream:
    """One named delivery stream writing gzip JSON Lines objects into `lake_dir/bronze/<folder>/`."""

    def __init__(
        self,
        name: str,
        lake_dir: Path,
        folder: str,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        buffer_seconds: float = DEFAULT_BUFFER_SECONDS,
        fault_fraction: float = 0.0,
        seed: int | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.lake_dir = Path(lake_dir)
        self.folder = folder
        self.buffer_bytes = buffer_bytes
        self.buffer_seconds = buffer_seconds
        self.stats = DeliveryStats()
        self._clock = clock
        self._rng = random.Random(seed)  # fault injection, not security
        self._lock = threading.RLock()
        self._buffer: list[bytes] = []
        self._buffered_bytes = 0
        self._oldest: float | None = None  # arrival time of the oldest buffered record
        self._fault_fraction = 0.0
        self._fail_when: FaultPredicate | None = None
        self.configure_faults(fault_fraction)

    @property
    def root(self) -> Path:
        """Where this stream's objects go: `lake_dir/bronze/<folder>/`."""
        return self.lake_dir / Layer.BRONZE.value / self.folder

    # -- faults ----------------------------------------------------------------------------------

    @property
    def fault_fraction(self) -> float:
        return self._fault_fraction

    def configure_faults(self, fraction: float = 0.0, fail_when: FaultPredicate | None = None) -> None:
        """From now on fail `fraction` of each call's records (chosen at random; a fractional record
        fails with the remainder's probability), plus every record `fail_when` picks.
        `configure_faults()` turns faults off."""
        if not 0.0 <= fraction <= 1.0:
            raise ValueError("the fault fraction is between 0 and 1")
        with self._lock:
            self._fault_fraction = fraction
            self._fail_when = fail_when

    def _failing_indexes(self, records: Sequence[bytes]) -> set[int]:
        # Exactly the fraction where it divides; the remainder fails one more record with that
        # probability. (Rounding would fail every 1-record call at 0.5 and more: a permanent fault
        # instead of a partial one, and each retry of a single record would fail again.)
        expected = len(records) * self._fault_fraction
        count = int(expected) + (1 if self._rng.random() < expected - int(expected) else 0)
        failing = set(self._rng.sample(range(len(records)), count))
        if self._fail_when is not None:
            failing.update(i for i, data in enumerate(records) if self._fail_when(data))
        return failing

    # -- the Firehose contract -------------------------------------------------------------------

    def put_record_batch(
        self,
        *,
        DeliveryStreamName: str,  # noqa: N803 (Firehose's parameter names)
        Records: Sequence[Mapping[str, Any]],  # noqa: N803
    ) -> dict[str, Any]:
        """Accept up to 500 records (4 MiB); per-record answers, failures marked with an ErrorCode."""
        if DeliveryStreamName != self.name:
            raise DeliveryStreamError(
                "ResourceNotFoundException", f"Delivery stream {DeliveryStreamName} not found."
            )
        payloads = [self._data(record) for record in Records]
        if not payloads or len(payloads) > MAX_BATCH_RECORDS:
            raise DeliveryStreamError("ValidationException", f"Records has {len(payloads)} entries (1-500).")
        if sum(map(len, payloads)) > MAX_BATCH_BYTES:
            raise DeliveryStreamError("InvalidArgumentException", "Records exceed the 4 MiB request limit.")
        if any(len(data) > MAX_RECORD_BYTES for data in payloads):
            raise DeliveryStreamError("ValidationException", "A record exceeds the 1,000 KiB limit.")
        responses: list[dict[str, str]] = []
        with self._lock:
            failing = self._failing_indexes(payloads)
            now = self._clock()
            for index, data in enumerate(payloads):
                if index in failing:
                    responses.append({"ErrorCode": FAULT_ERROR_CODE, "ErrorMessage": FAULT_ERROR_MESSAGE})
                    continue
                self._append(data, now)
                responses.append({"RecordId": uuid.uuid4().hex})
            self.stats.calls += 1
            self.stats.records_in += len(payloads)
            self.stats.records_failed += len(failing)
            if self._buffered_bytes >= self.buffer_bytes:
                self._write_buffer()
            else:
                self._flush_if_due(now)
        return {"FailedPutCount": len(failing), "Encrypted": False, "RequestResponses": responses}

    @staticmethod
    def _data(record: Mapping[str, Any]) -> bytes:
        data = record.get("Data") if isinstance(record, Mapping) else None
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes | bytearray):
            raise DeliveryStreamError("ValidationException", "Each record needs Data (bytes).")
        return bytes(data)

    # -- buffering -------------------------------------------------------------------------------

    def _append(self, data: bytes, now: float) -> None:
        if self._oldest is None:
            self._oldest = now
        self._buffer.append(data)
        self._buffered_bytes += len(data)

    def _flush_if_due(self, now: float) -> bool:
        if self._oldest is not None and now - self._oldest >= self.buffer_seconds:
            self._write_buffer()
            return True
        return False

    def flush_if_due(self) -> bool:
        """Write the buffer when its oldest record has waited `buffer_seconds` (the time trigger)."""
        with self._lock:
            return self._flush_if_due(self._clock())

    def flush(self) -> dict[str, Any]:
        """Write whatever is buffered now; the stream's stats."""
        with self._lock:
            self._write_buffer()
            return {"stream": self.name, **asdict(self.stats)}

    @property
    def buffered_records(self) -> int:
        with self._lock:
            return len(self._buffer)

    def _write_buffer(self) -> None:
        if not self._buffer or self._oldest is None:
            return
        # Firehose names and partitions an object by the arrival time of its oldest record.
        arrival = datetime.fromtimestamp(self._oldest, UTC)
        key = object_key(self.folder, self.name, arrival, uuid.uuid4().hex)
        path = self.lake_dir / Layer.BRONZE.value / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")  # hidden: Spark, DuckDB and restore skip it
        body = b"".join(self._buffer)  # as Firehose: concatenated as sent (producers end lines with \n)
        with partial.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
            gz.write(body)
            gz.flush()
            raw.flush()
            os.fsync(raw.fileno())
        partial.replace(path)
        self.stats.objects_written += 1
        self.stats.records_written += len(self._buffer)
        self.stats.bytes_written += len(body)
        LOG.debug("%s wrote %s (%d records)", self.name, key, len(self._buffer))
        self._buffer.clear()
        self._buffered_bytes = 0
        self._oldest = None
