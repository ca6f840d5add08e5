"""Silver and gold as Apache Iceberg tables: where each lives, its DDL, its writes and its snapshots.

The jobs own the Iceberg DDL (`CREATE TABLE IF NOT EXISTS`, from `lake_layout`): CDK owns the
catalog database, buckets and IAM, because an Iceberg table declared in CloudFormation loses its
metadata pointer on later stack updates (ADR 0009). The same code runs on Glue (catalog
`glue_catalog`, the Glue Data Catalog) and locally (catalog `lake`, a JDBC catalog on SQLite).

Every write here is one Iceberg commit: readers see the table before it or after it, never a
half-written table, and a run that dies before its commit leaves the table as it was.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import ICEBERG_TABLES, LakeTable, Layer
from todo_etl.glue.lake_fs import join

# Format v2 because Athena engine v3 reads and writes v2 only. Copy-on-write for every row-level
# operation: readers (Athena, DuckDB locally) then only ever see plain data files, never delete
# files. Old metadata files are pruned on commit so a table's metadata folder stays bounded.
TABLE_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    "write.delete.mode": "copy-on-write",
    "write.update.mode": "copy-on-write",
    "write.merge.mode": "copy-on-write",
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
}


@dataclass(frozen=True)
class Lake:
    """Where one lake is: its three layer base URIs and the Iceberg catalog and database holding
    silver and gold (`glue_catalog` + the stage's Glue database on AWS, `lake` + `todo_lake` here).

    `bronze_uri` is None for a job that never reaches bronze (gold: `GLUE_JOB_LAYERS`).
    """

    bronze_uri: str | None
    silver_uri: str
    gold_uri: str
    catalog: str
    database: str

    def layer_uri(self, layer: Layer) -> str:
        """The layer's base URI; asking for bronze of a lake given none is a programming error."""
        uri = {Layer.BRONZE: self.bronze_uri, Layer.SILVER: self.silver_uri, Layer.GOLD: self.gold_uri}[layer]
        if uri is None:
            raise LookupError(f"this job's lake has no {layer.value} layer (see GLUE_JOB_LAYERS)")
        return uri

    def location(self, table: LakeTable) -> str:
        """The table's folder: `<layer base>/<folder>` (the SPEC's lake layout, on S3 and locally)."""
        return join(self.layer_uri(table.layer), table.folder)

    def identifier(self, table: LakeTable) -> str:
        """`catalog.database.table`, as Spark SQL names it."""
        return f"{self.catalog}.{self.database}.{table.name}"

    def procedure(self, name: str) -> str:
        """An Iceberg stored procedure of this lake's catalog, e.g. `glue_catalog.system.expire_snapshots`."""
        return f"{self.catalog}.system.{name}"

    def table_argument(self, table: LakeTable) -> str:
        """How Iceberg procedures name a table of this catalog (`database.table`)."""
        return f"{self.database}.{table.name}"


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def create_table_sql(lake: Lake, table: LakeTable) -> str:
    """The `CREATE TABLE IF NOT EXISTS` of one Iceberg table, columns and comments from lake_layout."""
    columns = ",\n  ".join(
        f"`{c.name}` {c.type}" + (f" COMMENT {_sql_string(c.comment)}" if c.comment else "")
        for c in table.columns
    )
    partitioned = f"\nPARTITIONED BY ({', '.join(table.partitioning)})" if table.partitioning else ""
    properties = ", ".join(f"{_sql_string(k)}={_sql_string(v)}" for k, v in TABLE_PROPERTIES.items())
    comment = f"\nCOMMENT {_sql_string(table.description)}" if table.description else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {lake.identifier(table)} (\n  {columns}\n)\nUSING iceberg"
        f"{partitioned}{comment}\nLOCATION {_sql_string(lake.location(table))}\nTBLPROPERTIES ({properties})"
    )


# (session, lake, table) already created by this process: a long-lived process (the local
# platform's pipeline, a test session) asks its catalog once, not on every run.
_created: set[tuple[int, Lake, str]] = set()


