"""Unit tests of the key builders: item keys, sparse index keys, due-date ordering, plan choice."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from todo_api.models.task import TaskListQuery
from todo_api.repository.task_repository import plan_query
from todo_contracts import keys
from todo_contracts.table import (
    CATEGORY_INDEX,
    DUE_DATE_INDEX,
    PRIORITY_INDEX,
    STATUS_INDEX,
    TABLE,
)

TASK_ID = "01a208691d7a75abab3da5f15c686b15"
subs = st.uuids().map(str)
dates = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31))
task_ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


def test_item_keys() -> None:
    assert keys.profile_key("u1") == {"PK": "USER#u1", "SK": "PROFILE"}
    assert keys.task_key("u1", TASK_ID) == {"PK": "USER#u1", "SK": f"TASK#{TASK_ID}"}
    assert keys.deletion_marker_key("u1") == {"PK": "USER#u1", "SK": "DELETING"}


def test_index_keys_are_sparse_for_due_date() -> None:
    without = keys.task_index_keys(
        "u1", TASK_ID, status="pending", priority="high", category="home", due_date=None
    )
    assert without == {
        "GSI1PK": "USER#u1#STATUS#pending",
        "GSI1SK": f"TASK#{TASK_ID}",
        "GSI2PK": "USER#u1#PRIORITY#high",
        "GSI2SK": f"TASK#{TASK_ID}",
        "GSI3PK": "USER#u1#CATEGORY#home",
        "GSI3SK": f"TASK#{TASK_ID}",
    }
    with_due = keys.task_index_keys(
        "u1", TASK_ID, status="pending", priority="high", category="home", due_date=date(2026, 3, 1)
    )
    assert with_due["GSI4PK"] == "USER#u1#DUE"
    assert with_due["GSI4SK"] == f"2026-03-01#TASK#{TASK_ID}"


def test_index_key_names_match_the_table_definition() -> None:
    defined = {name for gsi in TABLE.global_indexes for name in (gsi.partition_key.name, gsi.sort_key.name)}
    assert defined == set(keys.INDEX_KEY_ATTRIBUTES)


@settings(max_examples=200)
@given(subs, dates, dates, task_ids, task_ids)
def test_due_sort_keys_order_by_date_then_id(sub: str, a: date, b: date, id_a: str, id_b: str) -> None:
    key_a, key_b = keys.due_sk(a, id_a), keys.due_sk(b, id_b)
    if a != b:
        assert (key_a < key_b) == (a < b)
    # The inclusive bounds used by the due-date key condition contain every key of their dates.
    assert a.isoformat() <= key_a <= a.isoformat() + keys.DUE_UPPER_SUFFIX
    assert keys.owns_key(sub, keys.task_key(sub, id_a))


@given(subs, subs)
def test_partitions_never_overlap_between_users(sub_a: str, sub_b: str) -> None:
    if sub_a != sub_b:
        assert keys.user_pk(sub_a) != keys.user_pk(sub_b)
        assert not keys.owns_key(sub_b, keys.task_key(sub_a, TASK_ID))


def test_plan_picks_one_index_and_filters_the_rest() -> None:
    def plan(**params: object) -> tuple[str | None, str | None]:
        chosen = plan_query("u1", TaskListQuery.model_validate(params))
        return chosen.index, chosen.filter_expression

    assert plan() == (None, None)
    assert plan(status="pending") == (STATUS_INDEX, None)
    assert plan(priority="low") == (PRIORITY_INDEX, None)
    assert plan(due_before="2026-01-01") == (DUE_DATE_INDEX, None)
    assert plan(category="home", status="pending", priority="low") == (
        CATEGORY_INDEX,
        "#status = :status AND #priority = :priority",
    )
    index, expression = plan(status="pending", due_after="2026-01-01", due_before="2026-02-01")
    assert index == DUE_DATE_INDEX
    assert expression == "#status = :status"
    index, expression = plan(category="home", due_after="2026-01-01")
    assert (index, expression) == (CATEGORY_INDEX, "#due_date >= :due_after")


def test_plan_keeps_every_query_inside_the_callers_partition() -> None:
    for params in (
        {},
        {"status": "completed"},
        {"priority": "high"},
        {"category": "x"},
        {"due_after": "2026-01-01"},
    ):
        chosen = plan_query("u1", TaskListQuery.model_validate(params))
        partition_value = chosen.values.get(":pk", chosen.values.get(":ipk"))
        assert partition_value is not None
        assert partition_value["S"].startswith("USER#u1")
