"""The local gateway: REST (v1) proxy events in, proxy responses out, API Gateway's own answers
(the error envelope), and HTTP framing it refuses."""

import base64
import json
import uuid

import httpx
import pytest

from todo_local.gateway import (
    MAX_BODY_BYTES,
    MalformedProxyResponseError,
    build_proxy_event,
    http_response_from_proxy,
)
from todo_local.http_server import HttpRequest
from todo_local.lambda_context import LambdaContext


def _envelope(response):
    """(code, message) of a gateway answer, after checking it is the envelope with its request id."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "request_id"}, body
    assert body["error"]["request_id"] == response.headers["x-amzn-RequestId"]
    assert response.headers["Content-Type"] == "application/json"
    return body["error"]["code"], body["error"]["message"]


def _request(**overrides):
    fields = {
        "method": "GET",
        "path": "/api/v1/tasks",
        "query": "",
        "headers": (("Host", "127.0.0.1:3000"),),
        "body": b"",
        "source_ip": "127.0.0.9",
    }
    return HttpRequest(**{**fields, **overrides})


# -- the event ---------------------------------------------------------------------------------------


def test_event_has_the_rest_proxy_shape():
    event = build_proxy_event(_request(), claims={"sub": "u1"}, request_id="rid", now=1_700_000_000.5)
    assert event["resource"] == "/{proxy+}"
    assert event["path"] == "/api/v1/tasks"
    assert event["httpMethod"] == "GET"
    assert event["pathParameters"] == {"proxy": "api/v1/tasks"}
    assert event["queryStringParameters"] is None
    assert event["multiValueQueryStringParameters"] is None
    assert event["body"] is None
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["requestId"] == "rid"
    assert context["stage"] == "local"
    assert context["path"] == "/api/v1/tasks"
    assert context["httpMethod"] == "GET"
    assert context["identity"]["sourceIp"] == "127.0.0.9"
    assert context["requestTimeEpoch"] == 1_700_000_000_500
    assert context["authorizer"] == {"claims": {"sub": "u1"}}


def test_query_parameters_keep_every_value_and_the_last_wins_in_the_single_map():
    event = build_proxy_event(
        _request(query="status=done&tag=a&tag=b&empty=&q=a%20b"), claims=None, request_id="r"
    )
    assert event["queryStringParameters"] == {"status": "done", "tag": "b", "empty": "", "q": "a b"}
    assert event["multiValueQueryStringParameters"] == {
        "status": ["done"],
        "tag": ["a", "b"],
        "empty": [""],
        "q": ["a b"],
    }


def test_repeated_headers_are_all_in_multi_value_headers():
    headers = (("Host", "h"), ("X-Tag", "a"), ("X-Tag", "b"))
    event = build_proxy_event(_request(headers=headers), claims=None, request_id="r")
    assert event["headers"]["X-Tag"] == "b"
    assert event["multiValueHeaders"]["X-Tag"] == ["a", "b"]


def test_a_utf8_body_is_text_and_a_binary_body_is_base64():
    text = build_proxy_event(_request(body="héllo".encode()), claims=None, request_id="r")
    assert (text["body"], text["isBase64Encoded"]) == ("héllo", False)
    raw = bytes([0xFF, 0x00, 0xFE])
    binary = build_proxy_event(_request(body=raw), claims=None, request_id="r")
    assert binary["isBase64Encoded"] is True
    assert base64.b64decode(binary["body"]) == raw


def test_public_requests_carry_no_authorizer():
    event = build_proxy_event(_request(path="/api/health"), claims=None, request_id="r")
    assert "authorizer" not in event["requestContext"]


# -- the response ------------------------------------------------------------------------------------


def test_response_headers_merge_with_multi_values_winning():
    response = http_response_from_proxy(
        {
            "statusCode": 201,
            "headers": {"Location": "/x", "Set-Cookie": "ignored=1", "Content-Length": "999"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]},
            "body": "{}",
        }
    )
    assert response.status == 201
    assert ("Location", "/x") in response.headers
    assert [v for k, v in response.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]
    assert all(k.lower() != "content-length" for k, _ in response.headers)  # framing is the gateway's
    assert response.body == b"{}"


def test_a_base64_response_body_is_decoded():
    payload = bytes(range(256))
    response = http_response_from_proxy(
        {"statusCode": 200, "body": base64.b64encode(payload).decode(), "isBase64Encoded": True}
    )
    assert response.body == payload


@pytest.mark.parametrize(
    "result",
    [
        None,
        "text",
        {},
        {"statusCode": "abc"},
        {"statusCode": 42},
        {"statusCode": 200, "body": {"not": "a string"}},
        {"statusCode": 200, "body": "***", "isBase64Encoded": True},
        {"statusCode": 200, "multiValueHeaders": {"X": "not-a-list"}},
    ],
)
def test_malformed_proxy_responses_are_refused(result):
    with pytest.raises(MalformedProxyResponseError):
        http_response_from_proxy(result)


def test_the_lambda_context_counts_down_from_its_timeout():
    context = LambdaContext("api", timeout_seconds=30)
    assert 0 < context.get_remaining_time_in_millis() <= 30_000
    assert context.invoked_function_arn.endswith(":function:api")
    assert uuid.UUID(context.aws_request_id)


# -- over the wire -----------------------------------------------------------------------------------


def test_a_request_arrives_as_the_event_and_the_handler_gets_a_context(api_user, recording_handler):
    response = api_user.client.post(
        "/api/v1/tasks?tag=a&tag=b",
        content=json.dumps({"title": "Write"}),
        headers={"Content-Type": "application/json", "Idempotency-Key": "k1"},
    )
    assert response.status_code == 200
    event = recording_handler.last_event
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/api/v1/tasks"
    assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"]}
    assert json.loads(event["body"]) == {"title": "Write"}
    assert event["headers"]["Idempotency-Key"] == "k1"
    assert event["headers"]["X-Forwarded-Proto"] == "http"
    assert event["requestContext"]["authorizer"]["claims"]["sub"] == api_user.sub
    assert response.headers["x-amzn-RequestId"] == event["requestContext"]["requestId"]
    context = recording_handler.contexts[-1]
    assert context.function_name == "api"
    assert context.get_remaining_time_in_millis() > 0


def test_a_binary_body_arrives_base64_encoded(api_user, recording_handler):
    raw = bytes([0x89, 0x50, 0xFF, 0x00])
    api_user.client.put("/api/v1/blob", content=raw, headers={"Content-Type": "application/octet-stream"})
    event = recording_handler.last_event
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == raw


def test_a_chunked_body_arrives_whole(api_user, recording_handler):
    chunks = [b'{"title": ', b'"chunked"', b"}"]
    api_user.client.post("/api/v1/tasks", content=iter(chunks))
    assert json.loads(recording_handler.last_event["body"]) == {"title": "chunked"}


def test_the_proxy_response_becomes_the_http_response(api_user, recording_handler):
    recording_handler.respond = lambda event: {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "ETag": '"1"'},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": json.dumps({"ok": True}),
        "isBase64Encoded": False,
    }
    response = api_user.client.post("/api/v1/tasks", json={})
    assert response.status_code == 201
    assert response.headers["ETag"] == '"1"'
    assert response.headers.get_list("Set-Cookie") == ["a=1", "b=2"]
    assert response.json() == {"ok": True}


def test_an_empty_204_has_no_body(api_user, recording_handler):
    recording_handler.respond = lambda event: {"statusCode": 204, "body": ""}
    response = api_user.client.delete("/api/v1/tasks/x")
    assert response.status_code == 204
    assert response.content == b""


def test_a_handler_crash_is_502_internal_server_error(api_user, recording_handler):
    def crash(event):
        raise RuntimeError("boom")

    recording_handler.respond = crash
    response = api_user.client.get("/api/v1/tasks")
    assert response.status_code == 502
    assert _envelope(response) == ("INTERNAL_ERROR", "Internal server error")
    assert "boom" not in response.text


def test_a_malformed_proxy_response_is_502(api_user, recording_handler):
    recording_handler.respond = lambda event: {"body": "no status"}
    response = api_user.client.get("/api/v1/tasks")
    assert response.status_code == 502
    assert _envelope(response) == ("INTERNAL_ERROR", "Internal server error")


@pytest.mark.parametrize("path", ["/", "/v1/tasks", "/apis", "/favicon.ico"])
def test_paths_outside_api_have_no_resource(path, api_user, recording_handler):
    # even with a valid token: API Gateway has no resource there
    response = api_user.client.get(path)
    assert response.status_code == 404
    assert _envelope(response) == ("NOT_FOUND", "no such route")
    assert response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert recording_handler.calls == 0


def test_a_body_over_10_mb_is_413_and_never_reaches_the_handler(api_user, recording_handler):
    response = api_user.client.post("/api/v1/tasks", content=b"x" * (MAX_BODY_BYTES + 1))
    assert response.status_code == 413
    assert _envelope(response) == ("PAYLOAD_TOO_LARGE", "request exceeds 10 MB")
    assert recording_handler.calls == 0


def test_a_body_of_exactly_10_mb_is_passed_on(api_user, recording_handler):
    response = api_user.client.post("/api/v1/tasks", content=b"x" * MAX_BODY_BYTES)
    assert response.status_code == 200
    assert len(recording_handler.last_event["body"]) == MAX_BODY_BYTES


def test_concurrent_requests_are_each_answered(api_user, recording_handler, local_platform):
    # the gateway is threaded: parallel callers (idempotency and If-Match races) really overlap
    import concurrent.futures

    url = local_platform.endpoints["api_url"]
    headers = {"Authorization": f"Bearer {api_user.id_token}"}

    def call(n):
        return httpx.get(f"{url}/api/v1/tasks/{n}", headers=headers, timeout=60).json()["path"]

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        paths = sorted(pool.map(call, range(16)))
    assert paths == sorted(f"/api/v1/tasks/{n}" for n in range(16))
