"""The error envelope for every error, and hostile input that must never reach a 500."""

from __future__ import annotations

from typing import Any

import pytest

HOSTILE_BODIES: list[tuple[bytes, int, str]] = [
    (b"{bad", 400, "MALFORMED_JSON"),
    (b'{"title": "x",}', 400, "MALFORMED_JSON"),
    (b"\xff\xfe\x00{", 400, "MALFORMED_JSON"),
    (b'{"title": ' + b"9" * 5000 + b"}", 400, "MALFORMED_JSON"),
    (b'{"title": 1e999}', 422, "VALIDATION_ERROR"),
    (b'{"title": NaN}', 422, "VALIDATION_ERROR"),
    (b'{"title": "ok", "tags": [Infinity]}', 422, "VALIDATION_ERROR"),
    (b'{"title": "\\ud800"}', 422, "VALIDATION_ERROR"),
    (b'{"title": "ok", "due_date": 99999999999999999999}', 422, "VALIDATION_ERROR"),
    (b'{"title": {"$gt": ""}}', 422, "VALIDATION_ERROR"),
    (b'{"title": ["a"]}', 422, "VALIDATION_ERROR"),
    (b'{"title": true}', 422, "VALIDATION_ERROR"),
    (b"[]", 422, "VALIDATION_ERROR"),
    (b'"just a string"', 422, "VALIDATION_ERROR"),
    (b"null", 422, "VALIDATION_ERROR"),
    (b"", 422, "VALIDATION_ERROR"),
    (b'{"title": "' + "é".encode() * 150 + b'"}', 201, ""),
]


@pytest.mark.parametrize(("body", "status", "code"), HOSTILE_BODIES)
def test_hostile_bodies(member: Any, api: Any, body: bytes, status: int, code: str) -> None:
    response = member.client.post("/api/v1/tasks", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    if code:
        assert api.error_code(response) == code


def test_validation_details_list_each_field_path(member: Any) -> None:
    response = member.client.post(
        "/api/v1/tasks", json={"title": "", "tags": ["ok", "x" * 31], "due_date": "soon"}
    )
    details = response.json()["error"]["details"]
    assert {d["field"] for d in details} == {"body.title", "body.tags.1", "body.due_date"}
    assert all(set(d) == {"field", "message", "type"} for d in details)
    assert "x" * 31 not in response.text  # input is never echoed back


def test_body_over_64_kib_is_413_and_creates_nothing(member: Any, api: Any) -> None:
    big = {"title": "x", "description": "d" * (65 * 1024)}
    response = member.client.post("/api/v1/tasks", json=big)
    assert response.status_code == 413
    assert api.error_code(response) == "PAYLOAD_TOO_LARGE"
    assert member.client.get("/api/v1/tasks").json()["items"] == []


def test_unknown_route_and_wrong_method_use_the_envelope(member: Any, anon_client: Any, api: Any) -> None:
    for path in ("/api/v1/nothing", "/api/v1/tasks/", "/api/v2/tasks", "/api/v1/users/me/extra"):
        response = member.client.get(path)
        assert response.status_code == 404, path
        assert api.error_code(response) == "NOT_FOUND"
    wrong = member.client.post("/api/v1/users/me", json={})
    assert wrong.status_code == 405
    assert api.error_code(wrong) == "METHOD_NOT_ALLOWED"
    assert "GET" in wrong.headers["Allow"]
    assert api.error_code(member.client.delete("/api/health")) == "METHOD_NOT_ALLOWED"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/tasks/%00",
        "/api/v1/tasks/%F0%9F%98%80",
        "/api/v1/tasks/..%2F..%2Fusers",
        "/api/v1/tasks/" + "a" * 3000,
        "/api/v1/users/%ff%fe",
        "/api/v1/users/" + "b" * 3000,
        "/api/v1/tasks/%27%20OR%201%3D1",
    ],
)
def test_odd_path_parameters_are_404(member: Any, path: str) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        body = {"title": "x"} if method in {"PATCH", "PUT"} else None
        response = member.client.request(method, path, json=body)
        assert response.status_code in {404, 405}, (method, path, response.text)
        assert response.json()["error"]["code"] in {
            "TASK_NOT_FOUND",
            "USER_NOT_FOUND",
            "NOT_FOUND",
            "METHOD_NOT_ALLOWED",
        }


def test_odd_query_values_never_500(member: Any) -> None:
    for params in (
        {"category": "\x00"},
        {"category": "☃" * 50},
        {"status": "pending", "status ": "x"},
        {"due_before": "0000-00-00"},
        {"due_after": "9999-12-31"},
        {"cursor": "\u00e9" * 10},
        {"limit": "1e2"},
    ):
        response = member.client.get("/api/v1/tasks", params=params)
        assert response.status_code in {200, 400, 422}, (params, response.text)


def test_every_refusal_of_the_services_has_exactly_one_http_answer() -> None:
    """Services raise `services.failures`; `DOMAIN_ANSWERS` is the one map to HTTP (issue 13)."""
    import inspect

    from todo_api.error_handlers import DOMAIN_ANSWERS
    from todo_api.services import failures

    kinds = {
        c
        for _, c in inspect.getmembers(failures, inspect.isclass)
        if issubclass(c, failures.DomainError) and c is not failures.DomainError
    }
    assert set(DOMAIN_ANSWERS) == kinds
    for status, code in DOMAIN_ANSWERS.values():
        assert 400 <= status < 500, code
        assert code == code.upper(), code


def test_no_service_module_speaks_http() -> None:
    """The services know nothing of status codes: no ApiError, no HTTP factories."""
    import ast
    from pathlib import Path

    import todo_api.services

    folder = Path(todo_api.services.__file__).parent
    speaking = {
        f"{path.name}: {node.module}"
        for path in sorted(folder.glob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module in {"todo_api.errors", "fastapi", "starlette"}
    }
    assert not speaking
