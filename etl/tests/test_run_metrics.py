"""The metrics a finished Glue run publishes, from its RunSummary (no Spark, no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from todo_contracts.metrics import PipelineMetric
from todo_etl.glue.run_log import RunSummary
from todo_etl.glue.run_metrics import NAMESPACE, publish_run_metrics, run_metric_data

ANOMALIES_METRIC = PipelineMetric.ANOMALIES
DURATION_METRIC = PipelineMetric.DURATION_SECONDS
QUARANTINED_METRIC = PipelineMetric.ROWS_QUARANTINED
ROWS_WRITTEN_METRIC = PipelineMetric.ROWS_WRITTEN


def summary(**overrides: Any) -> RunSummary:
    values: dict[str, Any] = {
        "job": "silver",
        "run_id": "silver-1",
        "status": "succeeded",
        "started_at": "2026-11-23T10:00:00.000Z",
        "ended_at": "2026-11-23T10:01:30.500Z",
        "rows_in": 40,
        "rows_out": {"silver_tasks": 10, "silver_users": 3},
        "quarantined": 2,
    }
    return RunSummary(**{**values, **overrides})


def by_name(data: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["MetricName"]: d for d in data}


def test_a_clean_run_reports_zero_anomalies_rows_quarantine_and_duration() -> None:
    data = by_name(run_metric_data(summary()))
    assert {name: d["Value"] for name, d in data.items()} == {
        ANOMALIES_METRIC: 0.0,
        ROWS_WRITTEN_METRIC: 13.0,
        QUARANTINED_METRIC: 2.0,
        DURATION_METRIC: 90.5,
    }
    for datum in data.values():
        assert datum["Dimensions"] == [{"Name": "Job", "Value": "silver"}]
        assert datum["Timestamp"] == datetime(2026, 11, 23, 10, 1, 30, 500000, tzinfo=UTC)


def test_each_anomaly_counts_once_per_job() -> None:
    anomalies = [
        {"kind": "row_drop", "table": "gold_user_engagement", "previous": 100, "current": 10},
        {"kind": "quarantine_spike", "table": "silver_quarantine", "previous": 0, "current": 30},
    ]
    data = by_name(run_metric_data(summary(job="gold", anomalies=anomalies)))
    assert data[ANOMALIES_METRIC]["Value"] == 2.0
    assert data[ANOMALIES_METRIC]["Dimensions"] == [{"Name": "Job", "Value": "gold"}]


def test_a_clock_step_back_never_reports_a_negative_duration() -> None:
    data = by_name(run_metric_data(summary(ended_at="2026-11-23T09:59:59.000Z")))
    assert data[DURATION_METRIC]["Value"] == 0.0


class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def put_metric_data(self, *, Namespace: str, MetricData: list[dict[str, Any]]) -> None:  # noqa: N803
        self.calls.append({"Namespace": Namespace, "MetricData": MetricData})


def test_publishing_is_one_call_in_the_project_namespace() -> None:
    recorder = Recorder()
    publish_run_metrics(summary(), recorder)
    assert len(recorder.calls) == 1
    assert recorder.calls[0]["Namespace"] == NAMESPACE == "TodoInsights"
    assert len(recorder.calls[0]["MetricData"]) == 4
