"""The local API Gateway: Cognito-authorizer JWT checks, REST (v1) proxy events, the same Lambda handler.

Per request, in API Gateway's order: a path outside `/api` has no resource (404 `NOT_FOUND`,
API Gateway's MISSING_AUTHENTICATION_TOKEN response as the Api stack renders it); with rate limits
on (`local up`), a caller over its limit or a stage over its rate gets 429 with `Retry-After` (WAF
and stage throttling, see `rate_limit`); a body over
10 MB is refused (413); the public routes skip the authorizer, every other route needs a valid ID
token (401, the handler never runs); then the handler object AWS runs is invoked in-process with a
REST proxy event and a Lambda-like context, and its proxy response becomes the HTTP response (502
if it crashes or answers something that is not a proxy response).

Every answer the gateway gives by itself is the API's error envelope, `{"error": {"code",
"message", "request_id"}}`, exactly as the Api stack's gateway responses render it (`ANSWERS`,
kept equal to the CDK configuration by an infra test). So are the HTTP server's own refusals
(malformed framing 400, 414, 431), which on AWS never reach API Gateway at all. Methods other
than the usual ones (TRACE, ...) are passed on like any other, so the API answers 405 with Allow.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from todo_api import cors
from todo_contracts import routes
from todo_contracts.errors import RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE, envelope_bytes
from todo_local.authorizer import CognitoAuthorizer, Unauthorized, bearer_token, claims_as_strings
from todo_local.http_server import (
    POLL_SECONDS,
    HttpRequest,
    HttpResponse,
    MalformedFramingError,
    QuietRequestHandler,
    ServingThread,
)
from todo_local.lambda_context import LOCAL_ACCOUNT_ID, LambdaContext
from todo_local.log_capture import STDOUT_ROUTER, LogSink, adopt_powertools_handlers
from todo_local.rate_limit import RateLimiter, retry_after_header

LOG = logging.getLogger("todo_local.gateway")

API_PREFIX = "/api"
# Routes the API stage serves without the authorizer (the CDK stack must declare the same ones).
PUBLIC_ROUTES = frozenset(routes.PUBLIC_ROUTES)
PUBLIC_METHODS = frozenset(routes.PUBLIC_METHODS)
MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
DEFAULT_HANDLER = "todo_api.handler:handler"
STAGE = "local"
RESOURCE = "/{proxy+}"
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Hop-by-hop and framing headers are the gateway's business, never the function's.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})

# The dev stage's CORS origins (StageConfig.cors_allowed_origins; an infra test keeps them equal).
DEV_CORS_ORIGINS = ("http://localhost:3000", "http://localhost:5173", "http://localhost:8080")

LambdaHandler = Callable[[dict[str, Any], Any], Any]


class MalformedProxyResponseError(ValueError):
    """The function answered something API Gateway could not turn into an HTTP response."""


@dataclass(frozen=True)
class GatewayAnswer:
    """One of API Gateway's own responses (a gateway response type) as the Api stack renders it."""

    response_type: str
    status: int
    code: str
    message: str
    error_type: str | None = None  # API Gateway's x-amzn-ErrorType header


