"""The local platform's CDC path configures nothing through the process environment (ADR 0017).

A real `LocalPlatform` with its ingestion wired: the CDC function behind the stream poller is
built with explicit clients (the platform's emulator, the local Firehose endpoint) and settings
(delivery stream, dead-letter bucket), so neither wiring it nor running a change through it into
bronze changes `os.environ`, and none of the variables the CDC function reads on AWS appears.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

from todo_etl.cdc.dynamodb_json import loads
from todo_local.aws_clients import platform_client
from todo_local.ingestion import wire_ingestion
from todo_local.platform import LocalPlatform
from todo_local.testing.handlers import RecordingHandler

CDC_VARIABLES = (
    "CDC_DELIVERY_STREAM",
    "CDC_DEAD_LETTER_BUCKET",
    "AWS_ENDPOINT_URL_FIREHOSE",
    "AWS_ENDPOINT_URL_S3",
)


def test_the_platforms_cdc_leaves_the_environment_alone(tmp_path: Path) -> None:
    before_start = {key: os.environ.get(key) for key in CDC_VARIABLES}
    with LocalPlatform(tmp_path / "platform", api_port=0, aws_port=0, handler=RecordingHandler()) as platform:
        assert {key: os.environ.get(key) for key in CDC_VARIABLES} == before_start
        started = dict(os.environ)  # what the platform itself sets (the API's side) is not in question

        ingestion = wire_ingestion(platform, interval=3600)
        try:
            assert dict(os.environ) == started
            dynamodb = platform_client(platform.endpoints, "dynamodb")
            try:
                dynamodb.put_item(
                    TableName=platform.endpoints["table_name"],
                    Item={
                        "PK": {"S": "USER#u1"},
                        "SK": {"S": "TASK#t1"},
                        "entity_type": {"S": "TASK"},
                        "task_id": {"S": "t1"},
                        "user_id": {"S": "u1"},
                        "status": {"S": "pending"},
                        "created_at": {"S": "2026-12-03T10:00:00.000Z"},
                        "version": {"N": "1"},
                    },
                )
            finally:
                dynamodb.close()
            summary = platform.drain()
            assert summary["cdc"]["poller"]["records"] >= 1
            rows = []
            for path in sorted((Path(platform.lake_dir) / "bronze" / "cdc").rglob("*.gz")):
                with gzip.open(path, "rb") as handle:
                    rows.extend(loads(line) for line in handle.read().splitlines())
            assert {row["sk"] for row in rows} == {"TASK#t1"}  # through the real CdcFunction
            assert dict(os.environ) == started
        finally:
            ingestion.stop()
        assert dict(os.environ) == started
    assert {key: os.environ.get(key) for key in CDC_VARIABLES} == before_start
