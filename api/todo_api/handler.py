"""The api Lambda's entry point: `handler(event, context)`, Mangum around the FastAPI app."""

from __future__ import annotations

from typing import Any

from mangum import Mangum

from todo_api.app import create_app
from todo_api.observability import logger, metrics, tracer
from todo_api.services import idempotency

app = create_app()
asgi_handler = Mangum(app, lifespan="off")


@logger.inject_lambda_context(log_event=False, clear_state=True)  # never log events: bodies, tokens
@tracer.capture_lambda_handler(capture_response=False)  # responses may hold emails
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Invoked by Lambda (and by the local gateway) with an API Gateway REST proxy event."""
    # Powertools sizes the "in progress" lock of an Idempotency-Key by the time left to run.
    idempotency.CONFIG.register_lambda_context(context)
    response: dict[str, Any] = asgi_handler(event, context)
    return response
