"""End-to-end property: any sequence of API operations, with faults on the way to the lake, ends in a
lake that equals the table.

Random traffic (create, edit, replace, complete, reopen, delete, whole-account deletion and sign-up
again) goes through the local gateway to the real API handler; the real stream poller and CDC
handler carry it to the local Firehose. On the way we inject what production does to data:

- partial Firehose failures (a fraction of every PutRecordBatch call fails),
- a CDC crash mid-batch (half the batch delivered, then the invocation dies and is retried),
- duplicate deliveries (bronze objects delivered twice under other names),
- files arriving out of order (a phase's objects held back until after a later phase was processed).

Then: the pipeline (silver and gold on local Spark) → reconcile says silver equals the table and gold
counts equal counts from the table; `restore` builds an equal table from bronze alone; nothing went
to a dead-letter file. The last test runs the pipeline twice more: the second run changes nothing.
Each Spark run costs seconds, so the example count is small and examples share one platform (the
invariant is over the whole table, so it holds across examples too).
"""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from todo_contracts.lake_layout import (
    ALL_TABLES,
    CDC_FOLDER,
    GOLD_BUSINESS_KPIS,
    PIPELINE_RUNS,
    SILVER_TABLES,
    Layer,
)
from todo_local.cognito import create_user, generate_password, sign_in
from todo_local.ingestion import STREAM_DEAD_LETTER_FILE, Ingestion, wire_ingestion
from todo_local.lake_catalog import LocalLakeCatalog
from todo_local.pipeline import run_pipeline
from todo_local.platform import LocalPlatform
from todo_local.reconcile import read_lake_table, reconcile
from todo_local.restore import compare_tables, restore_table

pytestmark = [pytest.mark.spark, pytest.mark.slow]

USERS_PER_EXAMPLE = 2
# Random examples after the explicit one; each runs the Spark jobs once or twice (time budget). CI
# (HYPOTHESIS_PROFILE=ci, derandomized) replays the same derived examples on every run, so it keeps
# one and the 15-minute budget; a developer's run draws two new ones each time.
EXAMPLES = 1 if os.environ.get("HYPOTHESIS_PROFILE") == "ci" else 2


@dataclass
class World:
    platform: LocalPlatform
    ingestion: Ingestion
    examples: int = 0


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("e2e")
    with LocalPlatform(directory, api_port=0, aws_port=0) as platform:
        # No background polling: the test decides when changes move, so it can hold files back.
        ingestion = wire_ingestion(platform, interval=3600)
        try:
            yield World(platform, ingestion)
        finally:
            ingestion.stop()


# -- the traffic ----------------------------------------------------------------------------------

