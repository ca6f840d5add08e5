"""Rate limits of the local gateway: per caller over a trailing window (WAF) and per stage (token
bucket), answered with 429 and `Retry-After` before anything else runs. Clocks are injected: nothing
here depends on how fast the machine is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from todo_local.cognito import create_user, generate_password, sign_in
from todo_local.platform import LocalPlatform
from todo_local.rate_limit import DEV_LIMITS, RateLimiter, RateLimits, retry_after_header
from todo_local.testing.handlers import RecordingHandler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def generous_stage(per_caller: int, window: float = 60.0) -> RateLimits:
    return RateLimits(per_caller=per_caller, window_seconds=window, stage_rate=1000.0, stage_burst=1000)


def test_a_caller_gets_its_quota_per_window_then_waits_for_the_oldest_request_to_leave_it() -> None:
    clock = Clock()
    limiter = RateLimiter(generous_stage(3, window=60), clock)
    assert [limiter.admit("token-a") for _ in range(3)] == [None, None, None]
    clock.now += 10
    assert limiter.admit("token-a") == pytest.approx(50.0)  # the first request leaves the window at +60
    assert limiter.admit("token-b") is None  # callers are counted apart
    clock.now += 50
    assert limiter.admit("token-a") is None


def test_the_stage_bucket_allows_its_burst_then_its_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(
        RateLimits(per_caller=10_000, window_seconds=300, stage_rate=2.0, stage_burst=3), clock
    )
    assert [limiter.admit(f"caller-{i}") for i in range(3)] == [None, None, None]
    assert limiter.admit("caller-4") == pytest.approx(0.5)  # one token every half second
    clock.now += 0.5
    assert limiter.admit("caller-4") is None
    assert limiter.admit("caller-5") == pytest.approx(0.5)


def test_a_refused_request_uses_no_quota() -> None:
    clock = Clock()
    limiter = RateLimiter(RateLimits(per_caller=2, window_seconds=60, stage_rate=1.0, stage_burst=1), clock)
    assert limiter.admit("a") is None
    assert limiter.admit("a") is not None  # the stage is empty: not counted against "a"
    clock.now += 1
    assert limiter.admit("a") is None  # the second of its two


@pytest.mark.parametrize(("seconds", "header"), [(0.01, "1"), (1.0, "1"), (1.2, "2"), (59.9, "60")])
def test_retry_after_is_whole_seconds_and_at_least_one(seconds: float, header: str) -> None:
    assert retry_after_header(seconds) == header


@pytest.mark.parametrize(
    "values",
    [(0, 1, 1, 1), (1, 0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0)],
    ids=["per-caller", "window", "rate", "burst"],
)
def test_limits_must_be_positive(values: tuple[int, int, int, int]) -> None:
    per_caller, window, rate, burst = values
    with pytest.raises(ValueError, match="must be positive"):
        RateLimits(per_caller=per_caller, window_seconds=window, stage_rate=rate, stage_burst=burst)


def test_local_up_limits_are_the_dev_stage_values() -> None:
    # infra/tests/test_infra_local_parity.py checks the same numbers against the CDK stage config.
    assert (DEV_LIMITS.per_caller, DEV_LIMITS.window_seconds) == (300, 300.0)
    assert (DEV_LIMITS.stage_rate, DEV_LIMITS.stage_burst) == (20.0, 40)


@pytest.fixture
def limited(tmp_path: Path) -> Iterator[tuple[LocalPlatform, RecordingHandler]]:
    handler = RecordingHandler()
    # A long window and a roomy stage: the per-caller rule is what this platform trips.
    limits = RateLimits(per_caller=3, window_seconds=3600, stage_rate=1000.0, stage_burst=1000)
    with LocalPlatform(
        tmp_path / "p", api_port=0, aws_port=0, handler=handler, rate_limits=limits
    ) as platform:
        yield platform, handler


def test_over_the_limit_the_gateway_answers_429_and_the_function_never_runs(
    limited: tuple[LocalPlatform, RecordingHandler],
) -> None:
    platform, handler = limited
    endpoints = platform.endpoints
    password = generate_password()
    create_user(endpoints, "fast@example.com", password)
    token = sign_in(endpoints, "fast@example.com", password).id_token
    url = endpoints["api_url"] + "/api/v1/tasks"
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        statuses = [client.get(url).status_code for _ in range(3)]
        refused = client.get(url)
    assert statuses == [200, 200, 200]
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json() == {
        "error": {"code": "RATE_LIMITED", "message": "Too many requests; retry after the Retry-After delay."}
    }
    assert handler.calls == 3
    # Another caller (here: anonymous, keyed by address) has its own quota.
    assert httpx.get(endpoints["api_url"] + "/api/health", timeout=30).status_code == 200
