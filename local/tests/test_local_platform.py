"""LocalPlatform: fresh state per start, the endpoints contract, environment, drainers, clean stop."""

import json
import os
import socket
import sys
import textwrap
import threading
import uuid

import boto3
import httpx
import pytest

from todo_contracts.identity import PASSWORD_POLICY
from todo_local.cognito import create_user, generate_password
from todo_local.endpoints import read_endpoints
from todo_local.platform import HandlerLoadError, LocalPlatform, PortInUseError
from todo_local.testing.handlers import RecordingHandler

SPEC_KEYS = {
    "api_url",
    "aws_endpoint_url",
    "region",
    "user_pool_id",
    "user_pool_client_id",
    "table_name",
    "lake_dir",
}
# boto3's own connection settings: the only variables a platform sets (ADR 0015).
PLATFORM_ENV = (
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
# The functions' settings, which the platform passes in instead.
FUNCTION_SETTINGS = (
    "TABLE_NAME",
    "STAGE",
    "CURSOR_SECRET",
    "CURSOR_SECRET_ID",
    "CORS_ALLOWED_ORIGINS",
    "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_TRACE_DISABLED",
)


@pytest.fixture
def make_platform(tmp_path):
    """Platforms of one test (on free ports, beside the session one); all stopped at teardown."""
    started = []

    def make(directory=None, **kwargs):
        kwargs.setdefault("handler", RecordingHandler())
        platform = LocalPlatform(directory or tmp_path / "platform", api_port=0, aws_port=0, **kwargs)
        started.append(platform)
        return platform

    yield make
    for platform in started:
        platform.stop()


def _bindable(port):
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _port(url):
    return int(url.rsplit(":", 1)[1])


def test_endpoints_json_holds_exactly_the_contract_keys(make_platform, tmp_path):
    with make_platform(tmp_path / "p") as platform:
        on_disk = json.loads((tmp_path / "p" / "endpoints.json").read_text())
        assert set(on_disk) == SPEC_KEYS | {"control_url", "logs_dir", "dlq_dir"}
        assert on_disk == platform.endpoints
        assert on_disk["region"] == "us-east-1"
        assert on_disk["lake_dir"] == str((tmp_path / "p" / "lake").resolve())
        assert os.path.isabs(on_disk["lake_dir"])
        assert on_disk["logs_dir"] == str(platform.logs_dir)
        assert on_disk["dlq_dir"] == str(platform.dlq_dir)
        assert read_endpoints(tmp_path / "p").api_url == on_disk["api_url"]
        assert httpx.get(on_disk["api_url"] + "/api/health").status_code == 200
        assert httpx.get(on_disk["control_url"] + "/health").json()["status"] == "ok"


def test_every_start_is_a_fresh_environment(make_platform, tmp_path):
    directory = tmp_path / "p"
    platform = make_platform(directory)

    # given a first run that left data everywhere
    with platform:
        first = dict(platform.endpoints)
        boto3.client("dynamodb").put_item(
            TableName=first["table_name"], Item={"PK": {"S": "USER#1"}, "SK": {"S": "PROFILE"}}
        )
        create_user(first, "old@example.com", generate_password())
        for name in ("lake", "logs", "dlq", "state"):
            (directory / name / "leftover.txt").write_text("old")

    # when the platform starts again in the same folder
    with platform:
        second = platform.endpoints
        # then the table, the pool and the folders are new and empty
        assert second["table_name"] != first["table_name"]
        assert second["user_pool_id"] != first["user_pool_id"]
        assert boto3.client("dynamodb").scan(TableName=second["table_name"])["Count"] == 0
        assert boto3.client("cognito-idp").list_users(UserPoolId=second["user_pool_id"])["Users"] == []
        for name in ("lake", "logs", "dlq", "state"):
            assert (directory / name).is_dir()
            assert list((directory / name).iterdir()) == []


def test_the_table_has_its_stream_ttl_and_indexes(make_platform):
    with make_platform() as platform:
        dynamodb = boto3.client("dynamodb")
        table = dynamodb.describe_table(TableName=platform.endpoints["table_name"])["Table"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert len(table["GlobalSecondaryIndexes"]) == 4
        ttl = dynamodb.describe_time_to_live(TableName=platform.endpoints["table_name"])
        assert ttl["TimeToLiveDescription"]["AttributeName"] == "expiration"
        assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_the_pool_signs_in_by_email_and_enforces_its_password_policy(make_platform):
    with make_platform() as platform:
        pool_id = platform.endpoints["user_pool_id"]
        cognito = boto3.client("cognito-idp")
        pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        assert pool["UsernameAttributes"] == ["email"]
        assert pool["Policies"]["PasswordPolicy"] == PASSWORD_POLICY.as_cognito_api()
        client = cognito.describe_user_pool_client(
            UserPoolId=pool_id, ClientId=platform.endpoints["user_pool_client_id"]
        )["UserPoolClient"]
        assert {"ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH"} <= set(
            client["ExplicitAuthFlows"]
        )
        with pytest.raises(cognito.exceptions.InvalidPasswordException):
            create_user(platform.endpoints, "weak@example.com", "short")


def test_code_reaches_the_emulator_through_the_standard_environment(make_platform, monkeypatch):
    # given a developer shell configured for real AWS
    monkeypatch.setenv("AWS_PROFILE", "prod-admin")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "https://dynamodb.eu-west-1.amazonaws.com")
    monkeypatch.setenv("AWS_ENDPOINT_URL_FIREHOSE", "http://127.0.0.1:1")  # not ours to touch
    before = {
        key: os.environ.get(key)
        for key in (*PLATFORM_ENV, *FUNCTION_SETTINGS, "AWS_PROFILE", "AWS_ENDPOINT_URL_DYNAMODB")
    }
    with make_platform() as platform:
        assert "AWS_PROFILE" not in os.environ
        assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
        assert os.environ["AWS_ENDPOINT_URL_FIREHOSE"] == "http://127.0.0.1:1"
        assert os.environ["AWS_ENDPOINT_URL"] == platform.endpoints["aws_endpoint_url"]
        # the api's settings are passed in, not written into the process environment
        assert {key: os.environ.get(key) for key in FUNCTION_SETTINGS} == {
            key: before[key] for key in FUNCTION_SETTINGS
        }
        settings = platform.api_runtime.settings
        assert (settings.table_name, settings.stage) == (platform.endpoints["table_name"], "local")
        # the cursor key is in the emulated Secrets Manager, as on AWS
        secret = boto3.client("secretsmanager").get_secret_value(SecretId=settings.cursor_secret_id)
        assert len(secret["SecretString"]) >= 32
        # a plain boto3 client, configured by nothing but the environment, finds the table
        boto3.client("dynamodb").describe_table(TableName=platform.endpoints["table_name"])
    # and stopping gives the environment back as it was
    assert {key: os.environ.get(key) for key in before} == before


def test_stop_frees_every_port_and_thread_even_with_open_connections(make_platform):
    threads_before = set(threading.enumerate())
    platform = make_platform()
    platform.start()
    ports = [_port(platform.endpoints[k]) for k in ("api_url", "aws_endpoint_url", "control_url")]
    # a client that keeps its connection alive must not hold the stop up
    client = httpx.Client(base_url=platform.endpoints["api_url"])
    assert client.get("/api/health").status_code == 200
    httpx.get(platform.endpoints["control_url"] + "/health")

    platform.stop()

    assert all(_bindable(port) for port in ports)
    new_threads = [t for t in threading.enumerate() if t not in threads_before]
    assert [t for t in new_threads if not t.daemon] == []
    assert [t for t in new_threads if t.name in ("local-gateway", "local-control")] == []
    assert not platform.running
    client.close()


@pytest.mark.parametrize("which", ["api_port", "aws_port"])
def test_a_busy_port_fails_clearly_and_leaves_nothing_behind(which, tmp_path):
    env_before = dict(os.environ)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"api_port": 0, "aws_port": 0, which: busy}
        platform = LocalPlatform(tmp_path / "p", handler=RecordingHandler(), **ports)
        with pytest.raises(PortInUseError, match=f"port {busy} .* already in use"):
            platform.start()
    assert not (tmp_path / "p" / "endpoints.json").exists()
    assert dict(os.environ) == env_before
    assert not platform.running


