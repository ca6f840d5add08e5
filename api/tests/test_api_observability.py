"""Request ids, correlation ids and the one access-log line per request (read from the local log file)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import BRONZE_LOGS

ACCESS_KEYS = set(BRONZE_LOGS.column_names())  # the lake reads exactly these


def _log_lines(local_platform: Any) -> list[dict[str, Any]]:
    path = Path(local_platform.logs_dir) / "api.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_every_response_carries_request_and_correlation_ids(member: Any, anon_client: Any) -> None:
    response = member.client.get("/api/v1/users/me")
    assert response.headers["X-Request-Id"]
    assert response.headers["X-Correlation-Id"] == response.headers["X-Request-Id"]
    supplied = f"trace-{uuid.uuid4()}"
    echoed = anon_client.get("/api/health", headers={"X-Correlation-Id": supplied})
    assert echoed.headers["X-Correlation-Id"] == supplied
    assert echoed.headers["X-Request-Id"] != supplied
    unsafe = anon_client.get("/api/health", headers={"X-Correlation-Id": "bad id {with} spaces"})
    assert unsafe.headers["X-Correlation-Id"] == unsafe.headers["X-Request-Id"]


def test_exactly_one_access_line_per_request(member: Any, api: Any, local_platform: Any) -> None:
    task = api.create_task(member.client)
    correlation = f"corr-{uuid.uuid4()}"
    response = member.client.patch(
        f"/api/v1/tasks/{task['task_id']}",
        json={"title": "renamed"},
        headers={"X-Correlation-Id": correlation},
    )
    assert response.status_code == 200
    lines = [line for line in _log_lines(local_platform) if line.get("correlation_id") == correlation]
    access = [line for line in lines if line.get("log_type") == "access"]
    assert len(access) == 1
    line = access[0]
    assert set(line) >= ACCESS_KEYS
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["method"], line["route"], line["status"]) == ("PATCH", "/api/v1/tasks/{task_id}", 200)
    assert line["user_id"] == member.sub
    assert isinstance(line["latency_ms"], float)
    assert line["latency_ms"] >= 0
    assert line["ts"].endswith("Z")


def test_errors_and_unmatched_routes_are_logged_once_too(
    member: Any, anon_client: Any, local_platform: Any
) -> None:
    cases = [
        (member.client, "get", "/api/v1/tasks/" + "0" * 32, 404, "/api/v1/tasks/{task_id}", member.sub),
        (member.client, "get", "/api/v1/nowhere", 404, None, member.sub),
        (member.client, "post", "/api/v1/tasks", 413, None, member.sub),
        (anon_client, "get", "/api/health", 200, "/api/health", None),
    ]
    for client, method, path, status, route, user_id in cases:
        correlation = f"corr-{uuid.uuid4()}"
        kwargs: dict[str, Any] = {"headers": {"X-Correlation-Id": correlation}}
        if status == 413:
            kwargs["content"] = b"{" + b" " * (70 * 1024) + b"}"
        assert getattr(client, method)(path, **kwargs).status_code == status
        access = [
            line
            for line in _log_lines(local_platform)
            if line.get("correlation_id") == correlation and line.get("log_type") == "access"
        ]
        assert len(access) == 1, path
        assert (access[0]["status"], access[0]["route"], access[0]["user_id"]) == (status, route, user_id)


def test_logs_never_hold_emails_tokens_or_bodies(api_user: Any, api: Any, local_platform: Any) -> None:
    api.create_profile(api_user.client, name="Secret Name")
    api.create_task(api_user.client, title="secret-title-do-not-log", description="secret-description")
    api_user.client.post("/api/v1/tasks", json={"title": "", "description": "secret-invalid"})
    text = (Path(local_platform.logs_dir) / "api.jsonl").read_text(encoding="utf-8")
    for secret in (api_user.email, api_user.id_token, "Secret Name", "secret-title", "secret-description"):
        assert secret not in text
    assert "secret-invalid" not in text
    api_user.client.delete("/api/v1/users/me")


def test_business_metrics_are_emitted_as_emf(member: Any, api: Any, local_platform: Any) -> None:
    task = api.create_task(member.client)
    member.client.patch(f"/api/v1/tasks/{task['task_id']}", json={"status": "completed"})
    member.client.delete(f"/api/v1/tasks/{task['task_id']}")
    path = Path(local_platform.logs_dir) / "metrics.jsonl"
    names = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == "TodoInsights"
            names |= {metric["Name"] for metric in directive["Metrics"]}
    assert {"UsersCreated", "TasksCreated", "TasksCompleted", "TasksDeleted"} <= names
