"""Silver job on generated bronze: dedupe, order by version, deletes, history, drift, quarantine.

One bronze scenario is run through `run_silver` twice (the second time with no new input); every
test reads the tables the first run wrote, and the idempotence test compares both runs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import (
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TABLES,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
)
from todo_etl.glue.jobs import run_silver

pytestmark = pytest.mark.spark

H10 = datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
H11 = H10 + timedelta(hours=1)
H12 = H10 + timedelta(hours=2)
RUN_1 = datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
RUN_2 = RUN_1 + timedelta(hours=1)


@dataclass(frozen=True)
class Silver:
    """The tables after the first run and after a second run over the same bronze."""

    first: dict[str, list[dict[str, Any]]]
    second: dict[str, list[dict[str, Any]]]
    checkpoint_first: str
    checkpoint_second: str
    snapshots_first: dict[str, int | None]
    snapshots_second: dict[str, int | None]
    silver_uri: str


def _broken(record: dict[str, Any], event_id: str, **changes: Any) -> str:
    """A copy of a valid record under a new event id with some fields changed (None deletes)."""
    out = {**record, "event_id": event_id}
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out[name] = value
    return json.dumps(out)


def _image(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    image = dict(record["new_image"])
    for name, value in changes.items():
        if value is None:
            image.pop(name, None)
        else:
            image[name] = value
    return image


def _write_scenario(kit: Any, bronze: Any) -> None:
    t0 = kit.T0
    task, user = kit.task_item, kit.user_item
    u1 = bronze.put(user("u1", 1, t0))
    u2_v1 = bronze.put(user("u2", 1, t0))
    u2_v2 = bronze.put(user("u2", 2, t0, name="Renamed User", updated_at=t0 + timedelta(minutes=5)))
    u3 = bronze.put(user("u3", 1, t0))
    # t1: three versions; the last carries attributes the typed schema does not know.
    t1_v1 = bronze.put(task("u1", "t1", 1, t0, title="first title"))
    t1_v2 = bronze.put(task("u1", "t1", 2, t0, title="renamed", updated_at=t0 + timedelta(minutes=1)))
    done_at = t0 + timedelta(minutes=2)
    t1_v3 = bronze.put(
        task(
            "u1", "t1", 3, t0, title="renamed", status="completed", completed_at=done_at,
            updated_at=done_at, due_date="2026-11-30", tags=["a", "b"], mood="calm", estimate=5,
        )
    )  # fmt: skip
    # t2: created and deleted; its REMOVE is delivered before its INSERT.
    t2_v1 = bronze.put(task("u1", "t2", 1, t0))
    t2_gone = bronze.delete("USER#u1", "TASK#t2")
    # t4: created, completed, reopened (completed_at cleared).
    t4_v1 = bronze.put(task("u2", "t4", 1, t0, category="home"))
    t4_v2 = bronze.put(task("u2", "t4", 2, t0, category="home", status="completed", completed_at=done_at))
    t4_v3 = bronze.put(task("u2", "t4", 3, t0, category="home", updated_at=t0 + timedelta(minutes=3)))
    # u3 and its task t3 disappear with a whole-account deletion.
    t3_v1 = bronze.put(task("u3", "t3", 1, t0))
    t3_gone = bronze.delete("USER#u3", "TASK#t3")
    u3_gone = bronze.delete("USER#u3", "PROFILE")
    # Records of entity types the lake does not take.
    idem = bronze.record(
        "INSERT",
        {"PK": "IDEMPOTENCY#4", "SK": "idempotency.execute#0f3a", "entity_type": "IDEMPOTENCY"},
        None,
        event_id="evt-idem",
    )
    untyped = bronze.record("INSERT", {"PK": "MISC#1", "SK": "MISC"}, None, event_id="evt-untyped")

    bronze.write([u1, u2_v1, u3, t1_v1, t2_gone, t4_v1, t4_v2, t3_v1, idem, untyped], H10)
    # The same event ids again (a redelivery), plus later versions.
    bronze.write([t1_v1, t1_v3, t2_v1, u2_v2, t4_v3], H11)
    # A late file: t1's version 2 arrives after version 3, with another copy of version 3.
    bronze.write([t1_v2, t1_v3, t3_gone, u3_gone], H12)

    base = t1_v1
    bronze.write_lines(
        [
            "this is not json {",
            "[1, 2, 3]",
            _broken(base, "bad-envelope-type", ttl_delete="yes"),
            _broken(base, "", pk="USER#x"),
            _broken(base, "bad-no-pk", pk=None),
            _broken(base, "bad-event-name", event_name="UPSERT"),
            _broken(base, "bad-sequence", sequence_number="12ab"),
            _broken(base, "bad-time", approximate_creation_time="soon"),
            _broken(base, "bad-version", new_image=_image(base, task_id="tbad1", version="seven")),
            _broken(base, "bad-no-task-id", new_image=_image(base, task_id=None)),
            _broken(base, "bad-created-at", new_image=_image(base, task_id="tbad2", created_at="yesterday")),
            _broken(base, "bad-tags", new_image=_image(base, task_id="tbad3", tags="not-a-list")),
            _broken(base, "bad-due-date", new_image=_image(base, task_id="tbad4", due_date="2026-13-45")),
            _broken(base, "bad-no-new-image", new_image=None),
            _broken(t2_gone, "bad-remove-no-old", old_image=None),
            _broken(u1, "bad-user-no-created", new_image=_image(u1, user_id="ubad", created_at=None)),
        ],
        H12,
    )
    r1 = bronze.access_log("r1", H10)
    r2 = bronze.access_log("r2", H10 + timedelta(seconds=5), status=404, route="/api/v1/tasks/{task_id}")
    bronze.write_logs([r1, r2, bronze.access_log("r-app", H10, log_type="app")], H10)
    bronze.write_logs([r1, bronze.access_log("r-bad-ts", H11, ts="later")], H11)


@pytest.fixture(scope="module")
def silver(kit: Any, run_once: Any) -> Silver:
    built: Silver = run_once("silver-scenario", lambda scenario: _build(kit, scenario))
    return built


def _build(kit: Any, scenario: Any) -> Silver:
    _write_scenario(kit, scenario.bronze)
    checkpoint = Path(scenario.lake.silver) / "_state" / "checkpoint.json"
    session, ref = scenario.open()
    run_silver(session, ref, run_id="silver-1", now=RUN_1)
    first, checkpoint_first = kit.layer_rows(session, ref, SILVER_TABLES), checkpoint.read_text()
    snapshots_first = kit.snapshot_ids(session, ref, SILVER_TABLES)
    run_silver(session, ref, run_id="silver-2", now=RUN_2)
    return Silver(
        first,
        kit.layer_rows(session, ref, SILVER_TABLES),
        checkpoint_first,
        checkpoint.read_text(),
        snapshots_first,
        kit.snapshot_ids(session, ref, SILVER_TABLES),
        scenario.lake.silver,
    )


def test_current_tasks_are_the_last_version_of_each_live_task(silver: Silver, kit: Any) -> None:
    t0 = kit.naive(kit.T0)
    done_at = t0 + timedelta(minutes=2)
    assert silver.first[SILVER_TASKS.name] == [
        {
            "task_id": "t1",
            "user_id": "u1",
            "title": "renamed",
            "description": "",
            "status": "completed",
            "priority": "medium",
            "category": "general",
            "due_date": date(2026, 11, 30),
            "tags": ["a", "b"],
            "created_at": t0,
            "updated_at": done_at,
            "completed_at": done_at,
            "version": 3,
            "extra": '{"estimate":5,"mood":"calm"}',
        },
        {
            "task_id": "t4",
            "user_id": "u2",
            "title": "task t4",
            "description": "",
            "status": "pending",
            "priority": "medium",
            "category": "home",
            "due_date": None,
            "tags": [],
            "created_at": t0,
            "updated_at": t0 + timedelta(minutes=3),
            "completed_at": None,
            "version": 3,
            "extra": None,
        },
    ]


def test_current_users_apply_updates_and_whole_account_deletion(silver: Silver, kit: Any) -> None:
    t0 = kit.naive(kit.T0)
    assert silver.first[SILVER_USERS.name] == [
        {
            "user_id": "u1",
            "email": "u1@example.com",
            "name": "User u1",
            "timezone": "UTC",
            "created_at": t0,
            "updated_at": t0,
            "version": 1,
            "extra": None,
        },
        {
            "user_id": "u2",
            "email": "u2@example.com",
            "name": "Renamed User",
            "timezone": "UTC",
            "created_at": t0,
            "updated_at": t0 + timedelta(minutes=5),
            "version": 2,
            "extra": None,
        },
    ]


def test_task_events_hold_one_row_per_distinct_change_in_version_order(silver: Silver) -> None:
    events = sorted(
        (
            e["task_id"],
            e["version"],
            e["event_name"],
            e["change_type"],
            e["status"],
            e["previous_status"],
            e["user_id"],
        )
        for e in silver.first[SILVER_TASK_EVENTS.name]
    )
    assert events == [
        ("t1", 1, "INSERT", "created", "pending", None, "u1"),
        ("t1", 2, "MODIFY", "updated", "pending", "pending", "u1"),
        ("t1", 3, "MODIFY", "completed", "completed", "pending", "u1"),
        ("t2", 1, "INSERT", "created", "pending", None, "u1"),
        ("t2", 1, "REMOVE", "deleted", "pending", "pending", "u1"),
        ("t3", 1, "INSERT", "created", "pending", None, "u3"),
        ("t3", 1, "REMOVE", "deleted", "pending", "pending", "u3"),
        ("t4", 1, "INSERT", "created", "pending", None, "u2"),
        ("t4", 2, "MODIFY", "completed", "completed", "pending", "u2"),
        ("t4", 3, "MODIFY", "reopened", "pending", "completed", "u2"),
    ]
    event_ids = [e["event_id"] for e in silver.first[SILVER_TASK_EVENTS.name]]
    assert len(event_ids) == len(set(event_ids))


def test_unknown_attributes_are_reported_as_drift_but_storage_attributes_are_not(silver: Silver) -> None:
    drift = [
        (d["entity_type"], d["attribute"], d["items"], d["detected_at"])
        for d in silver.first[SILVER_SCHEMA_DRIFT.name]
    ]
    first_run = RUN_1.replace(tzinfo=None)
    assert drift == [("TASK", "estimate", 1, first_run), ("TASK", "mood", 1, first_run)]


def test_invalid_records_are_quarantined_with_their_reason(silver: Silver) -> None:
    found = sorted(
        (q["source"], q["event_id"] or "", q["reason"]) for q in silver.first[SILVER_QUARANTINE.name]
    )
    assert found == sorted(
        [
            ("cdc", "", "unparseable JSON line"),
            ("cdc", "", "unparseable JSON line"),
            ("cdc", "bad-envelope-type", "record field with a wrong type"),
            ("cdc", "", "missing event_id"),
            ("cdc", "bad-no-pk", "missing keys (pk/sk)"),
            ("cdc", "bad-event-name", "unknown event_name: UPSERT"),
            ("cdc", "bad-sequence", "bad sequence_number"),
            ("cdc", "bad-time", "missing or bad approximate_creation_time"),
            ("cdc", "bad-version", "bad type: version"),
            ("cdc", "bad-no-task-id", "task image without task_id"),
            ("cdc", "bad-created-at", "bad type: created_at"),
            ("cdc", "bad-tags", "bad type: tags"),
            ("cdc", "bad-due-date", "bad type: due_date"),
            ("cdc", "bad-no-new-image", "missing new image"),
            ("cdc", "bad-remove-no-old", "REMOVE without an old image"),
            ("cdc", "bad-user-no-created", "user image without created_at"),
            ("cdc", "evt-idem", "entity type outside the lake allow-list: IDEMPOTENCY"),
            ("cdc", "evt-untyped", "entity type outside the lake allow-list: null"),
            ("logs", "r-app", "not an access log record: log_type=app"),
            ("logs", "r-bad-ts", "missing or bad ts"),
        ]
    )
    raws = {q["raw"] for q in silver.first[SILVER_QUARANTINE.name]}
    assert {"this is not json {", "[1, 2, 3]"} <= raws
    assert {q["quarantined_at"] for q in silver.first[SILVER_QUARANTINE.name]} == {RUN_1.replace(tzinfo=None)}


def test_quarantined_and_foreign_records_reach_no_silver_table(silver: Silver) -> None:
    task_ids = {t["task_id"] for t in silver.first[SILVER_TASKS.name]}
    task_ids |= {e["task_id"] for e in silver.first[SILVER_TASK_EVENTS.name]}
    assert task_ids == {"t1", "t2", "t3", "t4"}
    assert {u["user_id"] for u in silver.first[SILVER_USERS.name]} == {"u1", "u2"}
    quarantined_ids = {q["event_id"] for q in silver.first[SILVER_QUARANTINE.name]}
    assert not quarantined_ids & {e["event_id"] for e in silver.first[SILVER_TASK_EVENTS.name]}


def test_api_requests_are_deduplicated_by_request_id(silver: Silver, kit: Any) -> None:
    requests = [
        (r["request_id"], r["status"], r["route"], r["ts"]) for r in silver.first[SILVER_API_REQUESTS.name]
    ]
    assert requests == [
        ("r1", 200, "/api/v1/tasks", kit.naive(H10)),
        ("r2", 404, "/api/v1/tasks/{task_id}", kit.naive(H10 + timedelta(seconds=5))),
    ]


def test_a_second_run_without_new_input_changes_nothing(silver: Silver) -> None:
    assert silver.second == silver.first
    assert (
        json.loads(silver.checkpoint_second)["high_water"]
        == json.loads(silver.checkpoint_first)["high_water"]
    )
    assert json.loads(silver.checkpoint_second)["run_id"] == "silver-2"
    # Nothing was new, so no table committed: every table is still at the first run's snapshot.
    assert silver.snapshots_second == silver.snapshots_first
    assert all(silver.snapshots_first.values())


def test_every_silver_table_is_an_iceberg_table_in_its_lake_folder(silver: Silver) -> None:
    for table in SILVER_TABLES:
        folder = Path(silver.silver_uri) / table.folder
        assert any((folder / "metadata").glob("*.metadata.json")), table.name
        assert any((folder / "data").rglob("*.parquet")) or table.name == SILVER_SCHEMA_DRIFT.name
    # No CDC history folder any more: silver's own tables are the state.
    assert not (Path(silver.silver_uri) / "_state" / "cdc_events").exists()
