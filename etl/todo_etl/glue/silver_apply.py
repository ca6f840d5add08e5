"""How one silver run's rows reach the Iceberg tables: current state merged, history appended.

An incremental run writes only what changed since the last one, each table in one commit:
- current state (`silver_tasks`, `silver_users`): `MERGE INTO` by item key, fed by each item's
  newest change of the run, applied only where it is newer than the row the table holds and than
  the item's recorded delete (`silver_deleted_items`), so late and repeated deliveries change
  nothing and a deleted item never comes back;
- history (`silver_task_events`, `silver_api_requests`, `silver_quarantine`): new rows appended,
  deduplicated against the partitions (days) the run's rows fall in, never the whole history.
Each source is narrowed to the rows that really change something before the MERGE, so a
re-read lookback hour costs no file rewrite and a run without news makes no snapshot. The MERGE
conditions repeat the same rules, so a change committed meanwhile by another run is still safe.

A full rebuild replaces each table with what all of bronze gives, in one snapshot per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.storagelevel import StorageLevel

from todo_etl.glue import iceberg_tables, silver_transform
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.silver_transform import IS_REMOVE, newer
from todo_etl.lake_layout import (
    SILVER_API_REQUESTS,
    SILVER_DELETED_ITEMS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
    LakeTable,
)


@dataclass
class Written:
    """The tables a run committed to (each at most once)."""

    tables: set[str] = field(default_factory=set)

    def add(self, table: LakeTable) -> None:
        self.tables.add(table.name)


def _set_clause(table: LakeTable) -> str:
    return ", ".join(f"t.`{c}` = s.`{c}`" for c in table.column_names())


def _insert_clause(table: LakeTable) -> str:
    names = ", ".join(f"`{c}`" for c in table.column_names())
    values = ", ".join(f"s.`{c}`" for c in table.column_names())
    return f"INSERT ({names}) VALUES ({values})"


def _merge_if_any(
    spark: SparkSession,
    lake: Lake,
    table: LakeTable,
    source: DataFrame,
    on: str,
    clauses: str,
    written: Written,
) -> None:
    """MERGE `source` unless it is empty (then no snapshot at all)."""
    source = source.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        if source.isEmpty():
            return
        iceberg_tables.merge(spark, lake, table, source, on, clauses)
        written.add(table)
    finally:
        source.unpersist()


def _replace(lake: Lake, table: LakeTable, rows: DataFrame, written: Written) -> None:
    iceberg_tables.overwrite(lake, table, rows)
    written.add(table)


def _in_days(column: str, days: Sequence[date], alias: str | None = None) -> str:
    """SQL: `column` is one of `days` (a literal list, so Iceberg prunes partitions by it)."""
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(set(days)))
    return f"{alias + '.' if alias else ''}{column} IN ({listed})"


def _days(rows: DataFrame, column: str, margin_days: int = 0) -> list[date]:
    """The distinct dates of `column` in `rows`, each widened by `margin_days` either side."""
    found = [r[0] for r in rows.select(column).distinct().collect() if r[0] is not None]
    return sorted({d + timedelta(days=k) for d in found for k in range(-margin_days, margin_days + 1)})


def _on(left: str, right: str, columns: Sequence[str]) -> str:
    return " AND ".join(f"{left}.`{c}` = {right}.`{c}`" for c in columns)


# --- current state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    table: LakeTable
    key: tuple[str, ...]
    rows: str  # the silver_transform function giving typed rows with `_is_remove`


_TASKS = _State(SILVER_TASKS, ("user_id", "task_id"), "task_rows")
_USERS = _State(SILVER_USERS, ("user_id",), "user_rows")


def _typed(state: _State, changes: DataFrame) -> DataFrame:
    rows: DataFrame = getattr(silver_transform, state.rows)(changes)
    return rows


def apply_current_state(
    spark: SparkSession, lake: Lake, changes: DataFrame, full_rebuild: bool, written: Written
) -> None:
    """Tasks, users and deleted items from one run's deduplicated changes."""
    latest = silver_transform.latest_per_item(changes)
    if full_rebuild:
        for state in (_TASKS, _USERS):
            live = _typed(state, latest.where(~F.col("is_remove"))).drop(IS_REMOVE)
            _replace(lake, state.table, live, written)
        deleted = silver_transform.deleted_item_rows(changes).drop(IS_REMOVE)
        _replace(lake, SILVER_DELETED_ITEMS, deleted, written)
        return

    deleted_items = iceberg_tables.read(spark, lake, SILVER_DELETED_ITEMS)
    # Newer than the item's recorded delete (or never deleted): only these can change the state.
    after_delete = (
        latest.alias("c")
        .join(deleted_items.alias("d"), F.expr(_on("c", "d", ("pk", "sk"))), "left")
        .where(F.col("d.pk").isNull() | F.expr(newer("c", "d", "c.is_remove", "true")))
        .select("c.*")
    )
    for state in (_TASKS, _USERS):
        _merge_state(spark, lake, state, _typed(state, after_delete), written)

    # The newest delete per item, where newer than the one recorded.
    removes = silver_transform.deleted_item_rows(changes)
    recorded = deleted_items.select("pk", "sk", "created_at", "version")
    new_removes = (
        removes.alias("s")
        .join(recorded.alias("d"), F.expr(_on("s", "d", ("pk", "sk"))), "left")
        .where(F.col("d.pk").isNull() | F.expr(newer("s", "d", "true", "true")))
        .select("s.*")
        .drop(IS_REMOVE)
    )
    _merge_if_any(
        spark,
        lake,
        SILVER_DELETED_ITEMS,
        new_removes,
        _on("t", "s", ("pk", "sk")),
        f"WHEN MATCHED AND {newer('s', 't', 'true', 'true')} THEN UPDATE SET {_set_clause(SILVER_DELETED_ITEMS)} "
        f"WHEN NOT MATCHED THEN {_insert_clause(SILVER_DELETED_ITEMS)}",
        written,
    )


