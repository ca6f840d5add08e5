"""The API's time source (`todo_api.services.clock`): the system clock unless a local replay swaps
it, restored after the block, never ahead of the real clock, and swapped by nothing under api/."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from todo_api.services import clock

PAST = datetime(2026, 10, 8, 9, 30, 15, 250_000, tzinfo=UTC).timestamp()


def test_the_default_time_source_is_the_system_clock() -> None:
    assert clock.time_source() is time.time
    before = time.time()
    stamped = datetime.fromisoformat(clock.utc_now().replace("Z", "+00:00")).timestamp()
    assert before - 0.002 <= stamped <= time.time()


def test_inside_the_seam_every_stamp_comes_from_the_source() -> None:
    with clock.use_time_source(lambda: PAST):
        assert clock.now_seconds() == PAST
        assert clock.utc_now() == "2026-10-08T09:30:15.250Z"
        task_id = clock.new_task_id()
    assert int(task_id[:12], 16) == int(PAST * 1000)  # the id's time prefix is the simulated millis
    assert clock.time_source() is time.time


def test_the_previous_source_is_restored_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), clock.use_time_source(lambda: PAST):
        raise RuntimeError("replay failed")
    assert clock.time_source() is time.time
    with clock.use_time_source(lambda: PAST), clock.use_time_source(lambda: PAST + 60):
        assert clock.now_seconds() == PAST + 60
    assert clock.time_source() is time.time


def test_a_time_ahead_of_the_real_clock_is_refused() -> None:
    with clock.use_time_source(lambda: time.time() + 3600), pytest.raises(ValueError, match="ahead"):
        clock.utc_now()


def test_nothing_in_the_api_swaps_the_time_source() -> None:
    package = Path(clock.__file__).resolve().parents[1]
    callers = [
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if re.search(r"use_time_source\(", path.read_text(encoding="utf-8")) and path.name != "clock.py"
    ]
    assert callers == []


def test_the_api_stamps_times_only_through_the_clock() -> None:
    """Times users see come from `clock`; the remaining direct clock reads are machinery (TTL of the
    deletion marker and its check, both on DynamoDB's real clock; monotonic cache timers)."""
    package = Path(clock.__file__).resolve().parents[1]
    direct = sorted(
        path.relative_to(package).as_posix()
        for path in package.rglob("*.py")
        if path.name != "clock.py"
        and re.search(r"datetime\.now\(|datetime\.utcnow\(|time\.time\(\)", path.read_text(encoding="utf-8"))
    )
    assert set(direct) <= {"repository/task_repository.py", "repository/user_repository.py"}