def test_drainers_run_in_order_in_process_and_through_the_control_endpoint(make_platform):
    with make_platform() as platform:
        calls = []
        platform.add_drainer("stream", lambda: calls.append("stream") or {"records": 3})
        platform.add_drainer("delivery", lambda: calls.append("delivery") or {"objects": 1})

        assert platform.drain() == {"stream": {"records": 3}, "delivery": {"objects": 1}}
        response = httpx.post(platform.control_url + "/drain")
        assert response.status_code == 200
        assert response.json() == {"stream": {"records": 3}, "delivery": {"objects": 1}}
        assert calls == ["stream", "delivery", "stream", "delivery"]
        assert httpx.get(platform.control_url + "/health").json()["drainers"] == ["stream", "delivery"]


def test_a_duplicate_drainer_name_is_refused(make_platform):
    platform = make_platform()
    platform.add_drainer("stream", dict)
    with pytest.raises(ValueError, match="stream"):
        platform.add_drainer("stream", dict)


def test_a_failing_drainer_is_a_500_with_its_error(make_platform):
    def broken():
        raise RuntimeError("shard iterator expired")

    with make_platform() as platform:
        platform.add_drainer("stream", broken)
        response = httpx.post(platform.control_url + "/drain")
        assert response.status_code == 500
        assert "shard iterator expired" in response.json()["error"]
        assert httpx.post(platform.control_url + "/nope").status_code == 404
        assert httpx.get(platform.control_url + "/nope").status_code == 404


