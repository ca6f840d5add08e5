"""The demo's history plan and its simulated clock (`todo_local.history`): deterministic per seed,
every habit present, times inside the window and never in the future, each user's calls in order,
one account deletion that ends its user's history, and a clock that only moves forward."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from todo_local.history import (
    ACTIONS,
    ARCHETYPES,
    PERSONAS,
    HistoryCall,
    SimulatedClock,
    default_end,
    plan_history,
)

END = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def by_user(calls: tuple[HistoryCall, ...]) -> dict[str, list[HistoryCall]]:
    grouped: dict[str, list[HistoryCall]] = defaultdict(list)
    for call in calls:
        grouped[call.user].append(call)
    return grouped


def test_the_plan_is_deterministic_per_seed() -> None:
    first = plan_history(users=12, weeks=3, seed=7, end=END)
    assert first == plan_history(users=12, weeks=3, seed=7, end=END)
    assert first != plan_history(users=12, weeks=3, seed=8, end=END)


@pytest.mark.parametrize(("users", "weeks"), [(6, 2), (36, 8)])
def test_times_stay_in_the_window_and_each_user_moves_forward(users: int, weeks: int) -> None:
    plan = plan_history(users=users, weeks=weeks, seed=7, end=END)
    assert plan.start == END - timedelta(weeks=weeks)
    assert [c.at for c in plan.calls] == sorted(c.at for c in plan.calls)
    assert all(plan.start <= c.at <= END for c in plan.calls)
    for user in plan.users:
        calls = by_user(plan.calls)[user.key]
        assert calls[0].action == "create profile"
        assert calls[0].at == user.signup_at
        assert all(a.at <= b.at for a, b in itertools.pairwise(calls))
        tasks: dict[int, list[str]] = defaultdict(list)
        for call in calls:
            assert call.action in ACTIONS
            if call.task is not None:
                tasks[call.task].append(call.action)
        # Every task starts with its creation; nothing happens to it after its deletion but a read.
        for actions in tasks.values():
            assert actions[0] == "create task"
            if "delete task" in actions:
                assert set(actions[actions.index("delete task") + 1 :]) <= {"read deleted task"}


def test_a_small_history_has_every_habit_one_leaver_and_two_weekly_cohorts() -> None:
    plan = plan_history(users=6, weeks=2, seed=7, end=END)
    assert sorted(u.persona for u in plan.users) == sorted(ARCHETYPES)
    assert len({u.signup_at.date().isocalendar()[:2] for u in plan.users}) >= 2
    leavers = [u for u in plan.users if u.deleted_at is not None]
    assert len(leavers) == 1
    leaver_calls = by_user(plan.calls)[leavers[0].key]
    assert leaver_calls[-1].action == "delete account"
    assert [c.action for c in plan.calls].count("delete account") == 1
    churner = next(u for u in plan.users if u.persona == "churner")
    assert churner.stops_at == churner.signup_at + timedelta(days=14)
    assert all(c.at <= churner.stops_at for c in by_user(plan.calls)[churner.key])


def test_a_long_history_has_one_leaver_only_and_real_delays() -> None:
    plan = plan_history(users=36, weeks=8, seed=7, end=END)
    assert sum(1 for u in plan.users if PERSONAS[u.persona].deletes_account) == 1
    assert len({u.timezone for u in plan.users}) >= 5
    created: dict[tuple[str, int], datetime] = {}
    delays = []
    for call in plan.calls:
        if call.action == "create task" and call.task is not None:
            created[(call.user, call.task)] = call.at
        elif call.action == "complete task" and call.task is not None:
            delays.append((call.at - created[(call.user, call.task)]).total_seconds() / 3600)
    delays.sort()
    assert 1 < delays[len(delays) // 2] < 48  # median hours: hours, not seconds, not weeks
    assert delays[int(len(delays) * 0.9)] > 24  # a tail of days (procrastinators, weekend batches)
    # Overdue work: open tasks whose due date is well past at the end.
    finished = {(c.user, c.task) for c in plan.calls if c.action in {"complete task", "delete task"}}
    overdue = [
        c
        for c in plan.calls
        if c.action == "create task"
        and (c.user, c.task) not in finished
        and c.body is not None
        and "due_date" in c.body
        and c.body["due_date"] < (END - timedelta(days=2)).date().isoformat()
    ]
    assert len(overdue) > 20


def test_the_plan_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one user"):
        plan_history(users=0, weeks=8, seed=7, end=END)
    with pytest.raises(ValueError, match="aware"):
        plan_history(users=3, weeks=8, seed=7, end=END.replace(tzinfo=None))


def test_the_simulated_clock_only_moves_forward_and_never_past_real_time() -> None:
    start = default_end() - timedelta(days=3)
    sim = SimulatedClock(start)
    assert sim.now() == start.timestamp()
    sim.advance_to(start + timedelta(hours=1))
    assert sim.now() == (start + timedelta(hours=1)).timestamp()
    with pytest.raises(ValueError, match="forward"):
        sim.advance_to(start)
    with pytest.raises(ValueError, match="ahead"):
        sim.advance_to(datetime.now(UTC) + timedelta(minutes=5))
    with pytest.raises(ValueError, match="ahead"):
        SimulatedClock(datetime.now(UTC) + timedelta(minutes=5))
    assert default_end() < datetime.fromtimestamp(time.time(), UTC)


def test_the_cli_defaults_are_the_history_defaults() -> None:
    from todo_local import history
    from todo_local.commands import demo_cmd

    assert (demo_cmd.DEFAULT_USERS, demo_cmd.DEFAULT_WEEKS) == (history.DEFAULT_USERS, history.DEFAULT_WEEKS)
