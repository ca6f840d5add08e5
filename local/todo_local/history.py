"""The demo's history: weeks of past activity, replayed through the real API with a simulated clock.

A demo whose whole life is the two minutes it runs has degenerate trends (one day), cohorts (one
week) and time-to-complete figures (seconds). So before the live part, `make demo` replays a
planned past — by default 8 weeks ending now, for 36 users — through the same path live traffic
takes: the local gateway's `handle()` (the Cognito authorizer's JWT checks, the REST proxy event,
the Lambda handler object AWS runs) → the DynamoDB emulator → its stream → CDC → Firehose →
bronze → silver → gold. Nothing is written to the lake directly; every figure still comes from the
pipeline.

Two pieces:

- `plan_history` (pure, deterministic per seed): who signs up when, with which habit (`PERSONAS`:
  daily finishers with long streaks, weekend batchers, procrastinators leaving overdue work,
  churners who stop after two weeks, steady users, and exactly one user who deletes the account
  halfway), and a time-ordered list of API calls: profile creation, task creation, starts,
  completions after log-normal delays (hours to days), reopenings, edits, deletions, list reads and
  an occasional read of a deleted task (a 404, as real clients make). Times are planned in each
  user's own time zone (the profile's IANA name) and never later than `end`.
- `replay_history`: signs the users up with Cognito (now: Cognito is not part of the history), then
  sets the simulated clock to each call's planned time and makes the call. The clock is the API's
  time source (`todo_api.services.clock.use_time_source`) and the emulator's stream-record clock
  (`dynamodb_emulation.record_times`), swapped together for the replay only and restored after;
  it only moves forward and is never ahead of the real clock.

Calls go to `LocalGateway.handle` in-process rather than over a socket: the same authorizer and
handler object, without 5,000 HTTP round trips. The demo's platform runs without the rate limiter
(`LocalPlatform(rate_limits=None)`), so the replay neither paces itself nor goes around a limit;
on a platform with limits `replay_history` refuses to run rather than meet 429s.
"""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from todo_api.services import clock as api_clock
from todo_local import dynamodb_emulation
from todo_local.cognito import create_user, generate_password, sign_in
from todo_local.gateway import LocalGateway
from todo_local.http_server import HttpRequest
from todo_local.traffic import OBJECTS, TAGS, VERBS

DEFAULT_USERS = 36
DEFAULT_WEEKS = 8
# The replay ends this long before the real time it was planned at, so that the live part of the
# demo (stamped with the real clock) always comes after every replayed change.
END_MARGIN = timedelta(minutes=2)
# Two calls of one task are never planned closer than this (a person needs a moment).
MIN_GAP = timedelta(minutes=1)

TIME_ZONES = (
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
    "Africa/Lagos",
    "UTC",
)
FIRST_NAMES = (
    "Noor", "Tomas", "Amara", "Kenji", "Priya", "Lucas", "Ingrid", "Mateo", "Zainab", "Oskar",
    "Leila", "Rafael", "Hana", "Dmitri", "Chloe", "Kwame", "Sofia", "Arjun", "Elif", "Jonas",
    "Mei", "Diego", "Astrid", "Tariq", "Yara", "Felix", "Nadia", "Hugo", "Aiko", "Samir",
    "Greta", "Emeka", "Lina", "Marco", "Ravi", "Selma", "Bruno", "Keiko", "Omar", "Freya",
)  # fmt: skip
LAST_NAMES = (
    "Haddad", "Novak", "Okafor", "Sato", "Iyer", "Moreau", "Lund", "Rossi", "Bello", "Berg",
    "Khan", "Silva", "Kim", "Petrov", "Dubois", "Mensah", "Costa", "Rao", "Yilmaz", "Weber",
)  # fmt: skip


@dataclass(frozen=True)
class Persona:
    """A habit: how often someone plans tasks, when, in which categories, and how they finish them."""

    name: str
    description: str
    # Chance of creating tasks on a given local weekday (Monday first), and how many on such a day.
    active: tuple[float, float, float, float, float, float, float]
    tasks_per_day: tuple[int, int]
    hours: tuple[float, float, float]  # local hour of task creation: low, high, mode (triangular)
    categories: dict[str, float]
    complete_share: float  # of the tasks not deleted
    hours_to_complete: tuple[float, float]  # log-normal: median hours, sigma
    delete_share: float = 0.08
    reopen_share: float = 0.07
    start_share: float = 0.2
    edit_share: float = 0.12
    due_share: float = 0.6
    due_days: tuple[int, int] = (1, 7)
    batch_on_weekend: bool = False  # completions wait for the next Saturday or Sunday
    stops_after_days: int | None = None  # churn: no activity after this many days
    deletes_account: bool = False


