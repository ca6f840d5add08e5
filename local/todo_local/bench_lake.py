"""The lake's benchmarks: an incremental silver run on a small and a large history, and throughput.

The claim of ADR 0009 is that an incremental run costs what changed, not what ever happened. The
benchmark builds two lakes that differ only in history (10k and 1M bronze events by default),
rebuilds silver on each, then times the same incremental run on both: 1,000 new changes in a new
arrival hour, spread over every user (the worst case for copy-on-write: each change may sit in a
different data file). Runs alternate between the lakes, three each, and the medians are compared,
so a busy spell of the machine weighs on both. The ratio large/small is the number to watch
(goal ≤ 1.5). The full build of the large lake gives silver + gold throughput.

Bronze is written directly as the CDC function would write it (the same line format, checked
against `build_bronze_record` by a test): going through DynamoDB JSON for a million records would
time the generator, not the lake.
"""

from __future__ import annotations

import gzip
import itertools
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from todo_contracts.lake_layout import BRONZE_CDC, CDC_FOLDER, object_key
from todo_contracts.timestamps import rfc3339
from todo_etl.cdc.dynamodb_json import dumps

START = datetime(2026, 1, 1, tzinfo=UTC)
LINES_PER_OBJECT = 20_000
USER_SPACING = timedelta(minutes=10)  # users sign up one after another: history spans days
PRIORITIES = ("low", "medium", "high")
CATEGORIES = ("work", "home", "errands", "health")


def _ddb(value: Any) -> dict[str, Any]:
    """DynamoDB JSON of the plain values a synthetic item holds (str, int, list of str)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, list):
        return {"L": [_ddb(v) for v in value]}
    return {"S": str(value)}


@dataclass
class _Sequence:
    """Stream sequence numbers and event ids, increasing like a shard's."""

    counter: Iterator[int]

    def next(self) -> int:
        return next(self.counter)


def bronze_line(
    event_name: str,
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
    sequence: int,
    at: datetime,
) -> bytes:
    """One bronze CDC line, exactly as `build_bronze_record` writes it for the same change."""
    image = old if event_name == "REMOVE" else new
    if image is None:
        raise ValueError(f"a {event_name} change needs its image")
    values = {
        "event_id": f"{sequence:x}",
        "event_name": event_name,
        "sequence_number": str(sequence),
        "approximate_creation_time": rfc3339(at),
        "pk": image["PK"],
        "sk": image["SK"],
        "entity_type": image["entity_type"],
        "item_version": image["version"],
        "ttl_delete": False,
        "keys": {"PK": image["PK"], "SK": image["SK"]},
        "new_image": new,
        "old_image": old,
        "new_image_ddb": None if new is None else {k: _ddb(v) for k, v in new.items()},
        "ingested_at": rfc3339(at),
    }
    ordered = {name: values[name] for name in BRONZE_CDC.column_names()}
    return (dumps(ordered) + "\n").encode("utf-8")


def profile_item(user_id: str, at: datetime) -> dict[str, Any]:
    """A synthetic user's profile as the table holds it (plain values), created at `at`."""
    return {
        "PK": f"USER#{user_id}",
        "SK": "PROFILE",
        "entity_type": "USER",
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "name": f"User {user_id}",
        "timezone": "UTC",
        "created_at": rfc3339(at),
        "updated_at": rfc3339(at),
        "version": 1,
    }


def _task(user_id: str, n: int, created: datetime) -> dict[str, Any]:
    task_id = f"{user_id}-{n:05d}"
    return {
        "PK": f"USER#{user_id}",
        "SK": f"TASK#{task_id}",
        "entity_type": "TASK",
        "task_id": task_id,
        "user_id": user_id,
        "title": f"Task {n} of {user_id}",
        "description": "",
        "status": "pending",
        "priority": PRIORITIES[n % 3],
        "category": CATEGORIES[n % 4],
        "tags": ["bench"],
        "created_at": rfc3339(created),
        "updated_at": rfc3339(created),
        "version": 1,
    }


