"""Realistic API traffic for the demo and the benchmarks: creates, edits, completions, deletions.

It speaks only HTTP to the API (through the local gateway), exactly as an app would, so what it
produces travels the whole path: table → stream → bronze → silver → gold.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import httpx

CATEGORIES = ("work", "home", "errands", "health", "learning", "finance")
PRIORITIES = ("low", "medium", "high")
TAGS = ("urgent", "weekly", "deep-work", "quick", "waiting", "shared", "phone", "email")
VERBS = ("Write", "Review", "Plan", "Call", "Book", "Fix", "Read", "Prepare", "Pay", "Clean")
OBJECTS = ("report", "budget", "dentist", "slides", "garden", "invoice", "course", "car", "taxes", "kitchen")


@dataclass
class TrafficStats:
    """How many calls of each kind were made and which statuses came back."""

    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def record(self, kind: str, response: httpx.Response, expected: int) -> None:
        self.calls[kind] += 1
        self.statuses[response.status_code] += 1
        if response.status_code != expected:
            self.unexpected.append(f"{kind}: {response.status_code} {response.text[:200]}")


def random_task(rng: random.Random, today: date) -> dict[str, object]:
    """A plausible task body."""
    body: dict[str, object] = {
        "title": f"{rng.choice(VERBS)} the {rng.choice(OBJECTS)}",
        "priority": rng.choices(PRIORITIES, weights=(3, 5, 2))[0],
        "category": rng.choices(CATEGORIES, weights=(5, 3, 2, 2, 2, 1))[0],
        "tags": rng.sample(TAGS, k=rng.randint(0, 3)),
    }
    if rng.random() < 0.7:
        body["due_date"] = (today + timedelta(days=rng.randint(-5, 20))).isoformat()
    if rng.random() < 0.4:
        body["description"] = "Notes: " + " ".join(rng.sample(OBJECTS, k=3))
    return body


def drive_user(
    client: httpx.Client,
    rng: random.Random,
    tasks: int,
    stats: TrafficStats,
    *,
    today: date | None = None,
    on_call: Callable[[], None] | None = None,
) -> list[str]:
    """Create `tasks` tasks for one user, then edit, complete, reopen and delete some of them."""
    tick = on_call or (lambda: None)
    day = today or date.today()
    created: list[tuple[str, int]] = []
    for n in range(tasks):
        response = client.post(
            "/api/v1/tasks",
            json=random_task(rng, day),
            headers={"Idempotency-Key": f"traffic-{n}-{rng.random()}"},
        )
        stats.record("create task", response, 201)
        tick()
        if response.status_code == 201:
            body = response.json()
            created.append((body["task_id"], body["version"]))
    alive: list[str] = []
    for task_id, version in created:
        roll = rng.random()
        if roll < 0.45:
            response = client.patch(
                f"/api/v1/tasks/{task_id}", json={"status": "completed"}, headers={"If-Match": f'"{version}"'}
            )
            stats.record("complete task", response, 200)
            if response.status_code == 200 and rng.random() < 0.1:
                response = client.patch(f"/api/v1/tasks/{task_id}", json={"status": "pending"})
                stats.record("reopen task", response, 200)
        elif roll < 0.65:
            response = client.patch(f"/api/v1/tasks/{task_id}", json={"status": "in_progress"})
            stats.record("start task", response, 200)
        elif roll < 0.75:
            response = client.put(
                f"/api/v1/tasks/{task_id}",
                json={**random_task(rng, day), "status": "pending"},
            )
            stats.record("replace task", response, 200)
        elif roll < 0.87:
            response = client.delete(f"/api/v1/tasks/{task_id}")
            stats.record("delete task", response, 204)
            tick()
            continue
        tick()
        alive.append(task_id)
    response = client.get("/api/v1/tasks", params={"limit": 50})
    stats.record("list tasks", response, 200)
    tick()
    return alive


def pages(client: httpx.Client, params: dict[str, str | int]) -> Sequence[dict[str, object]]:
    """Every task matching `params`, following the cursor to the end."""
    items: list[dict[str, object]] = []
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        response = client.get("/api/v1/tasks", params=query)
        response.raise_for_status()
        body = response.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items
