"""gold_user_insights: the per-user figures `GET /api/v1/users/me/insights` serves, from silver.

One row per live user (silver_users; a user without tasks gets zeros and an empty category list),
computed from that user's live tasks (silver_tasks: deleted tasks are not there) at one instant,
`as_of`. Only ids, counts, durations, weekday names and categories reach the table: no email,
name, title, description or tag.

Definitions (the column comments in `lake_layout.GOLD_USER_INSIGHTS` say the same):

- *Calendar days are the user's own*: timestamps are shifted into the profile's IANA time zone
  (`from_utc_timestamp`) before a date is taken. A null or unknown zone name means UTC; the known
  names are the JVM's (`java.time.ZoneId`), i.e. exactly the zones Spark can shift into, so an
  unknown name can never fail the job.
- *A completion* is a live task with status `completed` and a `completed_at` at or before `as_of`
  (the API clears `completed_at` when a task is reopened, so a reopened task is not one). The
  completion time is the task's `completed_at`: the current state, not the history of
  silver_task_events, so a task completed, reopened and completed again counts once, on its last
  completion, and a deleted task counts never, which is what a user sees in their task list.
- *Streak days* are the distinct local dates holding at least one completion. `longest` is the
  longest run of consecutive such dates; `current` is the run that ends on the local `as_of` date
  or the day before (a streak is still current while today has no completion yet), else 0.
- *Busiest weekday* is the local weekday with the most completions; a tie goes to the earliest
  day in a Monday-first week; null without completions.
- *Top categories* rank the user's live tasks per category by tasks created (live tasks in the
  category), then completed, then the category name; up to three; tasks without a category are
  left out.

Everything is Spark: the streaks are a gaps-and-islands window (date minus its row number is
constant along a run of consecutive dates), nothing is collected to the driver.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import GOLD_USER_INSIGHTS
from todo_etl.glue.spark_schema import conform

COMPLETED = "completed"
DEFAULT_ZONE = "UTC"
TOP_CATEGORIES = 3
RECENT_WINDOWS = {"completed_last_7_days": timedelta(days=7), "completed_last_30_days": timedelta(days=30)}
# Monday-first, as the tie rule for the busiest weekday reads it.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MICROS_PER_HOUR = 3600.0 * 1e6


def _ts(at: datetime) -> Column:
    return F.lit(at).cast(T.TimestampType())


def known_zones(spark: SparkSession) -> DataFrame:
    """Every zone name the JVM knows (one column `zone`): the names `from_utc_timestamp` accepts."""
    jvm: Any = spark.sparkContext._jvm
    names = sorted(str(z) for z in jvm.java.time.ZoneId.getAvailableZoneIds())
    return spark.createDataFrame([(n,) for n in names], "zone string")


def _user_zones(spark: SparkSession, users: DataFrame, as_of: datetime) -> DataFrame:
    """(user_id, zone, today): each live user's effective time zone and the as_of date in it."""
    zones = F.broadcast(known_zones(spark))
    return (
        users.select("user_id", F.trim(F.col("timezone")).alias("timezone"))
        .join(zones, F.col("timezone") == F.col("zone"), "left")
        .select("user_id", F.coalesce(F.col("zone"), F.lit(DEFAULT_ZONE)).alias("zone"))
        .withColumn("today", F.to_date(F.from_utc_timestamp(_ts(as_of), F.col("zone"))))
    )


def _counts(tasks: DataFrame, as_of: datetime) -> DataFrame:
    """Per user: totals, open, overdue (by the user's date), recent completions, median hours."""
    done = F.col("status") == COMPLETED
    completion = done & F.col("completed_at").isNotNull() & (F.col("completed_at") <= _ts(as_of))
    recent = [
        F.count(F.when(completion & (F.col("completed_at") > _ts(as_of - window)), 1)).alias(name)
        for name, window in RECENT_WINDOWS.items()
    ]
    hours = (F.unix_micros("completed_at") - F.unix_micros("created_at")) / F.lit(_MICROS_PER_HOUR)
    return tasks.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("total_tasks"),
        F.count(F.when(done, 1)).alias("completed_tasks"),
        F.count(F.when(~done & (F.col("due_date") < F.col("today")), 1)).alias("overdue_tasks"),
        *recent,
        # Over every live completed task (its duration does not depend on as_of's window).
        F.percentile(F.when(done & F.col("created_at").isNotNull(), hours), 0.5).alias(
            "median_hours_to_complete"
        ),
    )


