"""The wired ingestion path (real CDC handler, Firehose endpoint, moto) and the restore from bronze."""

from __future__ import annotations

import gzip
import json
import secrets
from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest

from todo_contracts.lake_layout import BRONZE_LOGS
from todo_contracts.table import TABLE
from todo_etl.cdc.dynamodb_json import loads
from todo_local.cli import main
from todo_local.ingestion import DEAD_LETTER_BUCKET, Ingestion, wire_ingestion
from todo_local.restore import (
    RestoreError,
    compare_tables,
    dead_letter_events_from_s3,
    latest_events,
    restore_table,
)

BIG = "123456789012345678901234567890"


class StandInPlatform:
    """The attributes `wire_ingestion` uses of `LocalPlatform`."""

    def __init__(self, directory: Path, table_name: str, aws_endpoint_url: str) -> None:
        self.directory = directory
        self.lake_dir = directory / "lake"
        self.endpoints = {
            "table_name": table_name,
            "region": "us-east-1",
            "aws_endpoint_url": aws_endpoint_url,
        }
        self.running = True
        self.drainers: dict[str, Callable[[], Mapping[str, Any]]] = {}
        for sub in ("lake", "logs", "dlq", "state"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

    def add_drainer(self, name: str, fn: Callable[[], Mapping[str, Any]]) -> None:
        assert name not in self.drainers
        self.drainers[name] = fn

    def drain(self) -> dict[str, Any]:
        return {name: dict(fn()) for name, fn in self.drainers.items()}


Wired = tuple[StandInPlatform, Ingestion]  # what the `wired` fixture gives


@pytest.fixture
def wired(moto_dynamodb: Any, moto_env: str, tmp_path: Path) -> Iterator[Wired]:
    table = f"todo-{secrets.token_hex(3)}"
    moto_dynamodb.create_table(**TABLE.create_table_kwargs(table))
    platform = StandInPlatform(tmp_path / "local", table, moto_env)
    ingestion = wire_ingestion(platform, interval=0.05)
    yield platform, ingestion
    platform.running = False
    ingestion.stop()


def bronze_rows(lake: Path, folder: str = "cdc") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((lake / "bronze" / folder).rglob("*.gz")):
        with gzip.open(path, "rb") as handle:
            rows.extend(loads(line) for line in handle.read().splitlines())
    return rows


def profile(user: str, version: int, created_at: str, **extra: Any) -> dict[str, Any]:
    return {
        "PK": {"S": f"USER#{user}"},
        "SK": {"S": "PROFILE"},
        "entity_type": {"S": "USER"},
        "user_id": {"S": user},
        "email": {"S": f"{user}@example.com"},
        "created_at": {"S": created_at},
        "version": {"N": str(version)},
        **extra,
    }


def task(user: str, task_id: str, version: int, status: str = "pending", **extra: Any) -> dict[str, Any]:
    return {
        "PK": {"S": f"USER#{user}"},
        "SK": {"S": f"TASK#{task_id}"},
        "entity_type": {"S": "TASK"},
        "task_id": {"S": task_id},
        "user_id": {"S": user},
        "status": {"S": status},
        "created_at": {"S": "2026-11-23T10:00:00.000Z"},
        "version": {"N": str(version)},
        "GSI1PK": {"S": f"USER#{user}#STATUS#{status}"},
        "GSI1SK": {"S": f"TASK#{task_id}"},
        **extra,
    }


def oversized_change(client: Any, table: str) -> None:
    """Task `big` inserted (its record fits in Firehose), then modified: the MODIFY's record holds
    both large descriptions, more than one Firehose record may, so it is dead-lettered in S3."""
    client.put_item(TableName=table, Item=task("u1", "big", 1, description={"S": "a" * 380_000}))
    client.put_item(TableName=table, Item=task("u1", "big", 2, description={"S": "b" * 380_000}))


EVERY_TYPE: dict[str, Any] = {
    "big": {"N": BIG},
    "tenth": {"N": "0.1"},
    "tiny": {"N": "1E-130"},
    "blob": {"B": b"\x00\xff"},
    "names": {"SS": ["b", "a"]},
    "scores": {"NS": ["2", "10"]},
    "blobs": {"BS": [b"\x01", b"\x00"]},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "tags": {"L": [{"S": "x"}, {"M": {"deep": {"N": "1.50"}}}]},
    "meta": {"M": {"k": {"SS": ["z"]}}},
}


def traffic(client: Any, table: str) -> None:
    """Creates, edits, completions, deletions, an account re-created at version 1, an idempotency record."""

    def put(item: dict[str, Any]) -> None:
        client.put_item(TableName=table, Item=item)

    put(profile("u1", 1, "2026-11-23T09:00:00.000Z"))
    put(task("u1", "t1", 1, **EVERY_TYPE))
    put(task("u1", "t1", 2, "completed", **EVERY_TYPE, completed_at={"S": "2026-11-23T11:00:00.000Z"}))
    put(task("u1", "t2", 1))
    client.delete_item(TableName=table, Key={"PK": {"S": "USER#u1"}, "SK": {"S": "TASK#t2"}})
    put(profile("u2", 1, "2026-11-23T09:00:00.000Z"))
    put(profile("u2", 2, "2026-11-23T09:00:00.000Z", name={"S": "two"}))
    put(profile("u2", 3, "2026-11-23T09:00:00.000Z", name={"S": "three"}))
    client.delete_item(TableName=table, Key={"PK": {"S": "USER#u2"}, "SK": {"S": "PROFILE"}})
    put(profile("u2", 1, "2026-11-23T12:00:00.000Z", name={"S": "again"}))  # a new incarnation
    put(
        {"PK": {"S": "idem#k"}, "SK": {"S": "idem#k"}, "status": {"S": "COMPLETED"}, "expiration": {"N": "9"}}
    )


def test_changes_reach_bronze_through_the_real_handler_and_firehose_endpoint(
    moto_dynamodb: Any, wired: Wired
) -> None:
    platform, _ingestion = wired
    traffic(moto_dynamodb, platform.endpoints["table_name"])
    summary = platform.drain()
    assert summary["cdc"]["poller"]["dead_lettered"] == 0
    rows = bronze_rows(platform.lake_dir)
    assert {r["entity_type"] for r in rows} == {"USER", "TASK"}  # no idempotency record
    assert not any(r["pk"].startswith("idem") for r in rows)
    assert {"INSERT", "MODIFY", "REMOVE"} <= {r["event_name"] for r in rows}
    completed = next(r for r in rows if r["sk"] == "TASK#t1" and r["item_version"] == 2)
    image = completed["new_image"]
    assert image["big"] == int(BIG)
    assert image["tenth"] == Decimal("0.1")
    assert image["tiny"] == Decimal("1E-130")
    assert image["names"] == ["a", "b"]
    assert image["scores"] == [2, 10]
    assert image["blobs"] == ["AA==", "AQ=="]
    assert image["nothing"] is None
    assert image["tags"][1]["deep"] == Decimal("1.50")
    assert completed["new_image_ddb"]["big"] == {"N": BIG}
    assert completed["approximate_creation_time"].endswith("Z")
    assert len({r["event_id"] for r in rows}) == len(rows)


def test_an_oversized_change_is_dead_lettered_in_s3(moto_dynamodb: Any, wired: Wired) -> None:
    platform, _ = wired
    table = platform.endpoints["table_name"]
    oversized_change(moto_dynamodb, table)
    platform.drain()
    assert [(r["event_name"], r["item_version"]) for r in bronze_rows(platform.lake_dir)] == [("INSERT", 1)]
    s3 = boto3.client("s3")
    (entry,) = s3.list_objects_v2(Bucket=DEAD_LETTER_BUCKET, Prefix="dead-letter/cdc/")["Contents"]
    body = s3.get_object(Bucket=DEAD_LETTER_BUCKET, Key=entry["Key"])
    s3.close()
    kept = loads(body["Body"].read())
    assert kept["event_name"] == "MODIFY"
    assert kept["item_version"] == 2
    assert "over Firehose" in body["Metadata"]["reason"]


def test_access_logs_are_shipped_by_the_logs_drainer(wired: Wired) -> None:
    platform, _ = wired
    line = {
        "level": "INFO", "log_type": "access", "ts": "2026-11-23T12:00:00.000Z", "request_id": "r1",
        "correlation_id": "c1", "method": "GET", "route": "/api/health", "status": 200, "latency_ms": 1.0,
        "user_id": None, "message": "request",
    }  # fmt: skip
    (platform.directory / "logs" / "api.jsonl").write_text(json.dumps(line) + "\n")
    summary = platform.drain()
    assert summary["logs"]["shipper"]["shipped"] == 1
    (row,) = bronze_rows(platform.lake_dir, "logs")
    assert list(row) == BRONZE_LOGS.column_names()


def test_restore_rebuilds_an_equal_table_from_bronze_alone(moto_dynamodb: Any, wired: Wired) -> None:
    platform, ingestion = wired
    table = platform.endpoints["table_name"]
    traffic(moto_dynamodb, table)
    ingestion.cdc_stream.configure_faults(fraction=0.3)  # partial Firehose failures on the way in
    platform.drain()
    ingestion.cdc_stream.configure_faults()
    progress: list[tuple[str, int, int]] = []
    summary = restore_table(platform.lake_dir, "restored", on_progress=lambda *a: progress.append(a))

    comparison = compare_tables(table, "restored")
    assert comparison.equal, comparison
    assert comparison.source_items == 3  # u1, t1, u2 (re-created); t2 deleted; idempotency record not domain
    assert summary.items_restored == 3
    assert summary.items_deleted == 1
    restored = moto_dynamodb.get_item(
        TableName="restored", Key={"PK": {"S": "USER#u2"}, "SK": {"S": "PROFILE"}}
    )["Item"]
    assert restored["name"] == {"S": "again"}
    assert restored["version"] == {"N": "1"}
    t1 = moto_dynamodb.get_item(TableName="restored", Key={"PK": {"S": "USER#u1"}, "SK": {"S": "TASK#t1"}})[
        "Item"
    ]
    assert t1["big"] == {"N": BIG}
    assert t1["blob"] == {"B": b"\x00\xff"}
    assert t1["tiny"] == {"N": "1E-130"}
    assert (
        moto_dynamodb.describe_table(TableName="restored")["Table"]["KeySchema"]
        == TABLE.create_table_kwargs("x")["KeySchema"]
    )
    assert progress[-1] == ("write", 3, 3)


def test_compare_tables_notices_a_difference(moto_dynamodb: Any, wired: Wired) -> None:
    platform, _ = wired
    table = platform.endpoints["table_name"]
    traffic(moto_dynamodb, table)
    platform.drain()
    restore_table(platform.lake_dir, "restored")
    moto_dynamodb.put_item(TableName=table, Item=task("u1", "t9", 1))
    moto_dynamodb.put_item(TableName="restored", Item=profile("u1", 7, "2026-11-23T09:00:00.000Z"))
    comparison = compare_tables(table, "restored")
    assert comparison.only_in_source == [("USER#u1", "TASK#t9")]
    assert comparison.different == [("USER#u1", "PROFILE")]
    assert not comparison.equal


def test_restore_refuses_an_existing_table(moto_dynamodb: Any, wired: Wired) -> None:
    platform, _ = wired
    with pytest.raises(RestoreError, match="already exists"):
        restore_table(platform.lake_dir, platform.endpoints["table_name"])


def test_later_incarnation_wins_over_a_higher_version() -> None:
    def event(name: str, version: int, created: str, seq: int) -> dict[str, Any]:
        image = {"created_at": created, "version": version}
        removed = name == "REMOVE"
        return {
            "pk": "USER#u", "sk": "PROFILE", "event_name": name, "item_version": version,
            "sequence_number": str(seq), "new_image": None if removed else image,
            "old_image": image if removed else None,
        }  # fmt: skip

    events = [
        event("INSERT", 1, "2026-01-02T00:00:00.000Z", 40),  # the re-created profile, delivered first
        event("MODIFY", 5, "2026-01-01T00:00:00.000Z", 20),
        event("REMOVE", 5, "2026-01-01T00:00:00.000Z", 30),
        event("INSERT", 1, "2026-01-01T00:00:00.000Z", 10),
    ]
    (latest,) = latest_events(iter(events)).values()
    assert latest["sequence_number"] == "40"
    (last_of_first,) = latest_events(iter(events[1:])).values()
    assert last_of_first["event_name"] == "REMOVE"  # same version: the later stream record wins


def test_restore_command_without_a_platform_fails_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["restore", "--dir", str(tmp_path), "--table", "x"]) == 2
    assert "No local platform found" in capsys.readouterr().err


