"""GET /api/v1/users/me/insights through the local gateway, with items put there by the real loader.

Each test writes a gold export (the contract of the gold job) into a folder and invokes the
insights loader's handler on it, exactly as `pipeline run` does after gold; the API then serves
what the loader wrote. Auth, isolation, ETag/304, HEAD and account deletion are checked here.
"""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from todo_contracts.keys import insights_key
from todo_contracts.lake_layout import GOLD_USER_INSIGHTS


def stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The loader writes only for profiles created no later than a run's as_of: these runs are "later
# today", after every profile the tests create.
NOW = datetime.now(UTC)
AS_OF, LATER = stamp(NOW + timedelta(hours=6)), stamp(NOW + timedelta(hours=7))
FIELDS = set(GOLD_USER_INSIGHTS.column_names()) - {"user_id"}  # what the route answers


def row(user: str, as_of: str = AS_OF, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "user_id": user,
        "as_of": as_of,
        "total_tasks": 4,
        "open_tasks": 1,
        "completed_tasks": 3,
        "overdue_tasks": 0,
        "completed_last_7_days": 3,
        "completed_last_30_days": 3,
        "completion_rate": 75.0,
        "current_streak_days": 2,
        "longest_streak_days": 5,
        "median_hours_to_complete": 1.5,
        "busiest_weekday": "Thursday",
        "top_categories": [{"category": "work", "created": 3, "completed": 2}],
    }
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not None}


class Loader:
    """Writes an export into a local gold folder and runs the loader function on it, built for this
    gold folder and the platform's table (ADR 0017), as `pipeline run` builds it."""

    def __init__(self, gold: Path, table_name: str) -> None:
        self.gold = gold
        self.table_name = table_name
        self.runs = 0

    def load(self, rows: list[dict[str, Any]], as_of: str = AS_OF) -> dict[str, Any]:
        from todo_etl.insights.handler import LoaderSettings, build_loader, lambda_handler
        from todo_local.lambda_context import LambdaContext

        self.runs += 1
        run_id = f"run-{self.runs}"
        prefix = f"exports/user_insights/run={run_id}/"
        (self.gold / prefix).mkdir(parents=True)
        body = "".join(json.dumps(r) + "\n" for r in rows)
        (self.gold / prefix / "part-00000-t-c000.json.gz").write_bytes(gzip.compress(body.encode()))
        manifest = {"as_of": as_of, "run_id": run_id, "prefix": prefix, "users": len(rows)}
        (self.gold / "exports/user_insights/latest.json").write_text(json.dumps(manifest))
        event = {
            "source": "aws.glue",
            "detail-type": "Glue Job State Change",
            "detail": {"jobName": "local-gold", "state": "SUCCEEDED", "jobRunId": run_id},
        }
        function = lambda_handler(build_loader(LoaderSettings(str(self.gold), self.table_name)))
        result: dict[str, Any] = function(event, LambdaContext("todo-insights-local-insights-loader"))
        return result


@pytest.fixture
def loader(tmp_path: Path, local_platform: Any) -> Loader:
    return Loader(tmp_path / "gold", local_platform.endpoints["table_name"])


def test_before_a_load_it_is_404_insights_not_ready(member: Any, api: Any) -> None:
    response = member.client.get("/api/v1/users/me/insights")
    assert response.status_code == 404
    assert api.error_code(response) == "INSIGHTS_NOT_READY"


def test_after_a_load_it_is_the_callers_figures_with_exactly_the_contract_fields(
    member: Any, loader: Loader
) -> None:
    assert loader.load([row(member.sub)])["written"] == 1

    response = member.client.get("/api/v1/users/me/insights")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == FIELDS
    assert body == {k: v for k, v in row(member.sub).items() if k != "user_id"}
    assert response.headers["Cache-Control"] == "private, no-cache"
    assert response.headers["ETag"].startswith('"')
    assert len(response.headers["ETag"]) == 34