PERSONAS: dict[str, Persona] = {
    p.name: p
    for p in (
        Persona(
            "daily finisher",
            "plans two or three tasks every morning and finishes most of them the same day",
            (0.97, 0.97, 0.97, 0.97, 0.95, 0.9, 0.9),
            (1, 3),
            (6.5, 11.0, 7.5),
            {"work": 4, "health": 2, "learning": 2, "home": 1},
            0.93,
            (4.0, 0.7),
            delete_share=0.04,
            reopen_share=0.05,
        ),
        Persona(
            "weekend batcher",
            "collects chores in the evenings during the week and clears them on Saturday and Sunday",
            (0.55, 0.6, 0.55, 0.6, 0.5, 0.3, 0.2),
            (1, 3),
            (18.0, 22.5, 20.0),
            {"home": 4, "errands": 4, "finance": 2, "health": 1},
            0.85,
            (6.0, 0.5),
            batch_on_weekend=True,
        ),
        Persona(
            "procrastinator",
            "plans with due dates, finishes late or never: overdue work piles up",
            (0.6, 0.5, 0.5, 0.45, 0.4, 0.2, 0.3),
            (1, 3),
            (9.0, 23.0, 14.0),
            {"work": 3, "finance": 3, "errands": 2, "learning": 1},
            0.45,
            (70.0, 0.9),
            reopen_share=0.12,
            due_share=0.9,
            due_days=(1, 4),
        ),
        Persona(
            "steady",
            "a few tasks most weekdays, done within a day or two",
            (0.7, 0.7, 0.7, 0.7, 0.6, 0.2, 0.15),
            (1, 2),
            (8.0, 19.0, 10.0),
            {"work": 3, "home": 2, "learning": 1, "errands": 1},
            0.75,
            (20.0, 0.8),
        ),
        Persona(
            "churner",
            "keen for two weeks after signing up, then never comes back",
            (0.85, 0.85, 0.85, 0.85, 0.8, 0.6, 0.6),
            (1, 3),
            (8.0, 22.0, 12.0),
            {"learning": 3, "health": 3, "home": 1},
            0.55,
            (10.0, 0.9),
            stops_after_days=14,
        ),
        Persona(
            "leaver",
            "uses the app for a few weeks, then deletes the account",
            (0.7, 0.7, 0.7, 0.7, 0.6, 0.4, 0.4),
            (1, 2),
            (8.0, 21.0, 12.0),
            {"home": 2, "work": 2, "errands": 1},
            0.7,
            (12.0, 0.8),
            deletes_account=True,
        ),
    )
}
# The first six users are one of each (so a small history still has every habit); the rest are
# drawn with these weights (one leaver only: the demo shows that one account's erasure).
ARCHETYPES = ("daily finisher", "weekend batcher", "procrastinator", "churner", "leaver", "steady")
# Beyond the churners, some of the later users drift away after a few weeks (retention decays).
FADE_SHARE = 0.25
FADE_AFTER_DAYS = (18.0, 35.0)
LATER_WEIGHTS = {"daily finisher": 3, "weekend batcher": 2, "procrastinator": 2, "steady": 3, "churner": 2}


@dataclass(frozen=True)
class HistoryUser:
    key: str
    name: str
    email: str
    persona: str
    timezone: str
    signup_at: datetime
    deleted_at: datetime | None = None
    stops_at: datetime | None = None


@dataclass(frozen=True)
class HistoryCall:
    """One planned API call: when, whose, what (`action`), on which planned task, with which body."""

    at: datetime
    user: str
    action: str
    task: int | None = None
    body: dict[str, Any] | None = None


# action → method, path template, expected status
ACTIONS: dict[str, tuple[str, str, int]] = {
    "create profile": ("POST", "/api/v1/users", 201),
    "create task": ("POST", "/api/v1/tasks", 201),
    "start task": ("PATCH", "/api/v1/tasks/{task_id}", 200),
    "complete task": ("PATCH", "/api/v1/tasks/{task_id}", 200),
    "reopen task": ("PATCH", "/api/v1/tasks/{task_id}", 200),
    "edit task": ("PATCH", "/api/v1/tasks/{task_id}", 200),
    "delete task": ("DELETE", "/api/v1/tasks/{task_id}", 204),
    "read deleted task": ("GET", "/api/v1/tasks/{task_id}", 404),
    "list tasks": ("GET", "/api/v1/tasks", 200),
    "delete account": ("DELETE", "/api/v1/users/me", 204),
}


