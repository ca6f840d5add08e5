"""The one place the api's Powertools Logger, Metrics (EMF) and Tracer are built."""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable
from typing import Any, cast

# Tracer's module loads the X-Ray SDK lazily; only building a Tracer imports it (~150 ms).
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.logging.types import LogRecord

from todo_contracts.lake_layout import BRONZE_LOGS
from todo_contracts.metrics import NAMESPACE

SERVICE_NAME = os.getenv("POWERTOOLS_SERVICE_NAME", "todo-api")
METRICS_NAMESPACE = os.getenv("POWERTOOLS_METRICS_NAMESPACE", NAMESPACE)


def _tracing_disabled() -> bool:
    """Explicitly off on developer stages; otherwise Powertools decides (off when
    POWERTOOLS_TRACE_DISABLED says so, and outside Lambda or in SAM/Chalice local)."""
    if os.getenv("STAGE", "local") in {"local", "test"}:
        return True
    return bool(Tracer._is_tracer_disabled())


class DisabledTracer:
    """What the handler uses of Tracer, doing nothing: where tracing is off, building a Powertools
    Tracer would import the X-Ray SDK (a sixth of a cold start) only to switch it off."""

    disabled = True

    def capture_lambda_handler(
        self, lambda_handler: Callable[..., Any] | None = None, **_options: Any
    ) -> Callable[..., Any]:
        if lambda_handler is None:
            return functools.partial(self.capture_lambda_handler, **_options)
        return lambda_handler


# Most requests publish no business metric; Powertools would warn about that on every one.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# The access-log contract (API -> lake): every line has all of bronze logs' columns, null included.
ACCESS_LOG_KEYS = tuple(BRONZE_LOGS.column_names())


class AccessLogFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter, except that access lines keep their null keys.

    Powertools drops keys whose value is None; the lake's access-log schema wants `user_id: null`
    (anonymous) and `route: null` (no route matched) written out.
    """

    def serialize(self, log: LogRecord) -> str:
        record = cast(dict[str, Any], log)
        if record.get("log_type") == "access":
            for key in ACCESS_LOG_KEYS:
                record.setdefault(key, None)
        return super().serialize(log)


logger = Logger(service=SERVICE_NAME, logger_formatter=AccessLogFormatter())
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
# On Lambda (tracing on) the real Tracer, built at import as before; elsewhere no X-Ray SDK at all.
tracer: Tracer | DisabledTracer = (
    DisabledTracer() if _tracing_disabled() else Tracer(service=SERVICE_NAME, disabled=False)
)
