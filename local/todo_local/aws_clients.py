"""Clients for a local platform's emulated AWS, named explicitly from its endpoints.

Everything local that drives the ETL functions (the CDC function behind the stream poller, the
insights loader in `pipeline run`, the restore and reconcile commands) builds its clients here,
from the platform's `Endpoints`, instead of setting `AWS_ENDPOINT_URL` and friends in the process
environment: the API may share the process, and so may another platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.config import Config

from todo_etl.aws_clients import ExplicitClients
from todo_local.endpoints import Endpoints

# moto checks no credentials; explicit dummies keep a developer's real ones out of every call.
LOCAL_ACCESS_KEY_ID = "testing"
LOCAL_SECRET_ACCESS_KEY = "testing"  # noqa: S105 - not a secret: the emulator accepts anything
DEFAULT_REGION = "us-east-1"
DEFAULT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3})


def platform_clients(
    endpoints: Endpoints | Mapping[str, Any], *, service_endpoints: Mapping[str, str] | None = None
) -> ExplicitClients:
    """Clients for the platform's emulator (and any service served apart, e.g. the local Firehose).

    `endpoints` is the platform's `Endpoints` or the dict `LocalPlatform.endpoints` holds; only its
    `aws_endpoint_url` and `region` are read."""
    values = endpoints.to_dict() if isinstance(endpoints, Endpoints) else endpoints
    return ExplicitClients(
        region=str(values.get("region") or DEFAULT_REGION),
        endpoint_url=str(values["aws_endpoint_url"]),
        service_endpoints=dict(service_endpoints or {}),
        access_key_id=LOCAL_ACCESS_KEY_ID,
        secret_access_key=LOCAL_SECRET_ACCESS_KEY,
    )


def platform_client(endpoints: Endpoints | Mapping[str, Any], service_name: str) -> Any:
    """One client of the platform's emulator, with the SDK's standard retries."""
    return platform_clients(endpoints)(service_name, config=DEFAULT_CONFIG)


def platform_resource(endpoints: Endpoints | Mapping[str, Any], service_name: str) -> Any:
    """A boto3 service resource (e.g. DynamoDB's) on the platform's emulator."""
    import boto3

    clients = platform_clients(endpoints)
    session = boto3.session.Session(
        aws_access_key_id=clients.access_key_id,
        aws_secret_access_key=clients.secret_access_key,
        region_name=clients.region,
    )
    return session.resource(service_name, endpoint_url=clients.endpoint_url, config=DEFAULT_CONFIG)
