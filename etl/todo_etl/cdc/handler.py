"""The CDC Lambda: DynamoDB stream batch → bronze records → Firehose, with a partial batch response.

`handler` is the object AWS invokes: on its first invocation it builds the function from the
environment the stack sets (`CDC_DELIVERY_STREAM`, `CDC_DEAD_LETTER_BUCKET`; clients as boto3
resolves them), never at import, and keeps it for the container's life. Everything else (the local
platform's stream poller, the benchmarks, the tests) builds its `CdcFunction` explicitly with
`build_function(CdcSettings(...), ExplicitClients(...))` and invokes it through `lambda_handler`,
so the same `CdcFunction.__call__` runs on a Lambda-shaped event without any environment variable.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics
from aws_lambda_powertools.utilities.batch import process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from todo_contracts.metrics import NAMESPACE
from todo_etl.aws_clients import ClientFactory, close_client, environment_clients
from todo_etl.cdc.batch_processor import BatchTally, BronzeBatchProcessor, service_name
from todo_etl.cdc.dead_letter import DeadLetterStore, S3DeadLetters
from todo_etl.cdc.firehose_sender import FirehoseSender

STREAM_VARIABLE = "CDC_DELIVERY_STREAM"
DEAD_LETTER_VARIABLE = "CDC_DEAD_LETTER_BUCKET"
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

    def close(self) -> None:
        """Close the clients (locally their keep-alive connections would hold emulator threads)."""
        close_client(self.sender.client)
        if isinstance(self.dead_letters, S3DeadLetters):
            self.dead_letters.close()

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


@dataclass(frozen=True)
class CdcSettings:
    """What the function is configured with: where it delivers, and where oversized records go."""

    delivery_stream: str
    dead_letter_bucket: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> CdcSettings:
        """The settings the stack gives the Lambda function (`CDC_DELIVERY_STREAM`, ...)."""
        env = os.environ if environ is None else environ
        stream = env.get(STREAM_VARIABLE)
        if not stream:
            raise RuntimeError(f"{STREAM_VARIABLE} is not set: the CDC function has nowhere to deliver")
        return cls(delivery_stream=stream, dead_letter_bucket=env.get(DEAD_LETTER_VARIABLE) or None)


def build_function(settings: CdcSettings, clients: ClientFactory = environment_clients) -> CdcFunction:
    """A `CdcFunction` delivering as `settings` say, through clients from `clients`."""
    firehose = clients("firehose", config=CLIENT_CONFIG)
    bucket = settings.dead_letter_bucket
    dead_letters = S3DeadLetters(clients("s3", config=CLIENT_CONFIG), bucket) if bucket else None
    return CdcFunction(FirehoseSender(firehose, settings.delivery_stream), dead_letters)


@functools.cache
def function_from_environment() -> CdcFunction:
    """The Lambda function's `CdcFunction`, built from its environment on the first invocation and
    kept for the life of the container. Only `handler` uses it; everything else builds its own."""
    return build_function(CdcSettings.from_environment())


def lambda_handler(
    function: CdcFunction,
) -> Callable[[dict[str, Any], LambdaContext], PartialItemFailureResponse]:
    """`function` as the Lambda runtime invokes it (Powertools' Lambda context in every log line).

    `handler` is this around the environment's function; the local platform wraps its own."""

    @logger.inject_lambda_context(clear_state=True)
    def invoke(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
        return function(event, context)

    return invoke


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """The object AWS invokes."""
    return function_from_environment()(event, context)
