"""The limits the dev stage enforces on AWS and the local platform applies alike.

The Api stack's WAF rule and stage throttling and the Etl stack's stream mapping take these
numbers (through `todo_infra.stage_config` and the stacks); the local gateway's rate limiter and
the local stream ingestion take the same, so a client or a batch meets the same limit on a laptop
as in dev. Staging and prod have their own (larger) limits in the stage config: nothing local
mirrors them. `infra/tests/test_infra_local_parity.py` pins both sides to this module.
"""

from __future__ import annotations

from dataclasses import dataclass

# The WAF rate-based rules count each caller's requests over a trailing window of this length.
WAF_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class RateLimits:
    """One stage's limits on callers: WAF per caller and window, API Gateway for all callers."""

    waf_per_window: int  # requests per caller per WAF_WINDOW_SECONDS (WAF's minimum is 10)
    throttle_rate: float  # stage throttling: steady-state requests per second, all callers
    throttle_burst: int  # stage throttling: the bucket's size

    def __post_init__(self) -> None:
        if self.waf_per_window < 10 or self.throttle_rate <= 0 or self.throttle_burst < 1:
            raise ValueError(f"rate limits out of range: {self}")


DEV_RATE_LIMITS = RateLimits(waf_per_window=300, throttle_rate=20, throttle_burst=40)

# The change stream to the cdc function (the event source mapping; locally, the stream poller):
# records per batch, and retries of a failing batch before its records are dead-lettered.
STREAM_BATCH_SIZE = 100
STREAM_RETRY_ATTEMPTS = 5
