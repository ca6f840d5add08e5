"""The caller's identity, taken only from the authorizer claims API Gateway put in the Lambda event."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_CLAIM_LENGTH = 512


@dataclass(frozen=True)
class Identity:
    """Who is calling: the Cognito `sub` and, when the token carries it, the email."""

    sub: str
    email: str | None


def _claim(claims: Mapping[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if not isinstance(value, str) or not value or len(value) > MAX_CLAIM_LENGTH:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return None
    return value


def identity_from_event(event: Any) -> Identity | None:
    """The identity in `requestContext.authorizer.claims`, or None when there is none."""
    if not isinstance(event, Mapping):
        return None
    context = event.get("requestContext")
    authorizer = context.get("authorizer") if isinstance(context, Mapping) else None
    claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
    if not isinstance(claims, Mapping):
        return None
    sub = _claim(claims, "sub")
    if sub is None:
        return None
    return Identity(sub=sub, email=_claim(claims, "email"))
