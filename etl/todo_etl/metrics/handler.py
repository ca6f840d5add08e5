"""Entry point of the metrics Lambda (EventBridge schedule): publish the latest gold KPI snapshot."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from todo_contracts.lake_layout import KPI_EXPORT_KEY
from todo_etl.metrics.kpi_publisher import NAMESPACE, SERVICE, publish_latest_snapshot
from todo_etl.metrics.snapshot_store import read_snapshot

metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
logger = Logger(service=SERVICE)


@logger.inject_lambda_context(log_event=False)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, object]:
    bucket = os.environ.get("GOLD_BUCKET")
    if not bucket:
        raise RuntimeError("GOLD_BUCKET is not set: the function cannot know where the KPI snapshot lives")
    key = os.environ.get("KPI_EXPORT_KEY", KPI_EXPORT_KEY)
    outcome = publish_latest_snapshot(metrics, lambda: read_snapshot(bucket, key), datetime.now(UTC))
    return outcome.as_dict()
