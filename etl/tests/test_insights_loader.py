"""The insights loader against DynamoDB and S3 on a moto server: conditional, batched, idempotent.

Exports are written here exactly as the gold job's contract says (gzip JSON Lines part files under
`exports/user_insights/run=<id>/`, Spark's `_SUCCESS` beside them, then `latest.json`), and the
handler is the object Lambda invokes, with an EventBridge "Glue Job State Change" event.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from todo_contracts.lake_layout import INSIGHTS_EXPORT_MANIFEST
from todo_contracts.table import TABLE
from todo_etl.insights.export import (
    InsightsExportError,
    LocalExportSource,
    read_export,
)
from todo_etl.insights.writer import InsightsWriter
from todo_local.lambda_context import LambdaContext

BUCKET = "todo-gold-insights-test"
TABLE_NAME = "todo-insights-loader-test"
GOLD_JOB = "todo-insights-test-gold"
EARLY, LATE = "2026-12-03T13:00:00.000Z", "2026-12-03T14:00:00.000Z"


def insights_row(user: str, as_of: str, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "user_id": user,
        "as_of": as_of,
        "total_tasks": 5,
        "open_tasks": 3,
        "completed_tasks": 2,
        "overdue_tasks": 1,
        "completed_last_7_days": 2,
        "completed_last_30_days": 2,
        "completion_rate": 40.0,
        "current_streak_days": 1,
        "longest_streak_days": 2,
        "median_hours_to_complete": 3.25,
        "busiest_weekday": "Tuesday",
        "top_categories": [
            {"category": "work", "created": 3, "completed": 1},
            {"category": "home", "created": 2, "completed": 1},
        ],
    }
    row.update(overrides)
    return {k: v for k, v in row.items() if v is not None}  # Spark leaves nulls out


def gold_event(state: str = "SUCCEEDED", job: str = GOLD_JOB) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "0f6e5a3c-1111-2222-3333-444455556666",
        "detail-type": "Glue Job State Change",
        "source": "aws.glue",
        "account": "123456789012",
        "time": "2026-12-03T14:05:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"jobName": job, "severity": "INFO", "state": state, "jobRunId": "jr_1", "message": "ok"},
    }


class World:
    """The moto table and gold bucket, and helpers to write exports and profiles."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.ddb = boto3.client("dynamodb")
        self.s3.create_bucket(Bucket=BUCKET)
        self.ddb.create_table(**TABLE.create_table_kwargs(TABLE_NAME))

    def profile(self, user: str, created_at: str = "2026-01-01T00:00:00.000Z") -> None:
        self.ddb.put_item(
            TableName=TABLE_NAME,
            Item={
                "PK": {"S": f"USER#{user}"},
                "SK": {"S": "PROFILE"},
                "entity_type": {"S": "USER"},
                "created_at": {"S": created_at},
            },
        )

    def delete_profile(self, user: str) -> None:
        self.ddb.delete_item(TableName=TABLE_NAME, Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": "PROFILE"}})

    def export(
        self, run_id: str, as_of: str, rows: list[dict[str, Any]], *, files: int = 2, users: int | None = None
    ) -> None:
        prefix = f"exports/user_insights/run={run_id}/"
        for index in range(files):
            lines = "".join(json.dumps(row) + "\n" for row in rows[index::files])
            self.s3.put_object(
                Bucket=BUCKET,
                Key=f"{prefix}part-{index:05d}-abc-c000.json.gz",
                Body=gzip.compress(lines.encode()),
            )
        self.s3.put_object(Bucket=BUCKET, Key=f"{prefix}_SUCCESS", Body=b"")
        manifest = {
            "as_of": as_of,
            "run_id": run_id,
            "prefix": prefix,
            "users": len(rows) if users is None else users,
        }
        self.s3.put_object(Bucket=BUCKET, Key=INSIGHTS_EXPORT_MANIFEST, Body=json.dumps(manifest).encode())

    def insights(self, user: str) -> dict[str, Any] | None:
        item = self.ddb.get_item(
            TableName=TABLE_NAME, Key={"PK": {"S": f"USER#{user}"}, "SK": {"S": "INSIGHTS"}}
        )
        return item.get("Item")

    def insights_count(self) -> int:
        items = self.ddb.scan(TableName=TABLE_NAME)["Items"]
        return sum(1 for item in items if item["SK"]["S"] == "INSIGHTS")


@pytest.fixture
def world(moto_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The Lambda function's environment on this test's moto; the loader `handler` builds from it
    on its first invocation is forgotten before and after (each test has its own server state)."""
    from todo_etl.insights.handler import loader_from_environment

    monkeypatch.setenv("GOLD_URI", f"s3://{BUCKET}")
    monkeypatch.setenv("TABLE_NAME", TABLE_NAME)
    monkeypatch.setenv("GOLD_JOB_NAME", GOLD_JOB)
    loader_from_environment.cache_clear()
    yield World()
    loader_from_environment.cache_clear()


def invoke(event: dict[str, Any] | None = None) -> dict[str, Any]:
    from todo_etl.insights.handler import handler

    result: dict[str, Any] = handler(
        event or gold_event(), LambdaContext("todo-insights-test-insights-loader")
    )
    return result


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, float]:
    """The EMF metrics the invocation printed, by name (last value wins)."""
    values: dict[str, float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                value = blob[metric["Name"]]
                values[metric["Name"]] = value[-1] if isinstance(value, list) else value
    return values


def test_a_run_is_loaded_as_one_item_per_user_with_every_field(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.profile("u1")
    world.profile("u2")
    world.export(
        "r1",
        LATE,
        [
            insights_row("u1", LATE),
            insights_row("u2", LATE, median_hours_to_complete=None, busiest_weekday=None, top_categories=[]),
        ],
    )

    result = invoke()

    assert (result["status"], result["written"], result["skipped_stale"], result["skipped_deleted"]) == (
        "loaded",
        2,
        0,
        0,
    )
    item = world.insights("u1")
    assert item is not None
    assert item["entity_type"] == {"S": "INSIGHTS"}
    assert item["as_of"] == {"S": LATE}
    assert item["run_id"] == {"S": "r1"}
    assert item["completion_rate"] == {"N": "40.0"}
    assert item["median_hours_to_complete"] == {"N": "3.25"}
    assert item["top_categories"]["L"][0] == {
        "M": {"category": {"S": "work"}, "created": {"N": "3"}, "completed": {"N": "1"}}
    }
    bare = world.insights("u2")
    assert bare is not None
    assert "median_hours_to_complete" not in bare
    assert "busiest_weekday" not in bare
    metrics = emitted(capsys)
    assert metrics["InsightsWritten"] == 2
    assert metrics["InsightsSkippedStale"] == 0
    assert (
        0
        <= metrics["InsightsLagSeconds"]
        <= (datetime.now(UTC) - datetime(2026, 12, 3, 14, tzinfo=UTC)).total_seconds() + 5
    )


def test_the_same_run_twice_writes_nothing_the_second_time(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.profile("u1")
    world.export("r1", LATE, [insights_row("u1", LATE)])
    invoke()
    before = world.insights("u1")

    again = invoke()

    assert (again["written"], again["skipped_stale"]) == (0, 1)
    assert world.insights("u1") == before


def test_an_older_run_never_overwrites_a_newer_one_but_a_newer_run_does(world: World) -> None:
    world.profile("u1")
    world.export("late", LATE, [insights_row("u1", LATE, total_tasks=9)])
    invoke()

    world.export("early", EARLY, [insights_row("u1", EARLY, total_tasks=1)])
    older = invoke()
    assert (older["written"], older["skipped_stale"]) == (0, 1)
    item = world.insights("u1")
    assert item is not None
    assert item["as_of"]["S"] == LATE
    assert item["total_tasks"]["N"] == "9"

    newest = "2026-12-03T15:00:00.000Z"
    world.export("newest", newest, [insights_row("u1", newest, total_tasks=10)])
    assert invoke()["written"] == 1
    item = world.insights("u1")
    assert item is not None
    assert item["as_of"]["S"] == newest
    assert item["total_tasks"]["N"] == "10"


def test_a_user_deleted_between_export_and_load_gets_no_item_back(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    world.profile("gone")
    world.profile("kept")
    world.export("r1", LATE, [insights_row("gone", LATE), insights_row("kept", LATE)])
    world.delete_profile("gone")

    result = invoke()

    assert (result["written"], result["skipped_deleted"]) == (1, 1)
    assert world.insights("gone") is None
    assert world.insights("kept") is not None
    assert emitted(capsys)["InsightsSkippedDeleted"] == 1


def test_an_account_created_again_after_the_run_gets_nothing_of_the_old_one(world: World) -> None:
    world.profile("reborn", created_at="2026-12-03T13:30:00.000Z")  # deleted, then signed up again
    world.profile("steady")
    world.export("r1", EARLY, [insights_row("reborn", EARLY), insights_row("steady", EARLY)])

    result = invoke()

    assert (result["written"], result["skipped_deleted"]) == (1, 1)
    assert world.insights("reborn") is None


def test_a_partly_cancelled_transaction_drops_the_failed_users_and_retries_the_rest(world: World) -> None:
    for user in ("fresh1", "stale", "deleted", "fresh2"):
        world.profile(user)
    world.export("late", LATE, [insights_row("stale", LATE)])
    invoke()
    world.delete_profile("deleted")
    rows = [insights_row(u, EARLY) for u in ("fresh1", "stale", "deleted", "fresh2")]
    writer = InsightsWriter(boto3.client("dynamodb"), TABLE_NAME, sleep=lambda _s: None)

    outcome = writer.write(rows, "early")

    assert (outcome.written, outcome.skipped_stale, outcome.skipped_deleted) == (2, 1, 1)
    assert outcome.transactions == 2
    assert outcome.retries == 1
    assert world.insights("fresh1") is not None
    assert world.insights("fresh2") is not None
    stale = world.insights("stale")
    assert stale is not None
    assert stale["as_of"]["S"] == LATE
    assert world.insights("deleted") is None


class ConflictsOnce:
    """A real client whose first transaction is cancelled as DynamoDB does on a write conflict."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            reasons = [{"Code": "None"}] * (len(kwargs["TransactItems"]) - 1) + [
                {"Code": "TransactionConflict"}
            ]
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": reasons,
                },
                "TransactWriteItems",
            )
        return self.client.transact_write_items(**kwargs)


