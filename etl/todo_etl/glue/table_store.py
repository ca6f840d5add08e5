"""Read lake tables with their contract schema and replace them as a set after a run.

Outputs are first written under `<layer>/_staging/<run_id>/`, then each staged folder replaces its
table folder. A failed run leaves the previous tables untouched; readers skip `_`-prefixed folders.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_etl.glue.lake_fs import LakeFs, join
from todo_etl.glue.spark_schema import struct_type
from todo_etl.lake_layout import LakeTable

STAGING_FOLDER = "_staging"


class TableStore:
    """The tables of one layer (a base URI), staged and swapped per run."""

    def __init__(self, spark: SparkSession, base_uri: str, run_id: str) -> None:
        self._spark = spark
        self._fs = LakeFs(spark)
        self.base_uri = base_uri
        self._staging_root = join(base_uri, STAGING_FOLDER, run_id)
        self._staged: list[tuple[str, str]] = []

    def location(self, folder: str) -> str:
        return join(self.base_uri, folder)

    def read_folder(self, folder: str, schema: T.StructType) -> DataFrame | None:
        """The folder's Parquet rows with `schema`, or None when nothing has been written there."""
        uri = self.location(folder)
        if not self._fs.has_data_files(uri):
            return None
        return self._spark.read.schema(schema).parquet(uri)

    def read(self, table: LakeTable) -> DataFrame | None:
        return self.read_folder(table.folder, struct_type(table))

    def read_or_empty(self, table: LakeTable) -> DataFrame:
        found = self.read(table)
        return found if found is not None else self._spark.createDataFrame([], struct_type(table))

    def rows(self, table: LakeTable) -> int:
        """Rows the table holds now (what `read(table).count()` gives, without a Spark job)."""
        return self._fs.parquet_rows(self.location(table.folder))

    def staged_rows(self, folder: str) -> int:
        """Rows this run staged for `folder` (read from the Parquet footers, no Spark job)."""
        return self._fs.parquet_rows(join(self._staging_root, folder))

    def stage_folder(self, folder: str, df: DataFrame, schema: T.StructType) -> DataFrame:
        """Write `df` to the staging area and return it read back from there."""
        staged = join(self._staging_root, folder)
        df.write.mode("overwrite").parquet(staged)
        self._staged.append((staged, self.location(folder)))
        return self._spark.read.schema(schema).parquet(staged)

    def stage(self, table: LakeTable, df: DataFrame) -> DataFrame:
        return self.stage_folder(table.folder, df, struct_type(table))

    def commit(self) -> None:
        """Move every staged folder into place, then drop the staging area."""
        for staged, target in self._staged:
            self._fs.replace_dir(staged, target)
        self._staged.clear()
        self._fs.delete(self._staging_root)

    def abandon(self) -> None:
        """Drop whatever this run staged (after a failure)."""
        self._staged.clear()
        self._fs.delete(self._staging_root)
