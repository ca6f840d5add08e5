"""The local Athena engine: catalog views over the lake folders and the Athena-vs-DuckDB shims."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts import lake_layout as ll
from todo_local.athena_engine import AthenaEngine, QueryError, duckdb_type, translate
from todo_local.testing.iceberg_rows import append_rows


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    return tmp_path / "lake"


@pytest.fixture
def engine(lake: Path) -> Iterator[AthenaEngine]:
    with AthenaEngine(lake) as engine:
        yield engine


def scalar(engine: AthenaEngine, sql: str) -> Any:
    result = engine.query(sql)
    assert len(result.rows) == 1
    assert len(result.columns) == 1
    return result.rows[0][0]


def write_bronze(
    lake: Path, folder: str, arrival: datetime, records: list[dict[str, Any]], unique: str
) -> Path:
    path = lake / "bronze" / ll.object_key(folder, "todo-cdc", arrival, unique)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8") as out:
        out.writelines(json.dumps(r) + "\n" for r in records)
    return path


# --- shims: Athena's answers, not DuckDB's ------------------------------------------------------


def test_date_diff_counts_whole_hours_across_an_hour_boundary(engine: AthenaEngine) -> None:
    sql = "SELECT date_diff('hour', TIMESTAMP '2024-03-01 00:59:00', TIMESTAMP '2024-03-01 01:01:00')"

    assert scalar(engine, sql) == 0  # DuckDB's own date_diff says 1 (one boundary crossed)


@pytest.mark.parametrize(
    ("unit", "start", "end", "expected"),
    [
        ("hour", "2024-03-01 00:00:00", "2024-03-01 02:59:59", 2),
        ("day", "2024-03-01 23:00:00", "2024-03-02 01:00:00", 0),
        ("day", "2024-03-01 23:00:00", "2024-03-03 23:00:00", 2),
        ("minute", "2024-03-01 10:00:30", "2024-03-01 10:05:10", 4),
        ("hour", "2024-03-01 05:00:00", "2024-03-01 02:30:00", -2),
        ("week", "2024-03-01 00:00:00", "2024-03-14 23:00:00", 1),
    ],
)
def test_date_diff_whole_unit_semantics(
    engine: AthenaEngine, unit: str, start: str, end: str, expected: int
) -> None:
    sql = f"SELECT date_diff('{unit}', TIMESTAMP '{start}', TIMESTAMP '{end}')"

    assert scalar(engine, sql) == expected


def test_date_diff_in_days_between_dates(engine: AthenaEngine) -> None:
    assert scalar(engine, "SELECT date_diff('day', DATE '2024-02-27', DATE '2024-03-02')") == 4


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("DATE '2024-01-31' + INTERVAL '1' DAY", date(2024, 2, 1)),
        ("DATE '2024-03-01' - INTERVAL '1' DAY", date(2024, 2, 29)),
        ("DATE '2024-01-31' + INTERVAL '1' MONTH", date(2024, 2, 29)),
        ("INTERVAL '2' DAY + DATE '2024-01-01'", date(2024, 1, 3)),
        ("date_add('day', 3, DATE '2024-01-01')", date(2024, 1, 4)),
        ("date_add('week', -1, DATE '2024-01-08')", date(2024, 1, 1)),
        ("(DATE '2024-01-01' + INTERVAL '1' DAY) + INTERVAL '1' DAY", date(2024, 1, 3)),
    ],
)
def test_date_plus_or_minus_interval_is_a_date(engine: AthenaEngine, expression: str, expected: date) -> None:
    value = scalar(engine, f"SELECT {expression}")

    assert type(value) is date
    assert value == expected


def test_timestamp_plus_interval_stays_a_timestamp(engine: AthenaEngine) -> None:
    value = scalar(engine, "SELECT TIMESTAMP '2024-01-01 10:00:00' + INTERVAL '3' HOUR")

    assert value == datetime(2024, 1, 1, 13, 0)


def test_date_column_plus_interval_is_a_date(engine: AthenaEngine, lake: Path) -> None:
    append_rows(lake, ll.SILVER_TASKS, [{"task_id": "t1", "due_date": date(2024, 5, 31)}])

    result = engine.query(
        "SELECT due_date + INTERVAL '1' DAY AS next_day, current_date - due_date FROM silver_tasks"
    )

    assert result.rows[0][0] == date(2024, 6, 1)
    assert type(result.rows[0][0]) is date


def test_date_trunc_of_a_date_is_a_date_and_of_a_timestamp_a_timestamp(engine: AthenaEngine) -> None:
    result = engine.query(
        "SELECT date_trunc('week', DATE '2024-01-03') AS w, date_trunc('month', DATE '2024-01-03') AS m, "
        "date_trunc('hour', TIMESTAMP '2024-01-03 10:42:00') AS h"
    )

    assert result.rows == [(date(2024, 1, 1), date(2024, 1, 1), datetime(2024, 1, 3, 10, 0))]
    assert type(result.rows[0][0]) is date


def test_format_datetime_takes_joda_patterns(engine: AthenaEngine) -> None:
    sql = "SELECT format_datetime(TIMESTAMP '2024-01-05 07:08:09', 'yyyy-MM-dd HH:mm:ss EEE MMM')"

    assert scalar(engine, sql) == "2024-01-05 07:08:09 Fri Jan"


def test_map_agg_builds_a_map_and_drops_null_keys(engine: AthenaEngine) -> None:
    sql = "SELECT map_agg(k, v) FROM (VALUES ('a', 1), ('b', 2), (NULL, 3)) AS t (k, v)"

    assert scalar(engine, sql) == {"a": 1, "b": 2}


def test_integer_division_truncates_like_athena(engine: AthenaEngine) -> None:
    result = engine.query("SELECT 7 / 2, -7 / 2, 7.0 / 2, CAST(7 AS double) / 2")

    assert [float(v) for v in result.rows[0]] == [3, -3, 3.5, 3.5]


def test_approx_percentile_returns_a_value_of_the_data(engine: AthenaEngine) -> None:
    sql = "SELECT approx_percentile(x, 0.5) FROM (VALUES (1.0E0), (2.0E0), (10.0E0), (11.0E0)) AS t (x)"

    assert scalar(engine, sql) in {2.0, 10.0}  # never an interpolated 6.0


def test_unnamed_result_columns_are_named_like_athena(engine: AthenaEngine) -> None:
    result = engine.query("SELECT count(*), task_id, 1 + 1 AS two FROM silver_tasks GROUP BY task_id")

    assert result.columns == ["_col0", "task_id", "two"]


def test_translation_is_sqlglot_athena_to_duckdb_with_shims() -> None:
    sql = translate(
        "SELECT date_diff('day', a, b) FROM (VALUES (DATE '2024-01-01', DATE '2024-01-02')) AS t (a, b)"
    )

    assert "DATE_SUB('day'" in sql


@pytest.mark.parametrize(
    ("athena", "duck"),
    [("string", "TEXT"), ("bigint", "BIGINT"), ("array<string>", "TEXT[]"), ("timestamp", "TIMESTAMP")],
)
def test_athena_types_map_to_duckdb_types(athena: str, duck: str) -> None:
    assert duckdb_type(athena) == duck


# How DuckDB describes the type each Athena type maps to.
DESCRIBED_TYPES = {
    "string": "VARCHAR",
    "bigint": "BIGINT",
    "int": "INTEGER",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "array<string>": "VARCHAR[]",
    "array<struct<category:string,created:bigint,completed:bigint>>": (
        "STRUCT(category VARCHAR, created BIGINT, completed BIGINT)[]"
    ),
}

# --- catalog views -------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ll.ALL_TABLES, ids=lambda t: t.name)
def test_a_fresh_lake_has_every_table_empty_with_its_columns(
    engine: AthenaEngine, table: ll.LakeTable
) -> None:
    result = engine.query(f"SELECT * FROM {table.name}")

    assert result.rows == []
    assert result.columns == [c.name for c in table.columns + table.partition_keys]
    described = dict(engine.describe(table.name))
    assert {c.name: described[c.name] for c in table.columns} == {
        c.name: DESCRIBED_TYPES[c.type] for c in table.columns
    }


def test_bronze_view_reads_gzip_json_lines_with_hour_partitions(engine: AthenaEngine, lake: Path) -> None:
    first = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    write_bronze(
        lake,
        ll.CDC_FOLDER,
        first,
        [
            {
                "event_id": "e1",
                "event_name": "INSERT",
                "item_version": 1,
                "ttl_delete": False,
                "new_image": {"title": "a", "tags": ["x", "y"], "n": 12345678901234567890},
                "old_image": None,
                "not_in_the_catalog": "ignored",
            },
            {"event_id": "e2", "event_name": "REMOVE", "item_version": 2, "ttl_delete": True},
        ],
        unique="a",
    )
    write_bronze(lake, ll.CDC_FOLDER, first + timedelta(hours=20), [{"event_id": "e3"}], unique="b")

    result = engine.query(
        "SELECT event_id, event_name, item_version, ttl_delete, new_image, year, month, day, hour "
        "FROM bronze_cdc ORDER BY event_id"
    )

    assert [r[:4] for r in result.rows] == [
        ("e1", "INSERT", 1, False),
        ("e2", "REMOVE", 2, True),
        ("e3", None, None, None),
    ]
    assert json.loads(result.rows[0][4]) == {"title": "a", "tags": ["x", "y"], "n": 12345678901234567890}
    assert [r[5:] for r in result.rows] == [
        ("2026", "01", "02", "03"),
        ("2026", "01", "02", "03"),
        ("2026", "01", "02", "23"),
    ]


def test_bronze_partition_pruning_by_string_values(engine: AthenaEngine, lake: Path) -> None:
    at = datetime(2026, 1, 2, 3, tzinfo=UTC)
    write_bronze(lake, ll.LOGS_FOLDER, at, [{"log_type": "access", "status": 200, "latency_ms": 1.5}], "a")
    write_bronze(lake, ll.LOGS_FOLDER, at + timedelta(days=1), [{"log_type": "access", "status": 500}], "b")

    result = engine.query("SELECT status, latency_ms FROM bronze_logs WHERE year = '2026' AND day = '02'")

    assert result.rows == [(200, 1.5)]


def test_commits_between_queries_are_seen_and_an_unchanged_table_is_not_replanned(
    engine: AthenaEngine, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert scalar(engine, "SELECT count(*) FROM gold_business_kpis") == 0

    append_rows(lake, ll.GOLD_BUSINESS_KPIS, [{"metric": "total_users", "value": 3.0}])
    assert scalar(engine, "SELECT count(*) FROM gold_business_kpis") == 1

    append_rows(lake, ll.GOLD_BUSINESS_KPIS, [{"metric": "total_tasks", "value": 9.0}])
    assert scalar(engine, "SELECT sum(value) FROM gold_business_kpis") == 12.0

    # Same snapshot: the view is reused, no table metadata is loaded again.
    loads: list[str] = []
    original = engine.catalog.load
    monkeypatch.setattr(engine.catalog, "load", lambda t, p=None: loads.append(t.name) or original(t, p))
    assert scalar(engine, "SELECT sum(value) FROM gold_business_kpis") == 12.0
    assert loads == []


def test_bronze_objects_landing_between_queries_are_read_by_the_same_statement(
    engine: AthenaEngine, lake: Path
) -> None:
    statement = "SELECT count(*) FROM bronze_logs"
    assert scalar(engine, statement) == 0  # an empty folder: the view has no files to glob yet
    at = datetime(2026, 1, 2, 3, tzinfo=UTC)
    write_bronze(lake, ll.LOGS_FOLDER, at, [{"log_type": "access", "status": 200}], "a")
    assert scalar(engine, statement) == 1
    write_bronze(lake, ll.LOGS_FOLDER, at + timedelta(hours=1), [{"log_type": "access"}] * 2, "b")
    assert scalar(engine, statement) == 3


def test_a_repeated_statement_is_translated_once_and_still_sees_each_commit(
    engine: AthenaEngine, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import todo_local.athena_engine as athena_engine

    translations: list[str] = []
    original = athena_engine.translate_tree

    def counted(tree: Any, schema: Any) -> str:
        translations.append(tree.sql())
        return original(tree, schema)

    monkeypatch.setattr(athena_engine, "translate_tree", counted)
    statement = "SELECT count(*) FROM silver_users"
    first, _ = _two_snapshots(lake)
    assert scalar(engine, statement) == 2
    append_rows(lake, ll.SILVER_USERS, [{"user_id": "u3", "version": 1}])
    assert scalar(engine, statement) == 3
    assert len(translations) == 1
    # Time travel is resolved afresh each time (its snapshot view is named per query).
    travel = f"SELECT count(*) FROM silver_users FOR VERSION AS OF {first}"
    assert scalar(engine, travel) == 1
    per_travel = len(translations) - 1
    assert scalar(engine, travel) == 1
    assert per_travel >= 1
    assert len(translations) == 1 + 2 * per_travel


def test_columns_missing_from_the_files_read_as_null(engine: AthenaEngine, lake: Path) -> None:
    # A table created before a column existed (schema evolution adds it later).
    append_rows(lake, ll.SILVER_USERS, [{"user_id": "u1", "version": 4}], columns=["user_id", "version"])

    result = engine.query("SELECT user_id, version, extra FROM silver_users")

    assert result.rows == [("u1", 4, None)]
    assert dict(engine.describe("silver_users"))["version"] == "BIGINT"  # cast to the catalog type


def test_partitioned_tables_and_utc_timestamps(engine: AthenaEngine, lake: Path) -> None:
    instant = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    rows = [
        {"event_id": f"e-{day}", "event_date": day, "event_time": instant}
        for day in (date(2026, 3, 1), date(2026, 3, 2))
    ]
    append_rows(lake, ll.SILVER_TASK_EVENTS, rows, partition_by=["event_date"])
    assert any((lake / "silver" / "task_events" / "data").glob("event_date=*"))

    result = engine.query("SELECT event_id, event_date, event_time FROM silver_task_events ORDER BY event_id")

    assert result.rows == [
        ("e-2026-03-01", date(2026, 3, 1), datetime(2026, 3, 1, 23, 30)),
        ("e-2026-03-02", date(2026, 3, 2), datetime(2026, 3, 1, 23, 30)),
    ]


# --- time travel -----------------------------------------------------------------------------------


def _two_snapshots(lake: Path) -> tuple[int, int]:
    first = append_rows(lake, ll.SILVER_USERS, [{"user_id": "u1", "version": 1}])
    second = append_rows(lake, ll.SILVER_USERS, [{"user_id": "u2", "version": 1}])
    return first, second


def test_for_version_as_of_reads_that_snapshot(engine: AthenaEngine, lake: Path) -> None:
    first, second = _two_snapshots(lake)

    assert scalar(engine, f"SELECT count(*) FROM silver_users FOR VERSION AS OF {first}") == 1
    assert scalar(engine, f"SELECT count(*) FROM silver_users FOR VERSION AS OF {second}") == 2
    assert scalar(engine, "SELECT count(*) FROM silver_users") == 2
    # An old snapshot joined with the current table: each side reads its own snapshot.
    joined = engine.query(
        f"SELECT n.user_id FROM silver_users n LEFT JOIN silver_users FOR VERSION AS OF {first} o "
        "ON n.user_id = o.user_id WHERE o.user_id IS NULL"
    )
    assert joined.rows == [("u2",)]


def test_for_timestamp_as_of_reads_the_snapshot_current_at_that_time(
    engine: AthenaEngine, lake: Path
) -> None:
    first, _ = _two_snapshots(lake)
    history = {r.snapshot_id: r.committed_at for r in engine.catalog.snapshots(ll.SILVER_USERS)}
    at_first = history[first].strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]

    count = scalar(
        engine, f"SELECT count(*) FROM silver_users FOR TIMESTAMP AS OF TIMESTAMP '{at_first} UTC'"
    )
    now = scalar(engine, "SELECT count(*) FROM silver_users FOR TIMESTAMP AS OF current_timestamp")

    assert (count, now) == (1, 2)


@pytest.mark.parametrize(
    ("clause", "message"),
    [
        ("FOR VERSION AS OF 42", "has no snapshot 42"),
        ("FOR TIMESTAMP AS OF TIMESTAMP '2001-01-01 00:00:00 UTC'", "history starts later"),
        ("FOR VERSION AS OF 'soon'", "needs a snapshot id"),
    ],
    ids=["unknown-version", "before-history", "not-an-id"],
)
def test_time_travel_outside_the_history_is_a_query_error(
    engine: AthenaEngine, lake: Path, clause: str, message: str
) -> None:
    _two_snapshots(lake)
    with pytest.raises(QueryError, match=message) as raised:
        engine.query(f"SELECT count(*) FROM silver_users {clause}")
    # Only "before the history" is a lake too young to answer; the others are wrong queries.
    assert raised.value.history_too_short is (message == "history starts later")


def test_time_travel_on_bronze_is_refused(engine: AthenaEngine) -> None:
    with pytest.raises(QueryError, match="needs an Iceberg table"):
        engine.query("SELECT count(*) FROM bronze_cdc FOR VERSION AS OF 1")


# --- errors --------------------------------------------------------------------------------------


def test_invalid_sql_is_a_query_error_without_translation(engine: AthenaEngine) -> None:
    with pytest.raises(QueryError, match="Not valid Athena SQL") as caught:
        engine.query("SELEC FROM WHERE")

    assert caught.value.translated_sql is None


def test_an_unknown_table_is_a_query_error_that_shows_the_translated_sql(engine: AthenaEngine) -> None:
    with pytest.raises(QueryError, match="DuckDB could not run") as caught:
        engine.query("SELECT * FROM silver_taskz")

    assert caught.value.translated_sql is not None
    assert "silver_taskz" in str(caught.value)
    assert "translated to DuckDB" in str(caught.value)


def test_more_than_one_statement_is_refused(engine: AthenaEngine) -> None:
    with pytest.raises(QueryError, match="exactly one statement"):
        engine.query("SELECT 1; SELECT 2")


def test_describe_of_an_unknown_table_is_a_query_error(engine: AthenaEngine) -> None:
    with pytest.raises(QueryError, match="No catalog table"):
        engine.describe("nope")
