"""The metrics Lambda against S3 on a moto server: EMF for a good snapshot, a staleness signal otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from todo_contracts.lake_layout import BUSINESS_KPI_METRICS, KPI_EXPORT_KEY
from todo_etl.metrics.kpi_publisher import SERVICE
from todo_etl.metrics.kpi_snapshot import InvalidSnapshotError, parse_snapshot

BUCKET = "todo-gold-test"
NAMESPACE = "TodoInsights"
GOOD_VALUES = {
    "total_users": 3,
    "active_users": 2,
    "total_tasks": 12,
    "completed_tasks": 5,
    "completion_rate": 41.67,
    "avg_tasks_per_user": 4.0,
}
CLOUDWATCH_NAMES = {
    "total_users": "TotalUsers",
    "active_users": "ActiveUsers",
    "total_tasks": "TotalTasks",
    "completed_tasks": "CompletedTasks",
    "completion_rate": "CompletionRate",
    "avg_tasks_per_user": "AvgTasksPerUser",
}


@pytest.fixture
def s3(moto_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An empty moto S3 with the gold bucket, reached through AWS_ENDPOINT_URL like any AWS client.

    `moto_env` (from `todo_local.testing`) empties the module's moto server and points AWS at it.
    """
    monkeypatch.setenv("GOLD_BUCKET", BUCKET)
    from todo_etl.metrics import snapshot_store

    snapshot_store._s3.cache_clear()  # the client is built from the environment on first use
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    yield client
    snapshot_store._s3.cache_clear()


@dataclass
class FakeContext:
    function_name: str = "todo-test-metrics"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:todo-test-metrics"
    aws_request_id: str = "req-1"


def put_snapshot(s3: Any, body: bytes | str) -> None:
    s3.put_object(Bucket=BUCKET, Key=KPI_EXPORT_KEY, Body=body)


def snapshot_json(snapshot_at: datetime, values: Any = None) -> str:
    return json.dumps(
        {
            "snapshot_at": snapshot_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "metrics": GOOD_VALUES if values is None else values,
        }
    )


def invoke(
    capsys: pytest.CaptureFixture[str],
) -> tuple[dict[str, Any], dict[str, float], list[dict[str, Any]]]:
    """Run the handler; return its result, the metrics of its EMF blob and other JSON lines it printed."""
    from todo_etl.metrics.handler import handler

    capsys.readouterr()
    result = handler({"source": "aws.events", "detail-type": "Scheduled Event"}, FakeContext())
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    blobs = [line for line in lines if "_aws" in line]
    assert len(blobs) == 1, "exactly one EMF blob per invocation"
    blob = blobs[0]
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert blob["service"] == SERVICE  # the dimension the dashboard and the staleness alarm select
    names = [m["Name"] for m in directive["Metrics"]]
    logs = [line for line in lines if "_aws" not in line]
    # Powertools writes each value as a list of data points; one invocation adds one of each.
    return result, {name: single(blob[name]) for name in names}, logs


def single(value: Any) -> float:
    assert isinstance(value, list)
    assert len(value) == 1
    return float(value[0])