UNAUTHORIZED = GatewayAnswer(
    "UNAUTHORIZED", 401, "UNAUTHORIZED", "missing, expired or invalid token", "UnauthorizedException"
)
ACCESS_DENIED = GatewayAnswer("ACCESS_DENIED", 403, "ACCESS_DENIED", "access denied", "AccessDeniedException")
MISSING_AUTHENTICATION_TOKEN = GatewayAnswer(
    "MISSING_AUTHENTICATION_TOKEN", 404, "NOT_FOUND", "no such route", "MissingAuthenticationTokenException"
)
THROTTLED = GatewayAnswer("THROTTLED", 429, RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE, "ThrottlingException")
REQUEST_TOO_LARGE = GatewayAnswer(
    "REQUEST_TOO_LARGE", 413, "PAYLOAD_TOO_LARGE", "request exceeds 10 MB", "RequestTooLargeException"
)
# The catch-alls keep the status of the case and carry API Gateway's message for it.
DEFAULT_4XX = GatewayAnswer("DEFAULT_4XX", 400, "BAD_REQUEST", "Bad request")
DEFAULT_5XX = GatewayAnswer(
    "DEFAULT_5XX", 502, "INTERNAL_ERROR", "Internal server error", "InternalServerErrorException"
)
ANSWERS: dict[str, GatewayAnswer] = {
    answer.response_type: answer
    for answer in (
        UNAUTHORIZED,
        ACCESS_DENIED,
        MISSING_AUTHENTICATION_TOKEN,
        THROTTLED,
        REQUEST_TOO_LARGE,
        DEFAULT_4XX,
        DEFAULT_5XX,
    )
}


def gateway_error(answer: GatewayAnswer, request_id: str) -> HttpResponse:
    """An answer API Gateway gives by itself, as the Api stack's gateway responses render it."""
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    if answer.error_type:
        headers.append(("x-amzn-ErrorType", answer.error_type))
    return HttpResponse(answer.status, headers, envelope_bytes(answer.code, answer.message, request_id))


def server_error(status: int, message: str, request_id: str) -> HttpResponse:
    """A refusal by the HTTP server itself (framing, line and header limits, unknown methods).

    The code is HTTP's name for the status (`BAD_REQUEST`, `REQUEST_URI_TOO_LONG`, ...).
    """
    headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)]
    return HttpResponse(status, headers, envelope_bytes(HTTPStatus(status).name, message, request_id))


def rate_limited(request_id: str, wait_seconds: float) -> HttpResponse:
    """The 429 the WAF rule's custom response gives (the same body as the Api stack's)."""
    headers = [
        ("Content-Type", "application/json"),
        ("Retry-After", retry_after_header(wait_seconds)),
        ("x-amzn-RequestId", request_id),
    ]
    response = HttpResponse(429, headers, envelope_bytes(RATE_LIMITED_CODE, RATE_LIMITED_MESSAGE))
    response.note = "rate limited"
    return response


