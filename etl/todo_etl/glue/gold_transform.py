"""Gold transforms over silver: engagement per user, daily completion, category trends, KPIs.

Only ids, counts, categories, statuses and timestamps reach gold: no emails, names or task text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import (
    BUSINESS_KPI_METRICS,
    GOLD_BUSINESS_KPIS,
    GOLD_CATEGORY_TRENDS,
    GOLD_TASK_COMPLETION_DAILY,
    GOLD_USER_ENGAGEMENT,
)
from todo_contracts.timestamps import rfc3339
from todo_etl.glue.spark_schema import conform

COMPLETED = "completed"
ACTIVE_WINDOW = timedelta(days=7)
COUNT_METRICS = frozenset({"total_users", "active_users", "total_tasks", "completed_tasks"})
_SECONDS_PER_HOUR = 3600.0
_KPI_COUNTERS = ("total_tasks", "completed_tasks", "total_users", "active_users")


def _ts(at: datetime) -> Column:
    return F.lit(at).cast(T.TimestampType())


def user_engagement(users: DataFrame, tasks: DataFrame, events: DataFrame, as_of: datetime) -> DataFrame:
    """One row per live user: live task counts, completion rate and task activity up to `as_of`."""
    today = F.to_date(_ts(as_of))
    done = F.col("status") == COMPLETED
    counts = tasks.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("total_tasks"),
        F.count(F.when(done, 1)).alias("completed_tasks"),
        F.count(F.when(~done & (F.col("due_date") < today), 1)).alias("overdue_tasks"),
    )
    window_start = _ts(as_of - ACTIVE_WINDOW)
    activity = (
        events.where(F.col("event_time") <= _ts(as_of))
        .groupBy("user_id")
        .agg(
            F.count(F.when(F.col("event_time") > window_start, 1)).alias("events_last_7d"),
            F.min("event_time").alias("first_activity_at"),
            F.max("event_time").alias("last_activity_at"),
        )
    )
    total = F.coalesce(F.col("total_tasks"), F.lit(0))
    completed = F.coalesce(F.col("completed_tasks"), F.lit(0))
    rows = (
        users.select("user_id")
        .join(counts, "user_id", "left")
        .join(activity, "user_id", "left")
        .select(
            "user_id",
            total.alias("total_tasks"),
            completed.alias("completed_tasks"),
            (total - completed).alias("open_tasks"),
            F.coalesce(F.col("overdue_tasks"), F.lit(0)).alias("overdue_tasks"),
            F.when(total > 0, 100.0 * completed / total).otherwise(0.0).alias("completion_rate"),
            F.coalesce(F.col("events_last_7d"), F.lit(0)).alias("events_last_7d"),
            "first_activity_at",
            "last_activity_at",
            _ts(as_of).alias("snapshot_at"),
        )
    )
    return conform(rows, GOLD_USER_ENGAGEMENT)


def _created(events: DataFrame) -> DataFrame:
    return events.where(F.col("change_type") == "created").withColumn(
        "date", F.coalesce(F.to_date("created_at"), F.col("event_date"))
    )


def _completions(events: DataFrame) -> DataFrame:
    """Changes that made a task completed (a task created as completed counts too)."""
    became_done = (F.col("status") == COMPLETED) & F.col("change_type").isin("completed", "created")
    hours = (F.unix_micros("completed_at") - F.unix_micros("created_at")) / (_SECONDS_PER_HOUR * 1e6)
    return (
        events.where(became_done)
        .withColumn("date", F.coalesce(F.to_date("completed_at"), F.col("event_date")))
        .withColumn("hours", hours.cast(T.DoubleType()))
    )


def task_completion_daily(events: DataFrame) -> DataFrame:
    """Per day: tasks created, completed and deleted, and hours from creation to completion."""
    created = _created(events).groupBy("date").agg(F.count(F.lit(1)).alias("tasks_created"))
    completed = (
        _completions(events)
        .groupBy("date")
        .agg(
            F.count(F.lit(1)).alias("tasks_completed"),
            F.avg("hours").alias("avg_hours_to_complete"),
            F.percentile("hours", 0.5).alias("p50_hours_to_complete"),
            F.percentile("hours", 0.9).alias("p90_hours_to_complete"),
        )
    )
    deleted = (
        events.where(F.col("change_type") == "deleted")
        .groupBy(F.col("event_date").alias("date"))
        .agg(F.count(F.lit(1)).alias("tasks_deleted"))
    )
    rows = (
        created.join(completed, "date", "full")
        .join(deleted, "date", "full")
        .where(F.col("date").isNotNull())
        .fillna(0, ["tasks_created", "tasks_completed", "tasks_deleted"])
    )
    return conform(rows, GOLD_TASK_COMPLETION_DAILY)


def category_trends(events: DataFrame) -> DataFrame:
    """Per day and category: tasks created and completed."""
    keys = ["date", "category"]
    created = _created(events).groupBy(*keys).agg(F.count(F.lit(1)).alias("tasks_created"))
    completed = _completions(events).groupBy(*keys).agg(F.count(F.lit(1)).alias("tasks_completed"))
    rows = (
        created.join(completed, keys, "full")
        .where(F.col("date").isNotNull())
        .fillna(0, ["tasks_created", "tasks_completed"])
    )
    return conform(rows, GOLD_CATEGORY_TRENDS)


@dataclass(frozen=True)
class KpiSnapshot:
    """The business metrics at one instant."""

    snapshot_at: datetime
    metrics: dict[str, float]

    def export(self) -> dict[str, object]:
        """The JSON object the metrics Lambda reads: counts as integers, rates as floats."""
        values: dict[str, float | int] = {}
        for name in BUSINESS_KPI_METRICS:
            value = self.metrics[name]
            values[name] = int(value) if name in COUNT_METRICS else value
        return {"snapshot_at": rfc3339(self.snapshot_at), "metrics": values}


def _flags(df: DataFrame, *flags: Column) -> DataFrame:
    """`df` as one 0/1 column per KPI counter, in `_KPI_COUNTERS` order."""
    return df.select(*(f.cast(T.LongType()).alias(n) for f, n in zip(flags, _KPI_COUNTERS, strict=True)))


def business_kpis(users: DataFrame, tasks: DataFrame, engagement: DataFrame, as_of: datetime) -> KpiSnapshot:
    """The KPI values of BUSINESS_KPI_METRICS from live users and tasks (engagement gives activity)."""
    # One aggregate over the three inputs (one Spark action instead of three): each row adds 1 to
    # the counters it belongs to (a null flag adds nothing, as `count(when(...))` did). Active
    # users are live users with a task event in the window, as in gold_user_engagement.
    zero, one = F.lit(0), F.lit(1)
    flagged = (
        _flags(tasks, one, (F.col("status") == COMPLETED).cast("int"), zero, zero)
        .unionByName(_flags(users, zero, zero, one, zero))
        .unionByName(_flags(engagement, zero, zero, zero, (F.col("events_last_7d") > 0).cast("int")))
    )
    counts = flagged.agg(*(F.coalesce(F.sum(n), F.lit(0)).alias(n) for n in _KPI_COUNTERS)).first()
    found = {n: int(counts[n]) if counts else 0 for n in _KPI_COUNTERS}
    total_tasks, completed = found["total_tasks"], found["completed_tasks"]
    total_users, active_users = found["total_users"], found["active_users"]
    metrics = {
        "total_users": float(total_users),
        "active_users": float(active_users),
        "total_tasks": float(total_tasks),
        "completed_tasks": float(completed),
        "completion_rate": 100.0 * completed / total_tasks if total_tasks else 0.0,
        "avg_tasks_per_user": total_tasks / total_users if total_users else 0.0,
    }
    return KpiSnapshot(snapshot_at=as_of, metrics=metrics)


def kpi_rows(spark: SparkSession, snapshot: KpiSnapshot) -> DataFrame:
    """The snapshot as gold_business_kpis rows (one per metric)."""
    rows = [(snapshot.snapshot_at, name, float(snapshot.metrics[name])) for name in BUSINESS_KPI_METRICS]
    df = spark.createDataFrame(rows, "snapshot_at timestamp, metric string, value double")
    return conform(df, GOLD_BUSINESS_KPIS)


def merge_kpis(previous: DataFrame | None, snapshot_rows: DataFrame, snapshot_at: datetime) -> DataFrame:
    """Keep earlier snapshots; a re-run at the same instant replaces that snapshot, not appends."""
    if previous is None:
        return snapshot_rows
    kept = previous.where(F.col("snapshot_at") != _ts(snapshot_at))
    return conform(kept.unionByName(snapshot_rows), GOLD_BUSINESS_KPIS)
