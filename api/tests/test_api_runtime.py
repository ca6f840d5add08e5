"""The api's runtime: built from the environment once on Lambda, passed in explicitly everywhere
else (`use`), never mixed between runtimes side by side, and holding what is built only once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import anyio
import boto3
import pytest

from todo_api import runtime
from todo_api.services import idempotency
from todo_api.settings import Settings

SESSION = boto3.session.Session(region_name="us-east-1")  # clients are built, never called


def _runtime(table: str) -> runtime.ApiRuntime:
    return runtime.ApiRuntime.build(Settings(table_name=table), session=SESSION)


@pytest.fixture
def fresh_environment_runtime() -> Iterator[None]:
    runtime.environment_runtime.cache_clear()
    yield
    runtime.environment_runtime.cache_clear()


def test_outside_use_the_runtime_is_the_environments_built_once(
    monkeypatch: pytest.MonkeyPatch, fresh_environment_runtime: None
) -> None:
    monkeypatch.setenv("TABLE_NAME", "from-the-environment")
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://app.example.com, https://admin.example.com")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    first = runtime.current()
    assert first.settings.table_name == "from-the-environment"
    assert first.cors_origins == {"https://app.example.com", "https://admin.example.com"}
    monkeypatch.setenv("TABLE_NAME", "changed-later")
    assert runtime.current() is first  # a Lambda container's environment never changes: no re-reads


def test_use_sets_the_runtime_for_the_block_and_puts_the_previous_back() -> None:
    outer, inner = _runtime("outer-table"), _runtime("inner-table")
    with runtime.use(outer):
        assert runtime.current() is outer
        with runtime.use(inner):
            assert runtime.current() is inner
        assert runtime.current() is outer


def test_runtimes_in_threads_side_by_side_never_mix() -> None:
    seen: dict[str, list[str]] = {}
    barrier = threading.Barrier(2)

    def serve(table: str) -> None:
        with runtime.use(_runtime(table)):
            barrier.wait()  # both are inside their `use` at once
            seen[table] = [runtime.current().settings.table_name for _ in range(100)]

    threads = [threading.Thread(target=serve, args=(table,)) for table in ("table-one", "table-two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {"table-one": ["table-one"] * 100, "table-two": ["table-two"] * 100}


def test_the_runtime_follows_an_invocation_into_its_event_loop_and_worker_threads() -> None:
    chosen = _runtime("invocation-table")

    async def route() -> tuple[runtime.ApiRuntime, runtime.ApiRuntime]:
        in_loop = runtime.current()
        in_worker = await anyio.to_thread.run_sync(runtime.current)  # where FastAPI runs plain `def`s
        return in_loop, in_worker

    with runtime.use(chosen):
        assert asyncio.run(route()) == (chosen, chosen)


def test_repositories_and_idempotency_are_built_once_per_runtime_on_its_table() -> None:
    api = _runtime("the-table")
    assert api.tasks is api.tasks
    assert api.users is api.users
    assert api.insights is api.insights
    assert {api.tasks.table_name, api.users.table_name, api.insights.table_name} == {"the-table"}
    assert api.idempotency is api.idempotency
    assert {layer.table_name for layer in api.idempotency.persistence.values()} == {"the-table"}
    other = _runtime("another-table")
    assert other.tasks is not api.tasks
    assert other.idempotency is not api.idempotency


def test_clients_are_built_on_first_use_only() -> None:
    api = _runtime("the-table")
    assert "dynamodb" not in vars(api)
    assert api.dynamodb is api.dynamodb
    assert api.tasks._client is api.dynamodb


def test_idempotency_decorates_one_module_level_function() -> None:
    """Powertools' documented decorator, applied once per runtime and partition to
    `idempotency.execute`, whose name is part of every stored key: a rename would forget the last
    24 hours of keys."""
    runner = _runtime("the-table").idempotency
    assert len(runner._once) == idempotency.PARTITIONS
    assert all(once.__wrapped__ is idempotency.execute for once in runner._once.values())  # type: ignore[attr-defined]
    assert idempotency.execute.__name__ == "execute"


def test_cursor_keys_are_the_fixed_development_key_unless_a_secret_is_named() -> None:
    fixed = _runtime("the-table")
    assert fixed.cursor_keys.signing_key() == fixed.settings.cursor_key
    assert "secretsmanager" not in vars(fixed)  # never built: no secret to read
    named = runtime.ApiRuntime.build(
        Settings(table_name="the-table", cursor_secret_id="todo/cursor-key"), session=SESSION
    )
    assert getattr(named.cursor_keys, "secret_id", None) == "todo/cursor-key"
