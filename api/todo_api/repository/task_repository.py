"""Tasks in the single table: conditional writes on version, and filtered listing without Scan."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from botocore.exceptions import ClientError

from todo_api.models.task import Task, TaskListQuery, TaskStatus
from todo_api.repository.dynamodb import (
    cancellation_codes,
    error_code,
    from_item,
    key_values,
    put_if_version,
    raise_condition_failure,
    to_item,
)
from todo_api.repository.errors import (
    AccountBeingDeletedError,
    ProfileMissingError,
    WriteConflictError,
)
from todo_contracts import keys
from todo_contracts.table import (
    CATEGORY_INDEX,
    DUE_DATE_INDEX,
    ENTITY_TYPE_ATTRIBUTE,
    PARTITION_KEY,
    PRIORITY_INDEX,
    SORT_KEY,
    STATUS_INDEX,
    TABLE,
    TASK_PREFIX,
    TTL_ATTRIBUTE,
    EntityType,
)

TASK_FIELDS = tuple(Task.model_fields)
# Items evaluated per Query round when a FilterExpression may drop some, and rounds per request:
# a sparse filter returns a short (even empty) page with a cursor rather than a slow request.
FILTERED_ROUND_SIZE = 100
MAX_QUERY_ROUNDS = 10
TRANSACTION_ATTEMPTS = 3

Position = dict[str, str]


class InvalidPositionError(ValueError):
    """A paging position that does not belong to this caller's query."""


class UpdateRefusedError(Exception):
    """An in-place update's condition failed: `current` is the task as stored (None: no such task)."""

    def __init__(self, task_id: str, current: Task | None) -> None:
        super().__init__(task_id)
        self.current = current


# DynamoDB's IN takes at most 100 operands; more If-Match versions go the read-then-write way.
MAX_IN_OPERANDS = 100
# The index key attributes that follow a field, with how to build them (see keys.task_index_keys).
_INDEX_PK_OF = {"status": keys.STATUS_PK, "priority": keys.PRIORITY_PK, "category": keys.CATEGORY_PK}
_INDEX_PK_VALUE = {"status": keys.status_pk, "priority": keys.priority_pk, "category": keys.category_pk}


@dataclass
class _Expression:
    """An UpdateExpression with its condition, names and values, built clause by clause."""

    sets: list[str] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        placeholder = f"#a{len(self.names)}"
        self.names[placeholder] = attribute
        return placeholder

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_item({"v": value})["v"]
        return placeholder

    def set(self, attribute: str, value: Any) -> None:
        self.sets.append(f"{self.name(attribute)} = {self.value(value)}")

    def remove(self, attribute: str) -> None:
        self.removes.append(self.name(attribute))

    def update_expression(self) -> str:
        clauses = [f"SET {', '.join(self.sets)}"]
        if self.removes:
            clauses.append(f"REMOVE {', '.join(self.removes)}")
        return " ".join(clauses)


def task_item(task: Task) -> dict[str, Any]:
    """The DynamoDB item of a task: domain fields, keys, entity type and index keys."""
    return to_item(
        {
            **keys.task_key(task.user_id, task.task_id),
            ENTITY_TYPE_ATTRIBUTE: EntityType.TASK.value,
            **task.model_dump(mode="json"),
            **keys.task_index_keys(
                task.user_id,
                task.task_id,
                status=task.status.value,
                priority=task.priority.value,
                category=task.category,
                due_date=task.due_date,
            ),
        }
    )


def task_from_item(item: dict[str, Any]) -> Task:
    """A task item back to the model; absent optional attributes become None / []."""
    values = from_item(item)
    data = {name: values.get(name) for name in TASK_FIELDS}
    data["tags"] = data["tags"] or []
    return Task.model_validate(data)


@dataclass(frozen=True)
class QueryPlan:
    """One Query: which index, its key condition, and the filters the key cannot serve."""

    index: str | None
    key_condition: str
    names: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    filter_expression: str | None = None

    @property
    def position_attributes(self) -> frozenset[str]:
        """The attributes of a LastEvaluatedKey / ExclusiveStartKey for this Query."""
        names = {PARTITION_KEY, SORT_KEY}
        if self.index is not None:
            gsi = TABLE.index(self.index)
            names |= {gsi.partition_key.name, gsi.sort_key.name}
        return frozenset(names)