def test_a_write_conflict_is_retried_and_every_user_written(world: World) -> None:
    world.profile("a")
    world.profile("b")
    client = ConflictsOnce(boto3.client("dynamodb"))
    outcome = InsightsWriter(client, TABLE_NAME, sleep=lambda _s: None).write(
        [insights_row("a", LATE), insights_row("b", LATE)], "r1"
    )
    assert (outcome.written, outcome.retries, client.calls) == (2, 1, 2)


def test_many_users_are_written_in_several_transactions(world: World) -> None:
    users = [f"user-{n:03d}" for n in range(23)]
    for user in users:
        world.profile(user)
    world.delete_profile("user-007")
    rows = [insights_row(u, LATE) for u in users]
    outcome = InsightsWriter(boto3.client("dynamodb"), TABLE_NAME, users_per_transaction=5).write(rows, "r1")
    assert (outcome.written, outcome.skipped_deleted) == (22, 1)
    assert outcome.transactions == 6  # five chunks, one of them sent twice (after user-007 dropped out)
    assert world.insights_count() == 22


def test_the_default_chunk_is_a_full_transaction_of_100_actions_then_the_rest(world: World) -> None:
    users = [f"u{n:03d}" for n in range(55)]
    for user in users:
        world.profile(user)
    world.export("r1", LATE, [insights_row(u, LATE) for u in users], files=3)
    assert invoke()["written"] == 55
    assert world.insights_count() == 55