def test_restore_takes_in_dead_lettered_records_so_an_oversized_change_is_not_lost(
    moto_dynamodb: Any, wired: Wired
) -> None:
    platform, _ = wired
    table = platform.endpoints["table_name"]
    oversized_change(moto_dynamodb, table)
    moto_dynamodb.put_item(TableName=table, Item=task("u1", "small", 1))
    platform.drain()

    dead_letters = dead_letter_events_from_s3(DEAD_LETTER_BUCKET)
    assert [(e["event_name"], e["item_version"]) for e in dead_letters] == [("MODIFY", 2)]
    summary = restore_table(platform.lake_dir, "with-dead-letters", dead_letter_events=dead_letters)
    assert summary.dead_letters_read == 1
    assert compare_tables(table, "with-dead-letters").equal

    # From the Firehose objects alone the item would come back a version behind.
    restore_table(platform.lake_dir, "without-dead-letters")
    assert compare_tables(table, "without-dead-letters").different == [("USER#u1", "TASK#big")]


def test_dead_letters_of_a_missing_bucket_are_none_and_a_corrupt_one_stops_the_restore(
    moto_dynamodb: Any,
) -> None:
    assert dead_letter_events_from_s3("no-such-bucket") == []
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="dead")
    s3.put_object(Bucket="dead", Key="dead-letter/cdc/year=2026/month=11/day=23/x.json", Body=b"not json")
    s3.close()
    with pytest.raises(RestoreError, match="is not a bronze record"):
        dead_letter_events_from_s3("dead")


