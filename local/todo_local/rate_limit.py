"""The local stand-in for the WAF rate-based rule and the stage throttle: 429 with `Retry-After`.

On AWS a caller is limited twice: the WAF rule counts each caller's requests (keyed on the token,
else the source address) over a trailing five-minute window, and the stage throttles all callers
together with a token bucket. `local up` applies the dev stage's values (`DEV_LIMITS`, kept equal
to the CDK stage config by an infra test), so a client that loops too fast meets the same 429 on a
laptop as in dev. Tests and the demo run without limits unless they ask for them.

Written here rather than taken from a library: the two rules are a few lines each, and matching
WAF's and API Gateway's semantics (trailing window per key, bucket per stage) matters more than
generality.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from todo_contracts.limits import DEV_RATE_LIMITS, WAF_WINDOW_SECONDS


@dataclass(frozen=True)
class RateLimits:
    """Per-caller requests per window (WAF) and the stage's steady rate and burst (API Gateway)."""

    per_caller: int
    window_seconds: float
    stage_rate: float
    stage_burst: int

    def __post_init__(self) -> None:
        if self.per_caller < 1 or self.window_seconds <= 0 or self.stage_rate <= 0 or self.stage_burst < 1:
            raise ValueError(f"rate limits must be positive: {self}")


# The dev stage's limits, as its WAF rule and stage throttling apply them (todo_contracts.limits).
DEV_LIMITS = RateLimits(
    per_caller=DEV_RATE_LIMITS.waf_per_window,
    window_seconds=float(WAF_WINDOW_SECONDS),
    stage_rate=float(DEV_RATE_LIMITS.throttle_rate),
    stage_burst=DEV_RATE_LIMITS.throttle_burst,
)


class RateLimiter:
    """Decides, per request, whether it may pass; thread-safe (the gateway serves in threads)."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._tokens = float(limits.stage_burst)
        self._refilled_at = clock()

    def admit(self, caller: str) -> float | None:
        """None when the request may pass (and is counted), else the seconds to wait."""
        with self._lock:
            now = self._clock()
            seen = self._seen.setdefault(caller, deque())
            while seen and seen[0] <= now - self.limits.window_seconds:
                seen.popleft()
            if len(seen) >= self.limits.per_caller:
                return seen[0] + self.limits.window_seconds - now
            refill = (now - self._refilled_at) * self.limits.stage_rate
            self._tokens = min(float(self.limits.stage_burst), self._tokens + refill)
            self._refilled_at = now
            if self._tokens < 1.0:
                return (1.0 - self._tokens) / self.limits.stage_rate
            self._tokens -= 1.0
            seen.append(now)
            return None


def retry_after_header(seconds: float) -> str:
    """Whole seconds, at least 1 (HTTP's `Retry-After` has no fractions)."""
    return str(max(1, math.ceil(seconds)))
