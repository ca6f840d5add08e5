"""gold_api_usage_daily: per request day, method and route template, how the API was used.

From silver_api_requests (one row per request, deduplicated by request id): requests, distinct
callers (authenticated user ids; unauthenticated requests have none and are not counted), 4xx and
5xx counts and their rates (percent 0-100), and exact p50/p95/p99 latency (`percentile`, linear
interpolation between the two nearest requests: the day's requests of a route fit in memory).

The method is a key beside the route: `GET` and `PATCH /api/v1/tasks/{task_id}` are different
operations with different latency and error profiles, and summing them over the route is a
`GROUP BY` away for anyone who wants it.

Recomputed and replaced in one overwrite snapshot per gold run, like the other daily gold tables
(ADR 0009): a row per day and route is a small table, and a rewrite cannot leave a day half
updated. Recomputing only the days a run's new requests touch would need the silver snapshot the
previous gold run read and an incremental read from it, which silver's own rewrites (the erase
step's deletes, a full rebuild) break: a changed day could then be missed. The cost is one scan of
silver_api_requests per run; if that history outgrows it, restrict the read to the days changed
since the previous gold run's pinned snapshot (it is in pipeline_runs) and overwrite those days.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import GOLD_API_USAGE_DAILY
from todo_etl.glue.spark_schema import conform

PERCENTILES = {"p50_latency_ms": 0.5, "p95_latency_ms": 0.95, "p99_latency_ms": 0.99}


def _rate(count: str) -> Column:
    return F.when(F.col("requests") > 0, 100.0 * F.col(count) / F.col("requests")).otherwise(0.0)


def api_usage_daily(requests: DataFrame) -> DataFrame:
    """One row per (date, method, route) of silver_api_requests."""
    status = F.col("status")
    daily = (
        requests.where(F.col("request_date").isNotNull() & F.col("route").isNotNull())
        .groupBy(F.col("request_date").alias("date"), "method", "route")
        .agg(
            F.count(F.lit(1)).alias("requests"),
            F.countDistinct("user_id").alias("distinct_callers"),  # nulls are not counted
            F.count(F.when(status.between(400, 499), 1)).alias("client_errors"),
            F.count(F.when(status.between(500, 599), 1)).alias("server_errors"),
            *(F.percentile("latency_ms", p).alias(name) for name, p in PERCENTILES.items()),
        )
    )
    rows = daily.withColumn("client_error_rate", _rate("client_errors")).withColumn(
        "server_error_rate", _rate("server_errors")
    )
    return conform(rows, GOLD_API_USAGE_DAILY)