@dataclass(frozen=True)
class HistoryPlan:
    seed: int
    start: datetime
    end: datetime
    users: tuple[HistoryUser, ...]
    calls: tuple[HistoryCall, ...]  # sorted by time

    @property
    def tasks(self) -> int:
        return sum(1 for c in self.calls if c.action == "create task")


def _local(day: date, hour: float, zone: ZoneInfo) -> datetime:
    """`hour` (fractional) on the local `day`, as an aware UTC datetime."""
    minutes = int(hour * 60)
    local = datetime(day.year, day.month, day.day, minutes // 60 % 24, minutes % 60, tzinfo=zone)
    return local.astimezone(UTC)


def _weekend_after(at: datetime, zone: ZoneInfo, rng: random.Random) -> datetime:
    """A moment on the first Saturday or Sunday (local) after `at`, in the daytime."""
    local = at.astimezone(zone)
    day = local.date()
    while True:
        day += timedelta(days=1)
        if day.weekday() >= 5 and rng.random() < 0.75:
            return _local(day, rng.uniform(9.5, 18.0), zone)
        if day.weekday() == 6:
            return _local(day, rng.uniform(9.5, 18.0), zone)


def _task_body(rng: random.Random, persona: Persona, local_day: date) -> dict[str, Any]:
    categories, weights = zip(*persona.categories.items(), strict=True)
    body: dict[str, Any] = {
        "title": f"{rng.choice(VERBS)} the {rng.choice(OBJECTS)}",
        "priority": rng.choices(("low", "medium", "high"), weights=(3, 5, 2))[0],
        "category": rng.choices(categories, weights=weights)[0],
    }
    if rng.random() < 0.5:
        body["tags"] = rng.sample(TAGS, k=rng.randint(1, 2))
    if rng.random() < persona.due_share:
        body["due_date"] = (local_day + timedelta(days=rng.randint(*persona.due_days))).isoformat()
    return body


def _hours(rng: random.Random, median: float, sigma: float) -> timedelta:
    return timedelta(hours=rng.lognormvariate(math.log(median), sigma))


def _plan_users(rng: random.Random, count: int, days: int, start: datetime) -> list[HistoryUser]:
    names = [(f, ln) for f in FIRST_NAMES for ln in LAST_NAMES]
    rng.shuffle(names)
    users = []
    for index in range(count):
        persona = (
            ARCHETYPES[index]
            if index < len(ARCHETYPES)
            else rng.choices(list(LATER_WEIGHTS), weights=list(LATER_WEIGHTS.values()))[0]
        )
        if persona == "steady" and index < len(ARCHETYPES):
            signup_day = days * 0.55  # a later cohort even in a short history
        elif index < len(ARCHETYPES):
            signup_day = rng.uniform(0, min(3, days * 0.2))
        else:  # more sign-ups early (the launch), a tail over the whole period
            signup_day = rng.triangular(0, days - 2, 0)
        zone_name = rng.choice(TIME_ZONES)
        signup_at = start + timedelta(days=signup_day, hours=rng.uniform(0, 12))
        p = PERSONAS[persona]
        deleted_at = stops_at = None
        if p.deletes_account:
            deleted_at = start + timedelta(days=days * 0.55, hours=rng.uniform(0, 10))
        if p.stops_after_days is not None:
            stops_at = signup_at + timedelta(days=p.stops_after_days)
        elif index >= len(ARCHETYPES) and not p.deletes_account and rng.random() < FADE_SHARE:
            stops_at = signup_at + timedelta(days=rng.uniform(*FADE_AFTER_DAYS))  # drifts away later
        first, last = names[index % len(names)]
        users.append(
            HistoryUser(
                key=f"h{index + 1:02d}",
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}.{index + 1}@example.com",
                persona=persona,
                timezone=zone_name,
                signup_at=signup_at,
                deleted_at=deleted_at,
                stops_at=stops_at,
            )
        )
    return users