def import_handler(reference: str) -> LambdaHandler:
    """`package.module:attribute` → the handler object (how a Lambda's `handler` setting names it)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"handler reference {reference!r} is not 'module:attribute'")
    handler: LambdaHandler = getattr(importlib.import_module(module_name), attribute)
    if not callable(handler):
        raise TypeError(f"{reference} is not callable")
    return handler


def build_proxy_event(
    request: HttpRequest,
    *,
    claims: Mapping[str, str] | None,
    request_id: str,
    stage: str = STAGE,
    now: float | None = None,
) -> dict[str, Any]:
    """A REST API (v1) Lambda proxy event for `request`, as API Gateway builds it."""
    epoch = time.time() if now is None else now
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers:
        headers[name] = value  # API Gateway keeps the last value in `headers`
        multi_headers.setdefault(name, []).append(value)
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)
    body: str | None = None
    is_base64 = False
    if request.body:
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            body, is_base64 = base64.b64encode(request.body).decode("ascii"), True
    host = headers.get("Host") or request.header("host") or "localhost"
    request_context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split(".")[0],
        "extendedRequestId": request_id,
        "httpMethod": request.method,
        "identity": {
            "accessKey": None,
            "accountId": None,
            "caller": None,
            "cognitoAuthenticationProvider": None,
            "cognitoAuthenticationType": None,
            "cognitoIdentityId": None,
            "cognitoIdentityPoolId": None,
            "principalOrgId": None,
            "sourceIp": request.source_ip,
            "user": None,
            "userAgent": request.header("user-agent"),
            "userArn": None,
        },
        "path": request.path,
        "protocol": "HTTP/1.1",
        "requestId": request_id,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(epoch)),
        "requestTimeEpoch": int(epoch * 1000),
        "resourceId": "local",
        "resourcePath": RESOURCE,
        "stage": stage,
    }
    if claims is not None:
        request_context["authorizer"] = {"claims": dict(claims)}
    return {
        "resource": RESOURCE,
        "path": request.path,
        "httpMethod": request.method,
        "headers": headers or None,
        "multiValueHeaders": multi_headers or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": {"proxy": request.path.lstrip("/")},
        "stageVariables": None,
        "requestContext": request_context,
        "body": body,
        "isBase64Encoded": is_base64,
    }


def http_response_from_proxy(result: Any) -> HttpResponse:
    """Translate a Lambda proxy response; `MalformedProxyResponseError` where API Gateway would give 502."""
    if not isinstance(result, Mapping) or "statusCode" not in result:
        raise MalformedProxyResponseError(f"not a proxy response: {type(result).__name__}")
    try:
        status = int(result["statusCode"])
    except (TypeError, ValueError) as exc:
        raise MalformedProxyResponseError(f"statusCode {result['statusCode']!r}") from exc
    if not 100 <= status <= 599:
        raise MalformedProxyResponseError(f"statusCode {status}")
    body = result.get("body") or ""
    if not isinstance(body, str):
        raise MalformedProxyResponseError(f"body is {type(body).__name__}, not a string")
    try:
        payload = base64.b64decode(body, validate=True) if result.get("isBase64Encoded") else body.encode()
    except ValueError as exc:
        raise MalformedProxyResponseError("isBase64Encoded but the body is not base64") from exc
    single = result.get("headers") or {}
    multi = result.get("multiValueHeaders") or {}
    if not isinstance(single, Mapping) or not isinstance(multi, Mapping):
        raise MalformedProxyResponseError("headers must be objects")
    # Both given: API Gateway merges them, and a name present in both takes the multi values only.
    in_multi = {name.lower() for name in multi}
    headers = [(str(k), str(v)) for k, v in single.items() if k.lower() not in in_multi]
    for name, values in multi.items():
        if not isinstance(values, list):
            raise MalformedProxyResponseError(f"multiValueHeaders[{name!r}] is not a list")
        headers.extend((str(name), str(value)) for value in values)
    headers = [(k, v) for k, v in headers if k.lower() not in _FRAMING_HEADERS]
    return HttpResponse(status, headers, payload)


def preflight(origins: tuple[str, ...], origin: str | None, request_id: str) -> HttpResponse:
    """API Gateway's answer to OPTIONS (the Api stack's CORS mock integration): 204 with the allowed
    methods and headers; the request's Origin is allowed back only if it is one of `origins`
    (otherwise the first origin is named, which a browser refuses, exactly as on AWS)."""
    allowed = origin if origin in origins else origins[0]
    headers = [
        ("Access-Control-Allow-Headers", ",".join(cors.ALLOWED_HEADERS)),
        ("Access-Control-Allow-Origin", allowed),
        ("Vary", "Origin"),
        ("Access-Control-Allow-Methods", ",".join(cors.ALLOWED_METHODS)),
        ("Access-Control-Max-Age", str(cors.MAX_AGE_SECONDS)),
        ("x-amzn-RequestId", request_id),
    ]
    response = HttpResponse(204, headers)
    response.note = "CORS preflight"
    return response


def gateway_cors_headers(origins: tuple[str, ...], origin: str | None) -> list[tuple[str, str]]:
    """The CORS headers the Api stack puts on API Gateway's own answers (its gateway responses)."""
    if not origins:
        return []
    allow = origins[0] if len(origins) == 1 else origin
    headers = [] if allow is None else [("Access-Control-Allow-Origin", allow)]
    return [*headers, ("Access-Control-Expose-Headers", ", ".join(cors.EXPOSED_HEADERS)), ("Vary", "Origin")]


def _trace_id(now: float) -> str:
    return f"Root=1-{int(now):08x}-{uuid.uuid4().hex[:24]}"


