"""A tiny Firehose endpoint (JSON 1.1 protocol) in front of named local delivery streams.

The unchanged CDC function reaches it with a real boto3 client built with its URL as
`endpoint_url` (`todo_local.ingestion`), so the wire path (base64 `Data`, per-record answers,
error types) is exercised exactly as on AWS. Only what the project calls is served:
PutRecordBatch, PutRecord and DescribeDeliveryStream.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Mapping
from typing import Any

from todo_local.delivery_stream import DeliveryStreamError, LocalDeliveryStream
from todo_local.http_server import HttpResponse, QuietRequestHandler, ServingThread

LOG = logging.getLogger("todo_local.firehose_endpoint")

TARGET_PREFIX = "Firehose_20150804."
CONTENT_TYPE = "application/x-amz-json-1.1"
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # 4 MiB of records grows by a third in base64


class FirehoseEndpoint:
    """Serves the streams by name on 127.0.0.1 (port 0 picks a free one)."""

    def __init__(
        self, streams: Mapping[str, LocalDeliveryStream], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.streams = dict(streams)
        self._host = host
        self._port = port
        self._serving: ServingThread | None = None

    @property
    def url(self) -> str:
        if self._serving is None:
            raise RuntimeError("the Firehose endpoint is not running")
        return f"http://{self._host}:{self._serving.port}"

    def start(self) -> None:
        endpoint = self

        class Handler(_FirehoseRequestHandler):
            pass

        Handler.endpoint = endpoint
        self._serving = ServingThread((self._host, self._port), Handler, name="local-firehose")

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    def __enter__(self) -> FirehoseEndpoint:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- operations ------------------------------------------------------------------------------

    def _stream(self, body: Mapping[str, Any]) -> LocalDeliveryStream:
        name = body.get("DeliveryStreamName")
        stream = self.streams.get(name) if isinstance(name, str) else None
        if stream is None:
            raise DeliveryStreamError("ResourceNotFoundException", f"Delivery stream {name} not found.")
        return stream

    @staticmethod
    def _decode(record: Any) -> dict[str, bytes]:
        data = record.get("Data") if isinstance(record, Mapping) else None
        if not isinstance(data, str):
            raise DeliveryStreamError("ValidationException", "Each record needs Data (base64).")
        try:
            return {"Data": base64.b64decode(data, validate=True)}
        except (binascii.Error, ValueError) as exc:
            raise DeliveryStreamError("SerializationException", "Data is not valid base64.") from exc

    def call(self, operation: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One operation on the streams; `DeliveryStreamError` for what Firehose would refuse."""
        if operation == "PutRecordBatch":
            records = body.get("Records")
            if not isinstance(records, list):
                raise DeliveryStreamError("ValidationException", "Records must be a list.")
            stream = self._stream(body)
            return stream.put_record_batch(
                DeliveryStreamName=stream.name, Records=[self._decode(r) for r in records]
            )
        if operation == "PutRecord":
            stream = self._stream(body)
            answer = stream.put_record_batch(
                DeliveryStreamName=stream.name, Records=[self._decode(body.get("Record"))]
            )
            reply = answer["RequestResponses"][0]
            if "ErrorCode" in reply:
                raise DeliveryStreamError(reply["ErrorCode"], reply["ErrorMessage"])
            return {"RecordId": reply["RecordId"], "Encrypted": False}
        if operation == "DescribeDeliveryStream":
            stream = self._stream(body)
            return {
                "DeliveryStreamDescription": {
                    "DeliveryStreamName": stream.name,
                    "DeliveryStreamStatus": "ACTIVE",
                    "DeliveryStreamType": "DirectPut",
                    "VersionId": "1",
                    "Destinations": [],
                    "HasMoreDestinations": False,
                }
            }
        raise DeliveryStreamError(
            "UnknownOperationException", f"Operation {operation} is not served locally."
        )


def _reply(status: int, payload: Mapping[str, Any]) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", CONTENT_TYPE)], json.dumps(payload).encode())


def _error(code: str, message: str, status: int = 400) -> HttpResponse:
    return _reply(status, {"__type": code, "message": message})


class _FirehoseRequestHandler(QuietRequestHandler):
    endpoint: FirehoseEndpoint

    def do_POST(self) -> None:  # noqa: N802 (http.server naming)
        body = self.read_body(MAX_REQUEST_BYTES)
        if body is None:
            self.send(_error("InvalidArgumentException", "Request too large."), close=True)
            return
        target = self.headers.get("X-Amz-Target") or ""
        if not target.startswith(TARGET_PREFIX):
            self.send(_error("UnknownOperationException", f"Unexpected X-Amz-Target {target!r}."))
            return
        try:
            request = json.loads(body or b"{}")
            if not isinstance(request, dict):
                raise ValueError("the body is not a JSON object")
        except ValueError as exc:
            self.send(_error("SerializationException", f"Malformed JSON body: {exc}"))
            return
        try:
            payload = self.endpoint.call(target.removeprefix(TARGET_PREFIX), request)
        except DeliveryStreamError as exc:
            self.send(_error(exc.code, exc.message))
            return
        except Exception:
            LOG.exception("local Firehose failed on %s", target)
            self.send(_error("ServiceUnavailableException", "Local Firehose failed.", status=500))
            return
        self.send(_reply(200, payload))