def _key_condition(
    user_id: str, query: TaskListQuery, names: dict[str, str], values: dict[str, Any]
) -> tuple[str | None, str]:
    """The index and key condition serving the most selective filter (the base table without one).

    Selectivity is guessed without statistics: a category is usually one of many values; a due
    range is narrowed by dates and the index is sparse; a status or priority is one of three.
    """
    if query.category is not None:
        names["#ipk"] = keys.CATEGORY_PK
        values[":ipk"] = {"S": keys.category_pk(user_id, query.category)}
        return CATEGORY_INDEX, "#ipk = :ipk"
    if query.due_after is not None or query.due_before is not None:
        names |= {"#ipk": keys.DUE_PK, "#isk": keys.DUE_SK}
        values[":ipk"] = {"S": keys.due_pk(user_id)}
        conditions = ["#ipk = :ipk"]
        if query.due_after is not None and query.due_before is not None:
            conditions.append("#isk BETWEEN :low AND :high")
        elif query.due_after is not None:
            conditions.append("#isk >= :low")
        else:
            conditions.append("#isk <= :high")
        if query.due_after is not None:
            values[":low"] = {"S": query.due_after.isoformat()}
        if query.due_before is not None:
            values[":high"] = {"S": query.due_before.isoformat() + keys.DUE_UPPER_SUFFIX}
        return DUE_DATE_INDEX, " AND ".join(conditions)
    if query.status is not None:
        names["#ipk"] = keys.STATUS_PK
        values[":ipk"] = {"S": keys.status_pk(user_id, query.status.value)}
        return STATUS_INDEX, "#ipk = :ipk"
    if query.priority is not None:
        names["#ipk"] = keys.PRIORITY_PK
        values[":ipk"] = {"S": keys.priority_pk(user_id, query.priority.value)}
        return PRIORITY_INDEX, "#ipk = :ipk"
    names |= {"#pk": PARTITION_KEY, "#sk": SORT_KEY}
    values |= {":pk": {"S": keys.user_pk(user_id)}, ":task": {"S": TASK_PREFIX}}
    return None, "#pk = :pk AND begins_with(#sk, :task)"


