"""Redaction of one bronze object for the erase step (no Spark): what goes, what stays, byte for byte."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

from todo_etl.cdc.dynamodb_json import loads
from todo_etl.erasure_records import (
    ERASED_PREFIX,
    KEPT_ATTRIBUTES,
    PERSONAL_ATTRIBUTES,
    REDACTED,
    ErasureRequest,
    profile_remove_sequence,
    rewrite_object,
)

ERASED_AT = datetime(2026, 12, 1, tzinfo=UTC)
REQUESTED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GONE = {"gone": ErasureRequest("gone", REQUESTED)}


def cdc_line(
    user: str, at: str, sequence: str = "100", sk: str = "TASK#t1", event: str = "MODIFY", **image: object
) -> bytes:
    new = {
        "PK": f"USER#{user}",
        "SK": "TASK#t1",
        "entity_type": "TASK",
        "user_id": user,
        "version": 2,
        **image,
    }
    record = {
        "event_id": f"e-{user}-{at}",
        "event_name": event,
        "sequence_number": sequence,
        "approximate_creation_time": at,
        "pk": new["PK"],
        "sk": sk,
        "entity_type": "TASK",
        "item_version": 2,
        "ttl_delete": False,
        "keys": {"PK": new["PK"], "SK": "TASK#t1"},
        "new_image": new,
        "old_image": dict(new, version=1),
        "new_image_ddb": {"title": {"S": "x"}, "tags": {"SS": ["a"]}, "version": {"N": "2"}},
        "ingested_at": at,
    }
    return json.dumps(record, separators=(",", ":")).encode()


def test_the_requested_users_records_are_redacted_and_every_other_line_is_byte_identical() -> None:
    other = cdc_line("keep", "2026-11-23T10:00:00.000Z", title="mine", score=1.10)
    gone = cdc_line(
        "gone", "2026-11-23T10:00:00.000Z", title="secret", tags=["t"], extra_note="x", score=1.10
    )
    later = cdc_line("gone", "2026-11-23T13:00:00.000Z", title="new account")  # after the request
    data = gzip.compress(b"\n".join([other, gone, later, b""]))
    result = rewrite_object(data, GONE, "cdc", ERASED_AT)
    assert result.redacted == {"gone": 1}
    assert result.data is not None
    lines = gzip.decompress(result.data).split(b"\n")
    assert lines[0] == other
    assert lines[2] == later
    assert lines[3] == b""
    assert lines[1].startswith(ERASED_PREFIX.encode())
    redacted = loads(lines[1])
    image = redacted["new_image"]
    assert image["title"] == REDACTED
    assert image["tags"] == []
    assert image["extra_note"] == REDACTED  # unknown attributes are personal until shown otherwise
    assert image["score"] == REDACTED
    assert image["version"] == 2
    assert image["PK"] == "USER#gone"
    assert redacted["old_image"]["version"] == 1
    assert redacted["new_image_ddb"] == {"title": {"S": REDACTED}, "tags": {"L": []}, "version": {"N": "2"}}
    assert redacted["event_id"] == "e-gone-2026-11-23T10:00:00.000Z"
    assert b"secret" not in result.data


def test_an_object_without_their_records_is_left_alone_and_a_redacted_line_is_not_redone() -> None:
    data = gzip.compress(cdc_line("keep", "2026-11-23T10:00:00.000Z", title="mine"))
    assert rewrite_object(data, GONE, "cdc", ERASED_AT).data is None
    once = rewrite_object(
        gzip.compress(cdc_line("gone", "2026-11-23T10:00:00.000Z", title="s")),
        GONE,
        "cdc",
        ERASED_AT,
    )
    assert once.data is not None
    assert rewrite_object(once.data, GONE, "cdc", ERASED_AT).data is None


def test_access_log_records_lose_the_caller_and_keep_the_rest() -> None:
    row = {
        "log_type": "access",
        "ts": "2026-11-23T10:00:00.000Z",
        "request_id": "r1",
        "status": 200,
        "latency_ms": 12.5,
    }
    data = b"\n".join(json.dumps(dict(row, user_id=u)).encode() for u in ("gone", "keep"))
    result = rewrite_object(data, GONE, "logs", ERASED_AT)
    assert result.data is not None
    first, second = result.data.split(b"\n")
    assert second == json.dumps(dict(row, user_id="keep")).encode()
    redacted = loads(first)
    assert redacted["user_id"] == REDACTED
    assert redacted["latency_ms"] == Decimal("12.5")
    assert redacted["request_id"] == "r1"


def test_every_personal_attribute_is_outside_the_allow_list() -> None:
    assert not {a for names in PERSONAL_ATTRIBUTES.values() for a in names} & KEPT_ATTRIBUTES


def test_a_profile_re_created_in_the_same_second_is_told_apart_by_the_sequence_number() -> None:
    second = "2026-11-23T12:00:00.000Z"  # the REMOVE's second: stream times are whole seconds
    remove = cdc_line("gone", second, sequence="200", sk="PROFILE", event="REMOVE", name="Old Name")
    before = cdc_line("gone", second, sequence="150", title="old task")
    after = cdc_line("gone", second, sequence="250", sk="PROFILE", event="INSERT", name="New Name")
    text = b"\n".join([before, remove, after])
    request = ErasureRequest("gone", REQUESTED)
    assert profile_remove_sequence(text, request) == 200
    exact = {"gone": ErasureRequest("gone", REQUESTED, 200)}
    result = rewrite_object(text, exact, "cdc", ERASED_AT)
    assert result.data is not None
    lines = result.data.split(b"\n")
    assert lines[0].startswith(ERASED_PREFIX.encode())
    assert lines[1].startswith(ERASED_PREFIX.encode())
    assert lines[2] == after  # the new incarnation is not part of the request
    assert profile_remove_sequence(result.data, request) == 200  # still found once redacted
