"""The pipeline_runs table: one appended row per job run, compared with the previous run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import PIPELINE_RUNS
from todo_etl.glue import iceberg_tables
from todo_etl.glue.iceberg_tables import Lake
from todo_etl.glue.spark_schema import conform, struct_type

SUCCEEDED = "succeeded"
FAILED = "failed"
# A table whose output shrinks below this share of the previous run's is flagged.
ROW_DROP_RATIO = 0.5
# Quarantine is a spike when more than this share of the rows read went there, and at least
# twice the previous run's share.
QUARANTINE_SPIKE_SHARE = 0.01


@dataclass
class RunSummary:
    """What one job run did; the same facts as its pipeline_runs row, for the CLI to print."""

    job: str
    run_id: str
    status: str
    started_at: str
    ended_at: str
    rows_in: int = 0
    rows_out: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    drift: int = 0
    previous_run_id: str | None = None
    anomalies: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    snapshots: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PreviousRun:
    """The facts of the last successful run of the same job that the comparison needs."""

    run_id: str
    rows_in: int
    rows_out: dict[str, int]
    quarantined: int


def new_run_id(job: str, at: datetime) -> str:
    """A readable, sortable run id."""
    return f"{job}-{at.astimezone(UTC):%Y%m%dT%H%M%S%fZ}"


def previous_run(spark: SparkSession, lake: Lake, job: str) -> PreviousRun | None:
    """The latest successful run of `job`."""
    runs = iceberg_tables.read(spark, lake, PIPELINE_RUNS)
    row = (
        runs.where((F.col("job") == job) & (F.col("status") == SUCCEEDED))
        .orderBy(F.col("started_at").desc(), F.col("run_id").desc())
        .first()
    )
    if row is None:
        return None
    return PreviousRun(
        run_id=str(row["run_id"]),
        rows_in=int(row["rows_in"] or 0),
        rows_out={str(k): int(v) for k, v in json.loads(row["rows_out"] or "{}").items()},
        quarantined=int(row["quarantined"] or 0),
    )


def find_anomalies(
    previous: PreviousRun | None, rows_in: int, rows_out: dict[str, int], quarantined: int
) -> list[dict[str, Any]]:
    """Findings versus the previous run: output tables that shrank sharply, quarantine spikes."""
    findings: list[dict[str, Any]] = []
    if previous is None:
        return findings
    for table_name, before in sorted(previous.rows_out.items()):
        now = rows_out.get(table_name)
        if now is not None and before > 0 and now < before * ROW_DROP_RATIO:
            findings.append({"kind": "row_drop", "table": table_name, "previous": before, "current": now})
    share = quarantined / rows_in if rows_in else 0.0
    previous_share = previous.quarantined / previous.rows_in if previous.rows_in else 0.0
    if share > QUARANTINE_SPIKE_SHARE and share >= 2 * previous_share:
        findings.append(
            {
                "kind": "quarantine_spike",
                "table": "silver_quarantine",
                "previous": previous.quarantined,
                "current": quarantined,
            }
        )
    return findings


def append_run(spark: SparkSession, lake: Lake, summary: RunSummary) -> None:
    """Append the run's row (one Iceberg commit; earlier runs are never rewritten)."""
    row = {
        "job": summary.job,
        "run_id": summary.run_id,
        "started_at": datetime.fromisoformat(summary.started_at.replace("Z", "+00:00")),
        "ended_at": datetime.fromisoformat(summary.ended_at.replace("Z", "+00:00")),
        "status": summary.status,
        "rows_in": summary.rows_in,
        "rows_out": json.dumps(summary.rows_out, sort_keys=True),
        "quarantined": summary.quarantined,
        "drift": summary.drift,
        "previous_run_id": summary.previous_run_id,
        "anomalies": json.dumps(summary.anomalies, sort_keys=True),
        "snapshots": json.dumps(summary.snapshots, sort_keys=True),
    }
    df = spark.createDataFrame([row], struct_type(PIPELINE_RUNS))
    iceberg_tables.append(lake, PIPELINE_RUNS, conform(df, PIPELINE_RUNS).coalesce(1))
