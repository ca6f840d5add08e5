"""Right to erasure through every layer of the lake (issue 11, ADR 0013), on one shared scenario.

Three users write tasks and call the API; one of them deletes the account. Silver and gold run
before and after the deletion, then the erase step runs three times: once killed after rewriting
bronze (before any Iceberg delete), once to complete, once more as a no-op. Then the pipeline
runs again (its lookback re-reads the redacted hours) and a full rebuild from the redacted bronze
is compared with the incremental lake. Every check reads this one lake.
"""

from __future__ import annotations

import gzip
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import (
    ERASURE_LOG,
    GOLD_USER_ENGAGEMENT,
    GOLD_USER_INSIGHTS,
    ICEBERG_TABLES,
    INSIGHTS_EXPORT_MANIFEST,
    INSIGHTS_EXPORT_PREFIX,
    PIPELINE_RUNS,
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_TABLES,
    SILVER_TASKS,
)
from todo_etl.erasure_records import ERASED_PREFIX, REDACTED
from todo_etl.glue import erasure
from todo_etl.glue.erasure import ERASED_TABLES, run_erasure
from todo_etl.glue.jobs import run_gold, run_silver
from todo_etl.glue.run_log import FAILED
from todo_local.cli import main
from todo_local.lake_search import find_in_lake, lake_files

pytestmark = pytest.mark.spark

GONE = "u-gone"
EMAIL = "greta.gonewalker@example.org"
NAME = "Greta Gonewalker"
TITLES = ("Buy a ring for Hans", "Call the oncologist", "Renamed: ring for Hans")
DESCRIPTION = "Appointment at 9, room 214"
TAG = "private-health"
QUARANTINED_TITLE = "Quarantined diary entry"
LATE_TITLE = "Late-delivered draft letter"
SECRETS = (EMAIL, NAME, *TITLES, DESCRIPTION, TAG, QUARANTINED_TITLE, LATE_TITLE)
KEEP = ("u-keep1", "u-keep2")

HOUR_1 = datetime(2026, 11, 23, 9, 5, tzinfo=UTC)
HOUR_2 = HOUR_1 + timedelta(hours=1)
HOUR_3 = HOUR_1 + timedelta(hours=2)
RUN_1 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class KilledError(RuntimeError):
    """The crash injected between the bronze rewrite and the Iceberg deletes."""


@dataclass
class Scenario:
    root: Path
    session: Any
    lake: Any
    bronze_before: dict[str, bytes]  # object path -> decompressed bytes, after the deletion, before erasure
    silver_before: dict[str, list[dict[str, Any]]]  # other users' rows
    gold_before: list[dict[str, Any]]  # other users' engagement rows
    gold_after: list[dict[str, Any]]  # every engagement row right after the erasure
    engagement_before: list[str]  # users in gold_user_engagement before erasure
    insights_before: list[str]  # users in gold_user_insights before erasure
    export_before: list[str]  # users in the insights export files before erasure
    export_after: list[str]  # ... and right after it
    manifest_after: dict[str, Any]
    crashed_log: list[dict[str, Any]]
    crashed_bronze: dict[str, bytes]
    crashed_runs: list[dict[str, Any]]
    first: Any
    second: Any
    snapshots_before_noop: dict[str, int | None]
    log_before_noop: list[dict[str, Any]]
    snapshots_after_noop: dict[str, int | None]
    log_after_noop: list[dict[str, Any]]
    bronze_after_noop: dict[str, bytes]
    after_pipeline: dict[str, list[dict[str, Any]]]
    rebuilt: dict[str, list[dict[str, Any]]]
    reappeared: list[str]
    third: Any
    log_after_reopen: list[dict[str, Any]]
    late_log: Path  # the object holding a late access-log record of the erased user
    late_requests: list[str]  # their request ids in silver once that record arrived
    fourth: Any  # the erase run after it
    api_requests_after: list[dict[str, Any]]


