"""Reconciliation logic: equal state passes, every kind of disagreement is reported."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from todo_local.bench_lake import profile_item
from todo_local.reconcile import ReconcileReport, compare_gold, compare_state

# The task's domain values that are spelled alike in the table and in silver; the two builders
# below add what differs (keys, index keys and timestamps as strings versus as datetimes), each
# with its own copy, so no two items share the `tags` list.
TASK_VALUES: dict[str, Any] = {
    "title": "Write",
    "description": "",
    "status": "pending",
    "priority": "medium",
    "category": "general",
    "tags": ["a"],
}
USER_CREATED = datetime(2026, 11, 23, 9, tzinfo=UTC)


def table_task(task_id: str = "t1", user_id: str = "u1", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "PK": f"USER#{user_id}",
        "SK": f"TASK#{task_id}",
        "GSI1PK": f"USER#{user_id}#STATUS#pending",
        "GSI1SK": f"TASK#{task_id}",
        "entity_type": "TASK",
        "task_id": task_id,
        "user_id": user_id,
        **copy.deepcopy(TASK_VALUES),
        "created_at": "2026-11-23T10:00:00.123Z",
        "updated_at": "2026-11-23T10:00:00.123Z",
        "version": Decimal(1),
    }
    item.update(overrides)
    return item


def silver_task(task_id: str = "t1", user_id: str = "u1", **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "task_id": task_id,
        "user_id": user_id,
        **copy.deepcopy(TASK_VALUES),
        "due_date": None,
        "created_at": datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC),
        "updated_at": datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC),
        "completed_at": None,
        "version": 1,
        "extra": None,
    }
    row.update(overrides)
    return row


def table_user(user_id: str = "u1") -> dict[str, Any]:
    # The benchmark's synthetic profile, as a table scan reads it back: numbers come as Decimal.
    return {**profile_item(user_id, USER_CREATED), "name": "Ada", "version": Decimal(1)}


def silver_user(user_id: str = "u1") -> dict[str, Any]:
    return {
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "name": "Ada",
        "timezone": "UTC",
        "created_at": USER_CREATED,
        "updated_at": USER_CREATED,
        "version": 1,
        "extra": None,
    }


def test_equal_state_in_different_spellings_reconciles() -> None:
    report = compare_state([table_task(), table_user()], [silver_task()], [silver_user()])
    assert report.ok, report.differences
    assert (report.tasks_in_table, report.tasks_in_silver, report.users_in_table) == (1, 1, 1)


def test_index_keys_and_ttl_are_not_domain_data() -> None:
    item = table_task(expiration=Decimal(123), GSI4PK="USER#u1#DUE", GSI4SK="2026-12-01#TASK#t1")
    assert compare_state([item], [silver_task()], []).ok


def test_missing_extra_and_changed_rows_are_each_reported() -> None:
    report = compare_state(
        [table_task("t1"), table_task("t2", status="completed")],
        [silver_task("t2"), silver_task("t3")],
        [],
    )
    kinds = sorted((d.key, d.kind) for d in report.differences)
    assert kinds == [("t1", "missing_in_silver"), ("t2", "attribute"), ("t3", "extra_in_silver")]
    assert "status" in next(d.detail for d in report.differences if d.kind == "attribute")


def test_drifted_attributes_compare_through_extra() -> None:
    item = table_task(mood="happy", score=Decimal("1.5"))
    assert compare_state([item], [silver_task(extra=json.dumps({"mood": "happy", "score": 1.5}))], []).ok
    report = compare_state([item], [silver_task()], [])
    assert {d.detail.split(":")[0] for d in report.differences} == {"mood", "score"}


def test_due_date_and_completed_at_must_match() -> None:
    item = table_task(due_date="2026-12-01", completed_at="2026-11-23T11:00:00.000Z", status="completed")
    row = silver_task(
        due_date=date(2026, 12, 1), completed_at=datetime(2026, 11, 23, 11, tzinfo=UTC), status="completed"
    )
    assert compare_state([item], [row], []).ok
    assert not compare_state([item], [silver_task(due_date=date(2026, 12, 2), status="completed")], []).ok


def test_duplicate_silver_rows_are_reported() -> None:
    report = compare_state([table_task()], [silver_task(), silver_task()], [])
    assert [d.kind for d in report.differences] == ["duplicate_in_silver"]


def _kpis(**values: float) -> list[dict[str, Any]]:
    at = datetime(2026, 11, 23, tzinfo=UTC)
    return [{"snapshot_at": at, "metric": k, "value": v} for k, v in values.items()]


def test_gold_counts_equal_table_counts() -> None:
    items = [table_user("u1"), table_task("t1"), table_task("t2", status="completed")]
    engagement = [{"user_id": "u1", "total_tasks": 2, "completed_tasks": 1}]
    report = ReconcileReport()
    compare_gold(
        items,
        engagement,
        _kpis(total_users=1, total_tasks=2, completed_tasks=1, completion_rate=50.0),
        report,
    )
    assert report.ok, report.differences
    assert report.gold_checks > 4


def test_gold_disagreements_are_reported() -> None:
    items = [table_user("u1"), table_task("t1", status="completed")]
    report = ReconcileReport()
    compare_gold(
        items,
        [{"user_id": "u1", "total_tasks": 2, "completed_tasks": 1}, {"user_id": "ghost", "total_tasks": 0}],
        _kpis(total_users=2, total_tasks=1, completed_tasks=1, completion_rate=90.0),
        report,
    )
    details = " | ".join(str(d) for d in report.differences)
    assert "unexpected=['ghost']" in details
    assert "total_tasks: table=1 gold=2" in details
    assert "total_users" in details
    assert "completion_rate" in details


def test_only_the_latest_kpi_snapshot_counts() -> None:
    old = [{"snapshot_at": datetime(2026, 1, 1, tzinfo=UTC), "metric": "total_tasks", "value": 99.0}]
    report = ReconcileReport()
    compare_gold(
        [table_user("u1")],
        [{"user_id": "u1", "total_tasks": 0, "completed_tasks": 0}],
        old + _kpis(total_users=1, total_tasks=0, completed_tasks=0),
        report,
    )
    assert report.ok, report.differences


def test_lake_tables_are_read_below_a_hidden_state_folder(tmp_path: Path) -> None:
    """`make demo` keeps its state in `.local-demo`: a hidden folder above the lake is no reason
    to skip anything (a regression once: every row was skipped, so reconcile failed)."""
    from todo_contracts.lake_layout import SILVER_USERS
    from todo_local.reconcile import read_lake_table
    from todo_local.testing.iceberg_rows import append_rows

    lake = tmp_path / ".local-demo" / "lake"
    assert read_lake_table(lake, SILVER_USERS) == []
    append_rows(lake, SILVER_USERS, [{"user_id": "u1"}], columns=["user_id"])
    # A stray file in the table folder is no row: only the current snapshot's data files are.
    (lake / SILVER_USERS.relative_path / "data" / "stray.parquet").write_bytes(b"not referenced")

    assert read_lake_table(lake, SILVER_USERS) == [{"user_id": "u1"}]
