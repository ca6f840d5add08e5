"""`todo-insights reconcile --stage STAGE`: the same reconciliation, against a deployed stage.

The table side is a paginated, parallel Scan (an operator's tool run by hand or after an incident,
never a request path). The lake side is Athena SQL (`SELECT ... FROM silver_tasks`) in the stage's
workgroup and database, behind the `LakeReader` interface: the queries name catalog tables only,
so they read the same whether a table is Parquet or Iceberg. Both sides then go through the
comparisons of `todo_local.reconcile`, exactly as the local command does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from todo_contracts import lake_layout
from todo_contracts.lake_layout import LakeTable
from todo_contracts.table import ENTITY_TYPE_ATTRIBUTE, EntityType
from todo_local.reconcile import ReconcileReport, compare_gold, compare_state

DEFAULT_SEGMENTS = 4
SCAN_PAGE_ITEMS = 1000
ATHENA_POLL_SECONDS = 1.0
ATHENA_TIMEOUT_SECONDS = 600.0
_INTEGER_TYPES = frozenset({"tinyint", "smallint", "integer", "int", "bigint"})
_FLOAT_TYPES = frozenset({"double", "float", "real", "decimal"})


@dataclass(frozen=True)
class StageResources:
    """Where a deployed stage keeps what reconcile reads (names as the CDK stacks give them;
    `infra/tests` checks them against the synthesized templates)."""

    stage: str

    @property
    def table_name(self) -> str:
        return f"todo-insights-{self.stage}-table"

    @property
    def workgroup(self) -> str:
        return f"todo-insights-{self.stage}-analysts"

    @property
    def database(self) -> str:
        return f"todo_insights_{self.stage}"


class LakeReader(Protocol):
    """Every row of one lake table, as plain Python values."""

    def rows(self, table: LakeTable) -> list[dict[str, Any]]: ...


class AthenaQueryError(RuntimeError):
    """An Athena query that did not succeed."""


# --- the table: parallel Scan ----------------------------------------------------------------------


def scan_segment(
    client: Any, table_name: str, segment: int, total: int, page_items: int
) -> list[dict[str, Any]]:
    """Every domain item of one Scan segment, following LastEvaluatedKey to the end."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    domain = {e.value for e in EntityType}
    request: dict[str, Any] = {
        "TableName": table_name,
        "Segment": segment,
        "TotalSegments": total,
        "Limit": page_items,
    }
    items: list[dict[str, Any]] = []
    while True:
        page = client.scan(**request)
        for raw in page.get("Items", []):
            item = {name: deserializer.deserialize(value) for name, value in raw.items()}
            if item.get(ENTITY_TYPE_ATTRIBUTE) in domain:
                items.append(item)
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan_table(
    table_name: str,
    *,
    segments: int = DEFAULT_SEGMENTS,
    page_items: int = SCAN_PAGE_ITEMS,
    client: Any = None,
) -> list[dict[str, Any]]:
    """Every domain item of the table, read by `segments` parallel Scan workers."""
    if segments < 1:
        raise ValueError("segments must be at least 1")
    if client is None:
        import boto3
        from botocore.config import Config

        client = boto3.client("dynamodb", config=Config(retries={"mode": "adaptive", "max_attempts": 10}))
    with ThreadPoolExecutor(max_workers=segments, thread_name_prefix="scan") as pool:
        parts = pool.map(lambda s: scan_segment(client, table_name, s, segments, page_items), range(segments))
        return [item for part in parts for item in part]


# --- the lake: Athena --------------------------------------------------------------------------------


def select_statement(table: LakeTable) -> str:
    """`SELECT` of every column; arrays and maps as JSON text, so they come back unambiguous."""
    columns = []
    for column in table.columns:
        if column.type.startswith(("array<", "map<", "struct<")):
            columns.append(f'CAST("{column.name}" AS JSON) AS "{column.name}"')
        else:
            columns.append(f'"{column.name}"')
    # Names come from lake_layout, never from input.
    return f'SELECT {", ".join(columns)} FROM "{table.name}"'  # noqa: S608