def write_bronze(kit: Any, root: Path) -> Any:
    bronze = kit.Bronze(root / "bronze")
    t0 = kit.T0
    put, delete = bronze.put, bronze.delete
    first = [put(kit.user_item(GONE, 1, t0, email=EMAIL, name=NAME), at=HOUR_1)]
    first += [put(kit.user_item(u, 1, t0), at=HOUR_1) for u in KEEP]
    first += [
        put(
            kit.task_item(GONE, "g1", 1, t0, title=TITLES[0], description=DESCRIPTION, tags=[TAG]),
            at=HOUR_1,
        ),
        put(kit.task_item(GONE, "g2", 1, t0, title=TITLES[1], category="health"), at=HOUR_1),
    ]
    first += [put(kit.task_item(u, f"k{n}-{u}", 1, t0, title=f"keep {n}")) for u in KEEP for n in range(3)]
    bronze.write(first, HOUR_1)
    bronze.write_logs(
        [
            bronze.access_log(f"r{n}", HOUR_1 + timedelta(minutes=n), user_id=u)
            for n, u in enumerate((GONE, *KEEP))
        ],
        HOUR_1,
    )
    second = [
        put(
            kit.task_item(GONE, "g1", 2, t0, title=TITLES[2], description=DESCRIPTION, tags=[TAG]), at=HOUR_2
        ),
        put(
            kit.task_item(GONE, "g2", 2, t0, title=TITLES[1], status="completed", completed_at=HOUR_2),
            at=HOUR_2,
        ),
        put(
            kit.task_item(
                KEEP[0], f"k0-{KEEP[0]}", 2, t0, title="keep 0", status="completed", completed_at=HOUR_2
            )
        ),
    ]
    bad = kit.task_item(GONE, "g3", 1, t0, title=QUARANTINED_TITLE)
    bad["version"] = "not a number"
    second_lines = [json.dumps(r) for r in second] + [
        json.dumps(bronze.record("INSERT", bad, None, at=HOUR_2))
    ]
    bronze.write_lines(second_lines, HOUR_2)
    # The account deletion: every task, then the profile (what DELETE /users/me streams).
    third = [delete(f"USER#{GONE}", "TASK#g1", at=HOUR_3), delete(f"USER#{GONE}", "TASK#g2", at=HOUR_3)]
    third += [delete(f"USER#{GONE}", "PROFILE", at=HOUR_3 + timedelta(seconds=1))]
    third += [put(kit.task_item(KEEP[1], "k9", 1, t0, title="keep late"), at=HOUR_3)]
    bronze.write(third, HOUR_3)
    bronze.write_logs(
        [bronze.access_log("r9", HOUR_3, user_id=GONE, method="DELETE", route="/api/v1/users/me")], HOUR_3
    )
    return bronze


def bronze_objects(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): gzip.decompress(p.read_bytes())
        for p in sorted((root / "bronze").rglob("*.gz"))
    }


def others_rows(kit: Any, session: Any, lake: Any) -> dict[str, list[dict[str, Any]]]:
    rows = {t.name: kit.table_rows(session, lake, t) for t in SILVER_TABLES}
    rows[SILVER_QUARANTINE.name] = [
        {k: v for k, v in r.items() if k != "quarantined_at"} for r in rows[SILVER_QUARANTINE.name]
    ]
    return {
        name: [
            r
            for r in found
            if GONE not in json.dumps(r, default=str) and "erased" not in json.dumps(r, default=str)
        ]
        for name, found in rows.items()
    }


def export_users(root: Path) -> list[str]:
    """The user id of every line of every insights export file."""
    return sorted(
        json.loads(line)["user_id"]
        for path in (root / "gold" / INSIGHTS_EXPORT_PREFIX).glob("run=*/part-*.json.gz")
        for line in gzip.decompress(path.read_bytes()).decode().splitlines()
        if line
    )


def log_rows(kit: Any, session: Any, lake: Any) -> list[dict[str, Any]]:
    return kit.table_rows(session, lake, ERASURE_LOG)