def plan_query(user_id: str, query: TaskListQuery) -> QueryPlan:
    """Serve the most selective filter from a key, the others as a FilterExpression; never Scan."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    index, condition = _key_condition(user_id, query, names, values)
    filters: list[str] = []
    if query.status is not None and index != STATUS_INDEX:
        names["#status"] = "status"
        values[":status"] = {"S": query.status.value}
        filters.append("#status = :status")
    if query.priority is not None and index != PRIORITY_INDEX:
        names["#priority"] = "priority"
        values[":priority"] = {"S": query.priority.value}
        filters.append("#priority = :priority")
    if index != DUE_DATE_INDEX:
        if query.due_after is not None:
            names["#due_date"] = "due_date"
            values[":due_after"] = {"S": query.due_after.isoformat()}
            filters.append("#due_date >= :due_after")
        if query.due_before is not None:
            names["#due_date"] = "due_date"
            values[":due_before"] = {"S": query.due_before.isoformat()}
            filters.append("#due_date <= :due_before")
    # A category filter always picks the category index, so it is never a FilterExpression.
    return QueryPlan(index, condition, names, values, " AND ".join(filters) or None)


def _in_place_update(
    user_id: str, task_id: str, changes: dict[str, Any], accepted: frozenset[int] | None, now: str
) -> tuple[_Expression, str]:
    """The UpdateExpression and condition of `TaskRepository.update_fields`."""
    if not changes or (accepted is not None and not 0 < len(accepted) <= MAX_IN_OPERANDS):
        raise ValueError("an in-place update needs changes and 1-100 accepted versions (or any)")
    expression = _Expression()
    differs: list[str] = []
    for name, value in changes.items():
        attribute = expression.name(name)
        if value is None:
            expression.removes.append(attribute)
            differs.append(f"attribute_exists({attribute})")
        else:
            placeholder = expression.value(value)
            expression.sets.append(f"{attribute} = {placeholder}")
            differs.append(f"(attribute_not_exists({attribute}) OR {attribute} <> {placeholder})")
        if name in _INDEX_PK_OF:
            expression.set(_INDEX_PK_OF[name], _INDEX_PK_VALUE[name](user_id, value))
    if "due_date" in changes:
        due = changes["due_date"]
        if due is None:
            expression.remove(keys.DUE_PK)
            expression.remove(keys.DUE_SK)
        else:
            expression.set(keys.DUE_PK, keys.due_pk(user_id))
            expression.set(keys.DUE_SK, keys.due_sk(date.fromisoformat(due), task_id))
    status, completed, completed_at = (
        expression.name("status"),
        expression.value(TaskStatus.COMPLETED.value),
        expression.name("completed_at"),
    )
    now_value = expression.value(now)
    if "status" in changes:
        if changes["status"] == TaskStatus.COMPLETED.value:
            expression.sets.append(f"{completed_at} = if_not_exists({completed_at}, {now_value})")
        else:
            expression.removes.append(completed_at)
    expression.sets.append(f"{expression.name('updated_at')} = {now_value}")
    version = expression.name("version")
    expression.sets.append(f"{version} = {version} + {expression.value(1)}")
    conditions = [f"attribute_exists({expression.name(PARTITION_KEY)})"]
    if accepted is not None:
        operands = ", ".join(expression.value(v) for v in sorted(accepted))
        conditions.append(f"{version} IN ({operands})")
    conditions.append(
        f"(({status} = {completed} AND attribute_exists({completed_at}))"
        f" OR ({status} <> {completed} AND attribute_not_exists({completed_at})))"
    )
    # DynamoDB refuses redundant parentheses, so a single alternative goes in as it is.
    conditions.append(differs[0] if len(differs) == 1 else f"({' OR '.join(differs)})")
    return expression, " AND ".join(conditions)


class TaskRepository:
    """Reads, conditional writes and listing of task items."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def create(self, task: Task) -> None:
        """Store a new task, in one transaction with checks that its owner's profile exists and
        that the account is not being deleted."""
        marker = keys.deletion_marker_key(task.user_id)
        actions: list[dict[str, Any]] = [
            {
                "Put": {
                    "TableName": self.table_name,
                    "Item": task_item(task),
                    "ConditionExpression": "attribute_not_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": key_values(keys.profile_key(task.user_id)),
                    "ConditionExpression": "attribute_exists(#pk)",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY},
                }
            },
            {
                "ConditionCheck": {
                    "TableName": self.table_name,
                    "Key": key_values(marker),
                    # An expired marker (TTL deletes lazily) no longer blocks.
                    "ConditionExpression": "attribute_not_exists(#pk) OR #ttl < :now",
                    "ExpressionAttributeNames": {"#pk": PARTITION_KEY, "#ttl": TTL_ATTRIBUTE},
                    "ExpressionAttributeValues": {":now": {"N": str(int(time.time()))}},
                }
            },
        ]
        for _attempt in range(TRANSACTION_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=actions)
                return
            except ClientError as error:
                if error_code(error) != "TransactionCanceledException":
                    raise
                codes = cancellation_codes(error)
                if len(codes) == len(actions):
                    if codes[1] == "ConditionalCheckFailed":
                        raise ProfileMissingError(task.user_id) from None
                    if codes[2] == "ConditionalCheckFailed":
                        raise AccountBeingDeletedError(task.user_id) from None
                if "TransactionConflict" not in codes:
                    raise
        raise WriteConflictError("task creation kept colliding with other writes")

    def get(self, user_id: str, task_id: str) -> Task | None:
        """The task, read consistently, or None (also when it belongs to someone else)."""
        response = self._client.get_item(
            TableName=self.table_name, Key=key_values(keys.task_key(user_id, task_id)), ConsistentRead=True
        )
        item = response.get("Item")
        return task_from_item(item) if item else None

    def update_fields(
        self,
        user_id: str,
        task_id: str,
        changes: dict[str, Any],
        accepted: frozenset[int] | None,
        now: str,
    ) -> Task:
        """Change some of a task's fields in place, in one conditional UpdateItem; the task before.

        `changes` maps mutable fields to their JSON values (None: clear; only due_date may be None).
        The item ends up exactly as `task_item` of the changed task would write it: the fields,
        `updated_at = now`, the version one up, the index keys of the changed fields, and
        `completed_at` set on completion (kept when already completed) or removed otherwise.

        The write happens only if the task exists, is at a version in `accepted` (None: any),
        keeps the invariant "completed_at is present exactly when completed" (which makes the
        completed_at clause right without knowing the stored status), and at least one field
        would change. Otherwise UpdateRefusedError carries the stored task (or None), for the
        caller to tell 404, 412, "nothing to change" and a stored item needing the general path.
        """
        expression, condition = _in_place_update(user_id, task_id, changes, accepted, now)
        try:
            response = self._client.update_item(
                TableName=self.table_name,
                Key=key_values(keys.task_key(user_id, task_id)),
                UpdateExpression=expression.update_expression(),
                ConditionExpression=condition,
                ExpressionAttributeNames=expression.names,
                ExpressionAttributeValues=expression.values,
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if error_code(error) != "ConditionalCheckFailedException":
                raise
            item = error.response.get("Item")
            raise UpdateRefusedError(task_id, task_from_item(item) if item else None) from None
        return task_from_item(response["Attributes"])

    def replace(self, task: Task, expected_version: int) -> None:
        """Overwrite a task only if it is still at `expected_version`."""
        put_if_version(self._client, self.table_name, task_item(task), expected_version, task.task_id)

    def delete(self, user_id: str, task_id: str, expected_version: int | None) -> None:
        """Delete a task, optionally only if it is still at `expected_version`."""
        condition = "attribute_exists(#pk)"
        names = {"#pk": PARTITION_KEY}
        extra: dict[str, Any] = {}
        if expected_version is not None:
            condition += " AND #version = :expected"
            names["#version"] = "version"
            extra["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        try:
            self._client.delete_item(
                TableName=self.table_name,
                Key=key_values(keys.task_key(user_id, task_id)),
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
                **extra,
            )
        except ClientError as error:
            raise_condition_failure(error, task_id)

    def list_tasks(
        self, user_id: str, query: TaskListQuery, start: Position | None
    ) -> tuple[list[Task], Position | None]:
        """One page of the caller's matching tasks and the position to continue from (or None).

        DynamoDB applies `Limit` before the FilterExpression, so a round may yield fewer or more
        matches than the page needs. When a round yields more, the page ends at the last item
        actually returned and the next page starts right after it; when it yields all of its
        items, the next page starts after the round's LastEvaluatedKey. Either way each match is
        returned exactly once.
        """
        plan = plan_query(user_id, query)
        if start is not None:
            self._check_position(user_id, plan, start)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": plan.key_condition,
            "ExpressionAttributeNames": plan.names,
            "ExpressionAttributeValues": plan.values,
        }
        if plan.index is not None:
            request["IndexName"] = plan.index
        else:
            request["ConsistentRead"] = True
        if plan.filter_expression:
            request["FilterExpression"] = plan.filter_expression

        page: list[dict[str, Any]] = []
        position = start
        for _round in range(MAX_QUERY_ROUNDS):
            needed = query.limit - len(page)
            request["Limit"] = FILTERED_ROUND_SIZE if plan.filter_expression else needed
            if position is not None:
                request["ExclusiveStartKey"] = key_values(position)
            response = self._client.query(**request)
            items = list(response.get("Items", []))
            last_evaluated = response.get("LastEvaluatedKey")
            if len(items) > needed:
                page += items[:needed]
                return [task_from_item(i) for i in page], self._position_of(page[-1], plan)
            page += items
            if last_evaluated is None:
                return [task_from_item(i) for i in page], None
            position = {name: value["S"] for name, value in last_evaluated.items()}
            if len(page) == query.limit:
                break
        return [task_from_item(i) for i in page], position

    @staticmethod
    def _position_of(item: dict[str, Any], plan: QueryPlan) -> Position:
        return {name: item[name]["S"] for name in plan.position_attributes}

    @staticmethod
    def _check_position(user_id: str, plan: QueryPlan, position: Position) -> None:
        # The cursor's signature already binds it to this caller and filter set; this guards the
        # shape so that no client input can make DynamoDB reject the request.
        if set(position) != plan.position_attributes or not keys.owns_key(user_id, position):
            raise InvalidPositionError("position does not belong to this query")
        if any(not isinstance(v, str) or not v or len(v) > 1024 for v in position.values()):
            raise InvalidPositionError("malformed position")
