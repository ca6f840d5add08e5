"""The smoke test against the running local platform: real gateway, real API handler, real Cognito tokens."""

from __future__ import annotations

import json
from typing import Any

import pytest

from todo_local.cli import main
from todo_local.smoke import run_smoke


def _explain(report: Any) -> str:
    return "\n".join(f"{c.name}: expected {c.expected}, got {c.got}" for c in report.failures)


def test_every_check_passes_for_a_new_user_and_nothing_is_left_behind(
    local_platform: Any, api_user: Any
) -> None:
    report = run_smoke(local_platform.endpoints["api_url"], api_user.id_token, timeout=60)

    assert report.ok, _explain(report)
    assert report.profile_created
    assert report.checks[-1].name == "cleanup profile"
    assert api_user.client.get("/api/v1/users/me").status_code == 404
    assert api_user.client.get(f"/api/v1/tasks/{report.task_id}").status_code == 404


def test_an_existing_profile_and_its_tasks_survive_the_run(local_platform: Any, api_user: Any) -> None:
    assert api_user.client.post("/api/v1/users", json={"name": "Ada"}).status_code == 201
    mine = api_user.client.post("/api/v1/tasks", json={"title": "keep me"}).json()["task_id"]

    report = run_smoke(local_platform.endpoints["api_url"], api_user.id_token, timeout=60)

    assert report.ok, _explain(report)
    assert report.check("profile").got.startswith("409")
    assert api_user.client.get("/api/v1/users/me").json()["name"] == "Ada"
    remaining = [t["task_id"] for t in api_user.client.get("/api/v1/tasks").json()["items"]]
    assert remaining == [mine]


def test_keep_profile_leaves_the_created_profile(local_platform: Any, api_user: Any) -> None:
    report = run_smoke(local_platform.endpoints["api_url"], api_user.id_token, timeout=60, keep_profile=True)

    assert report.ok, _explain(report)
    assert api_user.client.get("/api/v1/users/me").status_code == 200
    assert api_user.client.get("/api/v1/tasks").json()["items"] == []


def test_a_forged_token_fails_every_authenticated_check(local_platform: Any, api_user: Any) -> None:
    header, payload, _signature = api_user.id_token.split(".")
    forged = f"{header}.{payload}.AAAA"  # a valid token's claims with a signature that is not the pool's

    report = run_smoke(local_platform.endpoints["api_url"], forged, timeout=60)

    assert not report.ok
    assert report.check("health").passed
    assert report.check("unauthenticated").passed
    assert report.check("profile").got.startswith("401")
    assert report.check("create task").got.startswith("401")
    assert report.check("validation error").got.startswith("401")


def test_command_with_dir_signs_in_a_throwaway_user_and_passes(
    local_platform: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["smoke", "--dir", str(local_platform.directory), "--format", "json", "--timeout", "60"])

    document = json.loads(capsys.readouterr().out)
    failures = [c for c in document["checks"] if not c["passed"]]
    assert code == 0, failures
    assert document["ok"] is True
    assert document["base_url"] == local_platform.endpoints["api_url"]
