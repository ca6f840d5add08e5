"""Shared fixtures for the Spark tests: one SparkSession per test session and a bronze builder."""

from __future__ import annotations

import fcntl
import gzip
import itertools
import json
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from todo_contracts.lake_layout import BRONZE_CDC, CDC_FOLDER, LOGS_FOLDER, LakeTable, object_key
from todo_contracts.timestamps import rfc3339

# Python turns Spark timestamps into naive local datetimes: make local mean UTC for every test.
os.environ["TZ"] = "UTC"
time.tzset()

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def task_item(user: str, task_id: str, version: int, created_at: datetime, **fields: Any) -> dict[str, Any]:
    """A task item as the API stores it (index keys included)."""
    status = fields.pop("status", "pending")
    priority = fields.pop("priority", "medium")
    category = fields.pop("category", "general")
    item: dict[str, Any] = {
        "PK": f"USER#{user}",
        "SK": f"TASK#{task_id}",
        "entity_type": "TASK",
        "task_id": task_id,
        "user_id": user,
        "title": fields.pop("title", f"task {task_id}"),
        "description": fields.pop("description", ""),
        "status": status,
        "priority": priority,
        "category": category,
        "tags": fields.pop("tags", []),
        "created_at": rfc3339(created_at),
        "updated_at": rfc3339(fields.pop("updated_at", created_at)),
        "version": version,
        "GSI1PK": f"USER#{user}#STATUS#{status}",
        "GSI1SK": f"TASK#{task_id}",
        "GSI2PK": f"USER#{user}#PRIORITY#{priority}",
        "GSI2SK": f"TASK#{task_id}",
        "GSI3PK": f"USER#{user}#CATEGORY#{category}",
        "GSI3SK": f"TASK#{task_id}",
    }
    due = fields.pop("due_date", None)
    if due is not None:
        item["due_date"] = due
        item["GSI4PK"] = f"USER#{user}#DUE"
        item["GSI4SK"] = f"{due}#TASK#{task_id}"
    completed_at = fields.pop("completed_at", None)
    if completed_at is not None:
        item["completed_at"] = rfc3339(completed_at)
    item.update(fields)
    return item


def user_item(user: str, version: int, created_at: datetime, **fields: Any) -> dict[str, Any]:
    """A profile item as the API stores it."""
    item: dict[str, Any] = {
        "PK": f"USER#{user}",
        "SK": "PROFILE",
        "entity_type": "USER",
        "user_id": user,
        "email": f"{user}@example.com",
        "name": fields.pop("name", f"User {user}"),
        "timezone": fields.pop("timezone", "UTC"),
        "created_at": rfc3339(created_at),
        "updated_at": rfc3339(fields.pop("updated_at", created_at)),
        "version": version,
    }
    item.update(fields)
    return item


class Bronze:
    """Writes bronze CDC and log objects exactly as the delivery stream lays them out.

    It also keeps a model of the table (`items`), so `put` and `delete` emit the stream record
    DynamoDB would (INSERT/MODIFY with old image, REMOVE with the old image).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self._sequence = itertools.count(100000000000000000001)
        self._ids = itertools.count(1)
        self._files = itertools.count(1)
        self.clock = T0

    def record(
        self,
        event_name: str,
        new: dict[str, Any] | None,
        old: dict[str, Any] | None,
        *,
        event_id: str | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        image = new if new is not None else old
        assert image is not None
        self.clock += timedelta(seconds=1)
        record = {
            "event_id": event_id or f"evt-{next(self._ids):06d}",
            "event_name": event_name,
            "sequence_number": str(next(self._sequence)),
            "approximate_creation_time": rfc3339(at or self.clock),
            "pk": image["PK"],
            "sk": image["SK"],
            "entity_type": image.get("entity_type"),
            "item_version": image.get("version"),
            "ttl_delete": False,
            "keys": {"PK": image["PK"], "SK": image["SK"]},
            "new_image": new,
            "old_image": old,
            "new_image_ddb": None if new is None else {k: {"S": str(v)} for k, v in new.items()},
            "ingested_at": rfc3339(at or self.clock),
        }
        assert set(record) == set(BRONZE_CDC.column_names())
        return record

    def put(self, item: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        key = (item["PK"], item["SK"])
        old = self.items.get(key)
        self.items[key] = item
        return self.record("MODIFY" if old else "INSERT", item, old, **kwargs)

    def delete(self, pk: str, sk: str, **kwargs: Any) -> dict[str, Any]:
        old = self.items.pop((pk, sk))
        return self.record("REMOVE", None, old, **kwargs)

    def write(self, records: list[dict[str, Any]], arrival: datetime, folder: str = CDC_FOLDER) -> Path:
        return self.write_lines([json.dumps(r) for r in records], arrival, folder)

    def write_lines(self, lines: list[str], arrival: datetime, folder: str = CDC_FOLDER) -> Path:
        key = object_key(folder, f"todo-{folder}", arrival, f"{next(self._files):04d}")
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wt", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        return path

    def access_log(self, request_id: str, at: datetime, **fields: Any) -> dict[str, Any]:
        row = {
            "log_type": "access",
            "ts": rfc3339(at),
            "request_id": request_id,
            "correlation_id": f"c-{request_id}",
            "method": "GET",
            "route": "/api/v1/tasks",
            "status": 200,
            "latency_ms": 12.5,
            "user_id": "u1",
        }
        row.update(fields)
        return row

    def write_logs(self, rows: list[dict[str, Any]], arrival: datetime) -> Path:
        return self.write(rows, arrival, LOGS_FOLDER)


class Lake:
    """The three layer URIs of a lake under one folder, and the way to its Iceberg catalog."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.bronze = str(root / "bronze")
        self.silver = str(root / "silver")
        self.gold = str(root / "gold")

    def open(self, spark: Any) -> tuple[Any, Any]:
        """(a SparkSession whose `lake` catalog is this lake's, the jobs' Lake for it)."""
        from todo_etl.glue.local_session import lake_session

        return lake_session(self.root, spark)