def create_tables(spark: SparkSession, lake: Lake, tables: Iterable[LakeTable] = ICEBERG_TABLES) -> None:
    """Create the database (where the catalog lets the job) and every table that does not exist yet."""
    wanted = [t for t in tables if (id(spark), lake, t.name) not in _created]
    if not wanted:
        return
    # On Glue the database exists (CDK owns it) and IF NOT EXISTS only reads it.
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {lake.catalog}.{lake.database}")
    for table in wanted:
        spark.sql(create_table_sql(lake, table))
        _created.add((id(spark), lake, table.name))


def read(spark: SparkSession, lake: Lake, table: LakeTable) -> DataFrame:
    """The table's current snapshot."""
    return spark.table(lake.identifier(table))


# --- writes: each one Iceberg commit --------------------------------------------------------------


def overwrite(lake: Lake, table: LakeTable, rows: DataFrame) -> None:
    """Replace every row of the table with `rows` in one snapshot (readers never see it empty)."""
    rows.writeTo(lake.identifier(table)).overwrite(F.lit(True))


def append(lake: Lake, table: LakeTable, rows: DataFrame) -> None:
    rows.writeTo(lake.identifier(table)).append()


def merge(
    spark: SparkSession, lake: Lake, table: LakeTable, source: DataFrame, on: str, clauses: str
) -> None:
    """`MERGE INTO <table> t USING <source> s ON <on> <clauses>` as one commit.

    Iceberg validates at commit time that no conflicting change landed since the MERGE read the
    table (serializable isolation, the default), so two overlapping runs cannot both apply theirs.
    """
    view = f"merge_source_{table.folder}_{uuid.uuid4().hex[:12]}"
    source.createOrReplaceTempView(view)
    try:
        # Built from lake_layout names and the jobs' own expressions, never from data.
        spark.sql(f"MERGE INTO {lake.identifier(table)} t USING {view} s ON {on} {clauses}")
    finally:
        spark.catalog.dropTempView(view)


# --- snapshots --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotInfo:
    """One Iceberg snapshot's id and summary counts (from metadata: no Spark job)."""

    snapshot_id: int
    operation: str
    committed_at_ms: int
    total_records: int
    added_records: int
    deleted_records: int
    total_data_files: int
    total_delete_files: int


def _summary_int(summary: dict[str, str], name: str) -> int:
    try:
        return int(summary.get(name, "0"))
    except ValueError:
        return 0


def iceberg_table(spark: SparkSession, lake: Lake, table: LakeTable) -> Any:
    """The JVM `org.apache.iceberg.Table`, loaded fresh from the catalog."""
    jvm: Any = spark.sparkContext._jvm
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(
        spark._jsparkSession, lake.identifier(table)
    )


def current_snapshot(spark: SparkSession, lake: Lake, table: LakeTable) -> SnapshotInfo | None:
    """The table's current snapshot, or None while it has none (created, never written)."""
    snapshot = iceberg_table(spark, lake, table).currentSnapshot()
    if snapshot is None:
        return None
    summary = {str(k): str(v) for k, v in dict(snapshot.summary()).items()}
    return SnapshotInfo(
        snapshot_id=int(snapshot.snapshotId()),
        operation=str(snapshot.operation()),
        committed_at_ms=int(snapshot.timestampMillis()),
        total_records=_summary_int(summary, "total-records"),
        added_records=_summary_int(summary, "added-records"),
        deleted_records=_summary_int(summary, "deleted-records"),
        total_data_files=_summary_int(summary, "total-data-files"),
        total_delete_files=_summary_int(summary, "total-delete-files"),
    )


def snapshots_of(
    spark: SparkSession, lake: Lake, tables: Iterable[LakeTable]
) -> dict[str, SnapshotInfo | None]:
    return {t.name: current_snapshot(spark, lake, t) for t in tables}


def rows(snapshot: SnapshotInfo | None) -> int:
    """Rows in a table at a snapshot (0 before its first)."""
    return snapshot.total_records if snapshot else 0
