"""endpoints.json: written whole, read back, and a clear error when missing, malformed or stale."""

import json
import socket

import pytest

from todo_local.endpoints import (
    Endpoints,
    EndpointsError,
    as_endpoints,
    is_running,
    read_endpoints,
    read_running_endpoints,
    write_endpoints,
)


def _dead_url():
    with socket.socket() as s:  # a port that was just free: nothing listens there now
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def _endpoints(**overrides):
    fields = {
        "api_url": "http://127.0.0.1:3000",
        "aws_endpoint_url": "http://127.0.0.1:5000",
        "region": "us-east-1",
        "user_pool_id": "us-east-1_abc",
        "user_pool_client_id": "client",
        "table_name": "todo-local-x",
        "lake_dir": "/tmp/x/lake",
        "control_url": _dead_url(),
        "logs_dir": "/tmp/x/logs",
        "dlq_dir": "/tmp/x/dlq",
    }
    return Endpoints(**{**fields, **overrides})


def test_written_endpoints_read_back_equal(tmp_path):
    endpoints = _endpoints()
    write_endpoints(tmp_path, endpoints)
    assert read_endpoints(tmp_path) == endpoints
    assert json.loads((tmp_path / "endpoints.json").read_text()) == endpoints.to_dict()
    assert not list(tmp_path.glob("*.partial"))


def test_issuer_and_jwks_url_are_configured_apart():
    endpoints = _endpoints()
    assert endpoints.issuer == "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc"
    assert endpoints.jwks_url == "http://127.0.0.1:5000/us-east-1_abc/.well-known/jwks.json"


def test_a_missing_file_says_how_to_start_the_platform(tmp_path):
    with pytest.raises(EndpointsError, match="todo-insights local up --dir"):
        read_endpoints(tmp_path)


@pytest.mark.parametrize("content", ["{not json", '{"api_url": "x"}', "[]"])
def test_a_malformed_file_is_a_clear_error(tmp_path, content):
    (tmp_path / "endpoints.json").write_text(content)
    with pytest.raises(EndpointsError, match="not a valid endpoints file"):
        read_endpoints(tmp_path)


def test_keys_added_later_do_not_break_readers(tmp_path):
    data = {**_endpoints().to_dict(), "firehose_url": "http://127.0.0.1:1"}
    (tmp_path / "endpoints.json").write_text(json.dumps(data))
    assert read_endpoints(tmp_path).table_name == "todo-local-x"


def test_stale_endpoints_are_not_a_running_platform(tmp_path):
    write_endpoints(tmp_path, _endpoints())
    assert not is_running(read_endpoints(tmp_path))
    with pytest.raises(EndpointsError, match="not running"):
        read_running_endpoints(tmp_path)


def test_a_running_platform_is_recognised(local_platform):
    endpoints = as_endpoints(local_platform.endpoints)
    assert is_running(endpoints)
    assert read_running_endpoints(local_platform.directory) == endpoints
