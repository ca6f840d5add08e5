"""Cognito user helpers for the local platform: create a confirmed user, sign in, get its tokens.

Only standard Cognito API calls, made against the emulated pool named in the endpoints.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import jwt
from botocore.exceptions import ClientError

from todo_local.endpoints import Endpoints, as_endpoints

if TYPE_CHECKING:
    import httpx


class UserExistsError(RuntimeError):
    """A user with this email already exists in the pool."""


class SignInError(RuntimeError):
    """Cognito refused the credentials (or the user is not confirmed)."""


@dataclass(frozen=True)
class Tokens:
    """What a successful sign-in returns; `sub` and `email` are read from the ID token."""

    id_token: str
    access_token: str
    refresh_token: str | None
    sub: str
    email: str


def generate_password() -> str:
    """A random password that satisfies the pool's policy (length, upper, lower, digit, symbol)."""
    return f"Pw-{secrets.token_urlsafe(12)}-Aa1!"


def _client(endpoints: Endpoints) -> Any:
    # Explicit dummy credentials: a CLI process started from a plain shell has none, and the
    # emulator accepts any (the endpoint is always the local one here, never real AWS).
    return boto3.client(
        "cognito-idp",
        region_name=endpoints.region,
        endpoint_url=endpoints.aws_endpoint_url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106
    )


def create_user(
    endpoints: Endpoints | Mapping[str, Any], email: str, password: str, *, name: str | None = None
) -> None:
    """Create a confirmed user (email verified) with a permanent password; `UserExistsError` if taken."""
    ep = as_endpoints(endpoints)
    client = _client(ep)
    attributes = [{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}]
    if name:
        attributes.append({"Name": "name", "Value": name})
    try:
        client.admin_create_user(
            UserPoolId=ep.user_pool_id,
            Username=email,
            UserAttributes=attributes,
            MessageAction="SUPPRESS",  # no invitation email: the password is set right below
        )
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "UsernameExistsException":
            raise UserExistsError(f"a user with email {email} already exists") from exc
        raise
    client.admin_set_user_password(
        UserPoolId=ep.user_pool_id, Username=email, Password=password, Permanent=True
    )


def sign_in(endpoints: Endpoints | Mapping[str, Any], email: str, password: str) -> Tokens:
    """`USER_PASSWORD_AUTH` with the app client, as any app would; `SignInError` if refused."""
    ep = as_endpoints(endpoints)
    try:
        response = _client(ep).initiate_auth(
            ClientId=ep.user_pool_client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
    except ClientError as exc:
        raise SignInError(
            f"sign-in refused for {email}: {exc.response['Error'].get('Message', exc)}"
        ) from exc
    result = response.get("AuthenticationResult")
    if not result:  # a challenge (e.g. NEW_PASSWORD_REQUIRED) instead of tokens
        raise SignInError(f"sign-in for {email} needs {response.get('ChallengeName')}, not supported here")
    # Reading our own fresh token: the gateway is what verifies signatures.
    claims = jwt.decode(result["IdToken"], options={"verify_signature": False})
    return Tokens(
        id_token=result["IdToken"],
        access_token=result["AccessToken"],
        refresh_token=result.get("RefreshToken"),
        sub=str(claims["sub"]),
        email=str(claims.get("email", email)),
    )


def signed_in_client(
    endpoints: Endpoints | Mapping[str, Any],
    email: str,
    password: str,
    *,
    name: str | None = None,
    timeout: float,
) -> tuple[Tokens, httpx.Client]:
    """A new user signs up and in, as an app would: their tokens and an API client sending the ID token."""
    import httpx

    ep = as_endpoints(endpoints)
    create_user(ep, email, password, name=name)
    tokens = sign_in(ep, email, password)
    client = httpx.Client(
        base_url=ep.api_url, headers={"Authorization": f"Bearer {tokens.id_token}"}, timeout=timeout
    )
    return tokens, client