def _bad_manifest(world: World) -> None:
    world.s3.put_object(Bucket=BUCKET, Key=INSIGHTS_EXPORT_MANIFEST, Body=b"{not json")


def _foreign_prefix(world: World) -> None:
    world.export("r1", LATE, [insights_row("u1", LATE)])
    manifest = {"as_of": LATE, "run_id": "r1", "prefix": "exports/", "users": 1}
    world.s3.put_object(Bucket=BUCKET, Key=INSIGHTS_EXPORT_MANIFEST, Body=json.dumps(manifest).encode())


def _bad_as_of(world: World) -> None:
    world.export("r1", "2026-12-03 14:00", [insights_row("u1", "2026-12-03 14:00")])


def _missing_part_file(world: World) -> None:
    world.export("r1", LATE, [insights_row("u1", LATE)], users=2)


def _bad_row(world: World) -> None:
    world.export("r1", LATE, [insights_row("u1", LATE), insights_row("u2", LATE, completion_rate=140.0)])


def _row_of_another_run(world: World) -> None:
    world.export("r1", LATE, [insights_row("u1", LATE), insights_row("u2", EARLY)])


def _not_gzip(world: World) -> None:
    world.export("r1", LATE, [insights_row("u1", LATE)], files=1)
    world.s3.put_object(
        Bucket=BUCKET, Key="exports/user_insights/run=r1/part-00000-abc-c000.json.gz", Body=b"{}"
    )


