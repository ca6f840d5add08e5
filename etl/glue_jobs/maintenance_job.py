"""Glue 5.1 entry script of the maintenance job: compaction, snapshot expiry, orphan files; or,
with `--rollback_table T --rollback_snapshot ID`, one table put back on an older snapshot.

All logic lives in `todo_etl.glue` (shipped with `--extra-py-files`), which the local pipeline runs
unchanged on a local SparkSession; this file only adapts Glue's job frame to it.
"""

import sys

import boto3
from awsglue.context import GlueContext
from awsglue.job import Job
from awsglue.utils import getResolvedOptions
from pyspark.context import SparkContext

from todo_etl.glue.entry import job_arguments
from todo_etl.glue.maintenance import rollback_table, run_maintenance
from todo_etl.glue.run_metrics import publish_run_metrics

arguments = job_arguments(sys.argv, getResolvedOptions)
glue_context = GlueContext(SparkContext.getOrCreate())
spark = glue_context.spark_session
job = Job(glue_context)
job.init(arguments.job_name, {"JOB_NAME": arguments.job_name})
if arguments.rollback is not None:
    # docs/runbooks/etl.md "Roll a table back": one table onto an older snapshot, nothing else.
    table_name, snapshot_id = arguments.rollback
    outcome = rollback_table(spark, arguments.lake(), table_name, snapshot_id)
    print(f"rolled {table_name} back: {outcome}")  # noqa: T201 - lands in the Glue driver log
else:
    summary = run_maintenance(spark, arguments.lake(), arguments.maintenance)
    print(f"maintenance run {summary.run_id}: {summary.status}")  # noqa: T201 - lands in the Glue driver log
    # Anomalies, rows and duration for the alarms (a failed run raised above and pages through Glue).
    publish_run_metrics(summary, boto3.client("cloudwatch"))
job.commit()
