"""Verifies a Cognito ID token the way API Gateway's Cognito user-pool authorizer does."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import jwt

# Claims every Cognito ID token carries; a token lacking one is not an ID token of this pool.
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "token_use")
# API Gateway renders these two as Java dates in the claims it hands to the Lambda.
DATE_CLAIMS = frozenset({"exp", "iat"})


class Unauthorized(Exception):  # noqa: N818 (named after the API Gateway answer it becomes)
    """The token was missing or failed a check; the gateway answers 401 without invoking the handler."""


class CognitoAuthorizer:
    """RS256 signature against the pool's JWKS (cached), issuer, audience, `token_use == "id"`, expiry."""

    def __init__(self, jwks_url: str, issuer: str, audience: str, *, timeout: float = 5.0) -> None:
        self.issuer = issuer
        self.audience = audience
        # The JWKS URL is the emulator's, the issuer the real AWS URL: locally they cannot be derived
        # from each other, which is why both are explicit.
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600, timeout=timeout)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's verified claims; `Unauthorized` for any failure."""
        try:
            signing_key = self._jwks.get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],  # never taken from the token's header: no `none`, no HS256
                audience=self.audience,
                issuer=self.issuer,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise Unauthorized(f"{exc.__class__.__name__}: {exc}") from exc
        if claims.get("token_use") != "id":
            raise Unauthorized(f"token_use is {claims.get('token_use')!r}, not 'id'")
        return claims


def bearer_token(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; `Unauthorized` if there is none."""
    if not authorization:
        raise Unauthorized("no Authorization header")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header is not 'Bearer <token>'")
    return token.strip()


def _claim_string(name: str, value: Any) -> str:
    if name in DATE_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
        return time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def claims_as_strings(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as API Gateway passes them in `requestContext.authorizer.claims`: every value a string.

    e.g. `"exp": "Wed May 01 13:10:22 UTC 2024"`, `"auth_time": "1714565422"`,
    `"email_verified": "true"`, `"cognito:groups": "admins,users"`.
    """
    return {name: _claim_string(name, value) for name, value in claims.items()}
