"""End to end: tasks made through the API, one `run_pipeline`, and GET /api/v1/users/me/insights
equals the figures this test computes itself from the API's own `GET /api/v1/tasks` listing.

The whole path runs: stream → cdc → bronze → silver → gold (gold_user_insights and its export) →
the insights loader (the same handler EventBridge invokes on AWS) → the table → the API.
"""

from __future__ import annotations

import gzip
import json
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from todo_contracts.lake_layout import CDC_FOLDER, Layer
from todo_local.pipeline import run_pipeline
from todo_local.platform import LocalPlatform
from todo_local.reconcile import reconcile

pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.fixture(scope="module")
def users(ingesting_platform: LocalPlatform, module_user_factory: Any) -> Any:
    return module_user_factory


def listing(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/tasks", params=params).json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def expected_insights(tasks: list[dict[str, Any]], as_of: datetime) -> dict[str, Any]:
    """SPEC §4's figures from the API's view of the tasks, for a user in UTC."""
    done = [t for t in tasks if t["status"] == "completed"]
    completed_at = [parse(t["completed_at"]) for t in done]
    today = as_of.date()
    created = Counter(t["category"] for t in tasks)
    completed = Counter(t["category"] for t in done)
    top = sorted(created, key=lambda c: (-created[c], -completed[c], c))[:3]
    days = {at.date() for at in completed_at}
    streak, day = 0, today if today in days else today - timedelta(days=1)
    while day in days:
        streak, day = streak + 1, day - timedelta(days=1)
    weekdays = Counter(at.strftime("%A") for at in completed_at)
    return {
        "total_tasks": len(tasks),
        "open_tasks": len(tasks) - len(done),
        "completed_tasks": len(done),
        "overdue_tasks": sum(
            1
            for t in tasks
            if t["status"] != "completed" and t["due_date"] and date.fromisoformat(t["due_date"]) < today
        ),
        "completed_last_7_days": sum(1 for at in completed_at if as_of - timedelta(days=7) < at <= as_of),
        "completed_last_30_days": sum(1 for at in completed_at if as_of - timedelta(days=30) < at <= as_of),
        "completion_rate": 100 * len(done) / len(tasks),
        "current_streak_days": streak,
        "longest_streak_days": 1 if days else 0,  # every completion happens today, in this test
        "median_hours_to_complete": statistics.median(
            (parse(t["completed_at"]) - parse(t["created_at"])).total_seconds() / 3600 for t in done
        ),
        "busiest_weekday": max(weekdays, key=lambda d: weekdays[d]),
        "top_categories": [{"category": c, "created": created[c], "completed": completed[c]} for c in top],
    }


def test_served_insights_equal_the_figures_of_the_users_own_tasks(
    ingesting_platform: LocalPlatform, users: Any
) -> None:
    ada, bob = users(), users()
    for user, name in ((ada, "Ada"), (bob, "Bob")):
        assert user.client.post("/api/v1/users", json={"name": name}).status_code == 201
    assert ada.client.get("/api/v1/users/me/insights").json()["error"]["code"] == "INSIGHTS_NOT_READY"
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    made = [
        ada.client.post("/api/v1/tasks", json={"title": f"t{n}", "category": category, **extra}).json()
        for n, (category, extra) in enumerate(
            [
                ("work", {}),
                ("work", {"due_date": yesterday}),
                ("work", {}),
                ("home", {}),
                ("home", {}),
                ("gym", {}),
            ]
        )
    ]
    for task in (made[0], made[3], made[5]):
        response = ada.client.patch(f"/api/v1/tasks/{task['task_id']}", json={"status": "completed"})
        assert response.status_code == 200, response.text
    assert ada.client.delete(f"/api/v1/tasks/{made[2]['task_id']}").status_code == 204
    assert bob.client.post("/api/v1/tasks", json={"title": "bob's"}).status_code == 201

    result = run_pipeline(
        Path(ingesting_platform.lake_dir),
        ingesting_platform.drain,
        table_name=ingesting_platform.endpoints["table_name"],
    )

    assert result.insights["status"] == "loaded", result.insights
    served = ada.client.get("/api/v1/users/me/insights")
    assert served.status_code == 200, served.text
    body = served.json()
    as_of = parse(body.pop("as_of"))
    tasks = listing(ada.client)
    assert max(parse(t["updated_at"]) for t in tasks) <= as_of  # the run saw every change
    expected = expected_insights(tasks, as_of)
    assert body.pop("completion_rate") == pytest.approx(expected.pop("completion_rate"), abs=0.01)
    assert body.pop("median_hours_to_complete") == pytest.approx(
        expected.pop("median_hours_to_complete"), abs=0.01
    )
    assert body == expected
    # Bob sees his own, never Ada's.
    assert bob.client.get("/api/v1/users/me/insights").json()["total_tasks"] == 1

    # The items are derived data: their stream records never reach bronze, and the lake still
    # equals the table (reconcile compares the domain items only).
    ingesting_platform.drain()
    cdc = Path(ingesting_platform.lake_dir) / Layer.BRONZE.value / CDC_FOLDER
    keys = {
        json.loads(line)["sk"]
        for path in cdc.rglob("*.gz")
        for line in gzip.decompress(path.read_bytes()).splitlines()
        if line.strip()
    }
    assert "PROFILE" in keys
    assert "INSIGHTS" not in keys
    report = reconcile(ingesting_platform.endpoints["table_name"], Path(ingesting_platform.lake_dir))
    assert report.ok, report.differences
