"""The one definition of the DynamoDB single table: keys, indexes, stream view, TTL, entity types.

The API repository, the local platform (which creates the table in moto) and the CDK Data stack
all read this module, so the three can never disagree. It imports nothing but the standard
library because the CDC Lambda bundle and the CDK app import it too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

PARTITION_KEY = "PK"
SORT_KEY = "SK"
TTL_ATTRIBUTE = "expiration"  # Powertools idempotency writes its expiry here; DynamoDB TTL reads it.
STREAM_VIEW_TYPE = "NEW_AND_OLD_IMAGES"
ENTITY_TYPE_ATTRIBUTE = "entity_type"
VERSION_ATTRIBUTE = "version"

USER_PREFIX = "USER#"
TASK_PREFIX = "TASK#"
PROFILE_SORT_KEY = "PROFILE"
# A user's insights, computed by the lake and loaded back under the user's partition (ADR 0014).
INSIGHTS_SORT_KEY = "INSIGHTS"


class EntityType(StrEnum):
    """Entity types that live in the table and are allowed into the lake."""

    USER = "USER"
    TASK = "TASK"


# Only these reach the lake; idempotency records (no entity_type) and anything else never do.
LAKE_ENTITY_TYPES: frozenset[str] = frozenset(e.value for e in EntityType)

# Derived data the lake writes back into the table (ADR 0014). Deliberately not an EntityType:
# the CDC allow-list, reconcile and restore all work from EntityType, so these items never loop
# back into the lake and are re-created from gold by the insights loader, never from bronze.
INSIGHTS_ENTITY_TYPE = "INSIGHTS"


@dataclass(frozen=True)
class KeyAttribute:
    """A key attribute and its DynamoDB scalar type (S, N or B)."""

    name: str
    type: str = "S"


@dataclass(frozen=True)
class GlobalIndex:
    """A global secondary index; all four are sparse (only tasks carry their key attributes)."""

    name: str
    partition_key: KeyAttribute
    sort_key: KeyAttribute
    projection: str = "ALL"


@dataclass(frozen=True)
class TableDefinition:
    """Key schema, indexes, stream and TTL of the single table."""

    partition_key: KeyAttribute
    sort_key: KeyAttribute
    global_indexes: tuple[GlobalIndex, ...]
    stream_view_type: str
    ttl_attribute: str

    def index(self, name: str) -> GlobalIndex:
        """Return the index called `name` (KeyError when there is none)."""
        for gsi in self.global_indexes:
            if gsi.name == name:
                return gsi
        raise KeyError(name)

    def attribute_definitions(self) -> list[dict[str, str]]:
        """Every key attribute of the table and its indexes, once each, as boto3 expects."""
        seen: dict[str, str] = {}
        for attr in (self.partition_key, self.sort_key):
            seen[attr.name] = attr.type
        for gsi in self.global_indexes:
            seen[gsi.partition_key.name] = gsi.partition_key.type
            seen[gsi.sort_key.name] = gsi.sort_key.type
        return [{"AttributeName": n, "AttributeType": t} for n, t in seen.items()]

    def create_table_kwargs(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 `create_table`, used by the local platform."""
        return {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": self.partition_key.name, "KeyType": "HASH"},
                {"AttributeName": self.sort_key.name, "KeyType": "RANGE"},
            ],
            "AttributeDefinitions": self.attribute_definitions(),
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": gsi.name,
                    "KeySchema": [
                        {"AttributeName": gsi.partition_key.name, "KeyType": "HASH"},
                        {"AttributeName": gsi.sort_key.name, "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": gsi.projection},
                }
                for gsi in self.global_indexes
            ],
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": self.stream_view_type},
        }


STATUS_INDEX = "status-index"
PRIORITY_INDEX = "priority-index"
CATEGORY_INDEX = "category-index"
DUE_DATE_INDEX = "due-date-index"

TABLE = TableDefinition(
    partition_key=KeyAttribute(PARTITION_KEY),
    sort_key=KeyAttribute(SORT_KEY),
    global_indexes=(
        # GSI1PK = USER#<uid>#STATUS#<status>,    GSI1SK = TASK#<task_id>
        GlobalIndex(STATUS_INDEX, KeyAttribute("GSI1PK"), KeyAttribute("GSI1SK")),
        # GSI2PK = USER#<uid>#PRIORITY#<priority>, GSI2SK = TASK#<task_id>
        GlobalIndex(PRIORITY_INDEX, KeyAttribute("GSI2PK"), KeyAttribute("GSI2SK")),
        # GSI3PK = USER#<uid>#CATEGORY#<category>, GSI3SK = TASK#<task_id>
        GlobalIndex(CATEGORY_INDEX, KeyAttribute("GSI3PK"), KeyAttribute("GSI3SK")),
        # GSI4PK = USER#<uid>#DUE, GSI4SK = <YYYY-MM-DD>#TASK#<task_id>; only tasks with a due date
        GlobalIndex(DUE_DATE_INDEX, KeyAttribute("GSI4PK"), KeyAttribute("GSI4SK")),
    ),
    stream_view_type=STREAM_VIEW_TYPE,
    ttl_attribute=TTL_ATTRIBUTE,
)
