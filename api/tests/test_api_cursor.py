"""Unit and property tests of list cursors: round trip, tamper-proof, bound to caller and filters."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from todo_api.services.cursor import InvalidCursorError, decode_cursor, encode_cursor

KEY = b"k" * 32
attribute_names = st.sampled_from(["PK", "SK", "GSI1PK", "GSI1SK", "GSI4PK", "GSI4SK"])
positions = st.dictionaries(attribute_names, st.text(min_size=1, max_size=80), min_size=1, max_size=4)
filter_sets = st.dictionaries(
    st.sampled_from(["status", "priority", "category", "due_before", "due_after"]),
    st.text(min_size=1, max_size=20),
    max_size=5,
)
users = st.text(min_size=1, max_size=40)


@settings(max_examples=150)
@given(users, filter_sets, positions)
def test_round_trip(user: str, filters: dict[str, str], position: dict[str, str]) -> None:
    cursor = encode_cursor(KEY, user, filters, position)
    assert cursor.isascii()
    assert decode_cursor(KEY, user, filters, cursor) == position


@settings(max_examples=150)
@given(users, filter_sets, positions, st.data())
def test_any_single_byte_change_is_rejected(
    user: str, filters: dict[str, str], position: dict[str, str], data: st.DataObject
) -> None:
    cursor = encode_cursor(KEY, user, filters, position)
    index = data.draw(st.integers(0, len(cursor) - 1))
    replacement = data.draw(st.characters(min_codepoint=32, max_codepoint=126))
    assume(replacement != cursor[index])
    tampered = cursor[:index] + replacement + cursor[index + 1 :]
    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, user, filters, tampered)


@given(users, users, filter_sets, positions)
def test_foreign_user_is_rejected(
    owner: str, other: str, filters: dict[str, str], position: dict[str, str]
) -> None:
    assume(owner != other)
    cursor = encode_cursor(KEY, owner, filters, position)
    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, other, filters, cursor)


@given(users, filter_sets, filter_sets, positions)
def test_other_filters_are_rejected(
    user: str, filters: dict[str, str], others: dict[str, str], position: dict[str, str]
) -> None:
    assume(filters != others)
    cursor = encode_cursor(KEY, user, filters, position)
    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, user, others, cursor)


def test_other_secret_is_rejected() -> None:
    cursor = encode_cursor(KEY, "u", {}, {"PK": "USER#u", "SK": "TASK#1"})
    with pytest.raises(InvalidCursorError):
        decode_cursor(b"x" * 32, "u", {}, cursor)


@pytest.mark.parametrize(
    "cursor",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "é.é", "====.====", "eyJ9.AAAA", "!!!.???", "a" * 5000],
)
def test_malformed_cursors_are_rejected(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, "u", {}, cursor)


def test_signed_but_not_a_position_is_rejected() -> None:
    # Even a correctly signed payload must have the shape of a position.
    import base64
    import hashlib
    import hmac
    import json

    from todo_api.services import cursor as module

    payload = json.dumps(["not", "a", "mapping"]).encode()
    bound = json.dumps({"user": "u", "filters": {}}, sort_keys=True).encode()
    signature = hmac.new(KEY, b"\n".join((module.CURSOR_VERSION, bound, payload)), hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    with pytest.raises(InvalidCursorError):
        decode_cursor(KEY, "u", {}, f"{b64(payload)}.{b64(signature)}")
