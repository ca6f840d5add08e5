"""Concurrent writers through the local gateway: the conditional write on version picks one winner."""

from __future__ import annotations

import threading
from typing import Any

import httpx

WORKERS = 6


def _race(member: Any, local_platform: Any, send: Any) -> list[httpx.Response]:
    barrier = threading.Barrier(WORKERS)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        with httpx.Client(
            base_url=local_platform.endpoints["api_url"], headers=dict(member.client.headers), timeout=60
        ) as client:
            barrier.wait()
            response = send(client, n)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(WORKERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_parallel_patches_with_one_if_match_have_exactly_one_winner(
    member: Any, local_platform: Any, api: Any
) -> None:
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    responses = _race(
        member,
        local_platform,
        lambda client, n: client.patch(url, json={"title": f"writer {n}"}, headers={"If-Match": '"1"'}),
    )
    winners = [r for r in responses if r.status_code == 200]
    losers = [r for r in responses if r.status_code != 200]
    assert len(winners) == 1
    assert all(r.status_code == 412 and r.json()["error"]["code"] == "PRECONDITION_FAILED" for r in losers)
    final = member.client.get(url).json()
    assert final["version"] == 2
    assert final["title"] == winners[0].json()["title"]


def test_parallel_patches_without_if_match_lose_no_update(member: Any, local_platform: Any, api: Any) -> None:
    """Without If-Match a lost race is retried on fresh data: each writer's change is applied once."""
    task = api.create_task(member.client)
    url = f"/api/v1/tasks/{task['task_id']}"
    fields = ["title", "description", "category", "priority", "status", "tags"]
    values: list[Any] = ["new title", "new description", "new-category", "high", "in_progress", ["t"]]
    responses = _race(
        member, local_platform, lambda client, n: client.patch(url, json={fields[n]: values[n]})
    )
    applied = [r for r in responses if r.status_code == 200]
    assert all(r.status_code in {200, 409} for r in responses)
    final = member.client.get(url).json()
    assert final["version"] == 1 + len(applied)
    for response in applied:
        changed = next(f for f in fields if response.json()[f] == values[fields.index(f)])
        assert final[changed] == values[fields.index(changed)]