def test_a_fresh_snapshot_publishes_every_kpi_and_its_age(
    s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot_at = datetime.now(UTC) - timedelta(minutes=10)
    put_snapshot(s3, snapshot_json(snapshot_at))

    before = datetime.now(UTC)
    result, published, _ = invoke(capsys)
    after = datetime.now(UTC)

    assert result["status"] == "published"
    for kpi, value in GOOD_VALUES.items():
        assert published[CLOUDWATCH_NAMES[kpi]] == pytest.approx(value)
    age = published["KpiSnapshotAgeSeconds"]
    assert (
        (before - snapshot_at).total_seconds() - 0.001 <= age <= (after - snapshot_at).total_seconds() + 0.001
    )
    assert published["KpiSnapshotReadFailures"] == 0


def test_units_are_counts_percent_and_seconds(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from todo_etl.metrics.handler import handler

    put_snapshot(s3, snapshot_json(datetime.now(UTC)))
    capsys.readouterr()
    handler({}, FakeContext())
    blob = next(json.loads(x) for x in capsys.readouterr().out.splitlines() if '"_aws"' in x)

    units = {m["Name"]: m["Unit"] for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["CompletionRate"] == "Percent"
    assert units["TotalUsers"] == "Count"
    assert units["KpiSnapshotAgeSeconds"] == "Seconds"


def test_the_tables_row_shape_is_accepted_too(s3: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"metric": m, "value": v} for m, v in GOOD_VALUES.items()]
    put_snapshot(s3, snapshot_json(datetime.now(UTC), rows))

    result, published, _ = invoke(capsys)

    assert result["status"] == "published"
    assert published["TotalTasks"] == 12


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.ERROR and r.getMessage() == "KPI snapshot not published"
    ]


def test_a_missing_snapshot_is_a_staleness_signal_not_a_crash(
    s3: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    result, published, _ = invoke(capsys)

    assert result["status"] == "snapshot_missing"
    assert published == {"KpiSnapshotReadFailures": 1}  # no age: the staleness alarm breaches on missing data
    assert [r.status for r in error_records(caplog)] == ["snapshot_missing"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x1f\x8b not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        (json.dumps({"metrics": GOOD_VALUES}), "snapshot_at"),
        (json.dumps({"snapshot_at": "yesterday", "metrics": GOOD_VALUES}), "RFC 3339"),
        (json.dumps({"snapshot_at": "2026-11-23T12:00:00", "metrics": GOOD_VALUES}), "time zone"),
        (snapshot_json(datetime.now(UTC), {"total_users": 3}), "metrics missing"),
        (snapshot_json(datetime.now(UTC), {**GOOD_VALUES, "total_tasks": "12"}), "non-numeric"),
        (snapshot_json(datetime.now(UTC), {**GOOD_VALUES, "total_tasks": True}), "non-numeric"),
        (snapshot_json(datetime.now(UTC), {**GOOD_VALUES, "total_tasks": -1}), "impossible"),
        (snapshot_json(datetime.now(UTC), "many"), "list of"),
    ],
    # Stable ids: the bodies embed the current time, and pytest-xdist workers must collect equal ids.
    ids=[
        "gzip-garbage",
        "json-array",
        "no-snapshot-at",
        "bad-timestamp",
        "naive-timestamp",
        "metrics-missing",
        "string-value",
        "boolean-value",
        "negative-value",
        "metrics-not-object",
    ],
)
def test_a_corrupt_snapshot_is_a_staleness_signal_with_the_reason(
    s3: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    body: bytes | str,
    reason: str,
) -> None:
    put_snapshot(s3, body)

    result, published, _ = invoke(capsys)

    assert result["status"] == "snapshot_invalid"
    assert reason in result["reason"]
    assert published == {"KpiSnapshotReadFailures": 1}
    records = error_records(caplog)
    assert len(records) == 1
    assert reason in records[0].reason


def test_an_unreachable_bucket_is_a_staleness_signal(
    s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOLD_BUCKET", "no-such-bucket")

    result, published, _ = invoke(capsys)

    assert result["status"] == "snapshot_missing"
    assert published == {"KpiSnapshotReadFailures": 1}


@pytest.mark.filterwarnings("ignore:No application metrics")
def test_without_gold_bucket_configured_the_function_fails_loudly(
    s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from todo_etl.metrics.handler import handler

    monkeypatch.delenv("GOLD_BUCKET")

    with pytest.raises(RuntimeError, match="GOLD_BUCKET"):
        handler({}, FakeContext())


def test_a_snapshot_from_a_clock_ahead_of_ours_has_age_zero() -> None:
    future = datetime.now(UTC) + timedelta(minutes=5)
    snapshot = parse_snapshot(snapshot_json(future).encode())

    assert snapshot.age_seconds(datetime.now(UTC)) == 0.0


def test_parse_keeps_exactly_the_business_kpis() -> None:
    snapshot = parse_snapshot(snapshot_json(datetime.now(UTC), {**GOOD_VALUES, "experimental": 1}).encode())

    assert list(snapshot.values) == list(BUSINESS_KPI_METRICS)
    assert snapshot.snapshot_at.tzinfo is not None


def test_parse_refuses_a_non_finite_value() -> None:
    body = json.dumps(
        {"snapshot_at": "2026-11-23T12:00:00Z", "metrics": {**GOOD_VALUES, "total_tasks": 1e400}}
    )

    with pytest.raises(InvalidSnapshotError, match="impossible"):
        parse_snapshot(body.encode())


class DeniesGetObject:
    """moto's S3 client, except that GetObject is refused the way S3 refuses a caller who may not
    list the bucket (403 AccessDenied, even for a key that does not exist); listing goes to moto."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def get_object(self, **kwargs: Any) -> Any:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    def list_objects_v2(self, **kwargs: Any) -> Any:
        return self._client.list_objects_v2(**kwargs)


def test_a_403_for_a_snapshot_that_does_not_exist_reads_as_missing(s3: Any) -> None:
    from todo_etl.metrics.snapshot_store import SnapshotUnavailableError, read_snapshot

    s3.put_object(Bucket=BUCKET, Key=KPI_EXPORT_KEY + ".old", Body=b"{}")  # same prefix, other key
    with pytest.raises(SnapshotUnavailableError) as raised:
        read_snapshot(BUCKET, KPI_EXPORT_KEY, client=DeniesGetObject(s3))
    assert raised.value.missing is True


def test_a_403_for_a_snapshot_that_exists_reads_as_unreadable(s3: Any) -> None:
    from todo_etl.metrics.snapshot_store import SnapshotUnavailableError, read_snapshot

    s3.put_object(Bucket=BUCKET, Key=KPI_EXPORT_KEY, Body=b"{}")
    with pytest.raises(SnapshotUnavailableError) as raised:
        read_snapshot(BUCKET, KPI_EXPORT_KEY, client=DeniesGetObject(s3))
    assert raised.value.missing is False
