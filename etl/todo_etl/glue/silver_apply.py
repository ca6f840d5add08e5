"""How one silver run's rows reach the Iceberg tables: current state merged, history appended.

An incremental run writes only what changed since the last one, each table in one commit:
- current state (`silver_tasks`, `silver_users`): `MERGE INTO` by item key, fed by each item's
  newest change of the run, applied only where it is newer than the row the table holds and than
  the item's recorded delete (`silver_deleted_items`), so late and repeated deliveries change
  nothing and a deleted item never comes back;
- history (`silver_task_events`, `silver_api_requests`, `silver_quarantine`): new rows appended,
  deduplicated against the partitions (days) the run's rows fall in, never the whole history.
Each source is narrowed to the rows that really change something before its MERGE, so a
re-read lookback hour costs no file rewrite and a run without news makes no snapshot. The MERGE
conditions repeat the same rules, so a change committed meanwhile by another run is still safe.

A full rebuild replaces each table with what all of bronze gives, in one snapshot per table.

Writes are planned first and committed together: one Spark action sizes every planned source (a
local or Glue job pays per action, not per row), then each non-empty one is merged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.storagelevel import StorageLevel

from todo_contracts.lake_layout import (
    SILVER_API_REQUESTS,
    SILVER_DELETED_ITEMS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
    LakeTable,
)
from todo_etl.glue import iceberg_tables, silver_transform
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.silver_transform import IS_REMOVE, newer


@dataclass(frozen=True)
class TableWrite:
    """One planned commit: replace the table with `rows`, or MERGE `rows` into it."""

    table: LakeTable
    rows: DataFrame
    on: str | None = None  # None: replace every row (one overwrite snapshot)
    clauses: str = ""

    @property
    def is_merge(self) -> bool:
        return self.on is not None


@dataclass
class Written:
    """The tables a run committed to (each at most once)."""

    tables: set[str] = field(default_factory=set)

    def add(self, table: LakeTable) -> None:
        self.tables.add(table.name)


def commit(spark: SparkSession, lake: Lake, writes: Sequence[TableWrite], written: Written) -> None:
    """Commit every planned write, skipping MERGEs whose source is empty (no empty snapshots)."""
    merges = [w for w in writes if w.is_merge]
    sources = [w.rows.persist(StorageLevel.MEMORY_AND_DISK) for w in merges]
    try:
        # One action sizes (and caches) every MERGE source at once.
        sizes: dict[int, int] = {}
        if sources:
            tagged = [s.select(F.lit(i).alias("_write")) for i, s in enumerate(sources)]
            union = tagged[0]
            for frame in tagged[1:]:
                union = union.unionByName(frame)
            sizes = {int(r["_write"]): int(r["count"]) for r in union.groupBy("_write").count().collect()}
        for i, (write, source) in enumerate(zip(merges, sources, strict=True)):
            if sizes.get(i, 0):
                iceberg_tables.merge(spark, lake, write.table, source, str(write.on), write.clauses)
                written.add(write.table)
        for write in writes:
            if not write.is_merge:
                iceberg_tables.overwrite(lake, write.table, write.rows)
                written.add(write.table)
    finally:
        for source in sources:
            source.unpersist()


def _set_clause(table: LakeTable) -> str:
    return ", ".join(f"t.`{c}` = s.`{c}`" for c in table.column_names())


def _insert_clause(table: LakeTable) -> str:
    names = ", ".join(f"`{c}`" for c in table.column_names())
    values = ", ".join(f"s.`{c}`" for c in table.column_names())
    # Column names from lake_layout, never data.
    return f"INSERT ({names}) VALUES ({values})"  # noqa: S608


def _upsert(table: LakeTable, replace_when: str) -> str:
    """MERGE clauses: a matched row is replaced when `replace_when` holds; a new row is inserted."""
    return (
        f"WHEN MATCHED AND {replace_when} THEN UPDATE SET {_set_clause(table)} "
        f"WHEN NOT MATCHED THEN {_insert_clause(table)}"
    )


def _on(left: str, right: str, columns: Sequence[str]) -> str:
    return " AND ".join(f"{left}.`{c}` = {right}.`{c}`" for c in columns)


def _in_days(column: str, days: Sequence[date], alias: str | None = None) -> str:
    """SQL: `column` is one of `days` (a literal list, so Iceberg prunes partitions by it)."""
    listed = ", ".join(f"DATE '{d.isoformat()}'" for d in sorted(set(days)))
    return f"{alias + '.' if alias else ''}{column} IN ({listed})"


@dataclass(frozen=True)
class RunDays:
    """The days one run's rows fall in: the partitions its history writes compare against."""

    events: tuple[date, ...]
    requests: tuple[date, ...]


