"""Silver transforms: merge CDC history, derive current state, task events, drift and quarantine.

Every output is a function of the set of distinct bronze records seen so far, never of how they
were split across runs, so incremental runs, re-runs and a full rebuild agree.
"""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_api.table_definition import EntityType
from todo_etl.glue import item_schema
from todo_etl.glue.image_extras import extra_attributes
from todo_etl.glue.spark_schema import conform
from todo_etl.lake_layout import (
    SILVER_API_REQUESTS,
    SILVER_QUARANTINE,
    SILVER_SCHEMA_DRIFT,
    SILVER_TASK_EVENTS,
    SILVER_TASKS,
    SILVER_USERS,
)

_ITEM = ("pk", "sk")
# An item's changes in order: incarnation (created_at), version, a delete after the image it
# deletes, then the stream sequence number. A re-created profile restarts at version 1 with a later
# created_at; a REMOVE carries the old image's created_at and version, so a late older MODIFY sorts
# before it and cannot resurrect the item.
_ORDER = ("created_at", "version", "is_remove", "sequence_key")


def merge_history(previous: DataFrame | None, new: DataFrame) -> DataFrame:
    """Union with the stored history, then one row per event id and one per distinct change."""
    events = new if previous is None else previous.unionByName(new)
    by_event_id = Window.partitionBy("event_id").orderBy(
        "sequence_key", "event_name", F.coalesce("image", F.lit("")), F.coalesce("old_image", F.lit(""))
    )
    events = events.withColumn("_n", F.row_number().over(by_event_id)).where("_n = 1").drop("_n")
    # moto emits duplicate INSERTs and MODIFYs for identical re-puts: one change per version of an
    # incarnation (deletes apart), preferring the INSERT, then the latest image.
    by_change = Window.partitionBy(*_ITEM, "created_at", "version", "is_remove").orderBy(
        F.when(F.col("event_name") == "INSERT", 0).otherwise(1),
        F.col("sequence_key").desc(),
        "event_id",
    )
    events = events.withColumn("_n", F.row_number().over(by_change)).where("_n = 1").drop("_n")
    return events


def _typed_image(image: Column) -> Column:
    return F.from_json(image, item_schema.image_schema())


def _timestamp(value: Column) -> Column:
    return F.try_to_timestamp(value)


def _date(value: Column) -> Column:
    return F.try_to_timestamp(value, F.lit("yyyy-MM-dd")).cast(T.DateType())


def _latest_live(history: DataFrame, entity_type: str) -> DataFrame:
    latest_first = Window.partitionBy(*_ITEM).orderBy(*(F.col(c).desc() for c in _ORDER))
    return (
        history.where(F.col("entity_type") == entity_type)
        .withColumn("_n", F.row_number().over(latest_first))
        .where((F.col("_n") == 1) & ~F.col("is_remove"))
        .withColumn("i", _typed_image(F.col("image")))
    )


def _extra(entity_type: str) -> Column:
    known = item_schema.known_attributes(entity_type)
    udf = F.udf(lambda image: extra_attributes(image, known), T.StringType())
    return udf(F.col("image"))


def current_tasks(history: DataFrame) -> DataFrame:
    """One row per live task at its latest version (deletes applied)."""
    i = F.col("i")
    rows = _latest_live(history, EntityType.TASK.value).select(
        i.getField("task_id").alias("task_id"),
        i.getField("user_id").alias("user_id"),
        i.getField("title").alias("title"),
        i.getField("description").alias("description"),
        i.getField("status").alias("status"),
        i.getField("priority").alias("priority"),
        i.getField("category").alias("category"),
        _date(i.getField("due_date")).alias("due_date"),
        F.coalesce(i.getField("tags"), F.array().cast("array<string>")).alias("tags"),
        _timestamp(i.getField("created_at")).alias("created_at"),
        _timestamp(i.getField("updated_at")).alias("updated_at"),
        _timestamp(i.getField("completed_at")).alias("completed_at"),
        i.getField("version").alias("version"),
        _extra(EntityType.TASK.value).alias("extra"),
    )
    return conform(rows, SILVER_TASKS)


def current_users(history: DataFrame) -> DataFrame:
    """One row per live user profile at its latest version and incarnation."""
    i = F.col("i")
    rows = _latest_live(history, EntityType.USER.value).select(
        i.getField("user_id").alias("user_id"),
        i.getField("email").alias("email"),
        i.getField("name").alias("name"),
        i.getField("timezone").alias("timezone"),
        _timestamp(i.getField("created_at")).alias("created_at"),
        _timestamp(i.getField("updated_at")).alias("updated_at"),
        i.getField("version").alias("version"),
        _extra(EntityType.USER.value).alias("extra"),
    )
    return conform(rows, SILVER_USERS)


def task_events(history: DataFrame) -> DataFrame:
    """One row per distinct task change, with its change type from the status transition."""
    in_order = Window.partitionBy(*_ITEM).orderBy(*_ORDER)
    i = F.col("i")
    status = i.getField("status")
    events = (
        history.where(F.col("entity_type") == EntityType.TASK.value)
        .withColumn("i", _typed_image(F.col("image")))
        .withColumn("old_status", F.get_json_object(F.col("old_image"), "$.status"))
        .withColumn("lag_status", F.lag(status).over(in_order))
    )
    event_name = F.col("event_name")
    previous = (
        F.when(event_name == "INSERT", F.lit(None))
        .when(event_name == "REMOVE", status)
        .otherwise(F.coalesce(F.col("old_status"), F.col("lag_status")))
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


def merge_quarantine(previous: DataFrame | None, new: DataFrame) -> DataFrame:
    """Union with stored quarantine; a record re-read by the lookback keeps its first timestamp."""
    rows = new if previous is None else previous.unionByName(new)
    merged = rows.groupBy("source", F.coalesce("event_id", F.lit("")).alias("_id"), "reason", "raw").agg(
        F.min("event_id").alias("event_id"), F.min("quarantined_at").alias("quarantined_at")
    )
    return conform(merged, SILVER_QUARANTINE)


def merge_api_requests(previous: DataFrame | None, new: DataFrame) -> DataFrame:
    """One row per request id (earliest record wins, ties broken on the whole row)."""
    rows = new if previous is None else previous.unionByName(new)
    first = Window.partitionBy("request_id").orderBy(
        "ts", F.to_json(F.struct(*(F.col(c) for c in SILVER_API_REQUESTS.column_names())))
    )
    deduped = rows.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")
    return conform(deduped, SILVER_API_REQUESTS)
