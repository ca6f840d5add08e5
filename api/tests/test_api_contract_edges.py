"""The contract at the edges, through the local gateway: HEAD, Allow, 415 for bodies that are not
JSON, capped validation details, and the order in which a bad request's problems are reported."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

NOT_JSON: list[tuple[dict[str, str], bytes]] = [
    ({"Content-Type": "text/plain"}, b'{"title": "x"}'),
    ({"Content-Type": "application/x-www-form-urlencoded"}, b"title=x"),
    ({"Content-Type": "multipart/form-data; boundary=b"}, b"--b\r\n\r\nx\r\n--b--"),
    ({"Content-Type": "application/xml"}, b"<task><title>x</title></task>"),
    ({"Content-Type": "text/json"}, b'{"title": "x"}'),
    ({"Content-Type": "application/jsonx"}, b'{"title": "x"}'),
    ({"Content-Type": ""}, b'{"title": "x"}'),
    ({}, b'{"title": "x"}'),
    (
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
        # mtime=0: the same bytes in every pytest-xdist worker, else their collected ids differ
        gzip.compress(b'{"title": "x"}', mtime=0),
    ),
    ({"Content-Type": "application/json", "Content-Encoding": "br"}, b'{"title": "x"}'),
    ({"Content-Type": "text/plain"}, b""),
]


@pytest.mark.parametrize(("headers", "body"), NOT_JSON)
def test_a_body_that_is_not_json_is_415_and_creates_nothing(
    member: Any, api: Any, headers: dict[str, str], body: bytes
) -> None:
    response = member.client.post("/api/v1/tasks", content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert api.error_code(response) == "UNSUPPORTED_MEDIA_TYPE"
    assert member.client.get("/api/v1/tasks").json()["items"] == []


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_replacing_or_patching_with_a_body_that_is_not_json_is_415(
    member: Any, api: Any, method: str
) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    response = member.client.request(method, url, content=b"title=y", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    assert api.error_code(response) == "UNSUPPORTED_MEDIA_TYPE"
    assert member.client.get(url).json()["version"] == 1
    profile = member.client.patch(
        "/api/v1/users/me", content=b"name=z", headers={"Content-Type": "text/plain"}
    )
    assert profile.status_code == 415


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"]
)
def test_json_media_types_with_parameters_or_a_json_suffix_are_accepted(
    member: Any, content_type: str
) -> None:
    response = member.client.post(
        "/api/v1/tasks", content=json.dumps({"title": "x"}).encode(), headers={"Content-Type": content_type}
    )
    assert response.status_code == 201, response.text


def test_routing_comes_before_the_media_type(member: Any, api: Any) -> None:
    unknown = member.client.post("/api/v1/nothing", content=b"x", headers={"Content-Type": "text/plain"})
    assert unknown.status_code == 404
    wrong_method = member.client.post(
        "/api/v1/users/me", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert wrong_method.status_code == 405


@pytest.mark.parametrize(
    "path", ["/api/health", "/api/openapi.json", "/api/docs", "/api/v1/users/me", "/api/v1/tasks"]
)
def test_head_answers_every_get_route_with_the_get_headers_and_no_body(member: Any, path: str) -> None:
    got = member.client.get(path)
    head = member.client.head(path)
    assert head.status_code == got.status_code == 200
    assert head.content == b""
    assert head.headers["Content-Type"] == got.headers["Content-Type"]
    assert head.headers["Content-Length"] == got.headers["Content-Length"]
    if "ETag" in got.headers:
        assert head.headers["ETag"] == got.headers["ETag"]


def test_head_of_one_task_has_its_etag_and_of_a_missing_one_is_404(member: Any, api: Any) -> None:
    task = api.create_task(member.client)
    head = member.client.head(f"/api/v1/tasks/{task['task_id']}")
    assert head.status_code == 200
    assert head.headers["ETag"] == '"1"'
    assert member.client.head("/api/v1/tasks/missing").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/v1/tasks", "GET, HEAD, OPTIONS, POST"),
        ("POST", "/api/v1/tasks/abc", "DELETE, GET, HEAD, OPTIONS, PATCH, PUT"),
        ("POST", "/api/v1/users/me", "DELETE, GET, HEAD, OPTIONS, PATCH"),
        ("GET", "/api/v1/users", "OPTIONS, POST"),
        ("HEAD", "/api/v1/users", "OPTIONS, POST"),
        ("PUT", "/api/v1/users/someone", "GET, HEAD, OPTIONS"),
        ("POST", "/api/health", "GET, HEAD, OPTIONS"),
        ("TRACE", "/api/health", "GET, HEAD, OPTIONS"),
        ("BREW", "/api/v1/tasks", "GET, HEAD, OPTIONS, POST"),
    ],
)
def test_405_lists_every_method_of_the_route(
    member: Any, api: Any, method: str, path: str, allow: str
) -> None:
    response = member.client.request(method, path, json={} if method in ("PUT", "POST") else None)
    assert response.status_code == 405
    assert response.headers["Allow"] == allow
    if method != "HEAD":
        assert api.error_code(response) == "METHOD_NOT_ALLOWED"


def test_thousands_of_unknown_query_parameters_give_a_small_error(member: Any, api: Any) -> None:
    params = {f"p{n}": "x" for n in range(5000)}
    response = member.client.get("/api/v1/tasks", params=params)
    assert response.status_code == 422
    assert api.error_code(response) == "VALIDATION_ERROR"
    error = response.json()["error"]
    assert len(error["details"]) == 20
    assert "5000 problems" in error["message"]
    assert len(response.content) < 8 * 1024


def test_a_few_problems_are_all_listed(member: Any) -> None:
    response = member.client.post("/api/v1/tasks", json={"title": "", "priority": "urgent", "extra": 1})
    error = response.json()["error"]
    assert error["message"] == "the request is invalid"
    assert {d["field"] for d in error["details"]} == {"body.title", "body.priority", "body.extra"}


@pytest.mark.parametrize("if_match", ['"abc"', 'W/"1"', '"99"'])
def test_an_invalid_body_is_422_whatever_if_match_says(member: Any, api: Any, if_match: str) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    invalid = member.client.patch(url, json={"title": ""}, headers={"If-Match": if_match})
    assert invalid.status_code == 422
    assert api.error_code(invalid) == "VALIDATION_ERROR"
    valid = member.client.patch(url, json={"title": "y"}, headers={"If-Match": if_match})
    assert valid.status_code == 412
    assert api.error_code(valid) == "PRECONDITION_FAILED"
    assert member.client.get(url).json()["title"] == task["title"]


def test_a_missing_task_is_404_before_its_precondition(member: Any, api: Any) -> None:
    response = member.client.patch("/api/v1/tasks/missing", json={"title": "y"}, headers={"If-Match": '"x"'})
    assert response.status_code == 404
    assert api.error_code(response) == "TASK_NOT_FOUND"
