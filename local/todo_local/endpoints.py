"""The `endpoints.json` model: where a running local platform can be reached, read and written."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

ENDPOINTS_FILE = "endpoints.json"
DEFAULT_DIR = Path(".local")


class EndpointsError(RuntimeError):
    """The platform's endpoints cannot be used: missing or malformed file, or platform not running."""


class Endpoints(BaseModel):
    """What `local up` writes: SPEC §3's keys plus the control endpoint and the log and DLQ folders."""

    # Later parts may add keys; readers ignore what they do not know instead of refusing the file.
    model_config = ConfigDict(frozen=True, extra="ignore")

    api_url: str
    aws_endpoint_url: str
    region: str
    user_pool_id: str
    user_pool_client_id: str
    table_name: str
    lake_dir: str
    control_url: str
    logs_dir: str
    dlq_dir: str

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens: the real AWS URL, even locally (moto signs it so)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        """Where the emulated pool serves its signing keys (not derivable from the issuer locally)."""
        return f"{self.aws_endpoint_url}/{self.user_pool_id}/.well-known/jwks.json"

    def to_dict(self) -> dict[str, str]:
        return self.model_dump()


def endpoints_path(directory: Path) -> Path:
    return directory / ENDPOINTS_FILE


def write_endpoints(directory: Path, endpoints: Endpoints) -> Path:
    """Write `DIR/endpoints.json` atomically, so a reader never sees half a file."""
    path = endpoints_path(directory)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(endpoints.to_dict(), indent=2) + "\n", encoding="utf-8")
    partial.replace(path)
    return path


def read_endpoints(directory: Path) -> Endpoints:
    """Read `DIR/endpoints.json`; `EndpointsError` with a hint when it is missing or malformed."""
    path = endpoints_path(directory)
    if not path.is_file():
        raise EndpointsError(
            f"No local platform found: {path} does not exist. "
            f"Start one with `todo-insights local up --dir {directory}`."
        )
    try:
        return Endpoints.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise EndpointsError(
            f"{path} is not a valid endpoints file ({exc.__class__.__name__}): "
            f"restart the platform with `todo-insights local up --dir {directory}`."
        ) from exc


def as_endpoints(value: Endpoints | Mapping[str, Any]) -> Endpoints:
    """Accept either the model or the plain dict `LocalPlatform.endpoints` holds."""
    return value if isinstance(value, Endpoints) else Endpoints.model_validate(dict(value))


def is_running(endpoints: Endpoints, timeout: float = 2.0) -> bool:
    """True when the platform that wrote these endpoints answers on its control endpoint."""
    try:
        with urllib.request.urlopen(f"{endpoints.control_url}/health", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def read_running_endpoints(directory: Path) -> Endpoints:
    """Read the endpoints and check the platform is up; `EndpointsError` with a hint otherwise."""
    endpoints = read_endpoints(directory)
    if not is_running(endpoints):
        raise EndpointsError(
            f"The local platform in {directory} is not running ({endpoints.control_url} does not answer). "
            f"Start it with `todo-insights local up --dir {directory}`."
        )
    return endpoints
