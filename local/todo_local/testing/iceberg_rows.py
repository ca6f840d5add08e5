"""Write rows into a local lake's Iceberg tables without Spark (pyiceberg), for tests and fixtures.

The tables are created the way the jobs create them (same catalog, namespace, location, lake_layout
columns and types), so the local Athena engine, reconcile and the report read them exactly as
they read what Spark wrote; each `append` is one snapshot with one data file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from todo_contracts.lake_layout import LOCAL_DATABASE, LakeTable
from todo_local.lake_catalog import LocalLakeCatalog

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "bigint": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    # Spark's TIMESTAMP is an instant: Iceberg `timestamptz`, as the jobs write it.
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "array<string>": pa.list_(pa.string()),
    # gold_user_insights.top_categories
    "array<struct<category:string,created:bigint,completed:bigint>>": pa.list_(
        pa.struct([("category", pa.string()), ("created", pa.int64()), ("completed", pa.int64())])
    ),
}


def arrow_schema(table: LakeTable, columns: Sequence[str] | None = None) -> pa.Schema:
    """The table's columns (or the named subset, in table order) as an Arrow schema."""
    wanted = set(columns) if columns is not None else None
    return pa.schema(
        [(c.name, ARROW_TYPES[c.type]) for c in table.columns if wanted is None or c.name in wanted]
    )


def create_table(
    lake_dir: Path,
    table: LakeTable,
    columns: Sequence[str] | None = None,
    partition_by: Sequence[str] = (),
) -> Any:
    """Create the Iceberg table (or load it when it exists) at its lake folder."""
    catalog = LocalLakeCatalog(lake_dir).writable()
    identifier = (LOCAL_DATABASE, table.name)
    if catalog.table_exists(identifier):
        return catalog.load_table(identifier)
    created = catalog.create_table(
        identifier,
        schema=arrow_schema(table, columns),
        location=str(Path(lake_dir).resolve() / table.relative_path),
        properties={"format-version": "2", "write.delete.mode": "copy-on-write"},
    )
    if partition_by:
        with created.update_spec() as spec:
            for name in partition_by:
                spec.add_identity(name)
        created = catalog.load_table(identifier)
    return created


def append_rows(
    lake_dir: Path,
    table: LakeTable,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    partition_by: Sequence[str] = (),
) -> int:
    """Append `rows` (dicts keyed by column name) as one snapshot; returns its snapshot id."""
    iceberg = create_table(lake_dir, table, columns, partition_by)
    schema = arrow_schema(table, columns)
    data = pa.table({f.name: [row.get(f.name) for row in rows] for f in schema}, schema=schema)
    iceberg.append(data)
    snapshot = iceberg.refresh().current_snapshot()
    assert snapshot is not None
    return int(snapshot.snapshot_id)
