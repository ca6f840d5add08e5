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
