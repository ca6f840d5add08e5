"""Idempotency-Key through the local gateway: replays, reuse with another body, scoping, concurrency."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from typing import Any

import boto3
import httpx
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from todo_api.services.idempotency import PARTITIONS, IdempotentRunner, partition_of


def _key() -> str:
    return f"key-{uuid.uuid4()}"


def test_replay_returns_the_first_response_and_creates_nothing(member: Any, api: Any) -> None:
    key, body = _key(), {"title": "Pay rent", "priority": "high"}
    first = member.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    again = member.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert len(member.client.get("/api/v1/tasks").json()["items"]) == 1


def test_same_key_with_another_body_is_422(member: Any, api: Any) -> None:
    key = _key()
    assert member.client.post(
        "/api/v1/tasks", json={"title": "a"}, headers={"Idempotency-Key": key}
    ).is_success
    response = member.client.post("/api/v1/tasks", json={"title": "b"}, headers={"Idempotency-Key": key})
    assert response.status_code == 422
    assert api.error_code(response) == "IDEMPOTENCY_KEY_REUSED"
    assert [t["title"] for t in member.client.get("/api/v1/tasks").json()["items"]] == ["a"]


def test_keys_are_scoped_to_the_caller(member_factory: Any) -> None:
    alice, bob = member_factory(), member_factory()
    key, body = _key(), {"title": "same"}
    made_by_alice = alice.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    made_by_bob = bob.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    assert made_by_alice.status_code == made_by_bob.status_code == 201
    assert "Idempotent-Replayed" not in made_by_bob.headers
    assert made_by_bob.json()["user_id"] == bob.sub
    assert made_by_bob.json()["task_id"] != made_by_alice.json()["task_id"]


def test_without_a_key_each_post_creates(member: Any) -> None:
    for _ in range(2):
        assert member.client.post("/api/v1/tasks", json={"title": "dup"}).status_code == 201
    assert len(member.client.get("/api/v1/tasks").json()["items"]) == 2


def test_failures_are_not_remembered(api_user: Any, api: Any) -> None:
    key, body = _key(), {"title": "first try fails"}
    failed = api_user.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    assert api.error_code(failed) == "USER_NOT_FOUND"
    api.create_profile(api_user.client)
    retried = api_user.client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried.headers
    api_user.client.delete("/api/v1/users/me")


def test_malformed_keys_are_422(member: Any, api: Any) -> None:
    for key in ("k" * 256, "", "clé"):
        response = member.client.post(
            "/api/v1/tasks", json={"title": "x"}, headers={"Idempotency-Key": key.encode("utf-8")}
        )
        assert response.status_code == 422, key
        assert api.error_code(response) == "VALIDATION_ERROR"
    assert member.client.post(
        "/api/v1/tasks", json={"title": "x"}, headers={"Idempotency-Key": "k" * 255}
    ).is_success


def test_profile_creation_replays_too(api_user: Any, api: Any) -> None:
    key, body = _key(), {"name": "Ada"}
    first = api_user.client.post("/api/v1/users", json=body, headers={"Idempotency-Key": key})
    again = api_user.client.post("/api/v1/users", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api_user.client.post("/api/v1/users", json={"name": "Eve"}, headers={"Idempotency-Key": key})
    assert api.error_code(other) == "IDEMPOTENCY_KEY_REUSED"
    api_user.client.delete("/api/v1/users/me")


def test_records_live_under_the_partition_their_scope_hashes_to(member: Any, local_platform: Any) -> None:
    """Pins the record layout: PK one of the idempotency partitions (the one its scope hashes to),
    SK Powertools' hashed key, TTL, no entity_type, no user id in plain text."""
    table = local_platform.endpoints["table_name"]
    client = boto3.client("dynamodb")
    before = _idempotency_items(client, table)
    key = _key()
    member.client.post("/api/v1/tasks", json={"title": "x"}, headers={"Idempotency-Key": key})
    new = [item for sk, item in _idempotency_items(client, table).items() if sk not in before]
    assert len(new) == 1
    record = new[0]
    assert record["PK"] == {"S": partition_of(f"tasks.create#{member.sub}#{key}")}
    assert "todo_api.services.idempotency.execute#" in record["SK"]["S"]  # Powertools' key
    assert "entity_type" not in record
    assert int(record["expiration"]["N"]) > 0
    assert record["status"] == {"S": "COMPLETED"}
    assert member.sub not in record["SK"]["S"]  # the key is hashed: no user id in plain text


def test_scopes_spread_evenly_over_the_idempotency_partitions() -> None:
    counts = Counter(partition_of(f"tasks.create#user-{n}#key-{n}") for n in range(8_000))
    assert PARTITIONS == 8
    assert set(counts) == {f"IDEMPOTENCY#{shard}" for shard in range(8)}
    # 1,000 each on average; a fixed input, so the (about 2.5 sigma) widest one is always the same.
    assert all(850 < count < 1150 for count in counts.values()), counts


def test_a_scopes_partition_never_changes() -> None:
    """The hash is part of the stored layout: another one (or another PARTITIONS) would look for
    the last 24 hours of records in the wrong partitions and run those requests again."""
    assert partition_of("tasks.create#u#k") == "IDEMPOTENCY#4"
    assert partition_of("users.create#u#k") == "IDEMPOTENCY#1"


def test_only_documented_powertools_options_shape_the_records() -> None:
    """No subclass of Powertools' layer and no private method: composite-key mode as documented."""
    runner = IdempotentRunner(boto3.client("dynamodb", region_name="us-east-1"), "t")
    assert set(runner.persistence) == {f"IDEMPOTENCY#{shard}" for shard in range(PARTITIONS)}
    for partition, layer in runner.persistence.items():
        assert type(layer) is DynamoDBPersistenceLayer
        assert (layer.key_attr, layer.sort_key_attr, layer.static_pk_value) == ("PK", "SK", partition)


def _idempotency_items(client: Any, table: str) -> dict[str, dict[str, Any]]:
    # A test-only look at the whole (small) table; the API itself never scans.
    items = client.scan(TableName=table)["Items"]
    return {item["SK"]["S"]: item for item in items if item["PK"]["S"].startswith("IDEMPOTENCY#")}


def test_concurrent_duplicates_create_exactly_one_task(member: Any, local_platform: Any) -> None:
    key, body, workers = _key(), {"title": "only once"}, 6
    barrier = threading.Barrier(workers)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def post() -> None:
        with httpx.Client(
            base_url=local_platform.endpoints["api_url"], headers=dict(member.client.headers), timeout=60
        ) as client:
            barrier.wait()
            response = client.post("/api/v1/tasks", json=body, headers={"Idempotency-Key": key})
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=post) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    originals = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(originals) == 1
    assert all(r.json() == originals[0].json() for r in created)
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "IDEMPOTENCY_IN_PROGRESS"
    assert [t["task_id"] for t in member.client.get("/api/v1/tasks").json()["items"]] == [
        originals[0].json()["task_id"]
    ]