def _write_handler_module(directory, name):
    service = f"svc-{uuid.uuid4().hex[:8]}"  # never share the API's logger name
    (directory / f"{name}.py").write_text(
        textwrap.dedent(
            f"""
            from aws_lambda_powertools import Logger, Metrics
            from aws_lambda_powertools.metrics import MetricUnit

            logger = Logger(service="{service}")
            metrics = Metrics(namespace="LocalTest", service="{service}")

            @metrics.log_metrics
            def handler(event, context):
                logger.info("handled", extra={{"log_type": "access", "route": event["path"]}})
                metrics.add_metric(name="Handled", unit=MetricUnit.Count, value=1)
                print("a plain line for the terminal")
                return {{"statusCode": 200, "body": "ok"}}
            """
        )
    )


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("imported_before_start", [False, True])
def test_a_powertools_handler_logs_and_metrics_land_in_the_log_folder(
    imported_before_start, make_platform, tmp_path, monkeypatch
):
    name = f"local_fake_api_{uuid.uuid4().hex[:8]}"
    _write_handler_module(tmp_path, name)
    monkeypatch.syspath_prepend(str(tmp_path))
    if imported_before_start:  # its Logger bound whatever stdout was then (pytest's capture)
        __import__(name)
    try:
        with make_platform(handler=None, handler_reference=f"{name}:handler") as platform:
            response = httpx.get(platform.endpoints["api_url"] + "/api/health", timeout=60)
            assert response.status_code == 200
            logs = _read_jsonl(platform.logs_dir / "api.jsonl")
            metrics = _read_jsonl(platform.logs_dir / "metrics.jsonl")
    finally:
        sys.modules.pop(name, None)
    assert [(r["message"], r["log_type"], r["route"]) for r in logs] == [("handled", "access", "/api/health")]
    assert len(metrics) == 1
    assert metrics[0]["Handled"] == [1.0] or metrics[0]["Handled"] == 1.0
    assert metrics[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "LocalTest"


def test_a_handler_that_cannot_be_imported_is_502_and_fails_load_handler(make_platform):
    with make_platform(handler=None, handler_reference="no_such_module_here:handler") as platform:
        response = httpx.get(platform.endpoints["api_url"] + "/api/health")
        assert response.status_code == 502
        with pytest.raises(ModuleNotFoundError):
            platform.load_handler()


def test_a_preloaded_handler_that_cannot_load_fails_start_and_leaves_nothing(tmp_path):
    env_before = dict(os.environ)
    platform = LocalPlatform(
        tmp_path / "p",
        api_port=0,
        aws_port=0,
        handler_reference="no_such_module_here:handler",
        preload_handler=True,
    )
    with pytest.raises(HandlerLoadError, match="no_such_module_here"):
        platform.start()
    assert not platform.running
    assert not (tmp_path / "p" / "endpoints.json").exists()
    assert dict(os.environ) == env_before


def test_the_platform_cannot_start_twice(make_platform):
    with make_platform() as platform, pytest.raises(RuntimeError, match="already running"):
        platform.start()
