"""Silver transforms: one run's CDC changes deduplicated, ordered, typed; task events, drift, quarantine.

Pure DataFrame functions over what one run read from bronze. How their rows are applied to the
Iceberg tables (merged into current state, appended to history) is `silver_apply`'s business;
the ordering rule both rely on lives here, once.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

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
from todo_contracts.table import EntityType
from todo_etl.glue import item_schema
from todo_etl.glue.image_extras import extra_attributes
from todo_etl.glue.spark_schema import conform

ITEM = ("pk", "sk")
# An item's changes in order: incarnation (created_at), version, a delete after the image it
# deletes, then the stream sequence number. A re-created profile restarts at version 1 with a later
# created_at; a REMOVE carries the old image's created_at and version, so a late older MODIFY sorts
# before it and cannot resurrect the item.
ORDER = ("created_at", "version", "is_remove", "sequence_key")
# The columns a current-state row keeps for the ordering rule: a row is (created_at, version, not a
# delete); a deleted item's newest REMOVE is (created_at, version, a delete) in silver_deleted_items.
IS_REMOVE = "_is_remove"
# A change is one version of one incarnation of one item (deletes apart); moto emits duplicate
# INSERTs and MODIFYs for identical re-puts, and a redelivery repeats an event id.
CHANGE_KEY = (*ITEM, "created_at", "version", "is_remove")


def dedupe_changes(records: DataFrame) -> DataFrame:
    """One row per event id, then one per distinct change (the INSERT preferred, then the latest).

    The preference is `prefer_change` applied within one run; silver_apply applies the same one
    against what earlier runs stored, so the kept row never depends on how deliveries were split.
    """
    by_event_id = Window.partitionBy("event_id").orderBy(
        "sequence_key", "event_name", F.coalesce("image", F.lit("")), F.coalesce("old_image", F.lit(""))
    )
    events = records.withColumn("_n", F.row_number().over(by_event_id)).where("_n = 1").drop("_n")
    by_change = Window.partitionBy(*CHANGE_KEY).orderBy(*change_preference())
    return events.withColumn("_n", F.row_number().over(by_change)).where("_n = 1").drop("_n")


def change_preference() -> list[Column]:
    """Sort order among copies of one change: INSERT first, then the highest sequence, then event id."""
    return [
        F.when(F.col("event_name") == "INSERT", 0).otherwise(1),
        F.col("sequence_key").desc(),
        F.col("event_id"),
    ]


def latest_per_item(changes: DataFrame) -> DataFrame:
    """The newest change of each item (by ORDER) among `changes`."""
    latest_first = Window.partitionBy(*ITEM).orderBy(*(F.col(c).desc() for c in ORDER))
    return changes.withColumn("_n", F.row_number().over(latest_first)).where("_n = 1").drop("_n")


def newer(a: str, b: str, a_is_remove: str, b_is_remove: str) -> str:
    """SQL: change `a` sorts after `b` under ORDER, each given by its alias and is-delete expression.

    The sequence number is left out on purpose: equal (created_at, version, is-delete) is the same
    change, so a copy of what a table already holds is never "newer" and changes nothing.
    """
    return (
        f"({a}.created_at > {b}.created_at OR ({a}.created_at = {b}.created_at AND "
        f"({a}.version > {b}.version OR ({a}.version = {b}.version AND {a_is_remove} "
        f"AND NOT {b_is_remove}))))"
    )


def _typed_image(image: Column) -> Column:
    return F.from_json(image, item_schema.image_schema())


def _timestamp(value: Column) -> Column:
    return F.try_to_timestamp(value)


def _date(value: Column) -> Column:
    return F.try_to_timestamp(value, F.lit("yyyy-MM-dd")).cast(T.DateType())


def _extra(entity_type: str) -> Column:
    known = item_schema.known_attributes(entity_type)
    udf = F.udf(lambda image: extra_attributes(image, known), T.StringType())
    return udf(F.col("image"))


def _state_rows(changes: DataFrame, entity_type: EntityType, table: LakeTable) -> DataFrame:
    """Each change of `entity_type` as a row of its current-state table (the image it leaves, or
    for a REMOVE the image it deletes), plus `_is_remove`. Columns follow the table's contract:
    timestamps and dates parsed, a missing tag list empty, unknown attributes in `extra`."""
    image = F.col("i")
    columns: list[Column] = []
    for column in table.columns:
        if column.name == item_schema.EXTRA_COLUMN:
            value = _extra(entity_type.value)
        elif column.type == "timestamp":
            value = _timestamp(image.getField(column.name))
        elif column.type == "date":
            value = _date(image.getField(column.name))
        elif column.type.startswith("array<"):
            value = F.coalesce(image.getField(column.name), F.array().cast(column.type))
        else:
            value = image.getField(column.name)
        columns.append(value.alias(column.name))
    rows = (
        changes.where(F.col("entity_type") == entity_type.value)
        .withColumn("i", _typed_image(F.col("image")))
        .select(*columns, F.col("is_remove").alias(IS_REMOVE))
    )
    return conform(rows, table, keep=(IS_REMOVE,))


def task_rows(changes: DataFrame) -> DataFrame:
    """Each task change as a silver_tasks row, plus `_is_remove`."""
    return _state_rows(changes, EntityType.TASK, SILVER_TASKS)


def user_rows(changes: DataFrame) -> DataFrame:
    """Each profile change as a silver_users row, plus `_is_remove`."""
    return _state_rows(changes, EntityType.USER, SILVER_USERS)


def deleted_item_rows(changes: DataFrame) -> DataFrame:
    """The newest REMOVE of each item among `changes`, as silver_deleted_items rows (+ `_is_remove`)."""
    removes = latest_per_item(changes.where(F.col("is_remove")))
    rows = removes.select(
        "entity_type",
        "pk",
        "sk",
        "created_at",
        "version",
        F.col("event_time").alias("deleted_at"),
        "ttl_delete",
    )
    return conform(rows.withColumn(IS_REMOVE, F.lit(True)), SILVER_DELETED_ITEMS, keep=(IS_REMOVE,))


def task_events(changes: DataFrame) -> DataFrame:
    """One row per distinct task change, with its change type from the status transition.

    The status before a MODIFY comes from its old image (the stream carries NEW_AND_OLD_IMAGES),
    so each row is a function of its own record: appending runs' rows gives what one run over
    everything gives.
    """
    i = F.col("i")
    status = i.getField("status")
    events = (
        changes.where(F.col("entity_type") == EntityType.TASK.value)
        .withColumn("i", _typed_image(F.col("image")))
        .withColumn("old_status", F.get_json_object(F.col("old_image"), "$.status"))
    )
    event_name = F.col("event_name")
    previous = (
        F.when(event_name == "INSERT", F.lit(None))
        .when(event_name == "REMOVE", status)
        .otherwise(F.col("old_status"))
    )
    events = events.withColumn("previous_status", previous)
    was_done = F.coalesce(F.col("previous_status") == "completed", F.lit(False))
    is_done = F.coalesce(status == "completed", F.lit(False))
    change_type = (
        F.when(event_name == "REMOVE", "deleted")
        .when(event_name == "INSERT", "created")
        .when(is_done & ~was_done, "completed")
        .when(was_done & ~is_done, "reopened")
        .otherwise("updated")
    )
    rows = events.select(
        "event_id",
        "event_name",
        "sequence_number",
        change_type.alias("change_type"),
        i.getField("task_id").alias("task_id"),
        i.getField("user_id").alias("user_id"),
        "version",
        "event_time",
        F.to_date("event_time").alias("event_date"),
        status.alias("status"),
        "previous_status",
        i.getField("priority").alias("priority"),
        i.getField("category").alias("category"),
        _date(i.getField("due_date")).alias("due_date"),
        "created_at",
        _timestamp(i.getField("completed_at")).alias("completed_at"),
        "ttl_delete",
    )
    return conform(rows, SILVER_TASK_EVENTS)


def schema_drift(
    tasks: DataFrame, users: DataFrame, previous: DataFrame | None, detected_at: datetime
) -> DataFrame:
    """Per entity type and attribute outside the typed schema: live items carrying it.

    `detected_at` is when the attribute was first reported, so a re-run does not move it.
    """
    extras = tasks.select(F.lit(EntityType.TASK.value).alias("entity_type"), "extra").unionByName(
        users.select(F.lit(EntityType.USER.value).alias("entity_type"), "extra")
    )
    current = (
        extras.where(F.col("extra").isNotNull())
        .select(
            "entity_type",
            F.explode(F.map_keys(F.from_json("extra", "map<string,string>"))).alias("attribute"),
        )
        .groupBy("entity_type", "attribute")
        .agg(F.count(F.lit(1)).alias("items"))
    )
    now = F.lit(detected_at).cast(T.TimestampType())
    if previous is None:
        rows = current.withColumn("detected_at", now)
    else:
        first_seen = previous.select("entity_type", "attribute", F.col("detected_at").alias("_first"))
        rows = current.join(first_seen, ["entity_type", "attribute"], "left").withColumn(
            "detected_at", F.least(F.coalesce("_first", now), now)
        )
    return conform(rows, SILVER_SCHEMA_DRIFT)


QUARANTINE_KEY = ("source", "_quarantine_key", "reason", "raw")


def quarantine_key() -> Column:
    """What makes two quarantine rows the same record: the event id may be null (unparseable)."""
    return F.coalesce(F.col("event_id"), F.lit(""))


def dedupe_quarantine(rows: DataFrame) -> DataFrame:
    """One row per quarantined record; a record read twice keeps its first timestamp."""
    merged = rows.groupBy("source", quarantine_key().alias("_quarantine_key"), "reason", "raw").agg(
        F.min("event_id").alias("event_id"), F.min("quarantined_at").alias("quarantined_at")
    )
    return conform(merged, SILVER_QUARANTINE)


def request_row_text(alias: str | None = None) -> Column:
    """The whole request row as JSON text: the tie-break between two records of one request id."""
    prefix = f"{alias}." if alias else ""
    return F.to_json(F.struct(*(F.col(f"{prefix}{c}").alias(c) for c in SILVER_API_REQUESTS.column_names())))


def dedupe_api_requests(rows: DataFrame) -> DataFrame:
    """One row per request id (earliest record wins, ties broken on the whole row)."""
    first = Window.partitionBy("request_id").orderBy("ts", request_row_text())
    deduped = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    return conform(deduped, SILVER_API_REQUESTS)
