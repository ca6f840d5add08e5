"""Schemathesis hooks for the contract runs (loaded through SCHEMATHESIS_HOOKS, see ADR 0012).

An Idempotency-Key belongs to one request body: the same key with another body is 422
IDEMPOTENCY_KEY_REUSED by design, which a generator that draws keys and bodies independently
would report as "valid data rejected". So a well-formed key gets a digest of the body appended:
same body, same key (a replay); another body, another key. Malformed keys are left as they are,
so the negative cases still test that they are refused, and so are the cases that leave out a
required header (Authorization): schemathesis re-derives an edited case and would send it again.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import schemathesis

_KEY = re.compile(r"^[!-~]([ -~]*[!-~])?$")
_HEADER = "Idempotency-Key"


@schemathesis.hook
def before_call(ctx: Any, case: Any, **kwargs: Any) -> None:
    headers = case.headers or {}
    key = headers.get(_HEADER)
    if not isinstance(key, str) or not _KEY.match(key) or len(key) > 255:
        return
    phase = getattr(getattr(case, "meta", None), "phase", None)
    scenario = getattr(getattr(phase, "data", None), "scenario", None)
    if getattr(scenario, "value", None) == "missing_parameter":
        return  # an edited case is re-derived, and would be sent with the left-out header again
    body = json.dumps(case.body, sort_keys=True, default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    headers[_HEADER] = f"{key[:200]}.{digest}"
    case.headers = headers
