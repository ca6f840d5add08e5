"""Spark schemas for lake tables, mapped from the Athena types written in `lake_layout`."""

from __future__ import annotations

import re

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark idiom)
from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import LakeTable

_PRIMITIVES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "varchar": T.StringType(),
    "bigint": T.LongType(),
    "int": T.IntegerType(),
    "integer": T.IntegerType(),
    "smallint": T.ShortType(),
    "tinyint": T.ByteType(),
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    "binary": T.BinaryType(),
}
_DECIMAL = re.compile(r"decimal\((\d+),\s*(\d+)\)")


def _split_top_level(text: str) -> list[str]:
    """Split `a, map<b,c>` on the commas that are not inside angle brackets or parentheses."""
    parts: list[str] = []
    depth = 0
    current = ""
    for char in text:
        if char in "<(":
            depth += 1
        elif char in ">)":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def athena_to_spark(athena_type: str) -> T.DataType:
    """The Spark type for an Athena (Hive DDL) type such as `bigint` or `array<string>`."""
    text = athena_type.strip().lower()
    if text in _PRIMITIVES:
        return _PRIMITIVES[text]
    decimal = _DECIMAL.fullmatch(text)
    if decimal:
        return T.DecimalType(int(decimal.group(1)), int(decimal.group(2)))
    if text.startswith("array<") and text.endswith(">"):
        return T.ArrayType(athena_to_spark(text[len("array<") : -1]))
    if text.startswith("map<") and text.endswith(">"):
        key, value = _split_top_level(text[len("map<") : -1])
        return T.MapType(athena_to_spark(key), athena_to_spark(value))
    if text.startswith("struct<") and text.endswith(">"):
        fields = []
        for part in _split_top_level(text[len("struct<") : -1]):
            name, _, field_type = part.partition(":")
            fields.append(T.StructField(name.strip(), athena_to_spark(field_type)))
        return T.StructType(fields)
    raise ValueError(f"unsupported Athena type: {athena_type!r}")


def struct_type(table: LakeTable, *, include_partitions: bool = False) -> T.StructType:
    """The Spark schema of a lake table, columns in contract order."""
    columns = table.columns + (table.partition_keys if include_partitions else ())
    return T.StructType([T.StructField(c.name, athena_to_spark(c.type), nullable=True) for c in columns])


def conform(df: DataFrame, table: LakeTable, keep: tuple[str, ...] = ()) -> DataFrame:
    """Exactly the table's columns, in order, cast to the contract types (missing ones as null),
    then the columns named in `keep` unchanged (working columns a writer still needs)."""
    present = set(df.columns)
    columns: list[SparkColumn] = []
    for field in struct_type(table).fields:
        source = F.col(field.name) if field.name in present else F.lit(None)
        columns.append(source.cast(field.dataType).alias(field.name))
    return df.select(*columns, *(F.col(name) for name in keep))


def empty_frame(spark: SparkSession, table: LakeTable) -> DataFrame:
    """A DataFrame with the table's schema and no rows."""
    return spark.createDataFrame([], struct_type(table))
