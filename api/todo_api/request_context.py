"""Per-request plumbing as one ASGI middleware: ids, gateway base path, body limit, access log.

Pure ASGI rather than BaseHTTPMiddleware so the body can be measured as it arrives and the
response status seen without buffering the response.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from todo_api import cors, runtime
from todo_api.identity import identity_from_event
from todo_api.observability import logger
from todo_api.services.clock import utc_now
from todo_contracts.errors import envelope_bytes

MAX_BODY_BYTES = 64 * 1024
CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
BASE_PATH = re.compile(r"^(/[A-Za-z0-9._~\-]+)+$")
STATE_REQUEST_ID = "request_id"
STATE_CORRELATION_ID = "correlation_id"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def request_id_of(event: Mapping[str, Any]) -> str:
    """API Gateway's request id (what its own logs show), or a fresh one when invoked directly."""
    value = _mapping(event.get("requestContext")).get("requestId")
    if isinstance(value, str) and CORRELATION_ID.match(value):
        return value
    return str(uuid.uuid4())


def base_path_of(event: Mapping[str, Any], headers: Headers) -> str:
    """The prefix the client's URL has before the API's own paths, e.g. "/prod" on a stage URL.

    API Gateway passes the resource path in `path` and the path the client used in
    `requestContext.path`; on a default execute-api URL the latter starts with the stage.
    """
    context = _mapping(event.get("requestContext"))
    public, path = context.get("path"), event.get("path")
    prefix = ""
    if isinstance(public, str) and isinstance(path, str) and path and public.endswith(path):
        prefix = public[: -len(path)].rstrip("/")
    elif public is None and headers.get("host", "").endswith(".amazonaws.com"):
        stage = context.get("stage")
        prefix = f"/{stage}" if isinstance(stage, str) else ""
    # The prefix ends up inside the Swagger UI page: accept only plain path segments.
    return prefix if prefix and BASE_PATH.match(prefix) else ""


class RequestContextMiddleware:
    """Gives every request its ids and base path, serves HEAD as GET, adds the CORS headers for
    allowed origins, enforces the body limit, logs one access line."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        event = _mapping(scope.get("aws.event"))
        headers = Headers(scope=scope)
        request_id = request_id_of(event)
        supplied = headers.get("x-correlation-id")
        correlation_id = supplied if supplied and CORRELATION_ID.match(supplied) else request_id
        state = scope.setdefault("state", {})
        state[STATE_REQUEST_ID], state[STATE_CORRELATION_ID] = request_id, correlation_id
        scope["root_path"] = base_path_of(event, headers) or scope.get("root_path", "")
        method = scope.get("method")
        if method == "HEAD":
            # HEAD is GET without the body: every GET route answers it, with the GET's headers.
            # The gateway (API Gateway, the local one) sends no body for HEAD.
            scope["method"] = "GET"
        outcome = {"status": 500, "started": False}
        cors_headers = cors.response_headers(runtime.current().cors_origins, headers.get("origin"))

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"], outcome["started"] = message["status"], True
                response_headers = MutableHeaders(scope=message)
                response_headers["X-Request-Id"] = request_id
                response_headers["X-Correlation-Id"] = correlation_id
                for name, value in cors_headers:
                    response_headers.append(name, value)
            await send(message)

        try:
            body = await self._read_body(headers, receive)
            if body is None:
                await self._send_error(
                    send_with_ids, 413, "PAYLOAD_TOO_LARGE", "body exceeds 64 KiB", request_id
                )
            else:
                await self.app(scope, self._replay(body, receive), send_with_ids)
        except Exception:
            # Routes turn every expected failure into an error envelope; reaching here is a bug.
            logger.exception(
                "unhandled error", extra={"request_id": request_id, "correlation_id": correlation_id}
            )
            if not outcome["started"]:
                await self._send_error(
                    send_with_ids, 500, "INTERNAL_ERROR", "an unexpected error occurred", request_id
                )
        finally:
            route = scope.get("route")
            identity = identity_from_event(event)
            logger.info(
                "request",
                extra={
                    "log_type": "access",
                    "ts": utc_now(),  # the clock seam: a replayed request is logged at its simulated time
                    "request_id": request_id,
                    "correlation_id": correlation_id,
                    "method": method,
                    "route": getattr(route, "path", None),
                    "status": int(outcome["status"]),
                    "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                    "user_id": identity.sub if identity else None,
                },
            )

    @staticmethod
    async def _read_body(headers: Headers, receive: Receive) -> bytes | None:
        """The whole request body, or None when it is over the limit (declared or actual)."""
        declared = headers.get("content-length", "")
        if declared.isdigit() and len(declared) < 20 and int(declared) > MAX_BODY_BYTES:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _replay(body: bytes, receive: Receive) -> Receive:
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay

    @staticmethod
    async def _send_error(send: Send, status: int, code: str, message: str, request_id: str) -> None:
        body = envelope_bytes(code, message, request_id)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