Change = tuple[str, dict[str, Any] | None, dict[str, Any] | None, datetime]


@dataclass(frozen=True)
class History:
    """Synthetic users and tasks: every task created and edited, a third completed, some deleted
    (the shape the API writes); `edits` changes tasks that are still open at version 2."""

    users: int
    tasks_per_user: int

    @staticmethod
    def for_events(events: int, tasks_per_user: int = 200) -> History:
        """The history closest to `events` bronze events."""
        per_user = len(list(History(1, tasks_per_user).user_changes(0)))
        return History(max(1, round(events / per_user)), tasks_per_user)

    def user_changes(self, u: int) -> Iterator[Change]:
        user_id = f"user-{u:06d}"
        at = START + u * USER_SPACING
        yield ("INSERT", profile_item(user_id, at), None, at)
        for n in range(self.tasks_per_user):
            created = at + timedelta(seconds=60 + n)
            task = _task(user_id, n, created)
            yield ("INSERT", task, None, created)
            edited_at = created + timedelta(seconds=30)
            edited = {**task, "priority": "high", "updated_at": rfc3339(edited_at), "version": 2}
            yield ("MODIFY", edited, task, edited_at)
            if n % 3 == 0:
                done_at = created + timedelta(hours=1)
                done = {
                    **edited,
                    "status": "completed",
                    "completed_at": rfc3339(done_at),
                    "updated_at": rfc3339(done_at),
                    "version": 3,
                }
                yield ("MODIFY", done, edited, done_at)
            elif n % 7 == 0:
                yield ("REMOVE", None, edited, created + timedelta(hours=2))

    def edits(self, count: int, at: datetime, skip: int = 0) -> Iterator[Change]:
        """`count` edits of open tasks, spread over every user, all at `at`, continuing after the
        first `skip` edits (earlier calls made them): each open task once (version 2 → 3), then
        each again (3 → 4) once every open task has had one, and so on."""
        open_tasks = [n for n in range(self.tasks_per_user) if n % 3 != 0 and n % 7 != 0]
        every = [(u, n) for n in open_tasks for u in range(self.users)]
        for position in range(skip, skip + count):
            rounds, index = divmod(position, len(every))
            u, n = every[index]
            user_id = f"user-{u:06d}"
            created = START + u * USER_SPACING + timedelta(seconds=60 + n)
            edited_at = rfc3339(created + timedelta(seconds=30))
            task = {**_task(user_id, n, created), "updated_at": edited_at, "version": 2 + rounds}
            before = {**task, "priority": "high" if rounds % 2 == 0 else "low"}
            after = {
                **before,
                "priority": "low" if rounds % 2 == 0 else "high",
                "updated_at": rfc3339(at),
                "version": 3 + rounds,
            }
            yield ("MODIFY", after, before, at)

    def changes(self) -> Iterator[Change]:
        for u in range(self.users):
            yield from self.user_changes(u)


