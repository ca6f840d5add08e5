"""Chunking and backoff of the Firehose sender."""

from __future__ import annotations

import random
from typing import Any

import pytest

from todo_etl.cdc.firehose_sender import (
    MAX_BATCH_BYTES,
    MAX_RECORD_BYTES,
    FirehoseSender,
    Outbound,
    RecordTooLargeError,
    chunks,
)


class Accepting:
    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
        records = kwargs["Records"]
        self.calls.append([r["Data"] for r in records])
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": str(i)} for i in range(len(records))]}


def test_chunks_hold_at_most_500_records() -> None:
    records = [Outbound(str(i), b"x\n") for i in range(1201)]
    assert [len(c) for c in chunks(records)] == [500, 500, 201]


def test_chunks_hold_at_most_4_mib() -> None:
    records = [Outbound(str(i), b"x" * (900 * 1024)) for i in range(10)]
    sizes = [sum(len(r.data) for r in c) for c in chunks(records)]
    assert all(size <= MAX_BATCH_BYTES for size in sizes)
    assert [len(c) for c in chunks(records)] == [4, 4, 2]
    assert [r.key for c in chunks(records) for r in c] == [str(i) for i in range(10)]  # order kept


def test_send_delivers_every_chunk() -> None:
    client = Accepting()
    result = FirehoseSender(client, "s").send([Outbound(str(i), b"r\n") for i in range(700)])
    assert [len(c) for c in client.calls] == [500, 200]
    assert len(result.delivered) == 700
    assert not result.failed
    assert result.retried == 0


def test_a_record_over_the_limit_is_refused_before_any_call() -> None:
    client = Accepting()
    with pytest.raises(RecordTooLargeError):
        FirehoseSender(client, "s").send([Outbound("1", b"x"), Outbound("2", b"x" * (MAX_RECORD_BYTES + 1))])
    assert client.calls == []


def test_a_malformed_response_counts_as_failure_of_every_entry() -> None:
    class Short(Accepting):
        def put_record_batch(self, **kwargs: Any) -> dict[str, Any]:
            return {"FailedPutCount": 0, "RequestResponses": []}

    result = FirehoseSender(Short(), "s", max_attempts=1).send([Outbound("1", b"x")])
    assert "malformed" in result.failed["1"]


def test_backoff_is_exponential_with_full_jitter_and_capped() -> None:
    sender = FirehoseSender(Accepting(), "s", base_delay=0.1, max_delay=1.0, rng=random.Random(1))
    for attempt, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8), (5, 1.0), (9, 1.0)]:
        delays = [sender.backoff(attempt) for _ in range(50)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # jitter spreads over the whole range


def test_max_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        FirehoseSender(Accepting(), "s", max_attempts=0)
