"""Glue 5.1 entry script of the silver job: bronze → silver (incremental, or `--full_rebuild true`).

All logic lives in `todo_etl.glue` (shipped with `--extra-py-files`), which the local pipeline runs
unchanged on a local SparkSession; this file only hands Glue's job frame to it.
"""

import sys

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.sql import SparkSession

from todo_etl.glue.entry import JobArguments, run_glue_job
from todo_etl.glue.jobs import SILVER_JOB, run_silver
from todo_etl.glue.run_metrics import publish_run_metrics


def silver(spark: SparkSession, arguments: JobArguments) -> str:
    summary = run_silver(
        spark,
        arguments.lake(),
        full_rebuild=arguments.full_rebuild,
        lookback_hours=arguments.lookback_hours,
    )
    # Anomalies, rows and duration for the alarms (a failed run raised above and pages through Glue).
    publish_run_metrics(summary, boto3.client("cloudwatch"))
    return f"silver run {summary.run_id}: {summary.status}"


run_glue_job(SILVER_JOB, sys.argv, getResolvedOptions, GlueContext, Job, silver)