def write_bronze(bronze_root: Path, changes: Iterator[Change], sequence: _Sequence) -> int:
    """Write changes as gzip JSON Lines objects under the hour each happened (it arrives within
    the hour, as through Firehose); returns the lines written."""
    buffers: dict[str, list[bytes]] = {}
    files = itertools.count()

    def flush(hour_key: str) -> None:
        lines = buffers.pop(hour_key)
        at = datetime.fromisoformat(hour_key)
        path = bronze_root / object_key(CDC_FOLDER, "bench-cdc", at, f"{next(files):06d}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with gzip.open(path, "wb", compresslevel=1) as out:
            out.writelines(lines)

    count = 0
    for event_name, new, old, at in changes:
        key = at.replace(minute=0, second=0, microsecond=0).isoformat()
        buffers.setdefault(key, []).append(bronze_line(event_name, new, old, sequence.next(), at))
        count += 1
        if len(buffers[key]) >= LINES_PER_OBJECT:
            flush(key)
    for key in list(buffers):
        flush(key)
    return count


@dataclass
class BenchLake:
    """One benchmark lake: built from `history`, then grown by incremental runs of fresh edits."""

    root: Path
    history: History
    events: int = 0
    build_seconds: float = 0.0  # full silver + gold build from bronze
    silver_seconds: float = 0.0  # full silver rebuild alone
    incremental_seconds: list[float] = field(default_factory=list)
    _sequence: _Sequence = field(default_factory=lambda: _Sequence(itertools.count(10**20)))
    _edited: int = 0
    _hour: datetime = START

    def build(self, on_progress: Callable[[str], None]) -> None:
        from todo_etl.glue.jobs import run_gold, run_silver
        from todo_etl.glue.local_session import lake_session

        on_progress(f"writing {self.history.users:,} users' history to bronze")
        self.events = write_bronze(self.root / "bronze", self.history.changes(), self._sequence)
        last = START + self.history.users * USER_SPACING + timedelta(days=1)
        spark, lake = lake_session(self.root)
        on_progress(f"full silver + gold build on {self.events:,} events")
        started = time.perf_counter()
        run_silver(spark, lake, full_rebuild=True, now=last)
        self.silver_seconds = time.perf_counter() - started
        run_gold(spark, lake, as_of=last)
        self.build_seconds = time.perf_counter() - started
        # A first incremental run moves the high water past the history (its lookback re-reads the
        # newest history hours once); the measured runs then read only their own new hour.
        self._hour = last
        self._run(1)

    def measure(self, changes: int) -> float:
        """Time one incremental silver run that adds `changes` edits of tasks not edited yet."""
        seconds = self._run(changes)
        self.incremental_seconds.append(seconds)
        return seconds

    def _run(self, changes: int) -> float:
        from todo_etl.glue.jobs import run_silver
        from todo_etl.glue.local_session import lake_session

        self._hour += timedelta(hours=6)
        edits = self.history.edits(changes, self._hour, skip=self._edited)
        write_bronze(self.root / "bronze", edits, self._sequence)
        self._edited += changes
        spark, lake = lake_session(self.root)
        started = time.perf_counter()
        run_silver(spark, lake, now=self._hour + timedelta(minutes=5))
        return time.perf_counter() - started


def bench_lake(
    root: Path,
    small: int,
    large: int,
    changes: int = 1_000,
    on_progress: Callable[[str], None] | None = None,
    repeat: int = 3,
) -> list[Any]:
    """The incremental run on a small and a large history, and the large build's throughput.

    The two lakes' incremental runs alternate (small, large, small, ...) and each reports its
    median, so that a machine busy with something else for a while weighs on both alike.
    """
    from todo_local.bench import BenchResult

    say = on_progress or (lambda _message: None)
    low = BenchLake(root / f"lake-{small}", History.for_events(small))
    high = BenchLake(root / f"lake-{large}", History.for_events(large))
    for lake in (low, high):
        lake.build(say)
    for i in range(repeat):
        for lake in (low, high):
            say(f"incremental silver run {i + 1}/{repeat}: {changes:,} changes on {lake.events:,} events")
            lake.measure(changes)
    runs = ", ".join(
        f"{lake.events:,}: " + " ".join(f"{t:.1f}" for t in lake.incremental_seconds) for lake in (high, low)
    )
    return [
        BenchResult(
            f"silver incremental (+{changes:,} changes): {high.events:,} vs {low.events:,} events of history",
            "s",
            statistics.median(high.incremental_seconds),
            statistics.median(low.incremental_seconds),
            f"median of {repeat} alternating runs ({runs} s); cost follows the changes when the ratio "
            "stays near 1 (goal ≤ 1.5)",
        ),
        BenchResult(
            f"silver + gold full build, {high.events:,} events: Spark vs the silver share of it",
            "s",
            high.build_seconds,
            high.silver_seconds,
            f"{high.events / high.build_seconds:,.0f} events/s end to end, "
            f"{high.events / high.silver_seconds:,.0f} events/s for silver",
        ),
    ]