TITLES = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=40
)
TASK_FIELDS = st.fixed_dictionaries(
    {"title": TITLES.filter(lambda title: title.strip() != "")},
    optional={
        "description": st.text(max_size=60),
        "priority": st.sampled_from(["low", "medium", "high"]),
        "category": st.sampled_from(["work", "home", "errands", "health"]),
        "tags": st.lists(st.sampled_from(["a", "b", "urgent", "later"]), max_size=3, unique=True),
        "due_date": st.dates().map(lambda day: day.isoformat()),
    },
)
USER = st.integers(0, USERS_PER_EXAMPLE - 1)
PICK = st.integers(0, 1_000)  # which of the user's live tasks (modulo their count)
OPERATION = st.one_of(
    st.tuples(st.just("create"), USER, TASK_FIELDS),
    st.tuples(
        st.just("patch"), USER, PICK, TASK_FIELDS.map(lambda body: {k: body[k] for k in list(body)[1:]})
    ),
    st.tuples(st.just("replace"), USER, PICK, TASK_FIELDS),
    st.tuples(st.just("complete"), USER, PICK),
    st.tuples(st.just("reopen"), USER, PICK),
    st.tuples(st.just("delete"), USER, PICK),
    st.tuples(st.just("rename"), USER, st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")),
    st.tuples(st.just("delete_account"), USER),
)


@dataclass
class Faults:
    firehose_failure_fraction: float
    crash_on_invocation: int | None  # the nth CDC invocation of the drain dies after half its batch
    duplicate_objects: bool
    hold_back_first_phase: bool


FAULTS = st.builds(
    Faults,
    firehose_failure_fraction=st.sampled_from([0.0, 0.3, 0.6]),
    crash_on_invocation=st.none() | st.integers(1, 3),
    duplicate_objects=st.booleans(),
    hold_back_first_phase=st.booleans(),
)


@dataclass
class Member:
    client: httpx.Client
    tasks: list[str] = field(default_factory=list)
    has_profile: bool = True


def sign_up(platform: LocalPlatform, example: int, index: int) -> Member:
    endpoints = platform.endpoints
    email = f"e2e-{example}-{index}-{uuid.uuid4().hex[:6]}@example.com"
    password = generate_password()
    create_user(endpoints, email, password)
    token = sign_in(endpoints, email, password).id_token
    client = httpx.Client(
        base_url=endpoints["api_url"] + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    created = client.post("/users", json={"name": f"User {index}"})
    assert created.status_code == 201, created.text
    return Member(client)


def apply(member: Member, operation: tuple[Any, ...]) -> None:
    """One operation as an app would send it; the API must answer exactly as specified."""
    kind = operation[0]
    client = member.client
    if not member.has_profile:
        created = client.post("/users", json={"name": "Back again"})  # a new incarnation of the user
        assert created.status_code == 201, created.text
        member.has_profile = True
    if kind == "create":
        response = client.post("/tasks", json=operation[2])
        assert response.status_code == 201, response.text
        member.tasks.append(response.json()["task_id"])
        return
    if kind == "rename":
        assert client.patch("/users/me", json={"name": operation[2]}).status_code == 200
        return
    if kind == "delete_account":
        assert client.delete("/users/me").status_code == 204
        member.tasks.clear()
        member.has_profile = False
        return
    if not member.tasks:
        return
    task_id = member.tasks[operation[2] % len(member.tasks)]
    path = f"/tasks/{task_id}"
    if kind == "patch":
        response = client.patch(path, json=operation[3] or {"priority": "high"})
    elif kind == "replace":
        response = client.put(path, json=operation[3])
    elif kind == "complete":
        response = client.patch(path, json={"status": "completed"})
    elif kind == "reopen":
        response = client.patch(path, json={"status": "pending"})
    else:
        response = client.delete(path)
        assert response.status_code == 204, response.text
        member.tasks.remove(task_id)
        return
    assert response.status_code == 200, response.text


# -- faults on the way to the lake ----------------------------------------------------------------


class CrashMidBatch:
    """The CDC handler, except that one invocation delivers half its batch and then dies."""

    def __init__(self, real: Any, crash_on: int | None) -> None:
        self.real, self.crash_on, self.calls, self.crashed = real, crash_on, 0, False

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.calls += 1
        records = event.get("Records", [])
        if self.calls == self.crash_on and len(records) > 1:
            self.crashed = True
            self.real({**event, "Records": records[: len(records) // 2]}, context)
            raise RuntimeError("injected crash: the function died after delivering half its batch")
        return self.real(event, context)


def drain_with_faults(world: World, faults: Faults) -> bool:
    """Move every change into bronze through a faulty first pass, then a clean drain."""
    poller, stream = world.ingestion.poller, world.ingestion.cdc_stream
    real = poller.handler
    crash = CrashMidBatch(real, faults.crash_on_invocation)
    poller.handler = crash
    stream.configure_faults(faults.firehose_failure_fraction)
    try:
        poller.drain()
    finally:
        poller.handler = real
        stream.configure_faults()
    world.platform.drain()
    return crash.crashed


def cdc_objects(lake: Path) -> set[Path]:
    return set((lake / Layer.BRONZE.value / CDC_FOLDER).rglob("*.gz"))


def duplicate(objects: set[Path]) -> int:
    """Deliver every other new object a second time, as Firehose does after a retried request."""
    copies = 0
    for path in sorted(objects)[::2]:
        shutil.copyfile(
            path, path.with_name(path.name.replace(".gz", f"-redelivered-{uuid.uuid4().hex[:8]}.gz"))
        )
        copies += 1
    return copies


# When a gold run computed a row (gold_user_insights' `as_of` is its run's instant too).
SNAPSHOT_TIMES = frozenset({"snapshot_at", "as_of"})


def lake_contents(lake: Path) -> dict[str, list[str]]:
    """Every silver and gold table's rows, order-free; run bookkeeping and snapshot times aside
    (a later run is a later snapshot), and of the KPI history only the latest snapshot."""
    contents = {}
    for table in ALL_TABLES:
        if table.layer is Layer.BRONZE or table is PIPELINE_RUNS:
            continue
        rows = read_lake_table(lake, table)
        if table is GOLD_BUSINESS_KPIS:
            latest = max((row["snapshot_at"] for row in rows), default=None)
            rows = [row for row in rows if row["snapshot_at"] == latest]
        contents[table.name] = sorted(
            repr(sorted((k, v) for k, v in row.items() if k not in SNAPSHOT_TIMES)) for row in rows
        )
    return contents


# -- the property ---------------------------------------------------------------------------------


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # A failing example costs minutes to shrink; report it as drawn instead.
    phases=(Phase.explicit, Phase.generate),
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(
    first=st.lists(OPERATION, min_size=3, max_size=25),
    second=st.lists(OPERATION, min_size=1, max_size=25),
    faults=FAULTS,
)
@example(
    # Every fault at once, the heaviest Firehose failure rate and an ancient due date: once found
    # by this test (a 1-record call always failed at 0.6; Spark refused dates before 1582).
    first=[("create", 0, {"title": "a"}), ("complete", 0, 0), ("delete_account", 1), ("reopen", 0, 0)],
    second=[
        ("complete", 1, 0),
        ("rename", 0, "\U0010e880"),
        ("create", 0, {"title": "Õ", "due_date": "1485-03-12", "priority": "high", "tags": []}),
    ],
    faults=Faults(0.6, 3, duplicate_objects=True, hold_back_first_phase=True),
)
def test_the_lake_equals_the_table_whatever_happens_on_the_way(
    world: World, first: list[tuple[Any, ...]], second: list[tuple[Any, ...]], faults: Faults
) -> None:
    world.examples += 1
    platform, lake = world.platform, Path(world.platform.lake_dir)
    members = [sign_up(platform, world.examples, index) for index in range(USERS_PER_EXAMPLE)]
    try:
        # Phase one: traffic, then its changes into bronze (through the faults).
        before = cdc_objects(lake)
        for operation in first:
            apply(members[operation[1]], operation)
        drain_with_faults(world, faults)
        first_objects = cdc_objects(lake) - before
        held: list[Path] = []
        if faults.hold_back_first_phase:
            hold = lake.parent / "held-back" / str(world.examples)
            hold.mkdir(parents=True)
            for path in sorted(first_objects):
                held.append(Path(shutil.move(path, hold / path.name)))
            first_partition = min(first_objects).parent if first_objects else None

        # Phase two: more traffic; the pipeline runs while phase one's files are still on their way.
        for operation in second:
            apply(members[operation[1]], operation)
        drain_with_faults(world, faults)
        if faults.duplicate_objects:
            assert duplicate(cdc_objects(lake) - before) > 0
        run_pipeline(lake, platform.drain, table_name=platform.endpoints["table_name"])

        if held:
            # The late files arrive now, into the newest arrival hour, older versions than silver has.
            newest = max(cdc_objects(lake) - before, key=lambda path: path.parent.as_posix(), default=None)
            target = newest.parent if newest is not None else first_partition
            assert target is not None
            target.mkdir(parents=True, exist_ok=True)
            for parked in held:
                shutil.move(parked, target / parked.name)
            run_pipeline(lake, platform.drain, table_name=platform.endpoints["table_name"])

        # The faults are transient: every record got through in the end, none was given up on.
        dead_letters = Path(platform.directory) / "dlq" / STREAM_DEAD_LETTER_FILE
        assert not dead_letters.exists() or dead_letters.read_text() == ""
        table_name = platform.endpoints["table_name"]
        report = reconcile(table_name, lake)
        assert report.ok, "\n".join(str(difference) for difference in report.differences)

        # Bronze alone rebuilds the table.
        restored = f"{table_name}-restored-{world.examples}"
        restore_table(lake, restored)
        comparison = compare_tables(table_name, restored)
        assert comparison.equal, comparison

        # The lake's objects are what a reader expects: gzip JSON Lines, none of them empty.
        for path in itertools.islice(sorted(cdc_objects(lake)), 5):
            assert gzip.decompress(path.read_bytes()).endswith(b"\n")
    finally:
        for member in members:
            member.client.close()


def test_running_the_pipeline_again_changes_nothing(world: World) -> None:
    """After all the examples above (or on an empty lake if run alone): a run with no new input
    commits nothing to silver (no new snapshot) and gives gold exactly the same rows."""
    lake = Path(world.platform.lake_dir)
    run_pipeline(lake, world.platform.drain, table_name=world.platform.endpoints["table_name"])
    settled = lake_contents(lake)
    catalog = LocalLakeCatalog(lake)
    silver_snapshots = {t.name: catalog.snapshots(t)[-1:] for t in SILVER_TABLES}
    run_pipeline(lake, world.platform.drain, table_name=world.platform.endpoints["table_name"])
    assert lake_contents(lake) == settled
    assert {t.name: catalog.snapshots(t)[-1:] for t in SILVER_TABLES} == silver_snapshots
    assert reconcile(world.platform.endpoints["table_name"], lake).ok