def naive(at: datetime) -> datetime:
    """`at` as Spark hands timestamps back to Python (naive, in the session zone UTC)."""
    return at.astimezone(UTC).replace(tzinfo=None)


def table_rows(session: Any, lake: Any, table: LakeTable) -> list[dict[str, Any]]:
    """Every row of a lake table's current Iceberg snapshot, in a stable order ([] if not created)."""
    if not session.catalog.tableExists(lake.identifier(table)):
        return []
    rows = [r.asDict(recursive=True) for r in session.table(lake.identifier(table)).collect()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


def layer_rows(session: Any, lake: Any, tables: Iterable[LakeTable]) -> dict[str, list[dict[str, Any]]]:
    """`table_rows` of each of `tables`, by table name: a layer's state to compare between runs."""
    return {table.name: table_rows(session, lake, table) for table in tables}


def snapshot_ids(session: Any, lake: Any, tables: Any) -> dict[str, int | None]:
    """The current snapshot id of each table (None before its first commit)."""
    from todo_etl.glue.iceberg_tables import current_snapshot

    found = {}
    for table in tables:
        snapshot = current_snapshot(session, lake, table)
        found[table.name] = snapshot.snapshot_id if snapshot else None
    return found


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from todo_etl.glue.local_session import local_spark_session

    session = local_spark_session("todo-insights-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def bronze(lake: Lake) -> Bronze:
    return Bronze(Path(lake.bronze))


class Kit:
    """The builders above, handed to test modules as a fixture (tests cannot import conftest)."""

    T0 = T0
    Bronze = Bronze
    Lake = Lake
    rfc3339 = staticmethod(rfc3339)
    naive = staticmethod(naive)
    task_item = staticmethod(task_item)
    user_item = staticmethod(user_item)
    table_rows = staticmethod(table_rows)
    layer_rows = staticmethod(layer_rows)
    snapshot_ids = staticmethod(snapshot_ids)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


Built = TypeVar("Built")


@dataclass(frozen=True)
class Scenario:
    """Where a module builds its scenario: a fresh lake under `folder`, and a bronze writer for it."""

    folder: Path
    lake: Lake
    bronze: Bronze
    spark: Any

    def open(self) -> tuple[Any, Any]:
        """(a SparkSession whose `lake` catalog is this scenario's lake, the jobs' Lake for it)."""
        return self.lake.open(self.spark)


@pytest.fixture(scope="session")
def run_once(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Callable[[str, Callable[[Scenario], Built]], Built]:
    """Build a named scenario once per test run, even when pytest-xdist splits its module's tests.

    `build` gets a `Scenario` on an empty lake in a folder of its own and returns what the module's
    tests read (it must pickle). A module-scoped fixture would run its Spark jobs again on every
    worker that gets one of the module's tests; here the first worker builds under a shared folder
    (holding a file lock) and pickles the result, the others wait for the lock and load it.
    """

    def in_folder(folder: Path, build: Callable[[Scenario], Built]) -> Built:
        lake = Lake(folder / "lake")
        return build(Scenario(folder, lake, Bronze(Path(lake.bronze)), spark))

    def run(name: str, build: Callable[[Scenario], Built]) -> Built:
        if worker_id == "master":
            return in_folder(tmp_path_factory.mktemp(name), build)
        shared = tmp_path_factory.getbasetemp().parent
        with open(shared / f"{name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            done = shared / f"{name}.pickle"
            if done.is_file():
                built: Built = pickle.loads(done.read_bytes())
                return built
            folder = shared / name
            folder.mkdir()
            built = in_folder(folder, build)
            done.write_bytes(pickle.dumps(built))
            return built

    return run