@pytest.mark.parametrize(
    ("break_export", "message"),
    [
        (lambda world: None, "latest.json: cannot be read"),
        (_bad_manifest, "not JSON"),
        (_foreign_prefix, "prefix must be exports/user_insights/run=r1/"),
        (_bad_as_of, "as_of must look like"),
        (_missing_part_file, "the manifest says 2 users, the part files hold 1"),
        (_bad_row, "completion_rate must be a number from 0 to 100"),
        (_row_of_another_run, "differs from the manifest"),
        (_not_gzip, "not gzip-compressed"),
    ],
    ids=[
        "no manifest",
        "manifest not json",
        "foreign prefix",
        "bad as_of",
        "missing part file",
        "bad row",
        "row of another run",
        "not gzip",
    ],
)
def test_a_bad_export_is_refused_whole_with_a_clear_error_and_a_metric(
    world: World, capsys: pytest.CaptureFixture[str], break_export: Any, message: str
) -> None:
    world.profile("u1")
    world.profile("u2")
    break_export(world)

    with pytest.raises(InsightsExportError, match=message):
        invoke()

    assert world.insights_count() == 0  # validated whole before the first write
    assert emitted(capsys)["InsightsLoadErrors"] == 1


@pytest.mark.parametrize(
    "event",
    [gold_event(state="FAILED"), gold_event(job="todo-insights-test-silver")],
    ids=["failed run", "another job"],
)
def test_events_other_than_a_gold_success_are_ignored(world: World, event: dict[str, Any]) -> None:
    world.profile("u1")
    world.export("r1", LATE, [insights_row("u1", LATE)])
    assert invoke(event)["status"] == "ignored"
    assert world.insights_count() == 0


def test_an_event_that_is_no_glue_state_change_is_an_error(world: World) -> None:
    from todo_etl.insights.handler import InvalidEventError

    with pytest.raises(InvalidEventError, match="Glue Job State Change"):
        invoke({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}})


def test_without_its_settings_the_loader_refuses_to_start(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GOLD_URI")
    with pytest.raises(RuntimeError, match="GOLD_URI is not set"):
        invoke()


def test_the_lambda_loader_is_built_once_from_its_environment(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from todo_etl.insights.handler import loader_from_environment

    first = loader_from_environment()
    assert (first.gold_uri, first.writer.table_name, first.gold_job_name) == (
        f"s3://{BUCKET}",
        TABLE_NAME,
        GOLD_JOB,
    )
    monkeypatch.setenv("TABLE_NAME", "another")  # a Lambda container's environment never changes
    assert loader_from_environment() is first


def test_an_explicitly_built_loader_needs_no_environment(
    world: World, moto_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from todo_etl.aws_clients import ExplicitClients
    from todo_etl.insights.handler import LoaderSettings, build_loader, lambda_handler

    world.profile("u1")
    world.export("r1", LATE, [insights_row("u1", LATE)])
    for key in ("GOLD_URI", "TABLE_NAME", "GOLD_JOB_NAME", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key)
    clients = ExplicitClients(
        region="us-east-1", endpoint_url=moto_env, access_key_id="testing", secret_access_key="testing"
    )
    loader = build_loader(LoaderSettings(f"s3://{BUCKET}", TABLE_NAME, GOLD_JOB), clients)

    result = lambda_handler(loader)(gold_event(), LambdaContext("todo-insights-test-insights-loader"))

    assert (result["status"], result["written"]) == ("loaded", 1)
    assert world.insights("u1") is not None
    assert emitted(capsys)["InsightsWritten"] == 1  # the same invocation path as `handler`


def test_the_local_gold_folder_reads_like_the_bucket(tmp_path: Path) -> None:
    run = tmp_path / "exports" / "user_insights" / "run=r9"
    run.mkdir(parents=True)
    (run / "part-00000-x-c000.json.gz").write_bytes(
        gzip.compress((json.dumps(insights_row("u1", LATE)) + "\n").encode())
    )
    (run / ".part-00000-x-c000.json.gz.crc").write_bytes(b"crc")
    (run / "_SUCCESS").write_bytes(b"")
    (tmp_path / INSIGHTS_EXPORT_MANIFEST).write_text(
        json.dumps({"as_of": LATE, "run_id": "r9", "prefix": "exports/user_insights/run=r9/", "users": 1})
    )
    manifest, rows = read_export(LocalExportSource(tmp_path))
    assert manifest.run_id == "r9"
    assert [row["user_id"] for row in rows] == ["u1"]
    assert rows[0]["median_hours_to_complete"] is not None