class LocalGateway:
    """Serves the API on 127.0.0.1 the way the REST API stage with the Cognito authorizer does."""

    def __init__(
        self,
        authorizer: CognitoAuthorizer,
        handler: LambdaHandler | None = None,
        *,
        handler_reference: str = DEFAULT_HANDLER,
        host: str = "127.0.0.1",
        port: int = 0,
        sink: LogSink | None = None,
        function_name: str = "api",
        region: str = "us-east-1",
        timeout_seconds: float = 30.0,
        rate_limiter: RateLimiter | None = None,
        cors_origins: tuple[str, ...] = DEV_CORS_ORIGINS,
        invocation_scope: Callable[[], AbstractContextManager[Any]] | None = None,
    ) -> None:
        """`invocation_scope`, when given, wraps every invocation: how the platform hands the handler
        its explicit runtime (`todo_api.runtime.use`) instead of rewriting the process environment."""
        self.authorizer = authorizer
        self._invocation_scope = invocation_scope
        self.cors_origins = cors_origins
        self.rate_limiter = rate_limiter
        self.function_name = function_name
        self.region = region
        self.timeout_seconds = timeout_seconds
        self._handler = handler
        self._handler_reference = handler_reference
        self._handler_lock = threading.Lock()
        self._sink = sink
        self._host = host
        self._requested_port = port
        self._serving: ServingThread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        """Bind and serve in a background thread (`OSError` if the port is taken)."""
        gateway = self

        class Handler(_GatewayRequestHandler):
            pass

        Handler.gateway = gateway
        self._serving = ServingThread(
            (self._host, self._requested_port), Handler, name="local-gateway", poll_seconds=POLL_SECONDS
        )

    def stop(self) -> None:
        if self._serving is not None:
            self._serving.stop()
            self._serving = None

    @property
    def port(self) -> int:
        if self._serving is None:
            raise RuntimeError("the gateway is not running")
        return self._serving.port

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    # -- the function ----------------------------------------------------------------------------

    def _capture(self) -> Any:
        return STDOUT_ROUTER.capture(self._sink, self.function_name) if self._sink else nullcontext()

    def load_handler(self) -> LambdaHandler:
        """Import the handler now (its module's init, like a cold start), with stdout routed."""
        with self._handler_lock:
            if self._handler is None:
                with self._capture():
                    self._handler = import_handler(self._handler_reference)
                if self._sink is not None:
                    adopt_powertools_handlers()
            return self._handler

    @contextmanager
    def serving(self, handler: LambdaHandler) -> Iterator[None]:
        """Serve another handler for the duration of the block (tests and benchmarks)."""
        with self._handler_lock:
            previous, self._handler = self._handler, handler
        try:
            yield
        finally:
            with self._handler_lock:
                self._handler = previous

    def _invoke(self, event: dict[str, Any]) -> Any:
        context = LambdaContext(self.function_name, timeout_seconds=self.timeout_seconds, region=self.region)
        # Each invocation gets its own event loop: Mangum runs the ASGI app on the thread's loop,
        # and gateway threads have none (a Lambda runtime's single main thread always has one).
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            scope = self._invocation_scope() if self._invocation_scope is not None else nullcontext()
            with self._capture(), scope:
                return self.load_handler()(event, context)
        finally:
            asyncio.set_event_loop(None)
            loop.close()

    # -- one request -----------------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> HttpResponse:
        """Everything API Gateway does for one request, without the socket."""
        response, by_gateway = self._handle(request)
        if by_gateway:
            response.headers.extend(gateway_cors_headers(self.cors_origins, request.header("origin")))
        return response

    def _handle(self, request: HttpRequest) -> tuple[HttpResponse, bool]:
        """The response, and whether the gateway answered by itself (a gateway response)."""
        now = time.time()
        request_id = str(uuid.uuid4())
        path = request.path
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return gateway_error(MISSING_AUTHENTICATION_TOKEN, request_id), True
        if self.rate_limiter is not None:
            # WAF's rule runs before API Gateway's checks: keyed on the token, else the address.
            caller = request.header("authorization") or f"ip:{request.source_ip}"
            wait = self.rate_limiter.admit(caller)
            if wait is not None:
                return rate_limited(request_id, wait), False  # WAF's answer: no gateway response
        if len(request.body) > MAX_BODY_BYTES:
            return gateway_error(REQUEST_TOO_LARGE, request_id), True
        if request.method == "OPTIONS" and self.cors_origins:
            return preflight(self.cors_origins, request.header("origin"), request_id), False
        claims: dict[str, str] | None = None
        if not (path in PUBLIC_ROUTES and request.method in PUBLIC_METHODS):
            try:
                verified = self.authorizer.verify(bearer_token(request.header("authorization")))
            except Exception as exc:  # an authorizer failure of any kind is a denial, never a pass
                denied = gateway_error(UNAUTHORIZED, request_id)
                denied.note = str(exc) if isinstance(exc, Unauthorized) else f"authorizer error: {exc!r}"
                return denied, True
            claims = claims_as_strings(verified)
        event = build_proxy_event(self._with_forwarding_headers(request, now), claims=claims,
                                  request_id=request_id, now=now)  # fmt: skip
        try:
            response = http_response_from_proxy(self._invoke(event))
        except Exception:
            # On AWS the traceback lands in the function's log; here the terminal shows it.
            LOG.error("%s %s: the handler failed\n%s", request.method, path, traceback.format_exc())
            failed = gateway_error(DEFAULT_5XX, request_id)
            failed.note = "handler failed"
            return failed, True
        response.headers.append(("x-amzn-RequestId", request_id))
        return response, False

    def _with_forwarding_headers(self, request: HttpRequest, now: float) -> HttpRequest:
        """Add the headers API Gateway adds in front of the function (the client's own win)."""
        present = {name.lower() for name, _ in request.headers}
        added = [
            (name, value)
            for name, value in (
                ("X-Forwarded-For", request.source_ip),
                ("X-Forwarded-Proto", "http"),
                ("X-Forwarded-Port", str(self.port if self._serving else 80)),
                ("X-Amzn-Trace-Id", _trace_id(now)),
            )
            if name.lower() not in present
        ]
        return HttpRequest(
            request.method,
            request.path,
            request.query,
            (*request.headers, *added),
            request.body,
            request.source_ip,
        )


