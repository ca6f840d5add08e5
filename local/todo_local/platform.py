"""The local platform: moto server (DynamoDB + Streams, Cognito), the local gateway and a control endpoint.

`LocalPlatform` is the one way everything local starts: `todo-insights local up`, the demo and the
pytest fixtures. Every start is a fresh environment (empty table, empty user pool, empty lake,
logs, dead letters and checkpoints), and every piece of code reaches the emulated AWS through the
standard `AWS_ENDPOINT_URL`, exactly as it reaches real AWS without it.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import socket
import threading
import urllib.request
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar, Self

import boto3
from moto.server import ThreadedMotoServer

from todo_contracts.identity import PASSWORD_POLICY
from todo_contracts.table import TABLE
from todo_local import dynamodb_emulation
from todo_local.authorizer import CognitoAuthorizer
from todo_local.endpoints import ENDPOINTS_FILE, Endpoints, write_endpoints
from todo_local.environment import EnvironmentOverlay
from todo_local.gateway import DEFAULT_HANDLER, DEV_CORS_ORIGINS, LambdaHandler, LocalGateway
from todo_local.http_server import POLL_SECONDS, HttpResponse, QuietRequestHandler, ServingThread
from todo_local.log_capture import STDOUT_ROUTER, LogSink, RecordListener
from todo_local.rate_limit import RateLimiter, RateLimits

if TYPE_CHECKING:  # the api is imported when a platform starts, as a cold start would
    from todo_api.runtime import ApiRuntime

LOG = logging.getLogger("todo_local.platform")

REGION = "us-east-1"
HOST = "127.0.0.1"
FRESH_SUBDIRS = ("lake", "logs", "dlq", "state")
# moto accepts any credentials; these only keep boto3 from looking for real ones.
EMULATOR_KEY_ID, EMULATOR_SECRET_KEY = "testing", "testing"
# Cognito password policy of the local pool (the CDK pool uses the same rules).
CLIENT_AUTH_FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


# Variables that would send boto3 somewhere other than the emulator, or with other credentials.
# (Service-specific endpoints of services the platform does not emulate are left alone: other
# parts, such as the local Firehose endpoint, set theirs.)
def cursor_secret_name(suffix: str) -> str:
    """Name of a platform's cursor-signing secret in the emulated Secrets Manager."""
    return f"todo-local-{suffix}/cursor-signing-key"


_UNSET_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_DYNAMODB_STREAMS",
    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    # Each function names its own Powertools service (on AWS the stack sets it per function);
    # one process-wide value would label the cdc function's metrics as the api's.
    "POWERTOOLS_SERVICE_NAME",
)

Drainer = Callable[[], Mapping[str, Any]]


class HandlerLoadError(RuntimeError):
    """The Lambda handler could not be imported (its module failed its init, or is not there)."""


class PortInUseError(OSError):
    """A port the platform was told to use is already taken."""

    def __init__(self, what: str, port: int) -> None:
        super().__init__(
            f"{what} port {port} on {HOST} is already in use: stop what holds it or pick another port"
        )
        self.port = port


