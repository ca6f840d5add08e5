"""A stand-in Lambda handler for gateway tests (records every invocation, answers as told), and a
way to invoke a real one in-process as Lambda's main thread does."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

Responder = Callable[[dict[str, Any]], Any]


def invoke_with_event_loop(
    handler: Callable[[dict[str, Any], Any], Any], event: dict[str, Any], context: Any
) -> Any:
    """Invoke `handler` with a current event loop, as on Lambda's main thread (Mangum needs one)."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return handler(event, context)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def echo_response(event: dict[str, Any]) -> dict[str, Any]:
    """200 with the parts of the event a test usually wants to see."""
    context = event.get("requestContext") or {}
    body = {
        "path": event.get("path"),
        "method": event.get("httpMethod"),
        "claims": (context.get("authorizer") or {}).get("claims"),
    }
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


class RecordingHandler:
    """Callable like a Lambda handler; keeps each event and context (thread-safe)."""

    def __init__(self, respond: Responder = echo_response) -> None:
        self.respond = respond
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        with self._lock:
            self.events.append(event)
            self.contexts.append(context)
        return self.respond(event)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.events)

    @property
    def last_event(self) -> dict[str, Any]:
        with self._lock:
            if not self.events:
                raise AssertionError("the handler was never invoked")
            return self.events[-1]