def _merge_state(spark: SparkSession, lake: Lake, state: _State, candidates: DataFrame, written: Written) -> None:
    """Apply each item's newest change where it is newer than the table's row (or the row is absent)."""
    target = iceberg_tables.read(spark, lake, state.table).select(*state.key, "created_at", "version")
    on = _on("t", "s", state.key)
    joined = candidates.alias("s").join(target.alias("t"), F.expr(on), "left")
    absent = F.col(f"t.{state.key[0]}").isNull()
    changing = joined.where(
        (absent & ~F.col(f"s.{IS_REMOVE}")) | (~absent & F.expr(newer("s", "t", f"s.{IS_REMOVE}", "false")))
    ).select("s.*")
    is_newer = newer("s", "t", f"s.{IS_REMOVE}", "false")
    _merge_if_any(
        spark,
        lake,
        state.table,
        changing,
        on,
        f"WHEN MATCHED AND s.{IS_REMOVE} AND {is_newer} THEN DELETE "
        f"WHEN MATCHED AND NOT s.{IS_REMOVE} AND {is_newer} THEN UPDATE SET {_set_clause(state.table)} "
        f"WHEN NOT MATCHED AND NOT s.{IS_REMOVE} THEN {_insert_clause(state.table)}",
        written,
    )


# --- history ------------------------------------------------------------------------------------------

_EVENT_KEY = ("user_id", "task_id", "created_at", "version")


def _event_is_remove(alias: str) -> str:
    return f"({alias}.event_name = 'REMOVE')"


def _event_preferred(s: str, t: str) -> str:
    """SQL: copy `s` of one change is preferred to copy `t` (silver_transform.change_preference)."""
    s_insert, t_insert = f"({s}.event_name = 'INSERT')", f"({t}.event_name = 'INSERT')"
    s_seq, t_seq = f"lpad({s}.sequence_number, 40, '0')", f"lpad({t}.sequence_number, 40, '0')"
    return (
        f"(({s_insert} AND NOT {t_insert}) OR ({s_insert} = {t_insert} AND "
        f"({s_seq} > {t_seq} OR ({s_seq} = {t_seq} AND {s}.event_id < {t}.event_id))))"
    )


def _event_match(s: str, t: str) -> str:
    keys = " AND ".join(f"{t}.`{k}` <=> {s}.`{k}`" for k in _EVENT_KEY)
    return f"{keys} AND {_event_is_remove(t)} = {_event_is_remove(s)}"


def apply_task_events(
    spark: SparkSession, lake: Lake, changes: DataFrame, full_rebuild: bool, written: Written
) -> None:
    """Task events of one run, appended where they are new (or a preferred copy of a stored one)."""
    events = silver_transform.task_events(changes)
    if full_rebuild:
        _replace(lake, SILVER_TASK_EVENTS, events, written)
        return
    events = events.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        # Copies of one change share their event day, but a second's skew can cross midnight.
        days = _days(events, "event_date", margin_days=1)
        if not days:
            return
        in_days = _in_days("event_date", days, "t")
        stored = iceberg_tables.read(spark, lake, SILVER_TASK_EVENTS).where(_in_days("event_date", days))
        joined = events.alias("s").join(stored.alias("t"), F.expr(_event_match("s", "t")), "left")
        fresh = joined.where(
            F.col("t.event_id").isNull() | F.expr(_event_preferred("s", "t"))
        ).select("s.*")
        _merge_if_any(
            spark,
            lake,
            SILVER_TASK_EVENTS,
            fresh,
            f"{_event_match('s', 't')} AND {in_days}",
            f"WHEN MATCHED AND {_event_preferred('s', 't')} THEN UPDATE SET {_set_clause(SILVER_TASK_EVENTS)} "
            f"WHEN NOT MATCHED THEN {_insert_clause(SILVER_TASK_EVENTS)}",
            written,
        )
    finally:
        events.unpersist()