def ensure_port_free(what: str, port: int) -> None:
    """`PortInUseError` when something listens on `HOST:port` (port 0 always passes)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise PortInUseError(what, port) from exc


class LocalPlatform:
    """The whole local AWS side of the system, started and stopped as one.

    `handler` replaces the API handler (tests); otherwise `handler_reference` is imported on the
    first request, or during `start()` with `preload_handler=True` (what `local up` does).
    `endpoints.json` is written last: once it exists, everything answers.
    """

    # moto's backends are process-global: only the first live platform of a process may reset them.
    _live_count: ClassVar[int] = 0
    _live_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def running_count(cls) -> int:
        """How many platforms of this process are running (they share moto's backends)."""
        with cls._live_lock:
            return cls._live_count

    def __init__(
        self,
        directory: Path,
        api_port: int = 3000,
        aws_port: int = 5000,
        handler: LambdaHandler | None = None,
        *,
        handler_reference: str = DEFAULT_HANDLER,
        on_record: RecordListener | None = None,
        preload_handler: bool = False,
        rate_limits: RateLimits | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.lake_dir = self.directory / "lake"
        self.logs_dir = self.directory / "logs"
        self.dlq_dir = self.directory / "dlq"
        self.state_dir = self.directory / "state"
        self.api_port = api_port
        self.aws_port = aws_port
        self.endpoints: dict[str, str] = {}
        self.gateway: LocalGateway | None = None
        self.sink: LogSink | None = None
        self._handler = handler
        self._handler_reference = handler_reference
        self._on_record = on_record
        self._preload_handler = preload_handler
        self._rate_limits = rate_limits  # None: unlimited (tests, demo); `local up` passes DEV_LIMITS
        self._moto: ThreadedMotoServer | None = None
        self._control: ServingThread | None = None
        self._environment = EnvironmentOverlay()
        self._drainers: dict[str, Drainer] = {}
        self._drain_lock = threading.Lock()
        self._live = False
        self.api_runtime: ApiRuntime | None = None

    def _api_scope(self) -> AbstractContextManager[Any]:
        from todo_api.runtime import use

        if self.api_runtime is None:
            raise RuntimeError("the platform is not running")
        return use(self.api_runtime)

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._live

    @property
    def control_url(self) -> str:
        if self._control is None:
            raise RuntimeError("the platform is not running")
        return f"http://{HOST}:{self._control.port}"

    def start(self) -> None:
        """Start from nothing; on any failure, undo what was started and raise."""
        if self._live:
            raise RuntimeError("the platform is already running")
        ensure_port_free("API", self.api_port)
        ensure_port_free("AWS", self.aws_port)
        self._fresh_directories()
        try:
            self._start_services()
        except BaseException:
            self.stop()
            raise

    def _fresh_directories(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / ENDPOINTS_FILE).unlink(missing_ok=True)  # never let a reader see stale ones
        for name in FRESH_SUBDIRS:
            path = self.directory / name
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()

    def _start_services(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
        dynamodb_emulation.install()  # DynamoDB's guarantees on moto (ADR 0010); moto runs in this process
        self._moto = ThreadedMotoServer(ip_address=HOST, port=self.aws_port, verbose=False)
        self._moto.start()
        aws_url = "http://{}:{}".format(*self._moto.get_host_and_port())
        with LocalPlatform._live_lock:
            first = LocalPlatform._live_count == 0
            LocalPlatform._live_count += 1
            self._live = True
        if first:  # a fresh emulator even if an earlier platform ran in this process
            reset = urllib.request.Request(f"{aws_url}/moto-api/reset", method="POST")
            urllib.request.urlopen(reset, timeout=10).close()
        suffix = secrets.token_hex(3)  # unique names: a fresh table and pool even beside another platform
        table_name = f"todo-local-{suffix}"
        self._set_environment(aws_url)
        self.api_runtime = self._api_runtime(aws_url, table_name, cursor_secret_name(suffix))
        pool_id, client_id = self._create_resources(
            table_name, f"todo-local-{suffix}", cursor_secret_name(suffix)
        )

        self.sink = LogSink(self.logs_dir, on_record=self._on_record)
        authorizer = CognitoAuthorizer(
            jwks_url=f"{aws_url}/{pool_id}/.well-known/jwks.json",
            issuer=f"https://cognito-idp.{REGION}.amazonaws.com/{pool_id}",
            audience=client_id,
        )
        self.gateway = LocalGateway(
            authorizer,
            self._handler,
            handler_reference=self._handler_reference,
            host=HOST,
            port=self.api_port,
            sink=self.sink,
            region=REGION,
            rate_limiter=RateLimiter(self._rate_limits) if self._rate_limits else None,
            invocation_scope=self._api_scope,
        )
        try:
            self.gateway.start()
        except OSError as exc:
            raise PortInUseError("API", self.api_port) from exc
        self._start_control()
        if self._preload_handler:  # import the API before announcing readiness: a broken one fails start()
            try:
                self.gateway.load_handler()
            except Exception as exc:
                raise HandlerLoadError(
                    f"cannot load the Lambda handler {self._handler_reference}: {exc!r}"
                ) from exc
        endpoints = Endpoints(
            api_url=self.gateway.url,
            aws_endpoint_url=aws_url,
            region=REGION,
            user_pool_id=pool_id,
            user_pool_client_id=client_id,
            table_name=table_name,
            lake_dir=str(self.lake_dir),
            control_url=self.control_url,
            logs_dir=str(self.logs_dir),
            dlq_dir=str(self.dlq_dir),
        )
        self.endpoints = endpoints.to_dict()
        write_endpoints(self.directory, endpoints)

    def _set_environment(self, aws_url: str) -> None:
        # Only boto3's own connection settings (where the emulator is, dummy credentials): plain
        # clients in the CLI, the tests and the local parts reach moto through them, as a developer
        # reaches it with `export AWS_ENDPOINT_URL`. The functions' settings are passed explicitly.
        values = {
            "AWS_ENDPOINT_URL": aws_url,
            "AWS_ACCESS_KEY_ID": EMULATOR_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": EMULATOR_SECRET_KEY,
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        self._environment.apply({**dict.fromkeys(_UNSET_VARS), **values})

    def _api_runtime(self, aws_url: str, table_name: str, cursor_secret: str) -> ApiRuntime:
        """The api's settings and clients for this platform, handed to every invocation (ADR 0015)."""
        from todo_api.runtime import ApiRuntime
        from todo_api.settings import Settings

        settings = Settings(table_name=table_name, stage="local", cursor_secret_id=cursor_secret)
        session = boto3.session.Session(
            aws_access_key_id=EMULATOR_KEY_ID, aws_secret_access_key=EMULATOR_SECRET_KEY, region_name=REGION
        )
        return ApiRuntime.build(
            settings, session=session, endpoint_url=aws_url, cors_origins=frozenset(DEV_CORS_ORIGINS)
        )

    def _restore_environment(self) -> None:
        self._environment.restore()

    def _create_resources(self, table_name: str, pool_name: str, cursor_secret: str) -> tuple[str, str]:
        """The table (with stream and TTL) and the user pool with its app client."""
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        cognito = boto3.client("cognito-idp", region_name=REGION)
        secretsmanager = boto3.client("secretsmanager", region_name=REGION)
        try:
            # The cursor-signing key, read by the api through Powertools Parameters as on AWS.
            secretsmanager.create_secret(Name=cursor_secret, SecretString=secrets.token_urlsafe(48))
            dynamodb.create_table(**TABLE.create_table_kwargs(table_name))
            dynamodb.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TABLE.ttl_attribute},
            )
            pool = cognito.create_user_pool(
                PoolName=pool_name,
                UsernameAttributes=["email"],  # users sign in with their email; the ID token carries it
                AutoVerifiedAttributes=["email"],
                Policies={"PasswordPolicy": PASSWORD_POLICY.as_cognito_api()},
                Schema=[{"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}],
            )["UserPool"]
            client = cognito.create_user_pool_client(
                UserPoolId=pool["Id"],
                ClientName=f"{pool_name}-app",
                GenerateSecret=False,
                ExplicitAuthFlows=CLIENT_AUTH_FLOWS,
            )["UserPoolClient"]
        finally:
            dynamodb.close()  # their keep-alive connections would hold moto threads open
            cognito.close()
            secretsmanager.close()
        return str(pool["Id"]), str(client["ClientId"])

    def _start_control(self) -> None:
        platform = self

        class Handler(_ControlRequestHandler):
            pass

        Handler.platform = platform
        self._control = ServingThread((HOST, 0), Handler, name="local-control", poll_seconds=POLL_SECONDS)

    def stop(self) -> None:
        """Stop everything this platform started (safe to call more than once, or after a failed start)."""
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self._control is not None:
            self._control.stop()
            self._control = None
        if self._moto is not None:
            self._moto.stop()
            # ThreadedMotoServer.stop() ends serve_forever but leaves the listening socket open.
            werkzeug_server = getattr(self._moto, "_server", None)
            if werkzeug_server is not None:
                werkzeug_server.server_close()
            self._moto = None
        if self.sink is not None:
            self.sink.close()
            self.sink = None
        self._restore_environment()
        if self._live:
            with LocalPlatform._live_lock:
                LocalPlatform._live_count -= 1
                last = LocalPlatform._live_count == 0
            self._live = False
            if last:
                STDOUT_ROUTER.uninstall()

    # -- the handler -----------------------------------------------------------------------------

    def load_handler(self) -> LambdaHandler:
        """Import the API handler now instead of on the first request (fail fast, warm start)."""
        if self.gateway is None:
            raise RuntimeError("the platform is not running")
        return self.gateway.load_handler()

    # -- draining --------------------------------------------------------------------------------

    def add_drainer(self, name: str, fn: Drainer) -> None:
        """Register something `drain()` runs, e.g. the stream poller or a delivery stream flush."""
        if name in self._drainers:
            raise ValueError(f"a drainer named {name!r} is already registered")
        self._drainers[name] = fn

    @property
    def drainer_names(self) -> list[str]:
        return list(self._drainers)

    def drain(self) -> dict[str, Any]:
        """Run every drainer in registration order; their summaries by name."""
        with self._drain_lock:  # one drain at a time: drainers move shared checkpoints
            return {name: dict(fn()) for name, fn in self._drainers.items()}


def _json_response(status: int, payload: Any) -> HttpResponse:
    body = json.dumps(payload, default=str).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


class _ControlRequestHandler(QuietRequestHandler):
    """`GET /health` and `POST /drain` for out-of-process callers (CLI commands, the demo)."""

    platform: LocalPlatform

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path.split("?")[0] == "/health":
            self.send(_json_response(200, {"status": "ok", "drainers": self.platform.drainer_names}))
        else:
            self.send(_json_response(404, {"error": f"no such control route: GET {self.path}"}))

    def do_POST(self) -> None:  # noqa: N802
        if self.read_body(1024 * 1024) is None:
            self.send(_json_response(413, {"error": "control requests carry no large bodies"}), close=True)
            return
        if self.path.split("?")[0] != "/drain":
            self.send(_json_response(404, {"error": f"no such control route: POST {self.path}"}))
            return
        try:
            summaries = self.platform.drain()
        except Exception as exc:
            LOG.exception("drain failed")
            self.send(_json_response(500, {"error": f"{exc.__class__.__name__}: {exc}"}))
            return
        self.send(_json_response(200, summaries))
