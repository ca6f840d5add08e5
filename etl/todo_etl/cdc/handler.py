"""The CDC Lambda: DynamoDB stream batch → bronze records → Firehose, with a partial batch response.

`handler` is the object AWS invokes and the local stream poller invokes. Clients are built on the
first invocation from the environment (`CDC_DELIVERY_STREAM`, `CDC_DEAD_LETTER_BUCKET`, and the
standard `AWS_ENDPOINT_URL[_FIREHOSE|_S3]` variables), never at import.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from todo_contracts.metrics import NAMESPACE
from todo_etl.cdc.batch_processor import BatchTally, BronzeBatchProcessor, service_name
from todo_etl.cdc.dead_letter import DeadLetterStore, S3DeadLetters
from todo_etl.cdc.firehose_sender import FirehoseSender

STREAM_VARIABLE = "CDC_DELIVERY_STREAM"
DEAD_LETTER_VARIABLE = "CDC_DEAD_LETTER_BUCKET"
# A change to any of these (only ever locally, between platforms) means new clients.
_ENVIRONMENT_KEYS = (
    STREAM_VARIABLE,
    DEAD_LETTER_VARIABLE,
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_FIREHOSE",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
# The SDK retries whole calls that fail (throttling, 5xx); record-level failures are ours to resend.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)

logger = Logger(service=service_name())


class CdcFunction:
    """The function's logic with its collaborators passed in (tests inject faults and a fake sleep)."""

    def __init__(
        self,
        sender: FirehoseSender,
        dead_letters: DeadLetterStore | None = None,
        *,
        metrics: EphemeralMetrics | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sender = sender
        self.dead_letters = dead_letters
        # Ephemeral: Metrics instances share one store per process, and locally the API runs beside us.
        self.metrics = metrics or EphemeralMetrics(namespace=NAMESPACE, service=service_name())
        self._clock = clock

    def __call__(self, event: dict[str, Any], context: LambdaContext | None) -> PartialItemFailureResponse:
        tally = BatchTally()
        processor = BronzeBatchProcessor(self.sender, self.dead_letters, tally, self._clock)
        try:
            return process_partial_response(
                event=event, record_handler=processor.convert, processor=processor, context=context
            )
        finally:
            tally.records_failed = len(processor.fail_messages)
            tally.publish(self.metrics)
            self.metrics.flush_metrics()


def build_function() -> CdcFunction:
    """A `CdcFunction` wired to the AWS (or emulated) services named by the environment."""
    stream = os.environ.get(STREAM_VARIABLE)
    if not stream:
        raise RuntimeError(f"{STREAM_VARIABLE} is not set: the CDC function has nowhere to deliver")
    firehose = boto3.client("firehose", config=CLIENT_CONFIG)
    bucket = os.environ.get(DEAD_LETTER_VARIABLE)
    dead_letters = S3DeadLetters(boto3.client("s3", config=CLIENT_CONFIG), bucket) if bucket else None
    return CdcFunction(FirehoseSender(firehose, stream), dead_letters)


_built: dict[tuple[str | None, ...], CdcFunction] = {}
_built_lock = threading.Lock()


def function_from_environment() -> CdcFunction:
    """The function for the current environment, built once (once per warm container on AWS)."""
    key = tuple(os.environ.get(name) for name in _ENVIRONMENT_KEYS)
    with _built_lock:
        function = _built.get(key)
        if function is None:
            function = build_function()
            _built.clear()
            _built[key] = function
        return function


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return function_from_environment()(event, context)
