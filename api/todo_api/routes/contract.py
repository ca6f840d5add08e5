"""The route class every router uses: JSON-only request bodies (415 otherwise).

The check runs after routing (an unknown route is 404 and a wrong method 405 whatever the body)
and before FastAPI reads the body, so a body that is not JSON is 415 `UNSUPPORTED_MEDIA_TYPE`,
never a 400 or 422 about its content. See ADR 0012 for the whole validation order.
"""

from __future__ import annotations

import email.message
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from todo_api.errors import unsupported_media_type

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
IDENTITY_ENCODINGS = frozenset({"", "identity"})


def is_json_media_type(content_type: str) -> bool:
    """`application/json` or `application/<anything>+json`, parameters (charset) allowed."""
    message = email.message.Message()
    message["content-type"] = content_type
    if message.get_content_maintype() != "application" or not content_type.strip():
        return False
    subtype = message.get_content_subtype()
    return subtype == "json" or subtype.endswith("+json")


async def check_json_body(request: Request) -> None:
    """415 unless a request that carries (or declares) a body declares JSON, uncompressed.

    No body and no Content-Type passes: the model then reports the missing body (422).
    """
    if request.method not in BODY_METHODS:
        return
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding not in IDENTITY_ENCODINGS:
        raise unsupported_media_type()
    content_type = request.headers.get("content-type")
    if content_type is None:
        if await request.body():
            raise unsupported_media_type()
        return
    if not is_json_media_type(content_type):
        raise unsupported_media_type()


class ContractRoute(APIRoute):
    """An APIRoute whose handler first checks the body's media type (routes with a body only)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def checked(request: Request) -> Response:
            await check_json_body(request)
            return await handler(request)

        return checked
