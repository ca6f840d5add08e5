"""Restore from a lake built by real API traffic: HTTP → table → stream poller → CDC handler →
Firehose endpoint (with injected partial failures) → bronze → `restore` → a table equal to the source.

The session's `local_platform` serves the API; the ingestion path is wired onto it per test with
its own lake, checkpoints and dead-letter file (`wire_ingestion` on a small adapter), so nothing
here changes the shared platform for other tests. Other tests in the same worker also write to the
session table, so equality is asserted for the partitions of the users made here.
"""

from __future__ import annotations

import gzip
import json
import logging
import random
import secrets
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from todo_etl.cdc.dynamodb_json import loads
from todo_local.cli import main
from todo_local.ingestion import Ingestion, wire_ingestion
from todo_local.restore import compare_tables, restore_table
from todo_local.testing.fixtures import ApiUser, ApiUserFactory
from todo_local.traffic import TrafficStats, drive_user


@pytest.fixture(autouse=True)
def _no_logger_on_a_closed_capture() -> None:
    """A handler module imported inside another test's `capsys` (e.g. the metrics Lambda's) keeps a
    Powertools StreamHandler on that test's capture buffer, closed since; the gateway's first load
    of the API handler re-points such handlers and fails flushing the closed one. Point them back
    at stdout first. (The lasting fix belongs in `log_capture.adopt_powertools_handlers`.)"""
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):
            stream = getattr(handler, "stream", None)
            if type(handler) is logging.StreamHandler and getattr(stream, "closed", False):
                handler.stream = sys.stdout


class PlatformAdapter:
    """What `wire_ingestion` needs of a platform: the shared platform's endpoints, a private folder."""

    def __init__(self, platform: Any, directory: Path) -> None:
        self.directory = directory
        self.lake_dir = directory / "lake"
        self.endpoints = dict(platform.endpoints)
        self.endpoints["lake_dir"] = str(self.lake_dir)
        self.running = True
        self.drainers: dict[str, Callable[[], Mapping[str, Any]]] = {}
        for sub in ("lake", "logs", "dlq", "state"):
            (directory / sub).mkdir(parents=True, exist_ok=True)

    def add_drainer(self, name: str, fn: Callable[[], Mapping[str, Any]]) -> None:
        self.drainers[name] = fn

    def drain(self) -> dict[str, Any]:
        return {name: dict(fn()) for name, fn in self.drainers.items()}


@dataclass
class Traffic:
    """Who did what: the partitions written here and what the test expects to find in them."""

    partitions: set[str]
    kept_user: ApiUser
    recreated_user: ApiUser
    deleted_user: ApiUser
    stats: TrafficStats


