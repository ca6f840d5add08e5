"""The local Firehose endpoint, reached by a real boto3 client through AWS_ENDPOINT_URL_FIREHOSE."""

from __future__ import annotations

import gzip
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from todo_local.delivery_stream import LocalDeliveryStream
from todo_local.firehose_endpoint import FirehoseEndpoint


@pytest.fixture
def stream(tmp_path: Path) -> LocalDeliveryStream:
    return LocalDeliveryStream("todo-cdc", tmp_path, "cdc", seed=1)


@pytest.fixture
def firehose(stream: LocalDeliveryStream, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with FirehoseEndpoint({stream.name: stream}) as endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_FIREHOSE", endpoint.url)
        monkeypatch.setenv(
            "AWS_ENDPOINT_URL", "http://127.0.0.1:9"
        )  # nothing there: proves the override wins
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        client = boto3.client("firehose", region_name="us-east-1")
        yield client
        client.close()


def test_put_record_batch_through_boto3_lands_in_the_stream(
    firehose: Any, stream: LocalDeliveryStream
) -> None:
    data = [b'{"n":1}\n', b'{"n":2, "bin":"\xc3\xa9"}\n']
    answer = firehose.put_record_batch(DeliveryStreamName="todo-cdc", Records=[{"Data": d} for d in data])
    assert answer["FailedPutCount"] == 0
    assert len(answer["RequestResponses"]) == 2
    assert all("RecordId" in r for r in answer["RequestResponses"])
    stream.flush()
    (path,) = list(stream.root.rglob("*.gz"))
    with gzip.open(path, "rb") as handle:
        assert handle.read() == b"".join(data)  # base64 on the wire, the exact bytes in the object


def test_injected_faults_come_back_as_per_record_error_codes(
    firehose: Any, stream: LocalDeliveryStream
) -> None:
    stream.configure_faults(fraction=0.5)
    answer = firehose.put_record_batch(
        DeliveryStreamName="todo-cdc", Records=[{"Data": b"%d\n" % i} for i in range(10)]
    )
    assert answer["FailedPutCount"] == 5
    assert (
        sum(1 for r in answer["RequestResponses"] if r.get("ErrorCode") == "ServiceUnavailableException") == 5
    )


def test_put_record_and_describe(firehose: Any, stream: LocalDeliveryStream) -> None:
    assert firehose.put_record(DeliveryStreamName="todo-cdc", Record={"Data": b"one\n"})["RecordId"]
    description = firehose.describe_delivery_stream(DeliveryStreamName="todo-cdc")[
        "DeliveryStreamDescription"
    ]
    assert description["DeliveryStreamStatus"] == "ACTIVE"
    assert stream.buffered_records == 1


def test_an_unknown_stream_is_a_resource_not_found_error(firehose: Any) -> None:
    with pytest.raises(ClientError) as raised:
        firehose.put_record_batch(DeliveryStreamName="nope", Records=[{"Data": b"x"}])
    assert raised.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_requests_firehose_would_refuse_get_its_error_types(firehose: Any) -> None:
    with pytest.raises(ClientError) as raised:
        firehose.put_record_batch(DeliveryStreamName="todo-cdc", Records=[{"Data": b"x"}] * 501)
    assert raised.value.response["Error"]["Code"] in {"ValidationException", "InvalidArgumentException"}


def test_unknown_operations_and_bad_bodies_are_rejected(stream: LocalDeliveryStream) -> None:
    with FirehoseEndpoint({stream.name: stream}) as endpoint:
        for target, body in [
            ("Firehose_20150804.CreateDeliveryStream", b"{}"),
            ("Firehose_20150804.PutRecordBatch", b"not json"),
            (
                "Firehose_20150804.PutRecordBatch",
                b'{"DeliveryStreamName":"todo-cdc","Records":[{"Data":"%%%"}]}',
            ),
            ("Kinesis_20131202.PutRecords", b"{}"),
        ]:
            request = urllib.request.Request(
                endpoint.url, data=body, method="POST", headers={"X-Amz-Target": target}
            )
            with pytest.raises(urllib.error.HTTPError) as raised:
                urllib.request.urlopen(request, timeout=5)
            assert raised.value.code == 400
            assert json.loads(raised.value.read())["__type"]
    assert stream.buffered_records == 0
