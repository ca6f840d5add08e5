"""Which item attributes silver types, per entity type, and which are storage-only (ignored)."""

from __future__ import annotations

from pyspark.sql import types as T  # noqa: N812 (the PySpark idiom)

from todo_contracts.lake_layout import SILVER_TASKS, SILVER_USERS
from todo_contracts.table import (
    ENTITY_TYPE_ATTRIBUTE,
    LAKE_ENTITY_TYPES,
    TABLE,
    TTL_ATTRIBUTE,
    EntityType,
)

EXTRA_COLUMN = "extra"

# Keys, index keys, the entity marker and the TTL exist for DynamoDB's sake, not as domain data.
STORAGE_ATTRIBUTES: frozenset[str] = frozenset(
    {TABLE.partition_key.name, TABLE.sort_key.name, ENTITY_TYPE_ATTRIBUTE, TTL_ATTRIBUTE}
    | {g.partition_key.name for g in TABLE.global_indexes}
    | {g.sort_key.name for g in TABLE.global_indexes}
)

TASK_ATTRIBUTES: tuple[str, ...] = tuple(c for c in SILVER_TASKS.column_names() if c != EXTRA_COLUMN)
USER_ATTRIBUTES: tuple[str, ...] = tuple(c for c in SILVER_USERS.column_names() if c != EXTRA_COLUMN)
TYPED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    EntityType.TASK.value: TASK_ATTRIBUTES,
    EntityType.USER.value: USER_ATTRIBUTES,
}
ALLOWED_ENTITY_TYPES: tuple[str, ...] = tuple(sorted(LAKE_ENTITY_TYPES))

# Timestamps and dates arrive as strings (RFC 3339 / YYYY-MM-DD) and are parsed after extraction.
TIMESTAMP_ATTRIBUTES = ("created_at", "updated_at", "completed_at")
DATE_ATTRIBUTES = ("due_date",)
REQUIRED_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    EntityType.TASK.value: ("task_id", "user_id", "created_at", "version"),
    EntityType.USER.value: ("user_id", "created_at", "version"),
}


def image_schema() -> T.StructType:
    """How an image's typed attributes are pulled out of its plain JSON (before date parsing)."""
    names = sorted(set(TASK_ATTRIBUTES) | set(USER_ATTRIBUTES))
    fields = []
    for name in names:
        if name == "version":
            data_type: T.DataType = T.LongType()
        elif name == "tags":
            data_type = T.ArrayType(T.StringType())
        else:
            data_type = T.StringType()
        fields.append(T.StructField(name, data_type))
    return T.StructType(fields)


def known_attributes(entity_type: str) -> frozenset[str]:
    """Attributes that are not drift for `entity_type`: its typed columns plus storage attributes."""
    return frozenset(TYPED_ATTRIBUTES[entity_type]) | STORAGE_ATTRIBUTES
