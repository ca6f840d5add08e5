"""`todo-insights bench`: our overheads as ratios against baselines, measured in one run.

Each benchmark times our code and a baseline doing the least that job needs, on the same
machine in the same run, and reports the ratio: absolute numbers on a shared 2-core box say
little, ratios say whether a change made our part heavier. Nothing here is asserted by tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from todo_contracts.timestamps import rfc3339
from todo_local.environment import scoped_environment
from todo_local.platform import EMULATOR_KEY_ID, EMULATOR_SECRET_KEY

# The least a real API Lambda imports: FastAPI, Mangum and a DynamoDB client built at import (any app
# that stores anything has one).
BASELINE_APP = """
import boto3
from fastapi import FastAPI
from mangum import Mangum
dynamodb = boto3.client("dynamodb")
app = FastAPI()
@app.get("/api/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
handler = Mangum(app, lifespan="off")
"""


@dataclass(frozen=True)
class BenchResult:
    """One benchmark: ours against the baseline, in the same unit."""

    name: str
    unit: str
    ours: float
    baseline: float
    note: str = ""

    @property
    def ratio(self) -> float:
        return self.ours / self.baseline if self.baseline else float("inf")


def median_time(fn: Callable[[], Any], repeat: int) -> float:
    """Median wall time of `fn` in milliseconds."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def alternating_medians(fns: list[Callable[[], Any]], repeat: int) -> list[float]:
    """Median wall time in milliseconds of each of `fns`, called in turn `repeat` times: on a shared
    machine, load that comes and goes then weighs on every side alike, not on whichever ran last."""
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, times in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return [statistics.median(times) for times in samples]


def _fresh_interpreter(statement: str) -> Callable[[], None]:
    """Run `statement` in a fresh interpreter, with the settings of a developer stage."""
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    env.setdefault("TABLE_NAME", "bench")
    env.setdefault("STAGE", "local")

    def run() -> None:
        subprocess.run([sys.executable, "-c", statement], check=True, env=env, capture_output=True)  # noqa: S603

    return run


def rest_event(
    path: str, claims: dict[str, str] | None = None, method: str = "GET", body: Any = None
) -> dict[str, Any]:
    """A minimal REST (v1) proxy event, as API Gateway sends it; `body` is sent as JSON."""
    context: dict[str, Any] = {
        "requestId": "bench",
        "stage": "local",
        "path": path,
        "httpMethod": method,
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims:
        context["authorizer"] = {"claims": claims}
    headers = {"Host": "localhost", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "requestContext": context,
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


class _Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:bench"
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def first_request_statement(app_source: str) -> str:
    """`app_source` (which defines `handler`), then one GET /api/health through it: a cold start as a
    user feels it, the import and the first invocation in a fresh interpreter."""
    event = json.dumps(rest_event("/api/health"))
    return (
        f"{app_source}\n"
        "import json\n"
        "class _Context:\n"
        "    function_name = 'bench'\n"
        "    function_version = '$LATEST'\n"
        "    memory_limit_in_mb = 512\n"
        "    invoked_function_arn = 'arn:aws:lambda:us-east-1:000000000000:function:bench'\n"
        "    aws_request_id = 'bench'\n"
        "    log_group_name = '/aws/lambda/bench'\n"
        "    log_stream_name = 'bench'\n"
        "    def get_remaining_time_in_millis(self):\n"
        "        return 30000\n"
        f"response = handler(json.loads({event!r}), _Context())\n"
        "assert response['statusCode'] == 200, response\n"
    )


OURS_APP = "from todo_api.handler import handler"


def bench_cold_start(repeat: int = 7) -> BenchResult:
    ours, baseline = alternating_medians(
        [_fresh_interpreter(first_request_statement(app)) for app in (OURS_APP, BASELINE_APP)], repeat
    )
    return BenchResult(
        "api cold start (import + first request)",
        "ms",
        ours,
        baseline,
        "vs FastAPI + Mangum + a boto3 DynamoDB client, fresh interpreters",
    )


@contextmanager
def _lambda_event_loop() -> Iterator[None]:
    """A current event loop for the block, as Lambda's main thread has one: Mangum runs each
    request on `asyncio.get_event_loop()`, which fails where an earlier `asyncio.run` (a test, a
    tool) left the thread without one."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def bench_handler_latency(requests: int = 300) -> BenchResult:
    """Per-request latency of the real handler on /api/health vs the bare baseline handler."""
    import contextlib
    import io

    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    sink = io.StringIO()
    # The access log line goes to stdout, as on Lambda: Powertools' Logger binds sys.stdout when the
    # handler module is imported, so the import happens inside the redirect too.
    # The baseline builds a DynamoDB client at import, which needs a region (none is called).
    region: dict[str, str | None] = {"AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    import boto3

    from todo_api import runtime
    from todo_api.settings import Settings

    # The handler with its runtime passed in, as the platform runs it (no DynamoDB call is made).
    api = runtime.ApiRuntime.build(
        Settings(table_name="bench-health"), session=boto3.session.Session(region_name="us-east-1")
    )
    with scoped_environment(region), contextlib.redirect_stdout(sink), _lambda_event_loop(), runtime.use(api):
        from todo_api.handler import handler as ours_handler

        namespace: dict[str, Any] = {}
        exec(compile(BASELINE_APP, "baseline_app", "exec"), namespace)  # noqa: S102 - our own constant
        base_handler = namespace["handler"]
        event, context = rest_event("/api/health"), _Context()
        for name, answer in (
            ("ours", ours_handler(event, context)),
            ("baseline", base_handler(event, context)),
        ):
            if answer["statusCode"] != 200:  # warm both before timing, and never time an error
                raise RuntimeError(
                    f"{name} GET /api/health answered {answer['statusCode']}: {answer['body']}"
                )
        ours = median_time(lambda: ours_handler(event, context), requests)
        baseline = median_time(lambda: base_handler(event, context), requests)
    return BenchResult("api handler latency (GET /api/health)", "ms", ours, baseline, "median per request")


# -- API: a task's GET and PATCH through the handler vs the same DynamoDB calls as raw boto3 -------


class _RawTaskCalls:
    """The DynamoDB calls of a task's GET and PATCH as raw boto3, on one task; tracks its version."""

    def __init__(self, client: Any, table: str, key: dict[str, Any], version: int) -> None:
        self.client, self.table, self.key, self.version = client, table, key, version
        self.pk = next(iter(key))  # the partition key's name comes first in `key`
        self._titles = iter(range(10**9))

    def title(self) -> str:
        return f"title {next(self._titles)}"

    def get(self) -> None:
        self.client.get_item(TableName=self.table, Key=self.key, ConsistentRead=True)

    def update(self) -> None:
        """PATCH as one conditional UpdateItem (the least a raw implementation needs)."""
        self.client.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET #title = :title, #updated = :now, #version = :next",
            ConditionExpression="attribute_exists(#pk) AND #version = :expected",
            ExpressionAttributeNames={
                "#pk": self.pk,
                "#title": "title",
                "#updated": "updated_at",
                "#version": "version",
            },
            ExpressionAttributeValues={
                ":title": {"S": self.title()},
                ":now": {"S": rfc3339(datetime.now(UTC))},
                ":expected": {"N": str(self.version)},
                ":next": {"N": str(self.version + 1)},
            },
            ReturnValues="ALL_NEW",
        )
        self.version += 1

    def update_as_api(self) -> None:
        """The UpdateItem the API sends for a PATCH of the title without If-Match, written out by
        hand: the same request, so the same work for the emulator. Besides existence it checks
        that the title really changes (a PATCH that changes nothing writes nothing) and that the
        stored task keeps "completed_at exactly when completed"."""
        self.client.update_item(
            TableName=self.table,
            Key=self.key,
            UpdateExpression="SET #title = :title, #updated = :now, #version = #version + :one",
            ConditionExpression="attribute_exists(#pk)"
            " AND ((#status = :completed AND attribute_exists(#completed_at))"
            " OR (#status <> :completed AND attribute_not_exists(#completed_at)))"
            " AND (attribute_not_exists(#title) OR #title <> :title)",
            ExpressionAttributeNames={
                "#pk": self.pk,
                "#title": "title",
                "#status": "status",
                "#completed_at": "completed_at",
                "#updated": "updated_at",
                "#version": "version",
            },
            ExpressionAttributeValues={
                ":title": {"S": self.title()},
                ":completed": {"S": "completed"},
                ":now": {"S": rfc3339(datetime.now(UTC))},
                ":one": {"N": "1"},
            },
            ReturnValues="ALL_OLD",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        self.version += 1


def bench_task_latency(requests: int = 200) -> list[BenchResult]:
    """GET and PATCH of one task through the real handler (in process, DynamoDB on a moto server)
    against what raw boto3 needs for the same operation on the
    same emulator: a consistent GetItem; an UpdateItem conditioned on the task existing at its version."""
    import contextlib
    import io
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    from todo_contracts.table import PARTITION_KEY, SORT_KEY, TABLE

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's per-request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    table = "bench-tasks"
    endpoint = f"http://{host}:{port}"
    session = boto3.session.Session(
        aws_access_key_id=EMULATOR_KEY_ID, aws_secret_access_key=EMULATOR_SECRET_KEY, region_name="us-east-1"
    )
    try:
        from todo_api import runtime
        from todo_api.settings import Settings

        # The handler as the platform runs it: its settings and client passed in (ADR 0015).
        api = runtime.ApiRuntime.build(Settings(table_name=table), session=session, endpoint_url=endpoint)
        # stdout: the access log lines
        with contextlib.redirect_stdout(io.StringIO()), _lambda_event_loop(), runtime.use(api):
            from todo_api.handler import handler

            client = session.client("dynamodb", endpoint_url=endpoint)
            client.create_table(**TABLE.create_table_kwargs(table))

            claims = {"sub": "bench-user-0001", "email": "bench@example.com"}
            context = _Context()

            def call(method: str, path: str, body: Any = None, expected: int = 200) -> dict[str, Any]:
                response: dict[str, Any] = handler(rest_event(path, claims, method, body), context)
                if response["statusCode"] != expected:
                    raise RuntimeError(f"{method} {path}: {response['statusCode']} {response.get('body')}")
                return response

            call("POST", "/api/v1/users", {"name": "Bench"}, expected=201)
            task = json.loads(call("POST", "/api/v1/tasks", {"title": "bench"}, expected=201)["body"])
            path = f"/api/v1/tasks/{task['task_id']}"
            key = {PARTITION_KEY: {"S": f"USER#{claims['sub']}"}, SORT_KEY: {"S": f"TASK#{task['task_id']}"}}
            raw = _RawTaskCalls(client, table, key, int(task["version"]))

            def ours_patch() -> None:
                call("PATCH", path, {"title": raw.title()})
                raw.version += 1

            for _ in range(5):  # warm both: clients, connections, FastAPI's caches
                call("GET", path)
                ours_patch()
                raw.get()
                raw.update()
                raw.update_as_api()
            ours_get, base_get = alternating_medians([lambda: call("GET", path), raw.get], requests)
            ours_patch_ms, base_patch, minimal = alternating_medians(
                [ours_patch, raw.update_as_api, raw.update], requests
            )
            client.close()
    finally:
        server.stop()
    note = f"median per request over {requests}, DynamoDB on a moto server"
    return [
        BenchResult("api GET task: handler vs raw boto3 GetItem", "ms", ours_get, base_get, note),
        BenchResult(
            "api PATCH task: handler vs raw boto3, the same UpdateItem",
            "ms",
            ours_patch_ms,
            base_patch,
            note + f"; against the least UpdateItem (exists and version only): {ours_patch_ms / minimal:.2f}x"
            f" ({minimal:.2f} ms)",
        ),
    ]


# -- CDC: stream records → bronze ------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Synthetic stream traffic: `users` users with `tasks` tasks each, every task edited, a share
    completed and a share deleted; the shape the API writes, as DynamoDB Streams delivers it."""

    users: int = 50
    tasks: int = 40

    def events(self) -> list[dict[str, Any]]:
        from boto3.dynamodb.types import TypeSerializer

        from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, TABLE, EntityType
        from todo_local.testing.stream_records import stream_record

        serializer = TypeSerializer()
        pk, sk = TABLE.partition_key.name, TABLE.sort_key.name
        records: list[dict[str, Any]] = []
        start = 1_767_225_600  # 2026-01-01T00:00:00Z: fixed, so runs are comparable
        sequence = 10**20

        def image(values: dict[str, Any]) -> dict[str, Any]:
            return {k: serializer.serialize(v) for k, v in values.items() if v is not None}

        def add(name: str, new: dict[str, Any] | None, old: dict[str, Any] | None, at: int) -> None:
            nonlocal sequence
            sequence += 1
            records.append(
                stream_record(
                    name,
                    image(new) if new is not None else None,
                    image(old) if old is not None else None,
                    str(sequence),
                    approximate_creation=at,
                    size_bytes=400,
                    eventID=f"{sequence:x}",
                )
            )

        def stamp(at: int) -> str:
            return rfc3339(datetime.fromtimestamp(at, UTC))

        for u in range(self.users):
            user_id = f"user-{u:05d}"
            at = start + u * 600
            profile = {
                pk: f"USER#{user_id}",
                sk: "PROFILE",
                ENTITY_TYPE_ATTRIBUTE: EntityType.USER.value,
                "user_id": user_id,
                "email": f"{user_id}@example.com",
                "name": f"User {u}",
                "timezone": "UTC",
                "created_at": stamp(at),
                "updated_at": stamp(at),
                "version": 1,
            }
            add("INSERT", profile, None, at)
            for t in range(self.tasks):
                task_id = f"{u:05d}{t:05d}"
                created = at + 60 + t * 5
                task = {
                    pk: f"USER#{user_id}",
                    sk: f"TASK#{task_id}",
                    ENTITY_TYPE_ATTRIBUTE: EntityType.TASK.value,
                    "task_id": task_id,
                    "user_id": user_id,
                    "title": f"Task {t} of {user_id}",
                    "description": "",
                    "status": "pending",
                    "priority": ("low", "medium", "high")[t % 3],
                    "category": ("work", "home", "errands", "health")[t % 4],
                    "tags": ["bench"],
                    "created_at": stamp(created),
                    "updated_at": stamp(created),
                    "version": 1,
                }
                add("INSERT", task, None, created)
                edited = {**task, "priority": "high", "updated_at": stamp(created + 30), "version": 2}
                add("MODIFY", edited, task, created + 30)
                if t % 3 == 0:
                    done = {
                        **edited,
                        "status": "completed",
                        "completed_at": stamp(created + 3600),
                        "updated_at": stamp(created + 3600),
                        "version": 3,
                    }
                    add("MODIFY", done, edited, created + 3600)
                elif t % 7 == 0:
                    add("REMOVE", None, edited, created + 7200)
        return records


def _batches(records: list[dict[str, Any]], size: int = 100) -> list[dict[str, Any]]:
    return [{"Records": records[i : i + size]} for i in range(0, len(records), size)]


def _plain_json(value: Any) -> Any:
    """What a plain loop does with what `TypeDeserializer` returns and `json` cannot write."""
    from decimal import Decimal

    from boto3.dynamodb.types import Binary

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    if isinstance(value, Binary):
        import base64

        return base64.b64encode(value.value).decode()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _baseline_line(record: dict[str, Any], deserializer: Any, ingested_at: str) -> bytes:
    """One stream record as its bronze row, the plain way: `TypeDeserializer`, a dict, `json`."""
    from datetime import UTC, datetime

    from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, PARTITION_KEY, SORT_KEY, VERSION_ATTRIBUTE

    stream = record["dynamodb"]
    new, old = stream.get("NewImage"), stream.get("OldImage")
    keys = {k: deserializer.deserialize(v) for k, v in stream["Keys"].items()}
    new_image = {k: deserializer.deserialize(v) for k, v in new.items()} if new else None
    old_image = {k: deserializer.deserialize(v) for k, v in old.items()} if old else None
    current = (old_image if record["eventName"] == "REMOVE" else new_image) or {}
    created = datetime.fromtimestamp(float(stream["ApproximateCreationDateTime"]), UTC)
    row = {
        "event_id": record["eventID"],
        "event_name": record["eventName"],
        "sequence_number": stream["SequenceNumber"],
        "approximate_creation_time": rfc3339(created),
        "pk": keys.get(PARTITION_KEY),
        "sk": keys.get(SORT_KEY),
        "entity_type": current.get(ENTITY_TYPE_ATTRIBUTE),
        "item_version": current.get(VERSION_ATTRIBUTE),
        "ttl_delete": "userIdentity" in record,
        "keys": keys,
        "new_image": new_image,
        "old_image": old_image,
        "new_image_ddb": new,
        "ingested_at": ingested_at,
    }
    text = json.dumps(row, default=_plain_json, ensure_ascii=False, separators=(",", ":"))
    return (text + "\n").encode()


def bench_cdc(lake_dir: Path, records: list[dict[str, Any]]) -> BenchResult:
    """Stream batches through the real CDC handler into a local delivery stream (over HTTP, as
    Firehose), against the least the same job needs: a plain loop that deserializes the keys and
    both images with boto3's `TypeDeserializer`, writes the same bronze columns with `json`, and
    puts each stream batch in one call to an identical delivery stream on the same endpoint."""
    import contextlib
    import io
    from datetime import UTC, datetime

    import boto3
    from boto3.dynamodb.types import TypeDeserializer

    from todo_contracts.lake_layout import CDC_FOLDER
    from todo_etl.aws_clients import ExplicitClients
    from todo_etl.cdc import handler as cdc
    from todo_local.delivery_stream import LocalDeliveryStream
    from todo_local.firehose_endpoint import FirehoseEndpoint

    batches = _batches(records)
    buffer = 64 * 1024 * 1024  # one object per run for both: the objects' count is not what is timed
    ours_stream = LocalDeliveryStream("bench-cdc", lake_dir, CDC_FOLDER, buffer_bytes=buffer)
    base_stream = LocalDeliveryStream("bench-base", lake_dir.parent / "baseline-lake", CDC_FOLDER, buffer)
    endpoint = FirehoseEndpoint({s.name: s for s in (ours_stream, base_stream)})
    endpoint.start()
    deserializer = TypeDeserializer()
    firehose = boto3.client(
        "firehose",
        endpoint_url=endpoint.url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - the local endpoint checks no credentials
    )

    def baseline() -> None:
        for batch in batches:
            ingested_at = rfc3339(datetime.now(UTC))
            lines = [{"Data": _baseline_line(r, deserializer, ingested_at)} for r in batch["Records"]]
            firehose.put_record_batch(DeliveryStreamName=base_stream.name, Records=lines)
        base_stream.flush()

    # Its clients built before the clock starts, as a warm container has them (the loop's too).
    function = cdc.build_function(
        cdc.CdcSettings(delivery_stream=ours_stream.name),  # nothing here is too large for Firehose
        ExplicitClients(
            region="us-east-1",
            service_endpoints={"firehose": endpoint.url},
            access_key_id="bench",
            secret_access_key="bench",  # noqa: S106 - the local endpoint checks no credentials
        ),
    )
    handler = cdc.lambda_handler(function)
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # EMF/log lines
            started = time.perf_counter()
            for batch in batches:
                response = handler(batch, _Context())  # type: ignore[arg-type]
                if response.get("batchItemFailures"):
                    raise RuntimeError(f"the CDC handler reported failures: {response}")
            ours_stream.flush()
            ours = time.perf_counter() - started
        started = time.perf_counter()
        baseline()
        base = time.perf_counter() - started
    finally:
        function.close()
        firehose.close()
        endpoint.stop()
    per_k = 1000 / len(records)
    return BenchResult(
        "cdc: stream records → bronze",
        "ms/1k records",
        ours * 1000 * per_k,
        base * 1000 * per_k,
        f"{len(records):,} records, {len(records) / ours:,.0f} records/s"
        f" (baseline {len(records) / base:,.0f} records/s)",
    )


# -- Spark silver vs DuckDB on the same bronze -----------------------------------------------------

DUCKDB_SILVER = """
COPY (
    WITH events AS (
        SELECT DISTINCT ON (event_id) *
        FROM read_json({bronze}, format = 'newline_delimited', compression = 'gzip')
        WHERE entity_type = 'TASK'
    ),
    latest AS (
        SELECT DISTINCT ON (pk, sk) *
        FROM events
        ORDER BY pk, sk, item_version DESC, sequence_number DESC
    )
    SELECT new_image.task_id, new_image.user_id, new_image.title, new_image.status,
           new_image.priority, new_image.category, new_image.tags,
           CAST(new_image.created_at AS TIMESTAMP) AS created_at,
           CAST(new_image.completed_at AS TIMESTAMP) AS completed_at,
           CAST(new_image.version AS BIGINT) AS version
    FROM latest WHERE event_name <> 'REMOVE'
) TO {target} (FORMAT parquet)
"""


def bench_silver(lake_dir: Path, events: int) -> BenchResult:
    """The silver job (full rebuild, every table it writes) on local Spark against DuckDB doing the
    core of it (dedupe, latest version per item, deletes applied, one Parquet table)."""
    import duckdb

    from todo_contracts.lake_layout import CDC_FOLDER, Layer
    from todo_etl.glue.jobs import run_silver
    from todo_etl.glue.local_session import lake_session

    spark, lake = lake_session(lake_dir)
    run_silver(spark, lake, full_rebuild=True)  # warm up: JIT, caches
    started = time.perf_counter()
    run_silver(spark, lake, full_rebuild=True)
    ours = time.perf_counter() - started

    bronze = lake_dir / Layer.BRONZE.value / CDC_FOLDER
    target = lake_dir.parent / "duckdb-silver-tasks.parquet"
    sql = DUCKDB_SILVER.format(bronze=f"'{bronze}/**/*.gz'", target=f"'{target}'")
    with duckdb.connect() as connection:
        connection.execute(sql)  # warm up
        started = time.perf_counter()
        connection.execute(sql)
        base = time.perf_counter() - started
    return BenchResult(
        "silver job: Spark vs DuckDB",
        "s",
        ours,
        base,
        f"{events:,} events, {events / ours:,.0f} events/s on Spark (full rebuild, all silver tables)",
    )


# -- query latency ----------------------------------------------------------------------------------


def bench_queries(lake_dir: Path, repeat: int = 5) -> BenchResult:
    """Every named query through the local Athena engine (sqlglot translation, catalog views) against
    DuckDB running the already translated SQL on the same views."""
    from todo_etl.queries import load_queries
    from todo_local.athena_engine import AthenaEngine, QueryError

    with AthenaEngine(lake_dir) as engine:
        engine.refresh()
        queries, unanswerable = [], []
        for query in load_queries():
            try:
                engine.query(query.sql)
            except QueryError as error:
                if not error.history_too_short:
                    raise
                unanswerable.append(query.name)  # "as of yesterday" on a lake a minute old
            else:
                queries.append(query)
        translated = [engine.translate(q.sql) for q in queries]
        connection = engine._connection  # the same views: only our layer differs

        def ours_for(sql: str) -> float:
            return median_time(lambda: engine.query(sql), repeat)

        def baseline_for(sql: str) -> float:
            return median_time(lambda: connection.execute(sql).fetchall(), repeat)

        ours = statistics.median(ours_for(q.sql) for q in queries)
        base = statistics.median(baseline_for(sql) for sql in translated)
    return BenchResult(
        "named queries: local Athena engine vs DuckDB",
        "ms",
        ours,
        base,
        f"median over {len(queries)} queries"
        + (f" (not {', '.join(unanswerable)}: the lake has no day-old snapshot)" if unanswerable else ""),
    )


def run_benchmarks(
    directory: Path | None = None,
    workload: Workload | None = None,
    on_progress: Callable[[str], None] | None = None,
    lake_sizes: tuple[int, int] | None = None,
) -> list[BenchResult]:
    """Every benchmark in order; the CDC run writes the bronze the Spark and query runs read.
    `lake_sizes` (small, large events) adds the lake's incremental-cost benchmark."""
    from todo_etl.glue.jobs import run_gold
    from todo_etl.glue.local_session import lake_session
    from todo_local.bench_lake import bench_lake

    say = on_progress or (lambda _message: None)
    records = (workload or Workload()).events()
    lake = (directory or scratch_dir()) / "lake"
    results = []
    say("api cold-start import (fresh interpreters)")
    results.append(bench_cold_start())
    say("api handler latency")
    results.append(bench_handler_latency())
    say("api task GET and PATCH against raw boto3 (moto server)")
    results += bench_task_latency()
    say("cdc handler → local Firehose → bronze")
    results.append(bench_cdc(lake, records))
    say("silver job on Spark, then DuckDB")
    results.append(bench_silver(lake, len(records)))
    say("gold job, then named queries")
    run_gold(*lake_session(lake))
    results.append(bench_queries(lake))
    if lake_sizes is not None:
        results += bench_lake(lake.parent / "history", *lake_sizes, on_progress=say)
    return results


def print_results(results: list[BenchResult]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="todo-insights bench (ratios: ours / baseline, lower is better)")
    for column in ("benchmark", "ours", "baseline", "ratio", "note"):
        table.add_column(column, justify="right" if column in {"ours", "baseline", "ratio"} else "left")
    for r in results:
        table.add_row(
            r.name, f"{r.ours:,.2f} {r.unit}", f"{r.baseline:,.2f} {r.unit}", f"{r.ratio:.2f}x", r.note
        )
    Console().print(table)


def write_results(results: list[BenchResult], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "bench.json"
    payload = [
        {
            "name": r.name,
            "unit": r.unit,
            "ours": r.ours,
            "baseline": r.baseline,
            "ratio": r.ratio,
            "note": r.note,
        }
        for r in results
    ]
    path.write_text(json.dumps(payload, indent=2))
    return path


def scratch_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="todo-bench-"))
