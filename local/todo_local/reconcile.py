"""Reconciliation: the table's live items against silver, and the table's counts against gold.

This is the check behind `todo-insights reconcile` and the end-to-end tests. Both sides are
normalised to one canonical form (RFC 3339 millisecond UTC strings, ISO dates, ints, lists) so
that a difference means the lake is wrong, not that two engines spell a value differently.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from todo_contracts import lake_layout
from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, TABLE, TTL_ATTRIBUTE, EntityType
from todo_contracts.timestamps import rfc3339

# Attributes that exist for DynamoDB's sake (keys, index keys, TTL), not domain data.
_STORAGE_ATTRIBUTES = frozenset(
    {TABLE.partition_key.name, TABLE.sort_key.name, ENTITY_TYPE_ATTRIBUTE, TTL_ATTRIBUTE}
    | {g.partition_key.name for g in TABLE.global_indexes}
    | {g.sort_key.name for g in TABLE.global_indexes}
)
_TASK_COLUMNS = tuple(c for c in lake_layout.SILVER_TASKS.column_names() if c != "extra")
_USER_COLUMNS = tuple(c for c in lake_layout.SILVER_USERS.column_names() if c != "extra")
_TIMESTAMP_FIELDS = frozenset({"created_at", "updated_at", "completed_at"})


@dataclass(frozen=True)
class Difference:
    """One way the lake disagrees with the table."""

    entity: str  # "task", "user" or "gold"
    key: str
    kind: str  # "missing_in_silver", "extra_in_silver", "attribute", "count"
    detail: str

    def __str__(self) -> str:
        return f"{self.entity} {self.key}: {self.kind}: {self.detail}"


@dataclass
class ReconcileReport:
    """Everything compared and every difference found."""

    tasks_in_table: int = 0
    tasks_in_silver: int = 0
    users_in_table: int = 0
    users_in_silver: int = 0
    gold_checks: int = 0
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


# --- canonical values ----------------------------------------------------------------------------


def _timestamp(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return rfc3339(value)
    text = str(value)
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return _timestamp(parsed)


def _number(value: Any) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    number = Decimal(str(value))
    if number == number.to_integral_value():
        return int(number)
    as_float = float(number)
    return as_float if math.isfinite(as_float) else None


def _canonical(name: str, value: Any) -> Any:
    if name in _TIMESTAMP_FIELDS:
        return _timestamp(value)
    if name == "due_date":
        if value is None or value == "":
            return None
        return value.isoformat() if isinstance(value, date) else str(value)[:10]
    if name == "version":
        return _number(value)
    if name == "tags":
        return sorted(str(t) for t in (value or []))
    if name == "description":
        return value or ""
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, (set, frozenset)):
        return sorted(_canonical(name, v) for v in value)
    if isinstance(value, list):
        return [_canonical(name, v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(k, v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    return value


def canonical_table_item(item: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """Domain attributes of a table item in canonical form (storage attributes dropped)."""
    row = {name: _canonical(name, item.get(name)) for name in columns}
    for name, value in item.items():
        if name not in _STORAGE_ATTRIBUTES and name not in columns:
            row[name] = _canonical(name, value)
    return row


def canonical_silver_row(row: Mapping[str, Any], columns: Sequence[str]) -> dict[str, Any]:
    """A silver row in canonical form, with its `extra` attributes put back at top level."""
    out = {name: _canonical(name, row.get(name)) for name in columns}
    extra_text = row.get("extra")
    if extra_text:
        extra = json.loads(extra_text) if isinstance(extra_text, str) else dict(extra_text)
        for name, value in extra.items():
            out[name] = _canonical(name, value)
    return out


# --- comparisons ---------------------------------------------------------------------------------


def _compare_entities(
    entity: str,
    key_name: str,
    table_rows: Iterable[dict[str, Any]],
    silver_rows: Iterable[dict[str, Any]],
) -> list[Difference]:
    by_key_table = {str(r[key_name]): r for r in table_rows}
    by_key_silver: dict[str, dict[str, Any]] = {}
    differences: list[Difference] = []
    for row in silver_rows:
        key = str(row[key_name])
        if key in by_key_silver:
            differences.append(Difference(entity, key, "duplicate_in_silver", "more than one row"))
        by_key_silver[key] = row
    for key in sorted(by_key_table.keys() - by_key_silver.keys()):
        differences.append(
            Difference(entity, key, "missing_in_silver", "live in the table, absent in silver")
        )
    for key in sorted(by_key_silver.keys() - by_key_table.keys()):
        differences.append(Difference(entity, key, "extra_in_silver", "in silver, not live in the table"))
    for key in sorted(by_key_table.keys() & by_key_silver.keys()):
        left, right = by_key_table[key], by_key_silver[key]
        for name in sorted(left.keys() | right.keys()):
            if left.get(name) != right.get(name):
                differences.append(
                    Difference(
                        entity,
                        key,
                        "attribute",
                        f"{name}: table={left.get(name)!r} silver={right.get(name)!r}",
                    )
                )
    return differences


def compare_state(
    table_items: Sequence[Mapping[str, Any]],
    silver_tasks: Sequence[Mapping[str, Any]],
    silver_users: Sequence[Mapping[str, Any]],
) -> ReconcileReport:
    """Silver's live rows against the table's live items, attribute for attribute."""
    tasks = [
        canonical_table_item(i, _TASK_COLUMNS)
        for i in table_items
        if i.get(ENTITY_TYPE_ATTRIBUTE) == EntityType.TASK
    ]
    users = [
        canonical_table_item(i, _USER_COLUMNS)
        for i in table_items
        if i.get(ENTITY_TYPE_ATTRIBUTE) == EntityType.USER
    ]
    report = ReconcileReport(
        tasks_in_table=len(tasks),
        tasks_in_silver=len(silver_tasks),
        users_in_table=len(users),
        users_in_silver=len(silver_users),
    )
    report.differences += _compare_entities(
        "task", "task_id", tasks, [canonical_silver_row(r, _TASK_COLUMNS) for r in silver_tasks]
    )
    report.differences += _compare_entities(
        "user", "user_id", users, [canonical_silver_row(r, _USER_COLUMNS) for r in silver_users]
    )
    return report


@dataclass(frozen=True)
class ExpectedGold:
    """Counts gold must hold, computed from the table alone."""

    users: dict[str, dict[str, int]]
    kpis: dict[str, int]


def expected_gold_counts(table_items: Sequence[Mapping[str, Any]]) -> ExpectedGold:
    """Per-user (total, completed) task counts and the global KPIs, computed from the table alone."""
    per_user: dict[str, dict[str, int]] = {}
    for item in table_items:
        if item.get(ENTITY_TYPE_ATTRIBUTE) == EntityType.USER:
            per_user.setdefault(str(item["user_id"]), {"total_tasks": 0, "completed_tasks": 0})
    totals = {"total_users": len(per_user), "total_tasks": 0, "completed_tasks": 0}
    for item in table_items:
        if item.get(ENTITY_TYPE_ATTRIBUTE) != EntityType.TASK:
            continue
        totals["total_tasks"] += 1
        done = item.get("status") == "completed"
        totals["completed_tasks"] += int(done)
        counts = per_user.get(str(item["user_id"]))
        if counts is not None:
            counts["total_tasks"] += 1
            counts["completed_tasks"] += int(done)
    return ExpectedGold(users=per_user, kpis=totals)


def compare_gold(
    table_items: Sequence[Mapping[str, Any]],
    engagement_rows: Sequence[Mapping[str, Any]],
    kpi_rows: Sequence[Mapping[str, Any]],
    report: ReconcileReport,
) -> None:
    """Gold's counts against the same counts computed from the table; differences go on `report`."""
    expected = expected_gold_counts(table_items)
    users, kpis = expected.users, expected.kpis
    got_users = {str(r["user_id"]): r for r in engagement_rows}
    report.gold_checks += 1
    if set(got_users) != set(users):
        missing = sorted(set(users) - set(got_users))
        extra = sorted(set(got_users) - set(users))
        report.differences.append(
            Difference("gold", "gold_user_engagement", "count", f"users missing={missing} unexpected={extra}")
        )
    for user_id, counts in sorted(users.items()):
        row = got_users.get(user_id)
        if row is None:
            continue
        for name, value in counts.items():
            report.gold_checks += 1
            if _number(row.get(name)) != value:
                report.differences.append(
                    Difference("gold", user_id, "count", f"{name}: table={value} gold={row.get(name)}")
                )
    latest = _latest_kpis(kpi_rows)
    for name, value in kpis.items():
        report.gold_checks += 1
        got = latest.get(name)
        if got is None or not math.isclose(got, value):
            report.differences.append(Difference("gold", name, "count", f"table={value} gold={got}"))
    if kpis["total_tasks"]:
        rate = 100.0 * kpis["completed_tasks"] / kpis["total_tasks"]
        report.gold_checks += 1
        got_rate = latest.get("completion_rate")
        if got_rate is None or not math.isclose(got_rate, rate, abs_tol=0.01):
            report.differences.append(
                Difference("gold", "completion_rate", "count", f"table={rate:.2f} gold={got_rate}")
            )