@pytest.fixture(scope="module")
def scenario(spark: Any, kit: Any, tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    root = tmp_path_factory.mktemp("erasure") / "lake"
    bronze = write_bronze(kit, root)
    session, lake = kit.Lake(root).open(spark)
    third_hour = next(p for p in (root / "bronze" / "cdc").rglob("hour=11") if p.is_dir())
    parked = third_hour.rename(root.parent / "parked")
    run_silver(session, lake, run_id="s1", now=RUN_1)
    run_gold(session, lake, as_of=RUN_1, run_id="g1")
    engagement_before = sorted(r["user_id"] for r in kit.table_rows(session, lake, GOLD_USER_ENGAGEMENT))
    gold_before = [r for r in kit.table_rows(session, lake, GOLD_USER_ENGAGEMENT) if r["user_id"] != GONE]
    insights_before = sorted(r["user_id"] for r in kit.table_rows(session, lake, GOLD_USER_INSIGHTS))
    export_before = export_users(root)
    parked.rename(third_hour)
    run_silver(session, lake, run_id="s2", now=RUN_1 + timedelta(hours=1))
    bronze_before = bronze_objects(root)
    silver_before = others_rows(kit, session, lake)

    with pytest.MonkeyPatch.context() as patch:

        def killed(*_args: Any, **_kwargs: Any) -> Any:
            raise KilledError("killed after the bronze rewrite")

        patch.setattr(erasure, "delete_rows", killed)
        with pytest.raises(KilledError):
            run_erasure(session, lake, run_id="e0", now=RUN_1 + timedelta(hours=2))
    crashed_log = log_rows(kit, session, lake)
    crashed_bronze = bronze_objects(root)
    crashed_runs = [r for r in kit.table_rows(session, lake, PIPELINE_RUNS) if r["job"] == "erasure"]

    first = run_erasure(session, lake, run_id="e1", now=RUN_1 + timedelta(hours=2, minutes=5))
    gold_after = kit.table_rows(session, lake, GOLD_USER_ENGAGEMENT)
    export_after = export_users(root)
    manifest_after = json.loads((root / "gold" / INSIGHTS_EXPORT_MANIFEST).read_text())
    snapshots_before_noop = kit.snapshot_ids(session, lake, ICEBERG_TABLES)
    log_before_noop = log_rows(kit, session, lake)
    bronze_before_noop = bronze_objects(root)
    second = run_erasure(session, lake, run_id="e2", now=RUN_1 + timedelta(hours=2, minutes=10))
    snapshots_after_noop = kit.snapshot_ids(session, lake, ICEBERG_TABLES)
    log_after_noop = log_rows(kit, session, lake)
    assert bronze_objects(root) == bronze_before_noop

    # The next cycle: a copy of an old change of theirs arrives late (a Firehose retry), silver's
    # lookback re-reads the redacted hours and takes the late change in, the erase step re-opens
    # the request and erases it again.
    late = bronze.record("MODIFY", kit.task_item(GONE, "g9", 1, kit.T0, title=LATE_TITLE), None, at=HOUR_2)
    bronze.write([late], HOUR_3)
    run_silver(session, lake, run_id="s3", now=RUN_1 + timedelta(hours=3))
    reappeared = [r["task_id"] for r in kit.table_rows(session, lake, SILVER_TASKS) if r["user_id"] == GONE]
    third = run_erasure(session, lake, run_id="e3", now=RUN_1 + timedelta(hours=3, minutes=5))
    after_pipeline = {t.name: kit.table_rows(session, lake, t) for t in SILVER_TABLES}
    log_after_reopen = log_rows(kit, session, lake)

    # A full rebuild from the redacted bronze alone, in a lake of its own.
    copy = root.parent / "rebuilt"
    shutil.copytree(root / "bronze", copy / "bronze")
    copy_session, copy_lake = kit.Lake(copy).open(spark)
    run_silver(copy_session, copy_lake, full_rebuild=True, run_id="rebuild", now=RUN_1 + timedelta(hours=3))
    rebuilt = {t.name: kit.table_rows(copy_session, copy_lake, t) for t in SILVER_TABLES}

    # A request made just before the deletion and logged late (Firehose buffers logs for minutes):
    # only the access log holds it, and the erase step re-opens the request for it as well.
    late_log = bronze.write_logs(
        [bronze.access_log("r-late", HOUR_3 - timedelta(seconds=20), user_id=GONE)], HOUR_3
    )
    run_silver(session, lake, run_id="s4", now=RUN_1 + timedelta(hours=4))
    late_requests = [
        r["request_id"] for r in kit.table_rows(session, lake, SILVER_API_REQUESTS) if r["user_id"] == GONE
    ]
    fourth = run_erasure(session, lake, run_id="e4", now=RUN_1 + timedelta(hours=4, minutes=5))

    return Scenario(
        root=root,
        session=session,
        lake=lake,
        bronze_before=bronze_before,
        silver_before=silver_before,
        gold_before=gold_before,
        gold_after=gold_after,
        engagement_before=engagement_before,
        insights_before=insights_before,
        export_before=export_before,
        export_after=export_after,
        manifest_after=manifest_after,
        crashed_log=crashed_log,
        crashed_bronze=crashed_bronze,
        crashed_runs=crashed_runs,
        first=first,
        second=second,
        snapshots_before_noop=snapshots_before_noop,
        log_before_noop=log_before_noop,
        snapshots_after_noop=snapshots_after_noop,
        log_after_noop=log_after_noop,
        bronze_after_noop=bronze_before_noop,
        after_pipeline=after_pipeline,
        rebuilt=rebuilt,
        reappeared=reappeared,
        third=third,
        log_after_reopen=log_after_reopen,
        late_log=late_log,
        late_requests=late_requests,
        fourth=fourth,
        api_requests_after=kit.table_rows(session, lake, SILVER_API_REQUESTS),
    )


# --- the checks -------------------------------------------------------------------------------------


def test_no_file_anywhere_in_the_lake_holds_the_erased_persons_data(scenario: Scenario) -> None:
    # Bronze gzip, Parquet data files, Iceberg metadata JSON, Avro manifests, the SQLite catalog.
    kinds = {p.suffix for p in lake_files(scenario.root)}
    assert {".gz", ".parquet", ".json", ".avro", ".db"} <= kinds, kinds
    assert find_in_lake(scenario.root, SECRETS) == []


def test_the_search_would_find_the_data_before_erasure(scenario: Scenario) -> None:
    before = b"".join(scenario.bronze_before.values())
    assert [s for s in SECRETS if s.encode() not in before] == [LATE_TITLE]  # that one came later


def test_only_the_objects_holding_the_person_were_rewritten_and_other_lines_are_byte_identical(
    scenario: Scenario,
) -> None:
    after = bronze_objects(scenario.root)
    assert set(scenario.bronze_before) < set(after)  # plus the late object of the last cycle
    after = {k: v for k, v in after.items() if k in scenario.bronze_before}
    changed = {k for k in after if after[k] != scenario.bronze_before[k]}
    assert changed == {k for k, v in scenario.bronze_before.items() if GONE.encode() in v}
    assert len(changed) == scenario.log_before_noop[0]["objects_rewritten"] == 5
    for key in after:
        old_lines, new_lines = scenario.bronze_before[key].split(b"\n"), after[key].split(b"\n")
        assert len(old_lines) == len(new_lines)
        for old, new in zip(old_lines, new_lines, strict=True):
            if GONE.encode() in old:
                assert new.startswith(ERASED_PREFIX.encode())
            else:
                assert new == old


def test_redacted_records_keep_their_change_structure(scenario: Scenario) -> None:
    after = bronze_objects(scenario.root)
    records = [
        json.loads(line)
        for key, data in after.items()
        if key in scenario.bronze_before
        if "/cdc/" in f"/{key}"
        for line in data.split(b"\n")
        if line.startswith(ERASED_PREFIX.encode())
    ]
    before = {
        json.loads(line)["event_id"]: json.loads(line)
        for key, data in scenario.bronze_before.items()
        if "/cdc/" in f"/{key}"
        for line in data.split(b"\n")
        if GONE.encode() in line
    }
    assert {r["event_id"] for r in records} == set(before)
    assert len(records) == 9
    for record in records:
        original = before[record["event_id"]]
        for field in (
            "event_name",
            "sequence_number",
            "pk",
            "sk",
            "entity_type",
            "approximate_creation_time",
            "keys",
        ):
            assert record[field] == original[field]
        image = record["new_image"] or record["old_image"]
        assert image["version"] == (original["new_image"] or original["old_image"])["version"]
        for name in ("email", "name", "title", "description"):
            if name in image:
                assert image[name] == REDACTED
        if "tags" in image:
            assert image["tags"] == []


def test_silver_and_gold_hold_no_row_of_the_person_and_every_other_row_is_unchanged(
    scenario: Scenario,
) -> None:
    session, lake = scenario.session, scenario.lake
    for table in (*SILVER_TABLES, GOLD_USER_ENGAGEMENT, GOLD_USER_INSIGHTS):
        rows = session.table(lake.identifier(table)).collect()
        assert not [r for r in rows if GONE in json.dumps(r.asDict(recursive=True), default=str)], table.name
    assert GONE in scenario.engagement_before  # gold had a row for them before
    assert scenario.gold_after == scenario.gold_before  # and only their row went
    after = dict(scenario.after_pipeline)
    after[SILVER_QUARANTINE.name] = [
        {k: v for k, v in r.items() if k != "quarantined_at"} for r in after[SILVER_QUARANTINE.name]
    ]
    for name, rows in scenario.silver_before.items():
        if name in ("silver_task_events", "silver_api_requests", "silver_tasks", "silver_schema_drift"):
            continue  # the next cycle added k9's change and a fresh drift snapshot; compared below
        assert after[name] == rows, name
    # Their 6 task changes (2 creates, an edit, a completion, 2 deletes), 2 requests, the quarantined
    # line, the 3 deletes silver remembered, the gold row; tasks and profile were already gone.
    assert scenario.first.details["rows_deleted"] == {
        "silver_tasks": 0,
        "silver_users": 0,
        "silver_task_events": 6,
        "silver_api_requests": 2,
        "silver_deleted_items": 3,
        "silver_quarantine": 1,
        "gold_user_engagement": 1,
        "gold_user_insights": 1,
    }


def test_the_insights_row_and_its_export_lines_go_and_the_manifest_count_follows(scenario: Scenario) -> None:
    assert scenario.insights_before == sorted((GONE, *KEEP))
    assert scenario.export_before == sorted((GONE, *KEEP))  # the gold run's export, before the deletion
    assert scenario.export_after == sorted(KEEP)
    assert scenario.first.details["export_rows_deleted"] == 1
    assert scenario.manifest_after["run_id"] == "g1"
    assert scenario.manifest_after["users"] == len(KEEP)
    (row,) = scenario.log_before_noop
    assert json.loads(row["details"])["export_rows_deleted"] == 1


def test_other_users_silver_rows_survive_erasure_unchanged(scenario: Scenario) -> None:
    for name in ("silver_task_events", "silver_api_requests", "silver_tasks"):
        before = scenario.silver_before[name]
        assert before
        assert all(row in scenario.after_pipeline[name] for row in before), name


def test_the_erasure_log_says_who_when_and_what(scenario: Scenario) -> None:
    (row,) = scenario.log_before_noop
    assert row["user_id"] == GONE
    assert row["status"] == "completed"
    assert row["requested_at"] == (HOUR_3 + timedelta(seconds=1)).replace(tzinfo=None)
    assert row["completed_at"] is not None
    assert row["completed_at"] >= row["started_at"]
    # 9 CDC records (3 creates, 2 edits, 1 quarantined, 3 deletes) and 2 access-log records
    assert row["objects_rewritten"] == 5
    assert row["records_redacted"] == 11
    details = json.loads(row["details"])
    assert row["rows_deleted"] == sum(details["rows_deleted"].values()) > 0


def test_a_crash_after_the_bronze_rewrite_leaves_a_pending_request_that_the_next_run_completes(
    scenario: Scenario,
) -> None:
    (pending,) = scenario.crashed_log
    assert pending["status"] == "pending"
    assert pending["completed_at"] is None
    assert pending["objects_rewritten"] == 5  # the bronze counts were logged before the crash
    assert [r["status"] for r in scenario.crashed_runs if r["run_id"] == "e0"] == [FAILED]
    now = bronze_objects(scenario.root)
    assert scenario.crashed_bronze == {
        k: now[k] for k in scenario.crashed_bronze
    }  # the rerun rewrote nothing
    assert scenario.first.details["objects_rewritten"] == 0
    assert scenario.first.details["completed"] == 1


def test_a_rerun_is_a_no_op(scenario: Scenario) -> None:
    assert scenario.second.details["requests"] == 0
    assert scenario.second.details["objects_rewritten"] == 0
    without_runs = {k: v for k, v in scenario.snapshots_after_noop.items() if k != PIPELINE_RUNS.name}
    assert without_runs == {
        k: v for k, v in scenario.snapshots_before_noop.items() if k != PIPELINE_RUNS.name
    }
    assert scenario.log_after_noop == scenario.log_before_noop


def test_history_of_the_erased_tables_is_gone(scenario: Scenario) -> None:
    session, lake = scenario.session, scenario.lake
    for table in ERASED_TABLES:
        snapshots = session.sql(f"SELECT * FROM {lake.identifier(table)}.snapshots").collect()
        # One snapshot left after erasure; the next cycle may have added one since.
        assert len(snapshots) <= 2, table.name


def test_a_full_rebuild_from_the_redacted_bronze_equals_the_incremental_lake(scenario: Scenario) -> None:
    for name, rows in scenario.after_pipeline.items():
        # Run times differ between the two lakes; everything else must not.
        timing = {"quarantined_at", "detected_at"}
        incremental = [{k: v for k, v in r.items() if k not in timing} for r in rows]
        rebuilt = [{k: v for k, v in r.items() if k not in timing} for r in scenario.rebuilt[name]]
        assert rebuilt == incremental, name


def test_a_late_record_of_an_erased_user_reopens_the_request_and_is_erased_too(scenario: Scenario) -> None:
    assert scenario.reappeared == ["g9"]  # silver took the late change in...
    assert scenario.third.details["completed"] == 1  # ...and the next erase step took it out again
    assert scenario.third.details["objects_rewritten"] == 1
    (row,) = scenario.log_after_reopen
    assert row["status"] == "completed"
    assert row["objects_rewritten"] == 6
    assert row["records_redacted"] == 12
    assert scenario.third.details["rows_deleted"]["silver_tasks"] == 1  # the resurrected task
    # The first completion's 14 rows (the gold_user_insights row among them), then this run's.
    assert sum(scenario.first.details["rows_deleted"].values()) == 14
    assert row["rows_deleted"] == 14 + sum(scenario.third.details["rows_deleted"].values())


def test_a_late_access_log_record_alone_reopens_the_request_and_loses_the_user_id(
    scenario: Scenario,
) -> None:
    assert scenario.late_requests == ["r-late"]  # silver took the late request in...
    assert scenario.fourth.details["completed"] == 1  # ...and the next erase step took it out again
    assert scenario.fourth.details["objects_rewritten"] == 1
    assert GONE.encode() not in gzip.decompress(scenario.late_log.read_bytes())
    assert [r for r in scenario.api_requests_after if r["user_id"] == GONE] == []
    assert "r-late" not in {r["request_id"] for r in scenario.api_requests_after}


def test_pipeline_erase_and_the_erasure_log_through_the_cli(
    scenario: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    state = scenario.root.parent
    assert main(["pipeline", "erase", "--dir", str(state)]) == 0  # nothing pending: a quick no-op
    out = capsys.readouterr().out
    assert "requests worked on" in out
    assert "erasure_log" in out
    sql = "SELECT user_id, status, objects_rewritten, records_redacted FROM erasure_log"
    assert main(["sql", sql, "--dir", str(state), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        # the late CDC object and the late access-log object came on top of the first five
        {"user_id": GONE, "status": "completed", "objects_rewritten": 7, "records_redacted": 13}
    ]
    assert main(["pipeline", "erase", "--dir", str(state / "nowhere")]) == 2