CDC_VARIABLES = (
    "CDC_DELIVERY_STREAM",
    "CDC_DEAD_LETTER_BUCKET",
    "AWS_ENDPOINT_URL_FIREHOSE",
    "AWS_ENDPOINT_URL_S3",
)


def test_the_ingestion_configures_the_cdc_function_without_touching_the_environment(
    moto_dynamodb: Any, moto_env: str, tmp_path: Path
) -> None:
    """The CDC function is built with explicit clients and settings: wiring, running and stopping
    the ingestion leave `os.environ` exactly as it was, and two ingestions side by side (as two
    platforms in one process) each deliver to their own lake."""
    import os

    tables = [f"todo-{secrets.token_hex(3)}" for _ in range(2)]
    for table in tables:
        moto_dynamodb.create_table(**TABLE.create_table_kwargs(table))
    before = dict(os.environ)
    platforms = [
        StandInPlatform(tmp_path / f"platform-{index}", table, moto_env) for index, table in enumerate(tables)
    ]
    ingestions = [wire_ingestion(platform, interval=3600) for platform in platforms]
    try:
        assert dict(os.environ) == before
        assert not [key for key in CDC_VARIABLES if key in os.environ]
        for index, table in enumerate(tables):
            moto_dynamodb.put_item(TableName=table, Item=task("u1", f"t{index}", 1))
        for index, platform in enumerate(platforms):
            platform.drain()
            assert [row["sk"] for row in bronze_rows(platform.lake_dir)] == [f"TASK#t{index}"]
        assert dict(os.environ) == before
    finally:
        for platform, ingestion in zip(platforms, ingestions, strict=True):
            platform.running = False
            ingestion.stop()
    assert dict(os.environ) == before
