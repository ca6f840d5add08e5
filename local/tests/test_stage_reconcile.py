"""`reconcile --stage`: the table side really scanned on a moto server (parallel, paginated), the lake
side through Athena's API on moto.

moto does not run SQL: its Athena answers each query with the next result queued through its
`/moto-api/static/athena/query-results` endpoint. So these tests prove the whole boto3 path
(start, poll, paginated GetQueryResults, types, NULLs, the header row) and the comparison, with
the rows a correct or a broken lake would return; that the SQL itself runs on Athena is shown only
by deploying (docs/deployment.md, first deploy checklist).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import boto3
import pytest

from todo_api.models.task import Task, TaskPriority, TaskStatus
from todo_api.models.user import User
from todo_api.repository.task_repository import task_item
from todo_api.repository.user_repository import profile_item
from todo_contracts import lake_layout
from todo_contracts.table import TABLE
from todo_local.cli import main
from todo_local.stage_reconcile import (
    AthenaLakeReader,
    StageResources,
    reconcile_with,
    rows_from_result_pages,
    scan_table,
    select_statement,
)

STAGE = StageResources("dev")
AT = "2026-11-02T09:30:00.000Z"


def _user(n: int) -> User:
    return User(
        user_id=f"u{n}",
        email=f"u{n}@example.com",
        name=f"User {n}",
        timezone="UTC",
        created_at=AT,
        updated_at=AT,
        version=1,
    )


def _task(user: int, n: int, status: TaskStatus = TaskStatus.PENDING) -> Task:
    return Task(
        task_id=f"{user:02d}{n:030d}",
        user_id=f"u{user}",
        title=f"task {n}",
        description="",
        status=status,
        priority=TaskPriority.HIGH,
        category="work",
        due_date=None,
        tags=["b", "a"],
        created_at=AT,
        updated_at=AT,
        completed_at=AT if status is TaskStatus.COMPLETED else None,
        version=2,
    )


@pytest.fixture
def stage_table(moto_env: str) -> tuple[list[User], list[Task]]:
    """The dev stage's table on moto with 3 users and 7 tasks (and an idempotency record)."""
    client = boto3.client("dynamodb")
    client.create_table(**TABLE.create_table_kwargs(STAGE.table_name))
    users = [_user(n) for n in range(3)]
    tasks = [
        _task(u, n, TaskStatus.COMPLETED if n == 0 else TaskStatus.PENDING)
        for u in range(3)
        for n in range(u + 2)
    ][:7]
    for item in [*map(profile_item, users), *map(task_item, tasks)]:  # the api's own item layout
        client.put_item(TableName=STAGE.table_name, Item=item)
    client.put_item(
        TableName=STAGE.table_name,
        Item={"PK": {"S": "idem#x"}, "SK": {"S": "idem#x"}, "status": {"S": "COMPLETED"}},
    )
    return users, tasks


def test_the_parallel_scan_returns_every_domain_item_exactly_once(stage_table) -> None:
    users, tasks = stage_table
    items = scan_table(STAGE.table_name, segments=3, page_items=2)
    keys = sorted((i["PK"], i["SK"]) for i in items)
    assert len(keys) == len(set(keys)) == len(users) + len(tasks)  # no idempotency record, no repeats
    assert keys == sorted((i["PK"], i["SK"]) for i in scan_table(STAGE.table_name, segments=1))


# --- Athena on moto --------------------------------------------------------------------------------

_ATHENA_TYPES = {
    "string": "varchar",
    "bigint": "bigint",
    "int": "integer",
    "double": "double",
    "boolean": "boolean",
    "timestamp": "timestamp",
    "date": "date",
}


def _athena_text(column: lake_layout.Column, value: Any) -> str | None:
    if value is None:
        return None
    if column.type.startswith("array<"):
        return json.dumps(value)
    if column.type == "timestamp":
        return str(value).replace("T", " ").replace("Z", "")  # Athena prints 2026-11-02 09:30:00.000
    return str(value)


