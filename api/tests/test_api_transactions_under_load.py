"""Transactions under concurrency, through the real local gateway and the emulated DynamoDB.

Outcomes, not timings: whatever the interleaving, account deletion leaves no task without a profile
and no profile after its 204; a cancelled transaction never erases another request's acknowledged
write; concurrent creates all land. (moto alone failed each of these: ADR 0010.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import httpx

from todo_contracts.keys import user_pk

ACCEPTED_CREATE_REFUSALS = {404}  # USER_NOT_FOUND: no profile, or the account is being deleted


def _client(local_platform: Any, user: Any) -> httpx.Client:
    return httpx.Client(
        base_url=local_platform.endpoints["api_url"], headers=dict(user.client.headers), timeout=120
    )


def _in_parallel(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run every job on its own thread, all released together; their results (or exceptions)."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = jobs[index]()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def _partition(table: str, sub: str) -> list[dict[str, Any]]:
    """Every item stored under the user's partition, read consistently from the table."""
    client = boto3.client("dynamodb")
    try:
        response = client.query(
            TableName=table,
            KeyConditionExpression="PK = :pk",
            ExpressionAttributeValues={":pk": {"S": user_pk(sub)}},
            ConsistentRead=True,
        )
        return list(response["Items"])
    finally:
        client.close()


def _creates(local_platform: Any, user: Any, count: int, label: str) -> Callable[[], list[int]]:
    def job() -> list[int]:
        with _client(local_platform, user) as client:
            return [
                client.post("/api/v1/tasks", json={"title": f"{label} {n}"}).status_code for n in range(count)
            ]

    return job


def test_account_deletion_racing_creates_leaves_no_orphan_and_no_profile(
    member_factory: Callable[[], Any], local_platform: Any
) -> None:
    for _round in range(3):
        member = member_factory()

        def delete_account(member: Any = member) -> int:
            with _client(local_platform, member) as client:
                return client.delete("/api/v1/users/me").status_code

        jobs: list[Callable[[], Any]] = [_creates(local_platform, member, 4, f"racer {n}") for n in range(5)]
        jobs.insert(2, delete_account)
        results = _in_parallel(jobs)
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, errors
        assert results[2] == 204
        statuses = [status for job_result in results[:2] + results[3:] for status in job_result]
        assert set(statuses) <= {201} | ACCEPTED_CREATE_REFUSALS, statuses

        # A create that won its race against the deletion may have landed after the 204 only if it
        # saw the profile, which the 204 says is gone: so nothing at all is left in the partition.
        assert member.client.get("/api/v1/users/me").status_code == 404
        left = _partition(local_platform.endpoints["table_name"], member.sub)
        assert left == [], [(i["PK"]["S"], i["SK"]["S"]) for i in left]


def test_cancelled_transactions_never_erase_acknowledged_writes(
    member_factory: Callable[[], Any], api_user_factory: Callable[[], Any], local_platform: Any, api: Any
) -> None:
    writer = member_factory()
    task = api.create_task(writer.client, title="start")
    url = f"/api/v1/tasks/{task['task_id']}"
    homeless = api_user_factory()  # signed in, no profile: every create it sends is cancelled

    def patches() -> list[tuple[int, str]]:
        done = []
        with _client(local_platform, writer) as client:
            for n in range(15):
                response = client.patch(url, json={"title": f"edit {n}"})
                done.append((response.status_code, f"edit {n}"))
        return done

    def creates_by_writer() -> list[tuple[int, str]]:
        made = []
        with _client(local_platform, writer) as client:
            for n in range(10):
                response = client.post("/api/v1/tasks", json={"title": f"created {n}"})
                made.append((response.status_code, response.json().get("task_id", "")))
        return made

    results = _in_parallel(
        [
            patches,
            creates_by_writer,
            _creates(local_platform, homeless, 15, "refused a"),
            _creates(local_platform, homeless, 15, "refused b"),
            _creates(local_platform, homeless, 15, "refused c"),
        ]
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    patched, created = results[0], results[1]
    refused = [status for job_result in results[2:] for status in job_result]
    assert set(refused) == {404}
    assert [status for status, _ in patched] == [200] * 15
    assert [status for status, _ in created] == [201] * 10

    final = writer.client.get(url).json()
    assert final["version"] == 1 + 15  # every acknowledged PATCH is there
    assert final["title"] == patched[-1][1]
    for _status, task_id in created:
        assert writer.client.get(f"/api/v1/tasks/{task_id}").status_code == 200
    assert _partition(local_platform.endpoints["table_name"], homeless.sub) == []


def test_fifty_concurrent_creates_give_fifty_tasks(member: Any, local_platform: Any, api: Any) -> None:
    def create(n: int) -> Callable[[], httpx.Response]:
        def job() -> httpx.Response:
            with _client(local_platform, member) as client:
                return client.post("/api/v1/tasks", json={"title": f"task {n}"})

        return job

    responses = _in_parallel([create(n) for n in range(50)])
    errors = [r for r in responses if isinstance(r, Exception)]
    assert not errors, errors
    assert [r.status_code for r in responses] == [201] * 50, [
        r.text for r in responses if r.status_code != 201
    ]
    ids = {r.json()["task_id"] for r in responses}
    assert len(ids) == 50
    listed = api.list_all(member.client, {"limit": 100})
    assert {t["task_id"] for t in listed} == ids