def test_fields_gold_left_out_are_null(member: Any, loader: Loader) -> None:
    loader.load([row(member.sub, median_hours_to_complete=None, busiest_weekday=None, top_categories=[])])
    body = member.client.get("/api/v1/users/me/insights").json()
    assert body["median_hours_to_complete"] is None
    assert body["busiest_weekday"] is None
    assert body["top_categories"] == []


def test_another_user_never_sees_them(member_factory: Any, loader: Loader, api: Any) -> None:
    alice, bob = member_factory(), member_factory()
    loader.load([row(alice.sub, total_tasks=7)])

    assert alice.client.get("/api/v1/users/me/insights").json()["total_tasks"] == 7
    response = bob.client.get("/api/v1/users/me/insights")
    assert api.error_code(response) == "INSIGHTS_NOT_READY"
    # There is no path parameter to choose whose insights: a user id in the path is no route.
    assert bob.client.get(f"/api/v1/users/{alice.sub}/insights").status_code == 404
    assert bob.client.get("/api/v1/users/me/insights", params={"user_id": alice.sub}).status_code in {
        404,
        422,
    }


def test_if_none_match_with_the_current_etag_is_304_and_a_new_run_changes_it(
    member: Any, loader: Loader
) -> None:
    loader.load([row(member.sub)])
    first = member.client.get("/api/v1/users/me/insights")
    tag = first.headers["ETag"]

    cached = member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": tag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["ETag"] == tag
    assert (
        member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": f'"x", W/{tag}'}).status_code
        == 304
    )
    assert member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": "*"}).status_code == 304
    assert (
        member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )

    loader.load([row(member.sub, LATER, total_tasks=5, open_tasks=2)], as_of=LATER)
    fresh = member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": tag})
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] != tag
    assert fresh.json()["total_tasks"] == 5


def test_if_none_match_before_a_load_is_still_404(member: Any, api: Any) -> None:
    response = member.client.get("/api/v1/users/me/insights", headers={"If-None-Match": "*"})
    assert api.error_code(response) == "INSIGHTS_NOT_READY"


def test_head_answers_like_get_without_a_body(member: Any, loader: Loader) -> None:
    loader.load([row(member.sub)])
    get = member.client.get("/api/v1/users/me/insights")
    head = member.client.head("/api/v1/users/me/insights")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["ETag"] == get.headers["ETag"]


def test_without_a_token_it_is_401(anon_client: Any) -> None:
    response = anon_client.get("/api/v1/users/me/insights")
    assert response.status_code == 401


def test_other_methods_are_405_with_allow(member: Any, api: Any) -> None:
    response = member.client.post("/api/v1/users/me/insights", json={})
    assert response.status_code == 405
    assert api.error_code(response) == "METHOD_NOT_ALLOWED"
    assert {"GET", "HEAD"} <= {m.strip() for m in response.headers["Allow"].split(",")}


def test_account_deletion_removes_the_item(
    api_user_factory: Any, loader: Loader, api: Any, local_platform: Any
) -> None:
    user = api_user_factory()
    api.create_profile(user.client)
    api.create_task(user.client)
    loader.load([row(user.sub)])
    assert user.client.get("/api/v1/users/me/insights").status_code == 200

    assert user.client.delete("/api/v1/users/me").status_code == 204

    key = {name: {"S": value} for name, value in insights_key(user.sub).items()}
    stored = boto3.client("dynamodb").get_item(
        TableName=local_platform.endpoints["table_name"], Key=key, ConsistentRead=True
    )
    assert "Item" not in stored
    # A later load finds no profile and writes nothing back.
    assert loader.load([row(user.sub, LATER)], as_of=LATER)["skipped_deleted"] == 1
    # The same person signs up again (same sub): a run made before that is the old account's.
    before = stamp(datetime.now(UTC) - timedelta(milliseconds=1))  # strictly before the profile
    api.create_profile(user.client)
    assert loader.load([row(user.sub, before)], as_of=before)["skipped_deleted"] == 1
    assert api.error_code(user.client.get("/api/v1/users/me/insights")) == "INSIGHTS_NOT_READY"
    user.client.delete("/api/v1/users/me")