def _result(table: lake_layout.LakeTable, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What Athena answers to `select_statement(table)`: a header row, then text cells."""
    columns = table.columns
    header = {"Data": [{"VarCharValue": c.name} for c in columns]}
    body = [
        {
            "Data": [
                {} if (t := _athena_text(c, row.get(c.name))) is None else {"VarCharValue": t}
                for c in columns
            ]
        }
        for row in rows
    ]
    info = [
        {"Name": c.name, "Type": "json" if c.type.startswith("array<") else _ATHENA_TYPES[c.type]}
        for c in columns
    ]
    return {"rows": [header, *body], "column_info": info}


def _lake_rows(users: list[User], tasks: list[Task]) -> dict[str, list[dict[str, Any]]]:
    completed = [t for t in tasks if t.status is TaskStatus.COMPLETED]
    engagement = [
        {
            "user_id": u.user_id,
            "total_tasks": sum(t.user_id == u.user_id for t in tasks),
            "completed_tasks": sum(t.user_id == u.user_id for t in completed),
        }
        for u in users
    ]
    kpis = {"total_users": len(users), "total_tasks": len(tasks), "completed_tasks": len(completed)}
    kpis["completion_rate"] = 100.0 * len(completed) / len(tasks)
    return {
        "tasks": [t.model_dump(mode="json") | {"extra": None} for t in tasks],
        "users": [u.model_dump(mode="json") | {"extra": None} for u in users],
        "engagement": engagement,
        "kpis": [{"snapshot_at": AT, "metric": k, "value": v} for k, v in kpis.items()],
    }


def _queue(moto_url: str, lake: dict[str, list[dict[str, Any]]]) -> None:
    results = [
        _result(lake_layout.SILVER_TASKS, lake["tasks"]),
        _result(lake_layout.SILVER_USERS, lake["users"]),
        _result(lake_layout.GOLD_USER_ENGAGEMENT, lake["engagement"]),
        _result(lake_layout.GOLD_BUSINESS_KPIS, lake["kpis"]),
    ]
    request = urllib.request.Request(
        f"{moto_url}/moto-api/static/athena/query-results",
        data=json.dumps({"results": results}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()


@pytest.fixture
def workgroup(moto_env: str) -> str:
    boto3.client("athena").create_work_group(
        Name=STAGE.workgroup,
        Configuration={"ResultConfiguration": {"OutputLocation": "s3://results/athena/"}},
    )
    return moto_env


def _reader() -> AthenaLakeReader:
    return AthenaLakeReader(STAGE.workgroup, STAGE.database, boto3.client("athena"), sleep=lambda _s: None)


def test_a_lake_that_equals_the_table_reconciles(stage_table, workgroup: str) -> None:
    users, tasks = stage_table
    _queue(workgroup, _lake_rows(users, tasks))
    report = reconcile_with(scan_table(STAGE.table_name, segments=2), _reader())
    assert report.differences == []
    assert (report.tasks_in_table, report.tasks_in_silver, report.users_in_silver) == (7, 7, 3)


def test_a_lake_behind_the_table_is_reported_difference_by_difference(stage_table, workgroup: str) -> None:
    users, tasks = stage_table
    lake = _lake_rows(users, tasks)
    missing = lake["tasks"].pop()
    lake["tasks"][0]["title"] = "an older title"
    _queue(workgroup, lake)
    report = reconcile_with(scan_table(STAGE.table_name), _reader())
    kinds = {(d.key, d.kind) for d in report.differences}
    assert (missing["task_id"], "missing_in_silver") in kinds
    assert (lake["tasks"][0]["task_id"], "attribute") in kinds


def test_the_cli_reconciles_a_deployed_stage(
    stage_table, workgroup: str, capsys: pytest.CaptureFixture[str]
) -> None:
    users, tasks = stage_table
    _queue(workgroup, _lake_rows(users, tasks))
    assert main(["reconcile", "--stage", "dev", "--segments", "2"]) == 0
    assert "reconcile" in capsys.readouterr().out


def test_the_cli_says_why_when_the_stage_cannot_be_read(
    moto_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["reconcile", "--stage", "dev"]) == 2  # no such table on this (empty) emulator
    assert "cannot read stage dev" in capsys.readouterr().err


# --- pure parts ------------------------------------------------------------------------------------


def test_results_over_several_pages_are_typed_and_keep_nulls() -> None:
    info = {
        "ColumnInfo": [
            {"Name": "task_id", "Type": "varchar"},
            {"Name": "version", "Type": "bigint"},
            {"Name": "tags", "Type": "json"},
        ]
    }
    pages = [
        {
            "ResultSet": {
                "ResultSetMetadata": info,
                "Rows": [
                    {"Data": [{"VarCharValue": n} for n in ("task_id", "version", "tags")]},
                    {"Data": [{"VarCharValue": "a"}, {"VarCharValue": "3"}, {"VarCharValue": '["x"]'}]},
                ],
            }
        },
        {
            "ResultSet": {
                "ResultSetMetadata": info,
                "Rows": [{"Data": [{"VarCharValue": "b"}, {}, {"VarCharValue": "[]"}]}],
            }
        },
    ]
    assert rows_from_result_pages(pages) == [
        {"task_id": "a", "version": 3, "tags": ["x"]},
        {"task_id": "b", "version": None, "tags": []},
    ]


def test_the_queries_name_catalog_tables_and_read_arrays_as_json() -> None:
    sql = select_statement(lake_layout.SILVER_TASKS)
    assert sql.endswith('FROM "silver_tasks"')
    assert 'CAST("tags" AS JSON) AS "tags"' in sql
