"""CORS: which browser origins may call the API, and what they may send and read (ADR 0012).

The allowed origins are a stage setting (`StageConfig.cors_allowed_origins`); the Api stack
passes them to the function as `CORS_ALLOWED_ORIGINS` (comma-separated) and builds API Gateway's
preflight (OPTIONS) answers from the same values and the constants below. Preflights never reach
the function: API Gateway (and the local gateway) answer them. The function adds the CORS headers
to its actual responses, for allowed origins only. A stage without origins has no CORS at all.
"""

from __future__ import annotations

import os

ORIGINS_VARIABLE = "CORS_ALLOWED_ORIGINS"
ALLOWED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
    "X-Correlation-Id",
)
# What a browser script may read of a response besides the CORS-safelisted headers.
EXPOSED_HEADERS = (
    "ETag",
    "Location",
    "Idempotent-Replayed",
    "Retry-After",
    "X-Request-Id",
    "X-Correlation-Id",
)
MAX_AGE_SECONDS = 600


def origins_from_environment() -> frozenset[str]:
    """The origins the stack gives the function (`CORS_ALLOWED_ORIGINS`, comma-separated; empty:
    CORS is off)."""
    value = os.environ.get(ORIGINS_VARIABLE, "")
    return frozenset(origin.strip() for origin in value.split(",") if origin.strip())


def response_headers(origins: frozenset[str], origin: str | None) -> list[tuple[str, str]]:
    """The CORS headers of an actual (not preflight) response to a request from `origin`."""
    if not origins:
        return []
    headers = [("Vary", "Origin")]
    if origin is not None and origin in origins:
        headers += [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS)),
        ]
    return headers