def _latest_kpis(kpi_rows: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    if not kpi_rows:
        return {}
    latest_at = max(r["snapshot_at"] for r in kpi_rows)
    return {str(r["metric"]): float(r["value"]) for r in kpi_rows if r["snapshot_at"] == latest_at}


# --- reading both sides --------------------------------------------------------------------------


def read_lake_table(lake_dir: Path, table: lake_layout.LakeTable) -> list[dict[str, Any]]:
    """Every row of a lake table's current Iceberg snapshot, or [] before its first commit."""
    from todo_local.lake_catalog import LocalLakeCatalog

    return LocalLakeCatalog(lake_dir).rows(table)


def scan_live_items(table_name: str, dynamodb: Any = None) -> list[dict[str, Any]]:
    """Every domain item of the table (an operator tool, never a request path, so Scan is fine here).

    `dynamodb` is a boto3 DynamoDB service resource (default: as boto3 resolves it from the
    environment)."""
    import boto3

    table = (dynamodb if dynamodb is not None else boto3.resource("dynamodb")).Table(table_name)
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {}
    while True:
        page = table.scan(**kwargs)
        items += [
            i for i in page.get("Items", []) if i.get(ENTITY_TYPE_ATTRIBUTE) in {e.value for e in EntityType}
        ]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def reconcile(table_name: str, lake_dir: Path, *, dynamodb: Any = None) -> ReconcileReport:
    """Compare the live table with silver and gold under `lake_dir` (`dynamodb`: see `scan_live_items`)."""
    items = scan_live_items(table_name, dynamodb)
    report = compare_state(
        items,
        read_lake_table(lake_dir, lake_layout.SILVER_TASKS),
        read_lake_table(lake_dir, lake_layout.SILVER_USERS),
    )
    compare_gold(
        items,
        read_lake_table(lake_dir, lake_layout.GOLD_USER_ENGAGEMENT),
        read_lake_table(lake_dir, lake_layout.GOLD_BUSINESS_KPIS),
        report,
    )
    return report
