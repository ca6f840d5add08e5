"""The insights loader Lambda: after a gold run, each user's insights into the table (ADR 0014).

`handler` is the object AWS invokes (EventBridge "Glue Job State Change", state SUCCEEDED, the
gold job) and the local `pipeline run` invokes right after gold with an event of the same shape.
It reads the export manifest and the run's part files from `GOLD_URI` (`s3://<gold bucket>` on
AWS, the lake's gold folder locally), validates the whole export, then writes the items into
`TABLE_NAME` with conditional transactions (`InsightsWriter`). On AWS the loader is built from the
environment on the first invocation; the local pipeline builds its own explicitly
(`build_loader(LoaderSettings(...), ExplicitClients(...))`) and runs it through `lambda_handler`.

Metrics per invocation (namespace TodoInsights, stage-qualified service): InsightsWritten,
InsightsSkippedStale, InsightsSkippedDeleted, InsightsLoadErrors, and InsightsLagSeconds (now
minus the export's `as_of`, published after a successful load only, so an export that stops
arriving shows as missing data, which the lag alarm treats as breaching).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config

from todo_contracts.lake_layout import InsightsManifest
from todo_contracts.metrics import NAMESPACE as METRICS_NAMESPACE
from todo_contracts.metrics import InsightsMetric
from todo_etl.aws_clients import ClientFactory, environment_clients
from todo_etl.insights.export import InsightsExportError, export_source, read_export
from todo_etl.insights.writer import InsightsWriteError, InsightsWriter, WriteOutcome

NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
DEFAULT_SERVICE = "insights-loader"
GOLD_URI_VARIABLE = "GOLD_URI"
TABLE_VARIABLE = "TABLE_NAME"
GOLD_JOB_VARIABLE = "GOLD_JOB_NAME"
EVENT_SOURCE = "aws.glue"
EVENT_DETAIL_TYPE = "Glue Job State Change"
SUCCEEDED = "SUCCEEDED"
# Whole calls that are throttled or fail transiently are retried by botocore, with backoff.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=30)


def service_name() -> str:
    """The stage-qualified service the stack sets (stages sharing an account stay apart)."""
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or DEFAULT_SERVICE


logger = Logger(service=service_name())
tracer = Tracer(service=service_name())


class InvalidEventError(ValueError):
    """The event is not a Glue job state change the loader can act on."""


@dataclass(frozen=True)
class LoadResult:
    """What one invocation did (also the handler's return value, as a dict)."""

    status: str  # loaded | ignored
    run_id: str | None = None
    as_of: str | None = None
    users: int = 0
    written: int = 0
    skipped_stale: int = 0
    skipped_deleted: int = 0
    lag_seconds: float | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_event(event: Any, gold_job_name: str | None) -> str | None:
    """The job run id of a SUCCEEDED run of the gold job; None for another job or state.

    The EventBridge rule already narrows to these, so anything else reaching here is logged and
    ignored rather than failed (a failure would be retried into the same answer, then dead-lettered).
    """
    if not isinstance(event, Mapping):
        raise InvalidEventError("the event must be a JSON object")
    detail = event.get("detail")
    if event.get("source") != EVENT_SOURCE or event.get("detail-type") != EVENT_DETAIL_TYPE:
        raise InvalidEventError(
            f"expected source {EVENT_SOURCE!r} and detail-type {EVENT_DETAIL_TYPE!r}, got "
            f"{event.get('source')!r} / {event.get('detail-type')!r}"
        )
    if not isinstance(detail, Mapping):
        raise InvalidEventError("the event has no detail object")
    if detail.get("state") != SUCCEEDED:
        return None
    if gold_job_name and detail.get("jobName") != gold_job_name:
        return None
    run_id = detail.get("jobRunId")
    return str(run_id) if run_id else "unknown"


class InsightsLoader:
    """Reads the export and writes it; collaborators passed in so tests can drive it."""

    def __init__(
        self,
        gold_uri: str,
        writer: InsightsWriter,
        s3_client: Any | None = None,
        *,
        gold_job_name: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.gold_uri = gold_uri
        self.writer = writer
        self.s3_client = s3_client
        self.gold_job_name = gold_job_name
        self._clock = clock

    def __call__(self, event: Any, metrics: EphemeralMetrics) -> LoadResult:
        job_run = parse_event(event, self.gold_job_name)
        if job_run is None:
            detail = event.get("detail", {})
            reason = f"job {detail.get('jobName')!r} state {detail.get('state')!r} is not a gold success"
            logger.info("event ignored", extra={"reason": reason})
            return LoadResult(status="ignored", reason=reason)
        manifest, rows = read_export(export_source(self.gold_uri, self.s3_client))
        logger.info(
            "export read",
            extra={
                "run_id": manifest.run_id,
                "as_of": manifest.as_of,
                "users": len(rows),
                "job_run_id": job_run,
            },
        )
        outcome = self.writer.write(rows, manifest.run_id)
        return self._published(manifest, len(rows), outcome, metrics)

    def _published(
        self, manifest: InsightsManifest, users: int, outcome: WriteOutcome, metrics: EphemeralMetrics
    ) -> LoadResult:
        as_of = datetime.strptime(manifest.as_of, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        lag = max(0.0, (self._clock() - as_of).total_seconds())
        metrics.add_metric(name=InsightsMetric.WRITTEN, unit=MetricUnit.Count, value=outcome.written)
        metrics.add_metric(
            name=InsightsMetric.SKIPPED_STALE, unit=MetricUnit.Count, value=outcome.skipped_stale
        )
        metrics.add_metric(
            name=InsightsMetric.SKIPPED_DELETED, unit=MetricUnit.Count, value=outcome.skipped_deleted
        )
        metrics.add_metric(name=InsightsMetric.LAG_SECONDS, unit=MetricUnit.Seconds, value=lag)
        result = LoadResult(
            status="loaded",
            run_id=manifest.run_id,
            as_of=manifest.as_of,
            users=users,
            written=outcome.written,
            skipped_stale=outcome.skipped_stale,
            skipped_deleted=outcome.skipped_deleted,
            lag_seconds=round(lag, 3),
        )
        logger.info("insights loaded", extra={**result.as_dict(), "transactions": outcome.transactions})
        return result


@dataclass(frozen=True)
class LoaderSettings:
    """Where the export lives (`s3://<gold bucket>`, or a local gold folder), which table receives
    the insights, and which Glue job's successes to act on (None: any)."""

    gold_uri: str
    table_name: str
    gold_job_name: str | None = None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LoaderSettings:
        """The settings the stack gives the Lambda function (`GOLD_URI`, `TABLE_NAME`, ...)."""
        env = os.environ if environ is None else environ
        gold_uri = env.get(GOLD_URI_VARIABLE)
        table = env.get(TABLE_VARIABLE)
        if not gold_uri:
            raise RuntimeError(
                f"{GOLD_URI_VARIABLE} is not set: the loader cannot know where the export lives"
            )
        if not table:
            raise RuntimeError(f"{TABLE_VARIABLE} is not set: the loader cannot know which table to write")
        return cls(gold_uri, table, env.get(GOLD_JOB_VARIABLE) or None)


def build_loader(settings: LoaderSettings, clients: ClientFactory = environment_clients) -> InsightsLoader:
    """An `InsightsLoader` as `settings` say, through clients from `clients`."""
    s3 = clients("s3", config=CLIENT_CONFIG) if settings.gold_uri.startswith("s3://") else None
    writer = InsightsWriter(clients("dynamodb", config=CLIENT_CONFIG), settings.table_name)
    return InsightsLoader(settings.gold_uri, writer, s3, gold_job_name=settings.gold_job_name)


@functools.cache
def loader_from_environment() -> InsightsLoader:
    """The Lambda function's loader, built from its environment on the first invocation and kept
    for the life of the container (its clients stay warm). Only `handler` uses it."""
    return build_loader(LoaderSettings.from_environment())


def invoke(loader: Callable[[], InsightsLoader], event: Any) -> dict[str, Any]:
    """One invocation of the loader `loader()` gives: its result as a dict, with the invocation's
    metrics flushed and failures (building the loader's included) logged, counted and raised.
    `handler` runs this; so does the local pipeline, through `lambda_handler`."""
    # Ephemeral: locally the API runs in the same process, and Metrics share one store per process.
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=service_name())
    try:
        return loader()(event, metrics).as_dict()
    except (InsightsExportError, InsightsWriteError, InvalidEventError) as exc:
        # Nothing is half-written: the export is validated whole before the first write, and each
        # transaction is all-or-nothing. Raising fails the invocation (retried, then dead-lettered).
        logger.error("insights load failed", extra={"error": str(exc), "error_type": type(exc).__name__})
        metrics.add_metric(name=InsightsMetric.LOAD_ERRORS, unit=MetricUnit.Count, value=1)
        raise
    except Exception:
        logger.exception("insights load failed unexpectedly")
        metrics.add_metric(name=InsightsMetric.LOAD_ERRORS, unit=MetricUnit.Count, value=1)
        raise
    finally:
        metrics.flush_metrics(raise_on_empty_metrics=False)


def lambda_handler(loader: InsightsLoader) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """`loader` as the Lambda runtime invokes it (the same decorators as `handler`: Powertools'
    Lambda context in every log line, the trace segment)."""

    def run(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return invoke(lambda: loader, event)

    decorated: Callable[[dict[str, Any], Any], dict[str, Any]] = tracer.capture_lambda_handler(
        logger.inject_lambda_context(run, log_event=False), capture_response=False
    )
    return decorated


@tracer.capture_lambda_handler(capture_response=False)
@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """The object AWS invokes."""
    return invoke(loader_from_environment, event)