def _streaks(completions: DataFrame) -> DataFrame:
    """Per user with completions: current and longest run of consecutive local completion days."""
    days = completions.select("user_id", "today", F.to_date("local_completed_at").alias("day")).distinct()
    by_day = Window.partitionBy("user_id").orderBy("day")
    runs = (
        days.withColumn("island", F.date_sub(F.col("day"), F.row_number().over(by_day)))
        .groupBy("user_id", "island")
        .agg(
            F.count(F.lit(1)).alias("length"), F.max("day").alias("last_day"), F.first("today").alias("today")
        )
    )
    # Days never lie after `today` (completions are at or before as_of), so at most one run ends
    # on today or yesterday.
    is_current = F.col("last_day") >= F.date_sub(F.col("today"), 1)
    return runs.groupBy("user_id").agg(
        F.max(F.when(is_current, F.col("length"))).alias("current_streak_days"),
        F.max("length").alias("longest_streak_days"),
    )


def _busiest_weekday(completions: DataFrame) -> DataFrame:
    """Per user with completions: the local weekday with most completions (tie: earliest, Monday-first)."""
    # dayofweek is 1 = Sunday ... 7 = Saturday; shifted so that 0 = Monday ... 6 = Sunday.
    weekday = (F.dayofweek("local_completed_at") + 5) % 7
    per_day = completions.groupBy("user_id", weekday.alias("weekday")).agg(F.count(F.lit(1)).alias("n"))
    # The smallest (-count, weekday) pair: most completions first, then the earliest day.
    best = per_day.groupBy("user_id").agg(F.min(F.struct((-F.col("n")).alias("n"), "weekday")).alias("best"))
    names = F.array(*(F.lit(name) for name in WEEKDAYS))
    return best.select("user_id", F.element_at(names, F.col("best.weekday") + 1).alias("busiest_weekday"))


def _top_categories(tasks: DataFrame) -> DataFrame:
    """Per user with categorised tasks: up to three (category, created, completed), best first."""
    per_category = (
        tasks.where(F.col("category").isNotNull())
        .groupBy("user_id", "category")
        .agg(
            F.count(F.lit(1)).alias("created"),
            F.count(F.when(F.col("status") == COMPLETED, 1)).alias("completed"),
        )
    )
    # Sorting structs compares field by field: (-created, -completed, category) is the ranking.
    ranked = F.sort_array(
        F.collect_list(
            F.struct(
                (-F.col("created")).alias("by_created"),
                (-F.col("completed")).alias("by_completed"),
                "category",
                "created",
                "completed",
            )
        )
    )
    top = F.transform(
        F.slice(ranked, 1, TOP_CATEGORIES),
        lambda c: F.struct(
            c["category"].alias("category"), c["created"].alias("created"), c["completed"].alias("completed")
        ),
    )
    return per_category.groupBy("user_id").agg(top.alias("top_categories"))


def user_insights(spark: SparkSession, users: DataFrame, tasks: DataFrame, as_of: datetime) -> DataFrame:
    """One gold_user_insights row per live user of `users` (silver_users), from `tasks` (silver_tasks)."""
    zones = _user_zones(spark, users, as_of)
    # Tasks of users without a live profile are left out (the inner join): only live users get a row.
    owned = tasks.select("user_id", "status", "category", "due_date", "created_at", "completed_at").join(
        zones, "user_id"
    )
    completions = owned.where(
        (F.col("status") == COMPLETED)
        & F.col("completed_at").isNotNull()
        & (F.col("completed_at") <= _ts(as_of))
    ).withColumn("local_completed_at", F.from_utc_timestamp(F.col("completed_at"), F.col("zone")))

    zero = F.lit(0)
    total = F.coalesce(F.col("total_tasks"), zero)
    completed = F.coalesce(F.col("completed_tasks"), zero)
    rows = (
        zones.select("user_id")
        .join(_counts(owned, as_of), "user_id", "left")
        .join(_streaks(completions), "user_id", "left")
        .join(_busiest_weekday(completions), "user_id", "left")
        .join(_top_categories(owned), "user_id", "left")
        .select(
            "user_id",
            _ts(as_of).alias("as_of"),
            total.alias("total_tasks"),
            (total - completed).alias("open_tasks"),
            completed.alias("completed_tasks"),
            F.coalesce(F.col("overdue_tasks"), zero).alias("overdue_tasks"),
            *(F.coalesce(F.col(name), zero).alias(name) for name in RECENT_WINDOWS),
            F.when(total > 0, 100.0 * completed / total).otherwise(0.0).alias("completion_rate"),
            F.coalesce(F.col("current_streak_days"), zero).alias("current_streak_days"),
            F.coalesce(F.col("longest_streak_days"), zero).alias("longest_streak_days"),
            "median_hours_to_complete",
            "busiest_weekday",
            F.coalesce(
                F.col("top_categories"),
                F.array().cast("array<struct<category:string,created:bigint,completed:bigint>>"),
            ).alias("top_categories"),
        )
    )
    return conform(rows, GOLD_USER_INSIGHTS)
