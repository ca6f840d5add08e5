"""Pytest plugin (loaded by the root conftest): the local platform and signed-in API users as fixtures.

- `local_platform` (session): one `LocalPlatform` on free ports in a temporary folder. The
  environment it sets (`AWS_ENDPOINT_URL`, `TABLE_NAME`, ...) stays set for the whole session.
- `ingesting_platform` (module): that platform with ingestion wired, drained on demand.
- `module_user_factory` (module): the same factory, for module-scoped users.
- `api_user_factory` (function): call it to get a fresh Cognito user, signed in, with an
  `httpx.Client` that sends its ID token; the clients are closed at teardown.
- `api_user` (function): one such user. `anon_client` (function): a client with no token.
- `token_forge` (session): mints good and bad tokens for the pool (see `todo_local.testing.tokens`).
- `recording_handler` (function): for one test the gateway invokes a recording stand-in instead
  of the API handler (gateway and authorizer tests that must not depend on the API).
- `moto_server` (module): a bare moto server (no table, pool or gateway) on a free port; its URL.
- `moto_env` (function): that server emptied, and this test's AWS clients pointed at it
  (`AWS_ENDPOINT_URL`, dummy credentials, us-east-1); its URL. For tests of one part on moto alone.
- `moto_dynamodb`, `moto_streams` (function): a DynamoDB and a DynamoDB Streams client on that
  emptied server, closed at teardown.
"""

from __future__ import annotations

import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

# The plugin loads for every test run; moto and boto3 are imported only when a fixture is used.
if TYPE_CHECKING:
    from todo_local.platform import LocalPlatform
    from todo_local.testing.handlers import RecordingHandler
    from todo_local.testing.tokens import TokenForge

CLIENT_TIMEOUT_SECONDS = 60.0  # generous: a first request imports the whole API (a cold start)
MOTO_REGION = "us-east-1"
# Settings that would send a client elsewhere than `AWS_ENDPOINT_URL` (or to a real account).
_FOREIGN_AWS_VARS = (
    "AWS_PROFILE",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_FIREHOSE",
)


@dataclass
class ApiUser:
    """A signed-in Cognito user and an HTTP client that calls the API as them."""

    client: httpx.Client
    sub: str
    email: str
    id_token: str
    access_token: str
    password: str


class ApiUserFactory:
    """Creates users with unique emails in the platform's pool; owns (and closes) their clients."""

    def __init__(self, platform: LocalPlatform) -> None:
        self._platform = platform
        self._clients: list[httpx.Client] = []

    def __call__(
        self, *, email: str | None = None, password: str | None = None, name: str | None = None
    ) -> ApiUser:
        from todo_local.cognito import generate_password, signed_in_client

        address = email or f"user-{uuid.uuid4().hex[:12]}@example.com"
        secret = password or generate_password()
        tokens, client = signed_in_client(
            self._platform.endpoints, address, secret, name=name, timeout=CLIENT_TIMEOUT_SECONDS
        )
        self._clients.append(client)
        return ApiUser(client, tokens.sub, tokens.email, tokens.id_token, tokens.access_token, secret)

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()


@pytest.fixture(scope="module")
def local_platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPlatform]:
    """The platform on free ports for one test module; the real API handler is imported on first use.

    Per module, not per session: moto's backends are process-global, so a module that empties its
    own moto server (`moto_env`) would empty a platform still running from an earlier module.
    """
    from todo_local.platform import LocalPlatform

    with LocalPlatform(tmp_path_factory.mktemp("local-platform"), api_port=0, aws_port=0) as platform:
        yield platform


@pytest.fixture(scope="module")
def ingesting_platform(local_platform: LocalPlatform) -> Iterator[LocalPlatform]:
    """The module's platform with ingestion wired (stream → cdc → delivery → bronze), drained only
    when a test asks (`platform.drain`, which `run_pipeline` calls), never in the background."""
    from todo_local.ingestion import wire_ingestion

    ingestion = wire_ingestion(local_platform, interval=3600)
    yield local_platform
    ingestion.stop()


@pytest.fixture(scope="module")
def module_user_factory(local_platform: LocalPlatform) -> Iterator[ApiUserFactory]:
    """`api_user_factory` for module-scoped fixtures: users that live as long as the module."""
    factory = ApiUserFactory(local_platform)
    yield factory
    factory.close()


@pytest.fixture
def api_user_factory(local_platform: LocalPlatform) -> Iterator[ApiUserFactory]:
    factory = ApiUserFactory(local_platform)
    yield factory
    factory.close()


@pytest.fixture
def api_user(api_user_factory: ApiUserFactory) -> ApiUser:
    return api_user_factory()


@pytest.fixture
def anon_client(local_platform: LocalPlatform) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_platform.endpoints["api_url"], timeout=CLIENT_TIMEOUT_SECONDS) as client:
        yield client


@pytest.fixture(scope="module")
def token_forge(local_platform: LocalPlatform) -> TokenForge:
    from todo_local.testing.tokens import TokenForge

    return TokenForge(local_platform.endpoints)


@pytest.fixture
def recording_handler(local_platform: LocalPlatform) -> Iterator[RecordingHandler]:
    from todo_local.testing.handlers import RecordingHandler

    handler = RecordingHandler()
    if local_platform.gateway is None:
        raise RuntimeError("the local platform has no gateway")
    with local_platform.gateway.serving(handler):
        yield handler


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """A bare moto server for one test module; its URL. `moto_env` empties it for each test."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The module's moto server, emptied, with this test's AWS environment pointing at it; its URL.

    Emptying is process-wide (moto keeps one set of backends per process); `local_platform` is
    module-scoped so that no platform is running when this empties moto.
    """
    from todo_local.platform import LocalPlatform

    if LocalPlatform.running_count():
        raise RuntimeError("moto_env would empty a running LocalPlatform's emulator; use one or the other")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    for key in _FOREIGN_AWS_VARS:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", MOTO_REGION)
    monkeypatch.setenv("AWS_REGION", MOTO_REGION)
    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).close()
    return moto_server


def _moto_client(service: str) -> Iterator[Any]:
    """A boto3 client of `service` on the environment `moto_env` set; closed when the fixture ends."""
    import boto3

    client = boto3.client(service)
    yield client
    client.close()


@pytest.fixture
def moto_dynamodb(moto_env: str) -> Iterator[Any]:
    """A DynamoDB client on the emptied moto server of `moto_env`."""
    yield from _moto_client("dynamodb")


@pytest.fixture
def moto_streams(moto_env: str) -> Iterator[Any]:
    """A DynamoDB Streams client on the emptied moto server of `moto_env`."""
    yield from _moto_client("dynamodbstreams")
