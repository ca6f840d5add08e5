"""The local lake's Iceberg tables read without Spark: pointers, snapshots, data files and rows.

Spark's Iceberg JdbcCatalog keeps one row per table (`iceberg_tables`: catalog, namespace, name,
current metadata location) in `{lake_dir}/_catalog/iceberg_catalog.db`. Reading that row with the
standard library's sqlite3 costs a fraction of a millisecond for every table at once, so the local
Athena engine can tell on each query whether any table moved; pyiceberg then loads the metadata
of the tables that did. Writers other than Spark (test fixtures) use pyiceberg's SqlCatalog on the
same file, so both sides see one catalog (ADR 0009).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from todo_contracts.lake_layout import LOCAL_CATALOG, LOCAL_CATALOG_FILE, LOCAL_DATABASE, LakeTable

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table


class LakeCatalogError(RuntimeError):
    """A table or snapshot the caller asked for is not there, or cannot be read faithfully."""


class HistoryTooShortError(LakeCatalogError):
    """A time travel reaches back before a table's first snapshot (Athena refuses it too): on a lake
    younger than a day, "as of yesterday" has nothing to read yet."""


@dataclass(frozen=True)
class SnapshotRow:
    """One snapshot of a table, as the demo and `todo-insights lake snapshots` show it."""

    table: str
    snapshot_id: int
    parent_id: int | None
    committed_at: datetime
    operation: str
    added_records: int
    deleted_records: int
    total_records: int
    total_data_files: int


def _local_path(location: str) -> str:
    """A data file path DuckDB and pyarrow open (`file:/x` and `file:///x` are plain `/x` here)."""
    if location.startswith("file://"):
        return location[len("file://") :]
    if location.startswith("file:"):
        return location[len("file:") :]
    return location


class LocalLakeCatalog:
    """The Iceberg catalog of one local lake folder."""

    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = Path(lake_dir).resolve()
        self.database_file = self.lake_dir / LOCAL_CATALOG_FILE

    # --- pointers ---------------------------------------------------------------------------------

    def pointers(self) -> dict[str, str]:
        """Table name -> current metadata location, for every table of the lake's database."""
        if not self.database_file.is_file():
            return {}
        connection = sqlite3.connect(f"file:{self.database_file}?mode=ro", uri=True, timeout=30)
        try:
            rows = connection.execute(
                "SELECT table_name, metadata_location FROM iceberg_tables "
                "WHERE catalog_name = ? AND table_namespace = ? AND metadata_location IS NOT NULL",
                (LOCAL_CATALOG, LOCAL_DATABASE),
            ).fetchall()
        except sqlite3.OperationalError:
            return {}  # the catalog file exists but no table was ever created in it
        finally:
            connection.close()
        return {str(name): str(location) for name, location in rows}

    def load(self, table: LakeTable, pointer: str | None = None) -> Table | None:
        """The table at its current (or the given) metadata location, None when it does not exist."""
        from pyiceberg.table import StaticTable

        location = pointer or self.pointers().get(table.name)
        return StaticTable.from_metadata(location) if location else None

    # --- snapshots and files ------------------------------------------------------------------------

    def snapshots(self, table: LakeTable) -> list[SnapshotRow]:
        """Every snapshot the table still has, oldest first."""
        loaded = self.load(table)
        if loaded is None:
            return []
        out = []
        for snapshot in sorted(loaded.snapshots(), key=lambda s: (s.timestamp_ms, s.snapshot_id)):
            summary = snapshot.summary
            values: dict[str, Any] = dict(summary.additional_properties) if summary else {}
            out.append(
                SnapshotRow(
                    table=table.name,
                    snapshot_id=snapshot.snapshot_id,
                    parent_id=snapshot.parent_snapshot_id,
                    committed_at=datetime.fromtimestamp(snapshot.timestamp_ms / 1000, UTC),
                    operation=str(summary.operation.value) if summary else "",
                    added_records=int(values.get("added-records", 0)),
                    deleted_records=int(values.get("deleted-records", 0)),
                    total_records=int(values.get("total-records", 0)),
                    total_data_files=int(values.get("total-data-files", 0)),
                )
            )
        return out

    def data_files(self, loaded: Table, snapshot_id: int | None = None) -> list[str]:
        """The data files of a snapshot (default: current), refusing any with delete files.

        Every table here is copy-on-write, so a snapshot is exactly its data files; a delete file
        would mean rows that plain Parquet readers would wrongly return, so it is an error.
        """
        snapshot = (
            loaded.snapshot_by_id(snapshot_id) if snapshot_id is not None else loaded.current_snapshot()
        )
        if snapshot is None:
            if snapshot_id is not None:
                raise LakeCatalogError(f"no snapshot {snapshot_id}")
            return []
        files = []
        for task in loaded.scan(snapshot_id=snapshot.snapshot_id).plan_files():
            if task.delete_files:
                raise LakeCatalogError(
                    f"snapshot {snapshot.snapshot_id} has delete files (merge-on-read); the local engine "
                    "reads copy-on-write snapshots only. Rewrite the table (pipeline maintain) first."
                )
            files.append(_local_path(task.file.file_path))
        return sorted(files)

    def snapshot_as_of(self, loaded: Table, at: datetime) -> int:
        """The id of the snapshot that was current at `at` (Athena's FOR TIMESTAMP AS OF)."""
        found = loaded.snapshot_as_of_timestamp(int(at.timestamp() * 1000))
        if found is None:
            raise HistoryTooShortError(
                f"no snapshot at or before {at.isoformat()}: the table's history starts later"
            )
        return int(found.snapshot_id)

    def rows(self, table: LakeTable, snapshot_id: int | None = None) -> list[dict[str, Any]]:
        """Every row of the table at a snapshot (default: current); [] before its first commit."""
        loaded = self.load(table)
        if loaded is None or loaded.current_snapshot() is None:
            return []
        scan = loaded.scan(snapshot_id=snapshot_id) if snapshot_id is not None else loaded.scan()
        rows: list[dict[str, Any]] = scan.to_arrow().to_pylist()
        return rows

    # --- writing (test fixtures and tools that are not Spark) --------------------------------------

    def writable(self) -> SqlCatalog:
        """pyiceberg's SqlCatalog over the same SQLite file (created with the namespace if new)."""
        from pyiceberg.catalog.sql import SqlCatalog

        self.database_file.parent.mkdir(parents=True, exist_ok=True)
        catalog = SqlCatalog(
            LOCAL_CATALOG, uri=f"sqlite:///{self.database_file}", warehouse=f"file://{self.lake_dir}"
        )
        catalog.create_namespace_if_not_exists(LOCAL_DATABASE)
        return catalog


def snapshot_table(catalog: LocalLakeCatalog, tables: Iterable[LakeTable]) -> list[SnapshotRow]:
    """The current snapshot of each table that has one (for the demo's snapshot overview)."""
    out = []
    for table in tables:
        history = catalog.snapshots(table)
        if history:
            out.append(history[-1])
    return out