def run_days(changes: DataFrame, requests: DataFrame) -> RunDays:
    """One action: the event days of the changes (widened by a day either side, since copies of
    one change may straddle midnight by a second) and the days of the requests."""
    found = (
        changes.select(F.lit("e").alias("k"), F.to_date("event_time").alias("d"))
        .unionByName(requests.select(F.lit("r").alias("k"), F.col("request_date").alias("d")))
        .where(F.col("d").isNotNull())
        .distinct()
        .collect()
    )
    events = {r["d"] + timedelta(days=k) for r in found if r["k"] == "e" for k in (-1, 0, 1)}
    return RunDays(
        events=tuple(sorted(events)), requests=tuple(sorted(r["d"] for r in found if r["k"] == "r"))
    )


# --- current state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _State:
    table: LakeTable
    key: tuple[str, ...]


_TASKS = _State(SILVER_TASKS, ("user_id", "task_id"))
_USERS = _State(SILVER_USERS, ("user_id",))


def _typed(state: _State, changes: DataFrame) -> DataFrame:
    if state is _TASKS:
        return silver_transform.task_rows(changes)
    return silver_transform.user_rows(changes)


def plan_current_state(
    spark: SparkSession, lake: Lake, changes: DataFrame, full_rebuild: bool
) -> list[TableWrite]:
    """Tasks, users and deleted items from one run's deduplicated changes."""
    latest = silver_transform.latest_per_item(changes)
    if full_rebuild:
        live = latest.where(~F.col("is_remove"))
        return [
            TableWrite(_TASKS.table, _typed(_TASKS, live).drop(IS_REMOVE)),
            TableWrite(_USERS.table, _typed(_USERS, live).drop(IS_REMOVE)),
            TableWrite(SILVER_DELETED_ITEMS, silver_transform.deleted_item_rows(changes).drop(IS_REMOVE)),
        ]

    deleted_items = iceberg_tables.read(spark, lake, SILVER_DELETED_ITEMS)
    # Newer than the item's recorded delete (or never deleted): only these can change the state.
    after_delete = (
        latest.alias("c")
        .join(deleted_items.alias("d"), F.expr(_on("c", "d", ("pk", "sk"))), "left")
        .where(F.col("d.pk").isNull() | F.expr(newer("c", "d", "c.is_remove", "true")))
        .select("c.*")
    )
    writes = [_state_write(spark, lake, state, _typed(state, after_delete)) for state in (_TASKS, _USERS)]
    # The newest delete per item, where newer than the one recorded.
    recorded = deleted_items.select("pk", "sk", "created_at", "version")
    new_removes = (
        silver_transform.deleted_item_rows(changes)
        .alias("s")
        .join(recorded.alias("d"), F.expr(_on("s", "d", ("pk", "sk"))), "left")
        .where(F.col("d.pk").isNull() | F.expr(newer("s", "d", "true", "true")))
        .select("s.*")
        .drop(IS_REMOVE)
    )
    writes.append(
        TableWrite(
            SILVER_DELETED_ITEMS,
            new_removes,
            _on("t", "s", ("pk", "sk")),
            _upsert(SILVER_DELETED_ITEMS, newer("s", "t", "true", "true")),
        )
    )
    return writes


