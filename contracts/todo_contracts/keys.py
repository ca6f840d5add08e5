"""Key builders for the single table: item keys and the four sparse task-index keys.

Standard library and `table_definition` only: the insights loader Lambda bundles this module too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from todo_contracts.table import (
    INSIGHTS_SORT_KEY,
    PARTITION_KEY,
    PROFILE_SORT_KEY,
    SORT_KEY,
    TASK_PREFIX,
    USER_PREFIX,
)

# A marker item that exists while an account deletion is in progress. It has no entity_type, so it
# never reaches the lake, and task creation refuses to run while it exists.
DELETION_MARKER_SORT_KEY = "DELETING"
# Idempotency records (Powertools) live under `IDEMPOTENCY#<n>` partitions, their hashed key as SK.
IDEMPOTENCY_PARTITION_PREFIX = "IDEMPOTENCY#"

STATUS_PK, STATUS_SK = "GSI1PK", "GSI1SK"
PRIORITY_PK, PRIORITY_SK = "GSI2PK", "GSI2SK"
CATEGORY_PK, CATEGORY_SK = "GSI3PK", "GSI3SK"
DUE_PK, DUE_SK = "GSI4PK", "GSI4SK"
INDEX_KEY_ATTRIBUTES = (
    STATUS_PK,
    STATUS_SK,
    PRIORITY_PK,
    PRIORITY_SK,
    CATEGORY_PK,
    CATEGORY_SK,
    DUE_PK,
    DUE_SK,
)
# "~" sorts after every character a task key contains, so "<date>#~" bounds every key of that date.
DUE_UPPER_SUFFIX = "#~"


def user_pk(user_id: str) -> str:
    """Partition key of a user's item collection (profile and tasks)."""
    return f"{USER_PREFIX}{user_id}"


def task_sk(task_id: str) -> str:
    """Sort key of a task within its owner's collection."""
    return f"{TASK_PREFIX}{task_id}"


def profile_key(user_id: str) -> dict[str, str]:
    """Primary key of a user's profile item."""
    return {PARTITION_KEY: user_pk(user_id), SORT_KEY: PROFILE_SORT_KEY}


def task_key(user_id: str, task_id: str) -> dict[str, str]:
    """Primary key of a task item."""
    return {PARTITION_KEY: user_pk(user_id), SORT_KEY: task_sk(task_id)}


def insights_key(user_id: str) -> dict[str, str]:
    """Primary key of a user's insights item (written by the insights loader, ADR 0014)."""
    return {PARTITION_KEY: user_pk(user_id), SORT_KEY: INSIGHTS_SORT_KEY}


def deletion_marker_key(user_id: str) -> dict[str, str]:
    """Primary key of the account-deletion marker."""
    return {PARTITION_KEY: user_pk(user_id), SORT_KEY: DELETION_MARKER_SORT_KEY}


def status_pk(user_id: str, status: str) -> str:
    return f"{USER_PREFIX}{user_id}#STATUS#{status}"


def priority_pk(user_id: str, priority: str) -> str:
    return f"{USER_PREFIX}{user_id}#PRIORITY#{priority}"


def category_pk(user_id: str, category: str) -> str:
    return f"{USER_PREFIX}{user_id}#CATEGORY#{category}"


def due_pk(user_id: str) -> str:
    return f"{USER_PREFIX}{user_id}#DUE"


def due_sk(due_date: date, task_id: str) -> str:
    return f"{due_date.isoformat()}#{task_sk(task_id)}"


def task_index_keys(
    user_id: str, task_id: str, *, status: str, priority: str, category: str, due_date: date | None
) -> dict[str, str]:
    """The index key attributes a task item carries; the due-date index is sparse."""
    keys = {
        STATUS_PK: status_pk(user_id, status),
        STATUS_SK: task_sk(task_id),
        PRIORITY_PK: priority_pk(user_id, priority),
        PRIORITY_SK: task_sk(task_id),
        CATEGORY_PK: category_pk(user_id, category),
        CATEGORY_SK: task_sk(task_id),
    }
    if due_date is not None:
        keys[DUE_PK] = due_pk(user_id)
        keys[DUE_SK] = due_sk(due_date, task_id)
    return keys


def owns_key(user_id: str, key: Mapping[str, str]) -> bool:
    """Whether a position (primary + index key) lies inside `user_id`'s collection."""
    return key.get(PARTITION_KEY) == user_pk(user_id)
