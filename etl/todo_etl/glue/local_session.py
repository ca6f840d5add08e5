"""A SparkSession for local runs and tests: local[*], loopback only, UTC, few shuffle partitions."""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

DEFAULT_SHUFFLE_PARTITIONS = 4


def local_spark_session(
    app_name: str = "todo-insights", shuffle_partitions: int = DEFAULT_SHUFFLE_PARTITIONS
) -> SparkSession:
    """The (shared) local SparkSession, configured like the Glue job where it matters."""
    # Bind to loopback: no external interface, no DNS lookup of the host name.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (UDFs) must be this interpreter, which has the project installed.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master("local[*]")
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.default.parallelism", str(shuffle_partitions))
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark
