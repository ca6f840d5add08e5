"""How the CDC function is built (explicitly, or once from the Lambda environment): transport retries,
dead letters, the allow-list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from todo_contracts.table import LAKE_ENTITY_TYPES
from todo_etl.aws_clients import ExplicitClients
from todo_etl.cdc.bronze_record import BronzeRecord, SkippedRecord, build_bronze_record
from todo_etl.cdc.dead_letter import S3DeadLetters
from todo_etl.cdc.handler import CdcSettings, build_function, function_from_environment

CLIENTS = ExplicitClients(
    region="us-east-1",
    endpoint_url="http://127.0.0.1:9",
    access_key_id="testing",
    secret_access_key="testing",
)


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The Lambda function's environment, and its built function forgotten before and after."""
    for key in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_FIREHOSE", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("CDC_DELIVERY_STREAM", "todo-cdc")
    monkeypatch.delenv("CDC_DEAD_LETTER_BUCKET", raising=False)
    function_from_environment.cache_clear()
    yield monkeypatch
    function_from_environment.cache_clear()


def test_clients_retry_failed_calls_in_the_sdk_with_timeouts() -> None:
    function = build_function(CdcSettings("todo-cdc", dead_letter_bucket="dead"), CLIENTS)
    assert function.sender.stream_name == "todo-cdc"
    assert isinstance(function.dead_letters, S3DeadLetters)
    assert function.dead_letters.bucket == "dead"
    clients: list[Any] = [function.sender.client, function.dead_letters._s3]
    for client in clients:
        config = client.meta.config
        # Whole calls (throttling, 5xx, connection errors) are the SDK's to retry; records are ours.
        assert config.retries == {"mode": "standard", "total_max_attempts": 4}
        assert (config.connect_timeout, config.read_timeout) == (5, 30)
        assert client.meta.endpoint_url == "http://127.0.0.1:9"
        assert client.meta.region_name == "us-east-1"


def test_explicit_clients_name_their_endpoints_whatever_the_environment_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_FIREHOSE", "http://127.0.0.1:2")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    clients = ExplicitClients(
        region="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        service_endpoints={"firehose": "http://127.0.0.1:8"},
        access_key_id="testing",
        secret_access_key="testing",
    )
    function = build_function(CdcSettings("todo-cdc", dead_letter_bucket="dead"), clients)
    assert function.sender.client.meta.endpoint_url == "http://127.0.0.1:8"
    assert isinstance(function.dead_letters, S3DeadLetters)
    assert function.dead_letters._s3.meta.endpoint_url == "http://127.0.0.1:9"
    assert function.sender.client.meta.region_name == "us-east-1"


def test_without_a_dead_letter_bucket_oversized_records_become_failures() -> None:
    # so the event source retries them, then its DLQ
    assert build_function(CdcSettings("todo-cdc"), CLIENTS).dead_letters is None


def test_settings_from_the_environment_the_stack_sets(environment: pytest.MonkeyPatch) -> None:
    assert CdcSettings.from_environment() == CdcSettings("todo-cdc", None)
    environment.setenv("CDC_DEAD_LETTER_BUCKET", "dead")
    assert CdcSettings.from_environment() == CdcSettings("todo-cdc", "dead")
    assert CdcSettings.from_environment({"CDC_DELIVERY_STREAM": "s"}) == CdcSettings("s")


def test_without_a_delivery_stream_the_function_refuses_to_start(environment: pytest.MonkeyPatch) -> None:
    environment.delenv("CDC_DELIVERY_STREAM")
    with pytest.raises(RuntimeError, match="CDC_DELIVERY_STREAM is not set"):
        function_from_environment()


def test_the_lambda_function_is_built_once_on_first_use(environment: pytest.MonkeyPatch) -> None:
    first = function_from_environment()
    assert first.sender.stream_name == "todo-cdc"
    assert function_from_environment() is first  # a warm container keeps its clients
    # The environment is read once: a Lambda container's never changes. Nothing but the Lambda
    # entry point uses this function; everything else builds its own with explicit settings.
    environment.setenv("CDC_DELIVERY_STREAM", "another")
    assert function_from_environment() is first


def test_the_allow_list_is_exactly_the_domain_entities() -> None:
    assert frozenset({"USER", "TASK"}) == LAKE_ENTITY_TYPES


@pytest.mark.parametrize(
    "entity_type", ["INSIGHTS", "USER_INSIGHTS", "KPI_EXPORT", "task", "User"], ids=lambda t: t
)
def test_lake_write_backs_and_near_misses_never_reach_the_lake(entity_type: str) -> None:
    """Anything the lake writes back into the table (e.g. a user's insights) must not loop back."""
    image: dict[str, Any] = {
        "PK": {"S": "USER#u1"},
        "SK": {"S": "INSIGHTS"},
        "entity_type": {"S": entity_type},
    }
    record: dict[str, Any] = {
        "eventID": "e1",
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": 1795953600,
            "Keys": {"PK": image["PK"], "SK": image["SK"]},
            "NewImage": image,
            "SequenceNumber": "1",
        },
    }
    result = build_bronze_record(record, datetime(2026, 11, 23, tzinfo=UTC))
    assert isinstance(result, SkippedRecord)
    assert entity_type in result.reason
    allowed = build_bronze_record(
        {**record, "dynamodb": {**record["dynamodb"], "NewImage": {**image, "entity_type": {"S": "USER"}}}},
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert isinstance(allowed, BronzeRecord)