def _state_write(spark: SparkSession, lake: Lake, state: _State, candidates: DataFrame) -> TableWrite:
    """Each item's newest change where it is newer than the table's row (or the row is absent)."""
    target = iceberg_tables.read(spark, lake, state.table).select(*state.key, "created_at", "version")
    on = _on("t", "s", state.key)
    joined = candidates.alias("s").join(target.alias("t"), F.expr(on), "left")
    absent = F.col(f"t.{state.key[0]}").isNull()
    is_newer = newer("s", "t", f"s.{IS_REMOVE}", "false")
    changing = joined.where((absent & ~F.col(f"s.{IS_REMOVE}")) | (~absent & F.expr(is_newer))).select("s.*")
    return TableWrite(
        state.table,
        changing,
        on,
        f"WHEN MATCHED AND s.{IS_REMOVE} AND {is_newer} THEN DELETE "
        f"WHEN MATCHED AND NOT s.{IS_REMOVE} AND {is_newer} THEN UPDATE SET {_set_clause(state.table)} "
        f"WHEN NOT MATCHED AND NOT s.{IS_REMOVE} THEN {_insert_clause(state.table)}",
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


def _history_write(
    spark: SparkSession,
    lake: Lake,
    table: LakeTable,
    rows: DataFrame,
    day_column: str,
    days: Sequence[date],
    match: Callable[[str, str], str],
    preferred: Callable[[str, str], str],
) -> list[TableWrite]:
    """Append `rows` where no stored row matches, or where a row is a preferred copy of a stored
    one, comparing only with the stored rows of `days` (partitions of `day_column`)."""
    if not days:
        return []
    stored = iceberg_tables.read(spark, lake, table).where(_in_days(day_column, days))
    first_column = table.column_names()[0]
    joined = rows.alias("s").join(stored.alias("t"), F.expr(match("s", "t")), "left")
    fresh = joined.where(F.col(f"t.{first_column}").isNull() | F.expr(preferred("s", "t"))).select("s.*")
    on = f"{match('s', 't')} AND {_in_days(day_column, days, 't')}"
    return [TableWrite(table, fresh, on, _upsert(table, preferred("s", "t")))]


def plan_task_events(
    spark: SparkSession, lake: Lake, changes: DataFrame, days: RunDays, full_rebuild: bool
) -> list[TableWrite]:
    """Task events of one run, appended where new (or a preferred copy of a stored one)."""
    events = silver_transform.task_events(changes)
    if full_rebuild:
        return [TableWrite(SILVER_TASK_EVENTS, events)]
    return _history_write(
        spark, lake, SILVER_TASK_EVENTS, events, "event_date", days.events, _event_match, _event_preferred
    )


def _request_preferred(s: str, t: str) -> str:
    """SQL: record `s` of one request id wins over `t` (earliest, then the smaller row text)."""
    columns = ", ".join(f"'{c}', {{a}}.`{c}`" for c in SILVER_API_REQUESTS.column_names())
    s_text = f"to_json(named_struct({columns.format(a=s)}))"
    t_text = f"to_json(named_struct({columns.format(a=t)}))"
    return f"({s}.ts < {t}.ts OR ({s}.ts = {t}.ts AND {s_text} < {t_text}))"


def _request_match(s: str, t: str) -> str:
    return _on(t, s, ("request_id",))


def plan_api_requests(
    spark: SparkSession, lake: Lake, requests: DataFrame, days: RunDays, full_rebuild: bool
) -> list[TableWrite]:
    """One run's deduplicated access-log rows, appended where their request id is new in its day."""
    if full_rebuild:
        return [TableWrite(SILVER_API_REQUESTS, requests)]
    return _history_write(
        spark,
        lake,
        SILVER_API_REQUESTS,
        requests,
        "request_date",
        days.requests,
        _request_match,
        _request_preferred,
    )


_QUARANTINE_MATCH = (
    "t.source = s.source AND coalesce(t.event_id, '') = coalesce(s.event_id, '') "
    "AND t.reason = s.reason AND t.raw = s.raw"
)


def plan_quarantine(
    spark: SparkSession, lake: Lake, quarantine: DataFrame, full_rebuild: bool, earliest_read: datetime | None
) -> list[TableWrite]:
    """One run's quarantined records, appended where not already quarantined.

    A record re-read by the lookback was quarantined by a run after its bronze hour arrived, so
    comparing with rows quarantined since the oldest hour this run read is enough.
    """
    rows = silver_transform.dedupe_quarantine(quarantine)
    if full_rebuild:
        return [TableWrite(SILVER_QUARANTINE, rows)]
    if earliest_read is None:
        return []
    bound = f"TIMESTAMP '{earliest_read.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%S')}'"
    stored = iceberg_tables.read(spark, lake, SILVER_QUARANTINE).where(f"quarantined_at >= {bound}")
    fresh = rows.alias("s").join(stored.alias("t"), F.expr(_QUARANTINE_MATCH), "left_anti")
    return [
        TableWrite(
            SILVER_QUARANTINE,
            fresh,
            f"{_QUARANTINE_MATCH} AND t.quarantined_at >= {bound}",
            f"WHEN NOT MATCHED THEN {_insert_clause(SILVER_QUARANTINE)}",
        )
    ]


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
    iceberg_tables.overwrite(lake, SILVER_SCHEMA_DRIFT, drift)
    written.add(SILVER_SCHEMA_DRIFT)
