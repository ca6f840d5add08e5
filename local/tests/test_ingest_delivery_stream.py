"""The local delivery stream: Firehose's put_record_batch contract, buffering, layout, faults."""

from __future__ import annotations

import gzip
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from todo_contracts.lake_layout import object_key
from todo_local.delivery_stream import DeliveryStreamError, LocalDeliveryStream

T0 = datetime(2026, 11, 23, 13, 59, 58, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, at: float = T0) -> None:
        self.now = at

    def __call__(self) -> float:
        return self.now


def objects(stream: LocalDeliveryStream) -> list[Path]:
    return sorted(stream.root.rglob("*.gz"))


def lines(path: Path) -> list[bytes]:
    with gzip.open(path, "rb") as handle:
        return handle.read().splitlines(keepends=True)


def records(*payloads: bytes) -> list[dict[str, bytes]]:
    return [{"Data": p} for p in payloads]


def test_answers_one_record_id_per_record_and_buffers_until_flush(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc", clock=Clock())
    answer = stream.put_record_batch(DeliveryStreamName="s", Records=records(b'{"a":1}\n', b'{"a":2}\n'))
    assert answer["FailedPutCount"] == 0
    assert [set(r) for r in answer["RequestResponses"]] == [{"RecordId"}, {"RecordId"}]
    assert objects(stream) == []  # buffered, nothing written yet
    stats = stream.flush()
    (path,) = objects(stream)
    assert lines(path) == [b'{"a":1}\n', b'{"a":2}\n']
    assert stats["records_written"] == 2
    assert stats["objects_written"] == 1
    assert stream.flush()["objects_written"] == 1  # an empty buffer writes nothing


def test_objects_use_the_firehose_key_layout_of_the_oldest_record(tmp_path: Path) -> None:
    clock = Clock()
    stream = LocalDeliveryStream("todo-cdc", tmp_path, "cdc", clock=clock)
    stream.put_record_batch(DeliveryStreamName="todo-cdc", Records=records(b"1\n"))
    clock.now += 5  # the next hour: the object still belongs to the oldest record's hour
    stream.put_record_batch(DeliveryStreamName="todo-cdc", Records=records(b"2\n"))
    stream.flush()
    (path,) = objects(stream)
    relative = path.relative_to(tmp_path / "bronze").as_posix()
    unique = path.name.rsplit("-", 1)[1].removesuffix(".gz")
    assert relative == object_key("cdc", "todo-cdc", datetime.fromtimestamp(T0, UTC), unique)
    assert relative.startswith("cdc/year=2026/month=11/day=23/hour=13/todo-cdc-1-2026-11-23-13-59-58-")


def test_a_full_buffer_is_written_without_a_flush(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "logs", buffer_bytes=100, clock=Clock())
    stream.put_record_batch(DeliveryStreamName="s", Records=records(b"x" * 60 + b"\n"))
    assert objects(stream) == []
    stream.put_record_batch(DeliveryStreamName="s", Records=records(b"y" * 60 + b"\n"))
    assert len(objects(stream)) == 1
    assert stream.buffered_records == 0


def test_the_buffer_interval_writes_an_object(tmp_path: Path) -> None:
    clock = Clock()
    stream = LocalDeliveryStream("s", tmp_path, "cdc", buffer_seconds=60, clock=clock)
    stream.put_record_batch(DeliveryStreamName="s", Records=records(b"1\n"))
    clock.now += 59
    assert stream.flush_if_due() is False
    clock.now += 1
    assert stream.flush_if_due() is True
    assert len(objects(stream)) == 1


def test_writes_are_atomic_and_leave_no_partial_files(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc", buffer_bytes=10, clock=Clock())
    for index in range(5):
        stream.put_record_batch(DeliveryStreamName="s", Records=records(b"%d" % index * 20 + b"\n"))
    assert len(objects(stream)) == 5
    assert [p for p in stream.root.rglob("*") if p.is_file() and p.suffix != ".gz"] == []


def test_fault_fraction_fails_that_share_of_each_call_with_an_error_code(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc", fault_fraction=0.25, seed=3, clock=Clock())
    answer = stream.put_record_batch(
        DeliveryStreamName="s", Records=records(*(b"%d\n" % i for i in range(20)))
    )
    failed = [r for r in answer["RequestResponses"] if "ErrorCode" in r]
    assert answer["FailedPutCount"] == len(failed) == 5
    assert all(r["ErrorCode"] == "ServiceUnavailableException" and r["ErrorMessage"] for r in failed)
    stream.flush()
    written = lines(objects(stream)[0])
    assert len(written) == 15
    ok = [b"%d\n" % i for i, r in enumerate(answer["RequestResponses"]) if "RecordId" in r]
    assert written == ok  # the failed ones were not written
    stream.configure_faults()
    assert stream.put_record_batch(DeliveryStreamName="s", Records=records(b"z\n"))["FailedPutCount"] == 0


def test_a_fraction_of_one_record_fails_it_sometimes_not_always(tmp_path: Path) -> None:
    """A partial fault stays partial for single-record calls (a retry of one record can succeed)."""
    stream = LocalDeliveryStream("s", tmp_path, "cdc", fault_fraction=0.6, seed=11, clock=Clock())
    failures = [
        stream.put_record_batch(DeliveryStreamName="s", Records=records(b"x\n"))["FailedPutCount"]
        for _ in range(200)
    ]
    assert set(failures) == {0, 1}
    assert 80 < sum(failures) < 160  # about 60% of 200; seeded, so the same count every run


def test_a_predicate_picks_records_to_fail(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc", clock=Clock())
    stream.configure_faults(fail_when=lambda data: data.startswith(b"bad"))
    answer = stream.put_record_batch(DeliveryStreamName="s", Records=records(b"ok\n", b"bad\n"))
    assert answer["FailedPutCount"] == 1
    assert "ErrorCode" in answer["RequestResponses"][1]


@pytest.mark.parametrize(
    ("name", "payloads", "code"),
    [
        ("other", [b"x"], "ResourceNotFoundException"),
        ("s", [], "ValidationException"),
        ("s", [b"x"] * 501, "ValidationException"),
        ("s", [b"x" * (1000 * 1024 + 1)], "ValidationException"),
        ("s", [b"x" * (900 * 1024)] * 5, "InvalidArgumentException"),
    ],
)
def test_calls_firehose_refuses_are_refused_whole(
    tmp_path: Path, name: str, payloads: list[bytes], code: str
) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc")
    with pytest.raises(DeliveryStreamError) as raised:
        stream.put_record_batch(DeliveryStreamName=name, Records=records(*payloads))
    assert raised.value.code == code
    assert stream.buffered_records == 0


def test_fault_fraction_must_be_a_fraction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="between 0 and 1"):
        LocalDeliveryStream("s", tmp_path, "cdc", fault_fraction=1.5)


def test_concurrent_producers_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    stream = LocalDeliveryStream("s", tmp_path, "cdc", buffer_bytes=2_000)

    def produce(worker: int) -> None:
        for batch in range(20):
            payloads = [b"%d-%d-%d\n" % (worker, batch, i) for i in range(10)]
            stream.put_record_batch(DeliveryStreamName="s", Records=records(*payloads))

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stream.flush()
    written = [line for path in objects(stream) for line in lines(path)]
    assert len(written) == len(set(written)) == 4 * 20 * 10


# Firehose's `!{timestamp:...}` namespaces use Java DateTimeFormatter patterns; these are the ones
# the prefix uses, mapped to strftime, so the test expands the prefix the way Firehose does.
_JAVA_TO_STRFTIME = {"yyyy": "%Y", "MM": "%m", "dd": "%d", "HH": "%H"}


def _expand_firehose_prefix(prefix: str, arrival: datetime) -> str:
    for java, strftime in _JAVA_TO_STRFTIME.items():
        prefix = prefix.replace(f"!{{timestamp:{java}}}", arrival.strftime(strftime))
    assert "!{" not in prefix, f"an expression the test does not know: {prefix}"
    return prefix


@pytest.mark.parametrize("folder", ["cdc", "logs"])
@pytest.mark.parametrize(
    "arrival",
    [datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)],
    ids=["early", "year-end"],
)
def test_local_keys_are_the_expansion_of_the_prefix_the_cdk_stack_gives_firehose(
    tmp_path: Path, folder: str, arrival: datetime
) -> None:
    """One definition (`lake_layout`) for both: the Etl stack's Firehose prefix and the local keys."""
    from todo_contracts.lake_layout import firehose_prefix, partition_prefix

    expected = _expand_firehose_prefix(firehose_prefix(folder), arrival)
    assert partition_prefix(folder, arrival) == expected
    stream = LocalDeliveryStream("todo-x", tmp_path, folder, clock=Clock(arrival.timestamp()))
    stream.put_record_batch(DeliveryStreamName="todo-x", Records=records(b"{}\n"))
    stream.flush()
    (path,) = objects(stream)
    assert path.relative_to(tmp_path / "bronze").as_posix().startswith(expected + "todo-x-1-")