def _plan_user_calls(
    rng: random.Random, user: HistoryUser, end: datetime, first_task: int
) -> tuple[list[HistoryCall], int]:
    """Every call of one user, and the next free task number."""
    persona = PERSONAS[user.persona]
    zone = ZoneInfo(user.timezone)
    last = min(t for t in (end, user.deleted_at, user.stops_at) if t is not None)
    profile = {"name": user.name, "timezone": user.timezone}
    calls = [HistoryCall(user.signup_at, user.key, "create profile", body=profile)]
    task = first_task
    day = user.signup_at.astimezone(zone).date()
    while True:
        if _local(day, 0, zone) > last:
            break
        if rng.random() < persona.active[day.weekday()]:
            for _ in range(rng.randint(*persona.tasks_per_day)):
                created = _local(day, rng.triangular(*persona.hours), zone)
                if created <= user.signup_at or created > last:
                    continue
                calls += _plan_task(rng, user, persona, zone, task, created, day, last)
                task += 1
            if rng.random() < 0.2:  # a look at the open list, once on some active days
                seen = _local(day, rng.uniform(persona.hours[0], persona.hours[1]), zone)
                if user.signup_at < seen <= last:
                    calls.append(HistoryCall(seen, user.key, "list tasks"))
        day += timedelta(days=1)
    if user.deleted_at is not None and user.deleted_at <= end:
        calls.append(HistoryCall(user.deleted_at, user.key, "delete account"))
    return calls, task


def _plan_task(
    rng: random.Random,
    user: HistoryUser,
    persona: Persona,
    zone: ZoneInfo,
    task: int,
    created: datetime,
    local_day: date,
    last: datetime,
) -> list[HistoryCall]:
    """One task's life: created, then maybe edited, started, completed (maybe reopened), deleted."""
    calls = [HistoryCall(created, user.key, "create task", task, _task_body(rng, persona, local_day))]
    at = created

    def then(delay: timedelta, action: str, body: dict[str, Any] | None = None) -> bool:
        nonlocal at
        when = at + max(delay, MIN_GAP)
        if when > last:
            return False
        at = when
        calls.append(HistoryCall(at, user.key, action, task, body))
        return True

    if rng.random() < persona.edit_share:
        then(_hours(rng, 1.0, 1.0), "edit task", {"priority": rng.choice(("high", "low"))})
    if rng.random() < persona.delete_share:
        if then(_hours(rng, 20.0, 1.0), "delete task") and rng.random() < 0.25:
            then(_hours(rng, 0.5, 1.0), "read deleted task")
        return calls
    if rng.random() >= persona.complete_share:
        if rng.random() < persona.start_share:  # started, then left: open (and overdue once due)
            then(_hours(rng, 6.0, 1.0), "start task", {"status": "in_progress"})
        return calls
    done_after = _hours(rng, *persona.hours_to_complete)
    if rng.random() < persona.start_share:
        then(done_after * 0.4, "start task", {"status": "in_progress"})
        done_after *= 0.6
    finish = at + done_after
    if persona.batch_on_weekend:
        finish = _weekend_after(created, zone, rng)
    if not then(finish - at, "complete task", {"status": "completed"}):
        return calls
    reopened = rng.random() < persona.reopen_share and then(
        _hours(rng, 3.0, 1.0), "reopen task", {"status": "pending"}
    )
    if reopened and rng.random() < 0.6:
        then(_hours(rng, 10.0, 1.0), "complete task", {"status": "completed"})
    return calls


def plan_history(*, users: int, weeks: int, seed: int, end: datetime) -> HistoryPlan:
    """The planned past: `users` people over `weeks` weeks ending at `end` (an aware datetime)."""
    if users < 1 or weeks < 1:
        raise ValueError(f"a history needs at least one user and one week (got {users}, {weeks})")
    if end.tzinfo is None:
        raise ValueError("end must be an aware datetime")
    end = end.astimezone(UTC)
    rng = random.Random(seed)
    days = weeks * 7
    start = end - timedelta(days=days)
    planned = _plan_users(rng, users, days, start)
    calls: list[HistoryCall] = []
    next_task = 1
    for user in planned:
        user_calls, next_task = _plan_user_calls(rng, user, end, next_task)
        calls += user_calls
    # A stable sort keeps each user's (and each task's) own order for calls planned at one instant.
    calls.sort(key=lambda c: c.at)
    return HistoryPlan(seed, start, end, tuple(planned), tuple(calls))


# -- the replay ---------------------------------------------------------------------------------------


class SimulatedClock:
    """The replay's clock: set to each call's planned time; only forward, never past real time."""

    def __init__(self, start: datetime, real: Callable[[], float] = time.time) -> None:
        self._real = real
        self._now = start.timestamp()
        self._lock = threading.Lock()
        self._check(self._now)

    def _check(self, value: float) -> None:
        if value > self._real():
            raise ValueError(f"simulated time {value} is ahead of the real clock")

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance_to(self, at: datetime) -> None:
        value = at.timestamp()
        with self._lock:
            if value < self._now:
                raise ValueError(f"the simulated clock only moves forward ({value} < {self._now})")
            self._check(value)
            self._now = value