def _ok(response: Any, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def api_traffic(factory: ApiUserFactory) -> Traffic:
    """Creates, edits, completions, reopenings, deletions, an idempotent replay, account deletions."""
    rng = random.Random(20261123)
    stats = TrafficStats()
    kept, recreated, deleted = factory(), factory(), factory()
    for user, name in ((kept, "Kept"), (recreated, "Recreated"), (deleted, "Deleted")):
        _ok(user.client.post("/api/v1/users", json={"name": name}), 201)
        drive_user(user.client, rng, 5, stats)
    assert not stats.unexpected, stats.unexpected

    _ok(kept.client.patch("/api/v1/users/me", json={"name": "Kept Renamed", "timezone": "Europe/Paris"}), 200)
    body = {"title": "Pay the invoice", "priority": "high", "category": "finance", "tags": ["email"]}
    headers = {"Idempotency-Key": f"replay-{secrets.token_hex(4)}"}
    first = _ok(kept.client.post("/api/v1/tasks", json=body, headers=headers), 201)
    replay = kept.client.post("/api/v1/tasks", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.json()["task_id"] == first["task_id"]

    # Whole-account deletion, then the same person signs up again: a new incarnation at version 1,
    # below the version the first incarnation reached (so "highest version wins" alone would be wrong).
    for name in ("Renamed Once", "Renamed Twice"):
        _ok(recreated.client.patch("/api/v1/users/me", json={"name": name}), 200)
    _ok(recreated.client.delete("/api/v1/users/me"), 204)
    again = _ok(recreated.client.post("/api/v1/users", json={"name": "Back Again"}), 201)
    assert again["version"] == 1
    _ok(recreated.client.post("/api/v1/tasks", json={"title": "Start over"}), 201)
    _ok(deleted.client.delete("/api/v1/users/me"), 204)

    partitions = {f"USER#{u.sub}" for u in (kept, recreated, deleted)}
    return Traffic(partitions, kept, recreated, deleted, stats)


@pytest.fixture
def wired(local_platform: Any, tmp_path: Path) -> Iterator[tuple[PlatformAdapter, Ingestion]]:
    adapter = PlatformAdapter(local_platform, tmp_path / "ingest")
    ingestion = wire_ingestion(adapter, interval=0.2)
    yield adapter, ingestion
    adapter.running = False
    ingestion.stop()


def scan(table: str, partitions: set[str]) -> dict[tuple[str, str], dict[str, Any]]:
    client = boto3.client("dynamodb")
    try:
        items = {}
        for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
            for item in page["Items"]:
                if item["PK"]["S"] in partitions:
                    items[(item["PK"]["S"], item["SK"]["S"])] = item
        return items
    finally:
        client.close()


def idempotency_records(table: str) -> int:
    client = boto3.client("dynamodb")
    try:
        pages = client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
        return sum(1 for page in pages for item in page["Items"] if "entity_type" not in item)
    finally:
        client.close()


def test_restore_of_a_lake_built_by_api_traffic_equals_the_table(
    local_platform: Any, api_user_factory: ApiUserFactory, wired: tuple[PlatformAdapter, Ingestion]
) -> None:
    adapter, ingestion = wired
    source = local_platform.endpoints["table_name"]
    traffic = api_traffic(api_user_factory)
    ingestion.cdc_stream.configure_faults(fraction=0.3)  # partial Firehose failures on the way in
    summary = adapter.drain()
    ingestion.cdc_stream.configure_faults()
    assert summary["cdc"]["poller"]["dead_lettered"] == 0
    assert ingestion.cdc_stream.stats.records_failed > 0  # the faults did happen and were resent

    bronze = [
        loads(line)
        for path in sorted((adapter.lake_dir / "bronze" / "cdc").rglob("*.gz"))
        for line in gzip.decompress(path.read_bytes()).splitlines()
    ]
    assert {r["entity_type"] for r in bronze} <= {"USER", "TASK"}
    mine = [r for r in bronze if r["pk"] in traffic.partitions]
    assert {"INSERT", "MODIFY", "REMOVE"} <= {r["event_name"] for r in mine}
    # The idempotency records the API wrote are in the table (no entity_type), never in the lake.
    assert idempotency_records(source) > 0
    kept_partition = f"USER#{traffic.kept_user.sub}"

    restored = f"restored-{secrets.token_hex(3)}"
    result = restore_table(adapter.lake_dir, restored)
    assert result.unreadable_lines == 0
    assert result.items_deleted > 0

    before, after = scan(source, traffic.partitions), scan(restored, traffic.partitions)
    assert after == before  # attribute for attribute, typed (sets, numbers, maps as DynamoDB holds them)
    kept_items = [k for k in after if k[0] == kept_partition]
    assert (kept_partition, "PROFILE") in kept_items
    assert len(kept_items) > 1
    assert after[(kept_partition, "PROFILE")]["name"] == {"S": "Kept Renamed"}
    recreated = after[(f"USER#{traffic.recreated_user.sub}", "PROFILE")]
    assert (recreated["name"], recreated["version"]) == ({"S": "Back Again"}, {"N": "1"})
    recreated_tasks = [k for k in after if k[0] == f"USER#{traffic.recreated_user.sub}" and k[1] != "PROFILE"]
    assert len(recreated_tasks) == 1  # the tasks of the deleted incarnation stay deleted
    assert not [k for k in after if k[0] == f"USER#{traffic.deleted_user.sub}"]

    comparison = compare_tables(source, restored)
    for keys in (comparison.only_in_source, comparison.only_in_target, comparison.different):
        assert not [k for k in keys if k[0] in traffic.partitions], comparison


def test_restore_command_rebuilds_from_the_running_platform(
    local_platform: Any,
    api_user_factory: ApiUserFactory,
    wired: tuple[PlatformAdapter, Ingestion],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    adapter, _ingestion = wired
    traffic = api_traffic(api_user_factory)
    adapter.drain()
    # The command reads DIR/endpoints.json: the shared platform's, pointing at this test's lake.
    state = tmp_path / "state"
    state.mkdir()
    (state / "endpoints.json").write_text(json.dumps(adapter.endpoints))
    restored = f"restored-{secrets.token_hex(3)}"

    assert main(["restore", "--dir", str(state), "--table", restored, "--no-compare"]) == 0
    out = capsys.readouterr().out
    assert f"restored {restored} from bronze" in out
    assert scan(restored, traffic.partitions) == scan(
        local_platform.endpoints["table_name"], traffic.partitions
    )

    assert main(["restore", "--dir", str(state), "--table", restored, "--no-drain"]) == 1
    assert "already exists" in capsys.readouterr().err
    live = local_platform.endpoints["table_name"]
    assert main(["restore", "--dir", str(state), "--table", live]) == 2
    assert "is the live table" in capsys.readouterr().err
