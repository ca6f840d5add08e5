"""Tokens for authorizer tests: good ones forged with the emulator's key, and every kind of bad one.

Forging with the emulated pool's own private key (moto ships it) lets each bad case break exactly
one rule (expiry, audience, issuer, `token_use`) while the signature stays valid, so a test that
sees 401 proves that rule is checked, not that "some forged token fails".
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from importlib import resources
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from todo_local.endpoints import Endpoints, as_endpoints

EMULATOR_KID = "dummy"  # the kid moto's pool keys carry

# Every way a request can fail the authorizer; each must give 401 and never reach the handler.
BAD_TOKEN_CASES = (
    "missing_header",
    "empty_bearer",
    "not_bearer_scheme",
    "garbage",
    "tampered_payload",
    "foreign_key",
    "unknown_kid",
    "alg_none",
    "hs256_with_public_key",
    "expired",
    "wrong_audience",
    "wrong_issuer",
    "access_token",
    "forged_access_token",
    "missing_token_use",
)


class SignedInUser(Protocol):
    """What a bad-token case may derive from: a user's real tokens."""

    id_token: str
    access_token: str
    sub: str
    email: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: Mapping[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode())


@functools.cache
def emulator_private_jwk() -> dict[str, str]:
    """The private JWK moto signs every pool's tokens with (only the emulator has one to read)."""
    blob = (resources.files("moto") / "cognitoidp/resources/jwks-private.json.gz").read_bytes()
    jwk: dict[str, str] = json.loads(gzip.decompress(blob))
    return jwk


@functools.cache
def foreign_private_key() -> rsa.RSAPrivateKey:
    """A second RSA key the pool never published."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def emulator_public_pem() -> bytes:
    key = jwt.PyJWK(emulator_private_jwk()).key
    return bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


class TokenForge:
    """Mints tokens for one platform's pool: correct ones and each kind of wrong one."""

    def __init__(self, endpoints: Endpoints | Mapping[str, Any]) -> None:
        self.endpoints = as_endpoints(endpoints)

    def id_claims(self, sub: str, email: str, **overrides: Any) -> dict[str, Any]:
        """Claims shaped like the pool's ID tokens; an override of None removes that claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.endpoints.issuer,
            "sub": sub,
            "aud": self.endpoints.user_pool_client_id,
            "token_use": "id",
            "iat": now,
            "auth_time": now,
            "exp": now + 3600,
            "jti": str(uuid.uuid4()),
            "cognito:username": sub,
            "email": email,
            "email_verified": True,
        }
        for keyword, value in overrides.items():
            name = keyword.replace("__", ":")  # cognito__username=... for "cognito:username"
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def signed(self, claims: Mapping[str, Any], *, foreign: bool = False, kid: str = EMULATOR_KID) -> str:
        """RS256 with the pool's key (accepted when the claims are right), or with a foreign key."""
        key: Any = foreign_private_key() if foreign else jwt.PyJWK(emulator_private_jwk()).key
        return jwt.encode(dict(claims), key, algorithm="RS256", headers={"kid": kid})

    @staticmethod
    def unsigned(claims: Mapping[str, Any]) -> str:
        """`alg: none`, empty signature, the pool's kid."""
        header = {"alg": "none", "typ": "JWT", "kid": EMULATOR_KID}
        return f"{_b64url_json(header)}.{_b64url_json(claims)}."

    @staticmethod
    def hs256_with_public_key(claims: Mapping[str, Any]) -> str:
        """The algorithm-confusion attack: HMAC keyed with the pool's *public* key."""
        signing_input = (
            f"{_b64url_json({'alg': 'HS256', 'typ': 'JWT', 'kid': EMULATOR_KID})}.{_b64url_json(claims)}"
        )
        signature = hmac.new(emulator_public_pem(), signing_input.encode(), hashlib.sha256).digest()
        return f"{signing_input}.{_b64url(signature)}"

    @staticmethod
    def tampered(token: str, **changes: Any) -> str:
        """The same token with payload claims changed and the original signature kept."""
        header, payload, signature = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims.update(changes)
        return f"{header}.{_b64url_json(claims)}.{signature}"

    def authorization_header(self, case: str, user: SignedInUser) -> str | None:
        """The `Authorization` header value for one of `BAD_TOKEN_CASES` (None: send no header)."""
        good = self.id_claims(user.sub, user.email)
        bearer = {
            "missing_header": None,
            "garbage": "not-a-jwt",
            "tampered_payload": lambda: self.tampered(user.id_token, sub=str(uuid.uuid4())),
            "foreign_key": lambda: self.signed(good, foreign=True),
            "unknown_kid": lambda: self.signed(good, foreign=True, kid="someone-else"),
            "alg_none": lambda: self.unsigned(good),
            "hs256_with_public_key": lambda: self.hs256_with_public_key(good),
            "expired": lambda: self.signed({**good, "iat": good["iat"] - 7200, "exp": good["iat"] - 3600}),
            "wrong_audience": lambda: self.signed({**good, "aud": "another-app-client"}),
            "wrong_issuer": lambda: self.signed(
                {**good, "iss": f"https://cognito-idp.{self.endpoints.region}.amazonaws.com/us-east-1_other"}
            ),
            "access_token": user.access_token,
            "forged_access_token": lambda: self.signed({**good, "token_use": "access"}),
            "missing_token_use": lambda: self.signed(self.id_claims(user.sub, user.email, token_use=None)),
        }
        if case == "empty_bearer":
            return "Bearer"  # HTTP clients strip the trailing space of "Bearer "
        if case == "not_bearer_scheme":
            return f"Basic {user.id_token}"
        if case not in bearer:
            raise KeyError(f"unknown bad-token case {case!r}; known: {', '.join(BAD_TOKEN_CASES)}")
        value = bearer[case]
        if value is None:
            return None
        token = value() if callable(value) else value
        return f"Bearer {token}"