def _typed(value: str | None, athena_type: str) -> Any:
    if value is None:
        return None
    kind = athena_type.lower().split("(", 1)[0]
    if kind in _INTEGER_TYPES:
        return int(value)
    if kind in _FLOAT_TYPES:
        return float(Decimal(value))
    if kind == "boolean":
        return value.lower() == "true"
    if kind == "json":
        return json.loads(value)
    return value  # varchar, date and timestamp text: the comparison canonicalises those


def rows_from_result_pages(pages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows of `GetQueryResults` pages: typed by the result metadata, Athena's header row dropped,
    NULL (a datum without VarCharValue) kept as None."""
    rows: list[dict[str, Any]] = []
    columns: list[tuple[str, str]] | None = None
    first = True
    for page in pages:
        result = page["ResultSet"]
        if columns is None:
            info = result["ResultSetMetadata"]["ColumnInfo"]
            columns = [(c["Name"], c["Type"]) for c in info]
        for row in result.get("Rows", []):
            values = [datum.get("VarCharValue") for datum in row.get("Data", [])]
            if first and values == [name for name, _ in columns]:
                first = False
                continue  # a SELECT's first row repeats the column names
            first = False
            rows.append({name: _typed(v, kind) for (name, kind), v in zip(columns, values, strict=True)})
    return rows


class AthenaLakeReader:
    """Reads lake tables with Athena SQL in a stage's workgroup (whose settings fix the output)."""

    def __init__(
        self,
        workgroup: str,
        database: str,
        client: Any = None,
        *,
        poll_seconds: float = ATHENA_POLL_SECONDS,
        timeout_seconds: float = ATHENA_TIMEOUT_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if client is None:
            import boto3

            client = boto3.client("athena")
        self.client = client
        self.workgroup = workgroup
        self.database = database
        self._poll = poll_seconds
        self._timeout = timeout_seconds
        self._sleep = sleep

    def query(self, sql: str) -> list[dict[str, Any]]:
        execution = self.client.start_query_execution(
            QueryString=sql, WorkGroup=self.workgroup, QueryExecutionContext={"Database": self.database}
        )["QueryExecutionId"]
        waited = 0.0
        while True:
            status = self.client.get_query_execution(QueryExecutionId=execution)["QueryExecution"]["Status"]
            state = status["State"]
            if state == "SUCCEEDED":
                break
            if state in {"FAILED", "CANCELLED"}:
                raise AthenaQueryError(f"{state}: {status.get('StateChangeReason', '')} ({sql})")
            if waited >= self._timeout:
                self.client.stop_query_execution(QueryExecutionId=execution)
                raise AthenaQueryError(f"no result after {self._timeout:.0f} s ({sql})")
            self._sleep(self._poll)
            waited += self._poll
        pages = self.client.get_paginator("get_query_results").paginate(QueryExecutionId=execution)
        return rows_from_result_pages(pages)

    def rows(self, table: LakeTable) -> list[dict[str, Any]]:
        return self.query(select_statement(table))


# --- together ----------------------------------------------------------------------------------------


def reconcile_with(items: Sequence[Mapping[str, Any]], lake: LakeReader) -> ReconcileReport:
    """The table's items against silver and gold as `lake` reads them."""
    report = compare_state(items, lake.rows(lake_layout.SILVER_TASKS), lake.rows(lake_layout.SILVER_USERS))
    compare_gold(
        items,
        lake.rows(lake_layout.GOLD_USER_ENGAGEMENT),
        lake.rows(lake_layout.GOLD_BUSINESS_KPIS),
        report,
    )
    return report


def reconcile_stage(
    resources: StageResources, *, segments: int = DEFAULT_SEGMENTS, lake: LakeReader | None = None
) -> ReconcileReport:
    """Reconcile a deployed stage with the credentials and region of the environment."""
    items = scan_table(resources.table_name, segments=segments)
    reader = lake or AthenaLakeReader(resources.workgroup, resources.database)
    return reconcile_with(items, reader)
