"""What the api needs from its surroundings, built in one place and passed in, never looked up.

An `ApiRuntime` holds the settings, the AWS clients and what is built from them once (the
repositories, the cursor keys, the idempotency store). On Lambda `current()` is the runtime of
the environment, built on first use and kept for the container's life. Anything else that runs
the same handler (the local platform, the benchmarks, tests) builds its own runtime from explicit
values and runs the handler inside `use(runtime)`: the one seam (ADR 0015). No module caches
anything keyed on the process environment.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config

from todo_api import cors
from todo_api.cursor_keys import CursorKeys, SecretsManagerCursorKeys, StaticCursorKeys
from todo_api.repository.insights_repository import InsightsRepository
from todo_api.repository.task_repository import TaskRepository
from todo_api.repository.user_repository import UserRepository
from todo_api.services.idempotency import IdempotentRunner
from todo_api.settings import Settings

# "standard" retries back off with jitter on throttling and transient errors, for every call.
DYNAMODB_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
SECRETS_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3)


@dataclass(frozen=True)
class ApiRuntime:
    """The settings and clients of one api deployment (or one local platform).

    Clients are built on first use, so a request that needs none (the health check, an early
    refusal) never pays for one: on Lambda that keeps them out of a cold start's first answer.
    """

    settings: Settings
    session: boto3.session.Session
    endpoint_url: str | None = None  # an emulator's; None on AWS
    cors_origins: frozenset[str] = frozenset()
    # boto3 sessions are not thread-safe while building a client (the local gateway has threads).
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        session: boto3.session.Session | None = None,
        endpoint_url: str | None = None,
        cors_origins: frozenset[str] = frozenset(),
    ) -> ApiRuntime:
        """A runtime whose clients come from `session` (default: boto3's, which reads the usual AWS
        variables), sent to `endpoint_url` when one is given (an emulator)."""
        return cls(settings, session or boto3.session.Session(), endpoint_url, cors_origins)

    @classmethod
    def from_environment(cls) -> ApiRuntime:
        """The runtime a Lambda container has: settings and CORS origins from its environment."""
        return cls.build(Settings(), cors_origins=cors.origins_from_environment())  # type: ignore[call-arg]

    @cached_property
    def dynamodb(self) -> Any:
        with self._lock:
            return self.session.client("dynamodb", config=DYNAMODB_CONFIG, endpoint_url=self.endpoint_url)

    @cached_property
    def secretsmanager(self) -> Any:
        with self._lock:
            return self.session.client(
                "secretsmanager", config=SECRETS_CONFIG, endpoint_url=self.endpoint_url
            )

    @cached_property
    def tasks(self) -> TaskRepository:
        return TaskRepository(self.dynamodb, self.settings.table_name)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.dynamodb, self.settings.table_name)

    @cached_property
    def insights(self) -> InsightsRepository:
        return InsightsRepository(self.dynamodb, self.settings.table_name)

    @cached_property
    def cursor_keys(self) -> CursorKeys:
        """Secrets Manager's rotating keys when a secret is named, else the fixed development key."""
        if self.settings.cursor_secret_id is None:
            return StaticCursorKeys(self.settings.cursor_key)
        return SecretsManagerCursorKeys(self.settings.cursor_secret_id, self.secretsmanager)

    @cached_property
    def idempotency(self) -> IdempotentRunner:
        return IdempotentRunner(self.dynamodb, self.settings.table_name)


_active: ContextVar[ApiRuntime | None] = ContextVar("todo_api_runtime", default=None)


def current() -> ApiRuntime:
    """The runtime of this invocation: the one `use` set, else the environment's (built once)."""
    runtime = _active.get()
    return runtime if runtime is not None else environment_runtime()


@functools.cache
def environment_runtime() -> ApiRuntime:
    """The runtime of a Lambda container, from its environment, built on first use."""
    return ApiRuntime.from_environment()


@contextmanager
def use(runtime: ApiRuntime) -> Iterator[ApiRuntime]:
    """Run the block (a handler invocation, a test) with `runtime`; the context it sets follows the
    invocation into its event loop and worker threads, so runtimes beside each other never mix."""
    token = _active.set(runtime)
    try:
        yield runtime
    finally:
        _active.reset(token)
