"""CloudWatch metrics of a finished silver or gold run, so alarms can page on what pipeline_runs says.

`pipeline_runs` is the record analysts read; these metrics are what on-call is paged by: anomalies
of the run against the previous one (SPEC §6 "Runs"), rows written and quarantined, and the run's
duration. The Glue entry scripts publish them with PutMetricData (the job role may, for this
namespace only); nothing here imports boto3, so the data is tested without AWS.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from todo_contracts.metrics import NAMESPACE, PIPELINE_JOB_DIMENSION, PipelineMetric
from todo_etl.glue.run_log import RunSummary


class MetricsClient(Protocol):
    """The one CloudWatch call used (boto3's client has it)."""

    def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> Any: ...  # noqa: N803


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run_metric_data(summary: RunSummary) -> list[dict[str, Any]]:
    """The MetricData entries of one run, dimensioned by job (silver or gold)."""
    at = _instant(summary.ended_at)
    dimensions = [{"Name": PIPELINE_JOB_DIMENSION, "Value": summary.job}]
    seconds = max(0.0, (at - _instant(summary.started_at)).total_seconds())

    def datum(name: str, value: float, unit: str) -> dict[str, Any]:
        return {"MetricName": name, "Dimensions": dimensions, "Timestamp": at, "Value": value, "Unit": unit}

    return [
        # Published as 0 on a clean run too: the alarm then tells "no anomaly" from "no run".
        datum(PipelineMetric.ANOMALIES, float(len(summary.anomalies)), "Count"),
        datum(PipelineMetric.ROWS_WRITTEN, float(sum(summary.rows_out.values())), "Count"),
        datum(PipelineMetric.ROWS_QUARANTINED, float(summary.quarantined), "Count"),
        datum(PipelineMetric.DURATION_SECONDS, seconds, "Seconds"),
    ]


def publish_run_metrics(summary: RunSummary, client: MetricsClient, namespace: str = NAMESPACE) -> None:
    """Send the run's metrics (one call: well under PutMetricData's 1,000-entry limit)."""
    client.put_metric_data(Namespace=namespace, MetricData=run_metric_data(summary))
