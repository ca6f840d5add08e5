"""Glue 5.1 entry script of the maintenance job: the erase step (deleted accounts out of every layer,
ADR 0013), then compaction, snapshot expiry, orphan files; or,
with `--rollback_table T --rollback_snapshot ID`, one table put back on an older snapshot.

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
from todo_etl.glue.erasure import run_erasure
from todo_etl.glue.maintenance import MAINTENANCE_JOB, rollback_table, run_maintenance
from todo_etl.glue.run_metrics import publish_run_metrics


def maintenance(spark: SparkSession, arguments: JobArguments) -> str:
    if arguments.rollback is not None:
        # docs/runbooks/etl.md "Roll a table back": one table onto an older snapshot, nothing else.
        table_name, snapshot_id = arguments.rollback
        outcome = rollback_table(spark, arguments.lake(), table_name, snapshot_id)
        return f"rolled {table_name} back: {outcome}"
    # Erasure first: its deletes are then compacted, and its own expiry leaves nothing to undo.
    erased = run_erasure(spark, arguments.lake())
    publish_run_metrics(erased, boto3.client("cloudwatch"))
    summary = run_maintenance(spark, arguments.lake(), arguments.maintenance)
    # Anomalies, rows and duration for the alarms (a failed run raised above and pages through Glue).
    publish_run_metrics(summary, boto3.client("cloudwatch"))
    return f"maintenance run {summary.run_id}: {summary.status}"


run_glue_job(MAINTENANCE_JOB, sys.argv, getResolvedOptions, GlueContext, Job, maintenance)