class _GatewayRequestHandler(QuietRequestHandler):
    gateway: LocalGateway

    def _dispatch(self) -> None:
        started = time.perf_counter()
        split = urlsplit(self.path)
        try:
            body = self.read_body(MAX_BODY_BYTES)
        except MalformedFramingError as exc:  # where the next request starts is unknown: close
            self.send(server_error(400, f"malformed request framing: {exc}", str(uuid.uuid4())), close=True)
            LOG.info("%s %s → 400 [%s]", self.command, split.path, exc)
            return
        if body is None:  # the unread rest makes the connection unusable: answer and close
            self.send(gateway_error(REQUEST_TOO_LARGE, str(uuid.uuid4())), close=True)
            return
        request = HttpRequest(
            method=self.command,
            path=split.path or "/",
            query=split.query,
            headers=tuple(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
        )
        response = self.gateway.handle(request)
        self.send(response)
        LOG.info(
            "%s %s → %d (%.1f ms)%s", request.method, request.path, response.status,
            (time.perf_counter() - started) * 1000, f" [{response.note}]" if response.note else "",
        )  # fmt: skip

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (bad request line, 414, 431) as the error envelope."""
        self.log_error("code %d, message %s", code, message)
        status = HTTPStatus(code)
        self.send(server_error(code, message or status.phrase, str(uuid.uuid4())), close=True)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, BREW, ...) goes the same way: the API answers 405 with Allow
        # rather than http.server a 501 (a 5XX the client did not cause).
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)
