"""The local gateway at the edges of HTTP: malformed framing is 400 (never a hang, never a guess),
and every refusal of the HTTP server itself (400, 414, 431) is the error envelope."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import pytest

# A socket timeout only turns a hang into a failure; nothing here measures time.
HANG_GUARD_SECONDS = 30


def _raw(local_platform, payload: bytes, *, head: bool = False) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are; (status, headers, body) of the first response, read to its end."""
    address = urlsplit(local_platform.endpoints["api_url"])
    with socket.create_connection((address.hostname, address.port), timeout=HANG_GUARD_SECONDS) as sock:
        sock.sendall(payload)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        top, _, rest = data.partition(b"\r\n\r\n")
        lines = top.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = 0 if head else int(headers.get("content-length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return status, headers, rest[:length]


def _request(method: str, headers: list[str], body: bytes = b"", path: str = "/api/v1/tasks") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _code(headers: dict[str, str], body: bytes) -> str:
    assert headers["content-type"] == "application/json"
    envelope = json.loads(body)
    assert set(envelope) == {"error"}
    assert set(envelope["error"]) == {"code", "message", "request_id"}
    assert envelope["error"]["request_id"] == headers["x-amzn-requestid"]
    return str(envelope["error"]["code"])


FRAMING = [
    pytest.param(["Content-Length: -1"], b"", id="negative length"),
    pytest.param(["Content-Length: 5", "Content-Length: 50"], b"hello", id="conflicting lengths"),
    pytest.param(["Content-Length: 5, 6"], b"hello", id="conflicting list"),
    pytest.param(["Content-Length: five"], b"", id="non-numeric length"),
    pytest.param(["Content-Length: +5"], b"hello", id="signed length"),
    pytest.param(["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n", id="length and chunked"),
    pytest.param(["Transfer-Encoding: gzip"], b"", id="unknown transfer coding"),
    pytest.param(["Transfer-Encoding: chunked"], b"zz\r\nhello\r\n0\r\n\r\n", id="bad chunk size"),
    pytest.param(["Transfer-Encoding: chunked"], b"-5\r\nhello\r\n0\r\n\r\n", id="negative chunk size"),
    pytest.param(["Transfer-Encoding: chunked"], b"5\r\nhelloXX0\r\n\r\n", id="chunk longer than its size"),
]


@pytest.mark.parametrize(("headers", "body"), FRAMING)
def test_malformed_framing_is_400_and_closes_the_connection(local_platform, recording_handler, headers, body):
    status, response_headers, response_body = _raw(
        local_platform,
        _request("POST", ["Authorization: Bearer x", "Content-Type: application/json", *headers], body),
    )
    assert status == 400
    assert _code(response_headers, response_body) == "BAD_REQUEST"
    assert b"malformed request framing" in response_body
    assert response_headers["connection"] == "close"
    assert recording_handler.calls == 0


def test_a_body_shorter_than_its_length_is_400_once_the_client_stops_sending(
    local_platform, recording_handler
):
    address = urlsplit(local_platform.endpoints["api_url"])
    with socket.create_connection((address.hostname, address.port), timeout=HANG_GUARD_SECONDS) as sock:
        sock.sendall(_request("POST", ["Content-Length: 100"], b"only this"))
        sock.shutdown(socket.SHUT_WR)  # the client is done: the rest will never come
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400")
    assert b"body shorter than Content-Length" in data
    assert recording_handler.calls == 0


def test_repeated_equal_lengths_are_one_length(local_platform, recording_handler, api_user):
    payload = _request(
        "POST",
        [f"Authorization: Bearer {api_user.id_token}", "Content-Length: 5", "Content-Length: 5"],
        b"hello",
    )
    status, _, _ = _raw(local_platform, payload)
    assert status == 200
    assert recording_handler.last_event["body"] == "hello"


def test_an_overlong_url_is_414_in_the_envelope(local_platform):
    status, headers, body = _raw(local_platform, _request("GET", [], path="/api/v1/tasks?q=" + "a" * 70000))
    assert status == 414
    assert _code(headers, body) == "REQUEST_URI_TOO_LONG"


def test_too_many_headers_is_431_in_the_envelope(local_platform):
    status, headers, body = _raw(local_platform, _request("GET", [f"X-H{n}: v" for n in range(150)]))
    assert status == 431
    assert _code(headers, body) == "REQUEST_HEADER_FIELDS_TOO_LARGE"


def test_an_overlong_header_line_is_431_in_the_envelope(local_platform):
    status, headers, body = _raw(local_platform, _request("GET", ["X-Big: " + "b" * 70000]))
    assert status == 431
    assert _code(headers, body) == "REQUEST_HEADER_FIELDS_TOO_LARGE"


@pytest.mark.parametrize("method", ["TRACE", "BREW"])
def test_an_unusual_method_is_passed_on_like_any_other(local_platform, api_user, recording_handler, method):
    # the API answers it (405 with Allow), not http.server with a 501
    status, _, _ = _raw(local_platform, _request(method, [f"Authorization: Bearer {api_user.id_token}"]))
    assert status == 200
    assert recording_handler.last_event["httpMethod"] == method


def test_a_garbled_request_line_is_400_in_the_envelope(local_platform):
    status, headers, body = _raw(local_platform, b"GET /api/v1/tasks junk HTTP/1.1\r\n\r\n")
    assert status == 400
    assert _code(headers, body) == "BAD_REQUEST"


def test_head_gets_the_headers_and_no_body(local_platform, api_user, recording_handler):
    recording_handler.respond = lambda event: {"statusCode": 200, "body": '{"a": 1}'}
    status, headers, body = _raw(
        local_platform, _request("HEAD", [f"Authorization: Bearer {api_user.id_token}"]), head=True
    )
    assert status == 200
    assert headers["content-length"] == "8"  # the GET's length
    assert body == b""
    assert recording_handler.last_event["httpMethod"] == "HEAD"
