"""Where the cursor-signing keys come from: Secrets Manager through Powertools Parameters, or a fixed key.

On AWS the key lives in Secrets Manager (`CURSOR_SECRET_ID`) and rotates (ADR 0011). New cursors
are signed with the current version; cursors signed with the current or the previous version
(AWSCURRENT / AWSPREVIOUS) are accepted, so a rotation never breaks a listing in progress. Both are
cached by Powertools for `CACHE_SECONDS`, so the request path calls Secrets Manager once per
container per period. A cursor that fails with the cached keys forces one fresh read (at most one
per `REFRESH_INTERVAL_SECONDS`, so forged cursors cannot drive calls), for a container that has not
yet seen a rotation another container already signs with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

MIN_KEY_LENGTH = 32
CACHE_SECONDS = 300
REFRESH_INTERVAL_SECONDS = 30.0
CURRENT, PREVIOUS = "AWSCURRENT", "AWSPREVIOUS"


class CursorKeys(Protocol):
    """The key new cursors are signed with, and every key a presented cursor may be signed with."""

    def signing_key(self) -> bytes: ...

    def verification_keys(self) -> tuple[bytes, ...]: ...

    def refresh(self) -> bool:
        """Re-read the keys if allowed now; True when that changed them."""
        ...


class StaticCursorKeys:
    """One fixed key (development stages and tests: `CURSOR_SECRET`)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def signing_key(self) -> bytes:
        return self._key

    def verification_keys(self) -> tuple[bytes, ...]:
        return (self._key,)

    def refresh(self) -> bool:
        return False


class SecretsManagerCursorKeys:
    """The current and previous versions of one secret, cached through Powertools Parameters.

    Powertools caches by secret name only (not by version stage), so each stage has its own
    provider and therefore its own cache.
    """

    def __init__(
        self, secret_id: str, client: Any | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.secret_id = secret_id
        self._current = SecretsProvider(boto3_client=client) if client is not None else SecretsProvider()
        self._previous = SecretsProvider(boto3_client=client) if client is not None else SecretsProvider()
        self._clock = clock
        self._lock = threading.Lock()
        self._last_refresh = float("-inf")
        self._no_previous_until = float("-inf")

    def _read(self, provider: SecretsProvider, stage: str, *, force: bool) -> bytes:
        value = provider.get(self.secret_id, max_age=CACHE_SECONDS, force_fetch=force, VersionStage=stage)
        key = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
        if len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"the {stage} cursor key is shorter than {MIN_KEY_LENGTH} bytes")
        return key

    def _previous_key(self, *, force: bool) -> bytes | None:
        # Before the first rotation there is no AWSPREVIOUS; remember that for a cache period
        # rather than asking again on every request.
        if not force and self._clock() < self._no_previous_until:
            return None
        try:
            return self._read(self._previous, PREVIOUS, force=force)
        except GetParameterError:
            self._no_previous_until = self._clock() + CACHE_SECONDS
            return None

    def signing_key(self) -> bytes:
        return self._read(self._current, CURRENT, force=False)

    def verification_keys(self) -> tuple[bytes, ...]:
        previous = self._previous_key(force=False)
        current = self.signing_key()
        return (current,) if previous is None or previous == current else (current, previous)

    def refresh(self) -> bool:
        with self._lock:
            now = self._clock()
            if now - self._last_refresh < REFRESH_INTERVAL_SECONDS:
                return False
            self._last_refresh = now
        before = self.verification_keys()
        current = self._read(self._current, CURRENT, force=True)
        previous = self._previous_key(force=True)
        return (current, previous) != (before[0], before[1] if len(before) > 1 else None)
