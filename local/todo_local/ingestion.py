"""Wires the ingestion path into a running local platform: stream poller → CDC handler → local
Firehose (through its HTTP endpoint) → bronze, and api.jsonl → logs delivery stream → bronze.

The CDC function is built explicitly (`todo_etl.cdc.handler.build_function`) with clients for the
platform's emulator and for the local Firehose endpoint, and invoked through `lambda_handler`: the
same `CdcFunction.__call__` the Lambda `handler` delegates to, on Lambda-shaped events. Nothing is
set in the process environment, so platforms, the API and tests sharing a process never see it.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_contracts.lake_layout import CDC_FOLDER, LOGS_FOLDER
from todo_contracts.limits import STREAM_BATCH_SIZE, STREAM_RETRY_ATTEMPTS  # as the Etl stack's mapping
from todo_local.delivery_stream import LocalDeliveryStream
from todo_local.firehose_endpoint import FirehoseEndpoint
from todo_local.log_shipper import LogShipper
from todo_local.stream_poller import StreamPoller

if TYPE_CHECKING:
    from todo_etl.aws_clients import ClientFactory
    from todo_etl.cdc.handler import CdcFunction

LOG = logging.getLogger("todo_local.ingestion")

CDC_STREAM_NAME = "todo-local-cdc"
LOGS_STREAM_NAME = "todo-local-logs"
DEAD_LETTER_BUCKET = "todo-local-dead-letters"
STREAM_DEAD_LETTER_FILE = "cdc-stream.jsonl"
POLL_INTERVAL_SECONDS = 1.0


@dataclass
class Ingestion:
    """The running pieces; `stop()` ends them (also done on its own once the platform stops)."""

    cdc_stream: LocalDeliveryStream
    logs_stream: LocalDeliveryStream
    endpoint: FirehoseEndpoint
    poller: StreamPoller
    shipper: LogShipper
    interval: float = POLL_INTERVAL_SECONDS
    stop_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    # The emulated stream releases what this ingestion has consumed (None: moto not in this process).
    stream_consumer: Any = None
    # The CDC function behind the poller (its clients are closed with the rest).
    cdc_function: CdcFunction | None = None

    def drain_cdc(self) -> dict[str, Any]:
        """Everything in the stream now is in bronze when this returns."""
        return {"poller": self.poller.drain().as_dict(), "delivery": self.cdc_stream.flush()}

    def drain_logs(self) -> dict[str, Any]:
        return {"shipper": self.shipper.drain().as_dict(), "delivery": self.logs_stream.flush()}

    def _loop(self, platform: Any) -> None:
        try:
            while not self.stop_event.wait(self.interval) and getattr(platform, "running", True):
                try:
                    self.poller.poll_once()
                    self.shipper.drain()
                    self.cdc_stream.flush_if_due()
                    self.logs_stream.flush_if_due()
                except Exception:
                    if getattr(platform, "running", True):
                        LOG.exception("background ingestion failed; retrying")
        finally:
            self._shut_down()

    def _shut_down(self) -> None:
        self.endpoint.stop()
        self.poller.close()
        if self.stream_consumer is not None:
            self.stream_consumer.close()
        if self.cdc_function is not None:
            self.cdc_function.close()

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join()


def _create_bucket(bucket: str, clients: ClientFactory) -> None:
    from botocore.exceptions import ClientError

    from todo_local.aws_clients import DEFAULT_CONFIG

    s3 = clients("s3", config=DEFAULT_CONFIG)
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "BucketAlreadyOwnedByYou":
            raise
    finally:
        s3.close()


def wire_ingestion(platform: Any, *, interval: float = POLL_INTERVAL_SECONDS) -> Ingestion:
    """Start the local ingestion path for `platform` and register its drainers ("cdc", "logs")."""
    from todo_etl.cdc.handler import CdcSettings, build_function, lambda_handler
    from todo_local import dynamodb_emulation
    from todo_local.aws_clients import platform_clients
    from todo_local.log_capture import adopt_powertools_handlers

    directory = Path(platform.directory)
    lake_dir = Path(platform.lake_dir)
    endpoints = platform.endpoints
    sink = getattr(platform, "sink", None)
    cdc_stream = LocalDeliveryStream(CDC_STREAM_NAME, lake_dir, CDC_FOLDER)
    logs_stream = LocalDeliveryStream(LOGS_STREAM_NAME, lake_dir, LOGS_FOLDER)
    endpoint = FirehoseEndpoint({s.name: s for s in (cdc_stream, logs_stream)})
    endpoint.start()
    aws = platform_clients(endpoints)  # the platform's emulator: the stream, the dead-letter bucket
    cdc = build_function(
        CdcSettings(delivery_stream=CDC_STREAM_NAME, dead_letter_bucket=DEAD_LETTER_BUCKET),
        platform_clients(endpoints, service_endpoints={"firehose": endpoint.url}),
    )
    # The platform's moto runs in this process: tell its stream what has been durably consumed.
    consumer = dynamodb_emulation.StreamConsumer() if dynamodb_emulation.installed() else None
    ingestion = Ingestion(
        cdc_stream=cdc_stream,
        logs_stream=logs_stream,
        endpoint=endpoint,
        poller=StreamPoller(
            endpoints["table_name"],
            lambda_handler(cdc),
            batch_size=STREAM_BATCH_SIZE,
            max_retries=STREAM_RETRY_ATTEMPTS,
            dead_letter_path=directory / "dlq" / STREAM_DEAD_LETTER_FILE,
            checkpoint_path=directory / "state" / "cdc-stream-checkpoints.json",
            sink=sink,
            on_consumed=consumer,
            clients=aws,
        ),
        shipper=LogShipper(
            directory / "logs" / "api.jsonl", directory / "state" / "log-shipper.json", logs_stream
        ),
        interval=interval,
        stream_consumer=consumer,
        cdc_function=cdc,
    )
    try:
        _create_bucket(DEAD_LETTER_BUCKET, aws)
        if sink is not None:
            adopt_powertools_handlers()  # the cdc Logger may predate the stdout router
        platform.add_drainer("cdc", ingestion.drain_cdc)
        platform.add_drainer("logs", ingestion.drain_logs)
    except BaseException:
        ingestion._shut_down()
        raise
    ingestion.thread = threading.Thread(
        target=ingestion._loop, args=(platform,), name="local-ingestion", daemon=True
    )
    ingestion.thread.start()
    return ingestion