@contextmanager
def simulated_time(sim: SimulatedClock) -> Iterator[None]:
    """The API's timestamps and the emulator's stream records both read `sim` inside the block."""
    with api_clock.use_time_source(sim.now), dynamodb_emulation.record_times(sim.now):
        yield


@dataclass
class ReplayedUser:
    user: HistoryUser
    sub: str
    id_token: str


@dataclass
class ReplayResult:
    plan: HistoryPlan
    users: list[ReplayedUser]
    requests: int = 0
    tasks_created: int = 0
    calls: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def by_persona(self, persona: str) -> list[ReplayedUser]:
        return [u for u in self.users if u.user.persona == persona]

    @property
    def deleted(self) -> list[ReplayedUser]:
        return [u for u in self.users if u.user.deleted_at is not None and u.user.deleted_at <= self.plan.end]


def sign_up_history_users(endpoints: dict[str, Any], plan: HistoryPlan) -> list[ReplayedUser]:
    """Each planned user gets a Cognito account and an ID token (now, with the real clock)."""
    replayed = []
    for user in plan.users:
        password = generate_password()
        create_user(endpoints, user.email, password, name=user.name)
        tokens = sign_in(endpoints, user.email, password)
        replayed.append(ReplayedUser(user, tokens.sub, tokens.id_token))
    return replayed


def _request(call: HistoryCall, token: str, task_ids: dict[int, str]) -> HttpRequest:
    method, template, _ = ACTIONS[call.action]
    path = template.format(task_id=task_ids.get(call.task or 0, "")) if "{" in template else template
    query = urlencode({"status": "pending", "limit": 20}) if call.action == "list tasks" else ""
    headers: list[tuple[str, str]] = [("Authorization", f"Bearer {token}"), ("Host", "127.0.0.1")]
    body = b""
    if call.body is not None:
        body = json.dumps(call.body).encode()
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    return HttpRequest(method, path, query, tuple(headers), body)


def replay_history(
    gateway: LocalGateway,
    endpoints: dict[str, Any],
    plan: HistoryPlan,
    *,
    on_call: Callable[[], None] | None = None,
) -> ReplayResult:
    """Sign the planned users up, then make every planned call at its planned (simulated) time."""
    if gateway.rate_limiter is not None:
        raise RuntimeError("the history replay needs a platform without rate limits (the demo's)")
    started = time.perf_counter()
    users = sign_up_history_users(endpoints, plan)
    tokens = {u.user.key: u.id_token for u in users}
    result = ReplayResult(plan, users)
    task_ids: dict[int, str] = {}
    sim = SimulatedClock(plan.start)
    with simulated_time(sim):
        for call in plan.calls:
            sim.advance_to(call.at)
            if call.task is not None and call.action != "create task" and call.task not in task_ids:
                continue  # its creation failed (already reported as unexpected)
            response = gateway.handle(_request(call, tokens[call.user], task_ids))
            expected = ACTIONS[call.action][2]
            result.requests += 1
            result.calls[call.action] += 1
            result.statuses[response.status] += 1
            if response.status != expected:
                result.unexpected.append(
                    f"history {call.action} ({call.user} at {call.at:%Y-%m-%d %H:%M}): "
                    f"{response.status} {response.body[:200]!r}"
                )
            elif call.action == "create task" and call.task is not None:
                task_ids[call.task] = json.loads(response.body)["task_id"]
                result.tasks_created += 1
            if on_call is not None:
                on_call()
    result.seconds = time.perf_counter() - started
    return result


def describe(result: ReplayResult) -> str:
    """How the history was made, in one sentence for the demo's output and report."""
    plan = result.plan
    weeks = (plan.end - plan.start).days / 7
    return (
        f"{weeks:g} weeks of history ({plan.start:%Y-%m-%d} → {plan.end:%Y-%m-%d}) for {len(plan.users)} "
        f"users, replayed through the API with a simulated clock (seed {plan.seed}): "
        f"{result.requests:,} requests, {result.tasks_created:,} tasks, in {result.seconds:.1f} s"
    )


def personas_table(result: ReplayResult) -> Sequence[tuple[str, int, str]]:
    """(persona, users, habit) rows for the demo's output."""
    counts = Counter(u.user.persona for u in result.users)
    return [(name, counts[name], PERSONAS[name].description) for name in PERSONAS if counts[name]]


def default_end(now: datetime | None = None) -> datetime:
    """Where a history planned now ends: a little before the real time (see `END_MARGIN`)."""
    return (now or datetime.now(UTC)) - END_MARGIN
