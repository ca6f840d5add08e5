"""How the ETL functions get their boto3 clients: from the environment on AWS, explicitly elsewhere.

A function's builder takes a `ClientFactory`. The Lambda entry points pass `environment_clients`
(boto3's own resolution: the runtime's region and role, `AWS_ENDPOINT_URL*` if set). The local
platform, the benchmarks and the tests pass an `ExplicitClients` naming the endpoint, region and
credentials, so they configure a function without touching the process environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from botocore.config import Config


class ClientFactory(Protocol):
    """Builds the client of one AWS service with the function's retry and timeout settings."""

    def __call__(self, service_name: str, *, config: Config) -> Any: ...


def environment_clients(service_name: str, *, config: Config) -> Any:
    """A client as boto3 resolves it from the environment (what the Lambda runtime provides)."""
    return boto3.session.Session().client(service_name, config=config)


@dataclass(frozen=True)
class ExplicitClients:
    """Clients for a named endpoint: `endpoint_url` for every service unless `service_endpoints`
    names one for it (e.g. Firehose served apart from the rest), with this region and these
    credentials. An explicit endpoint wins over any `AWS_ENDPOINT_URL*` in the environment."""

    region: str
    endpoint_url: str | None = None
    service_endpoints: Mapping[str, str] = field(default_factory=dict)
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def __call__(self, service_name: str, *, config: Config) -> Any:
        session = boto3.session.Session(
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name=self.region,
        )
        endpoint = self.service_endpoints.get(service_name, self.endpoint_url)
        return session.client(service_name, endpoint_url=endpoint, config=config)


def close_client(client: Any) -> None:
    """Close a boto3 client (its pooled connections); anything without `close` is left alone."""
    close = getattr(client, "close", None)
    if callable(close):
        close()
