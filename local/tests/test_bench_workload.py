"""The benchmark's synthetic stream traffic is what the CDC function accepts (no timing asserted)."""

from collections import Counter
from datetime import UTC, datetime

from todo_etl.cdc.bronze_record import BronzeRecord, build_bronze_record
from todo_local.bench import BenchResult, Workload
from todo_local.cli import main


def test_every_synthetic_record_converts_to_a_bronze_record() -> None:
    workload = Workload(users=3, tasks=8)
    records = workload.events()
    converted = [build_bronze_record(r, datetime.now(UTC)) for r in records]
    assert all(isinstance(c, BronzeRecord) for c in converted)
    names = Counter(r["eventName"] for r in records)
    # per user: a profile and 8 tasks, each edited; tasks 0, 3, 6 completed; task 7 deleted
    assert names == {"INSERT": 3 * 9, "MODIFY": 3 * (8 + 3), "REMOVE": 3 * 1}
    assert len({r["eventID"] for r in records}) == len(records)
    sequences = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert sequences == sorted(sequences)


def test_ratio_is_ours_over_baseline() -> None:
    assert BenchResult("x", "ms", 3.0, 1.5).ratio == 2.0
    assert BenchResult("x", "ms", 3.0, 0.0).ratio == float("inf")


def test_bench_refuses_an_empty_workload(capsys) -> None:
    assert main(["bench", "--users", "0"]) == 2
    assert "--users and --tasks must be at least 1" in capsys.readouterr().err


def test_the_lake_benchmark_writes_the_bronze_lines_the_cdc_function_writes() -> None:
    """bench_lake writes bronze directly (a million records through DynamoDB JSON would time the
    generator): its lines must be byte for byte what build_bronze_record makes of the same change."""
    from boto3.dynamodb.types import TypeSerializer

    from todo_local.bench_lake import History, bronze_line
    from todo_local.testing.stream_records import stream_record

    serializer = TypeSerializer()

    def ddb(image):
        return None if image is None else {k: serializer.serialize(v) for k, v in image.items()}

    history = History(users=2, tasks_per_user=8)
    changes = [*history.changes(), *history.edits(3, datetime(2026, 2, 1, tzinfo=UTC))]
    assert Counter(name for name, *_ in changes) == {"INSERT": 2 * 9, "MODIFY": 2 * (8 + 3) + 3, "REMOVE": 2}
    for sequence, (name, new, old, at) in enumerate(changes, start=10**20):
        record = stream_record(
            name,
            ddb(new),
            ddb(old),
            str(sequence),
            approximate_creation=at.timestamp(),
            eventID=f"{sequence:x}",
        )
        expected = build_bronze_record(record, at)
        assert isinstance(expected, BronzeRecord)
        assert bronze_line(name, new, old, sequence, at) == expected.line


def test_the_lake_benchmark_edits_open_tasks_once_each() -> None:
    from todo_local.bench_lake import History

    history = History(users=3, tasks_per_user=20)
    at = datetime(2026, 2, 1, tzinfo=UTC)
    first, rest = list(history.edits(1, at)), list(history.edits(10, at, skip=1))
    keys = [new["SK"] for _, new, _, _ in first + rest]
    assert len(keys) == len(set(keys)) == 11
    assert all(new["version"] == 3 and old["version"] == 2 for _, new, old, _ in first + rest)
    assert History.for_events(10_000).users > History.for_events(1_000).users


def test_the_lake_benchmark_edits_each_open_task_again_once_all_had_one() -> None:
    from todo_local.bench_lake import History

    history = History(users=2, tasks_per_user=10)  # open tasks 1, 2, 4, 5, 8: 10 (user, task) pairs
    at = datetime(2026, 2, 1, tzinfo=UTC)
    edits = list(history.edits(10, at)) + list(history.edits(10, at, skip=10))
    versions = {}
    for _, new, old, _ in edits:
        assert new["version"] == old["version"] + 1
        assert new["priority"] != old["priority"]
        versions.setdefault(new["SK"] + new["PK"], []).append(new["version"])
    assert sorted(versions.values()) == [[3, 4]] * 10


def test_the_cdc_baseline_writes_the_rows_the_cdc_function_writes(tmp_path) -> None:
    """The plain loop is a fair baseline only if it does the same job: the same bronze rows (numbers
    as JSON numbers), to an identical delivery stream; nothing about time is asserted."""
    import gzip
    import json

    from todo_local.bench import bench_cdc

    result = bench_cdc(tmp_path / "lake", Workload(users=2, tasks=4).events())
    assert result.ours > 0
    assert result.baseline > 0

    def rows(root):
        lines = [
            line for f in sorted(root.rglob("*.gz")) for line in gzip.decompress(f.read_bytes()).splitlines()
        ]
        return [{k: v for k, v in json.loads(line).items() if k != "ingested_at"} for line in lines]

    ours, baseline = rows(tmp_path / "lake"), rows(tmp_path / "baseline-lake")
    assert len(ours) == 2 * (1 + 4 + 4 + 2)  # per user: a profile, 4 tasks, 4 edits, tasks 0 and 3 done
    assert baseline == ours