def _request_preferred(s: str, t: str) -> str:
    """SQL: record `s` of one request id wins over `t` (earliest, then the smaller row text)."""
    columns = ", ".join(f"'{c}', {{a}}.`{c}`" for c in SILVER_API_REQUESTS.column_names())
    s_text = f"to_json(named_struct({columns.format(a=s)}))"
    t_text = f"to_json(named_struct({columns.format(a=t)}))"
    return f"({s}.ts < {t}.ts OR ({s}.ts = {t}.ts AND {s_text} < {t_text}))"


def apply_api_requests(
    spark: SparkSession, lake: Lake, requests: DataFrame, full_rebuild: bool, written: Written
) -> None:
    """One run's access-log rows, appended where their request id is new in its day."""
    rows = silver_transform.dedupe_api_requests(requests)
    if full_rebuild:
        _replace(lake, SILVER_API_REQUESTS, rows, written)
        return
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        days = _days(rows, "request_date")
        if not days:
            return
        in_days = _in_days("request_date", days, "t")
        stored = iceberg_tables.read(spark, lake, SILVER_API_REQUESTS).where(_in_days("request_date", days))
        joined = rows.alias("s").join(stored.alias("t"), F.expr(_on("s", "t", ("request_id",))), "left")
        fresh = joined.where(
            F.col("t.request_id").isNull() | F.expr(_request_preferred("s", "t"))
        ).select("s.*")
        _merge_if_any(
            spark,
            lake,
            SILVER_API_REQUESTS,
            fresh,
            f"t.request_id = s.request_id AND {in_days}",
            f"WHEN MATCHED AND {_request_preferred('s', 't')} THEN UPDATE SET {_set_clause(SILVER_API_REQUESTS)} "
            f"WHEN NOT MATCHED THEN {_insert_clause(SILVER_API_REQUESTS)}",
            written,
        )
    finally:
        rows.unpersist()


_QUARANTINE_MATCH = (
    "t.source = s.source AND coalesce(t.event_id, '') = coalesce(s.event_id, '') "
    "AND t.reason = s.reason AND t.raw = s.raw"
)


def apply_quarantine(
    spark: SparkSession,
    lake: Lake,
    quarantine: DataFrame,
    full_rebuild: bool,
    earliest_read: datetime | None,
    written: Written,
) -> None:
    """One run's quarantined records, appended where not already quarantined.

    A record re-read by the lookback was quarantined by a run after its bronze hour arrived, so
    comparing with rows quarantined since the oldest hour this run read is enough.
    """
    rows = silver_transform.dedupe_quarantine(quarantine)
    if full_rebuild:
        _replace(lake, SILVER_QUARANTINE, rows, written)
        return
    if earliest_read is None:
        return
    bound = f"TIMESTAMP '{earliest_read.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}'"
    since = f"t.quarantined_at >= {bound}"
    stored = iceberg_tables.read(spark, lake, SILVER_QUARANTINE).where(f"quarantined_at >= {bound}")
    fresh = rows.alias("s").join(stored.alias("t"), F.expr(_QUARANTINE_MATCH), "left_anti")
    _merge_if_any(
        spark,
        lake,
        SILVER_QUARANTINE,
        fresh,
        f"{_QUARANTINE_MATCH} AND {since}",
        f"WHEN NOT MATCHED THEN {_insert_clause(SILVER_QUARANTINE)}",
        written,
    )


# --- drift --------------------------------------------------------------------------------------------


def write_schema_drift(
    spark: SparkSession, lake: Lake, detected_at: datetime, full_rebuild: bool, written: Written
) -> None:
    """Drift per attribute over the live rows, rewritten (a small table) when the state changed."""
    state_changed = {SILVER_TASKS.name, SILVER_USERS.name} & written.tables
    if not (full_rebuild or state_changed):
        return
    previous = None if full_rebuild else iceberg_tables.read(spark, lake, SILVER_SCHEMA_DRIFT)
    drift = silver_transform.schema_drift(
        iceberg_tables.read(spark, lake, SILVER_TASKS),
        iceberg_tables.read(spark, lake, SILVER_USERS),
        previous,
        detected_at,
    )
    _replace(lake, SILVER_SCHEMA_DRIFT, drift, written)
