"""Redacting one erased person's records inside a bronze object (standard library only).

The erase step (`todo_etl.glue.erasure`) finds the bronze objects that hold records of a deleted
account and hands each object's bytes to `rewrite_object`. A record of the erased person keeps
its change structure (event id and name, keys, sequence number, times, versions, status, the
ids) and loses every other attribute value, so bronze still says *that* something happened and
restore still rebuilds the same table, but no longer *what* the person wrote. Every other line
stays byte for byte what it was. ADR 0013 says why this beats crypto-shredding here.

A redacted line starts with `{"erased_at":` (no producer writes that key), so silver drops it
with a cheap prefix test and never needs to know who was erased: a full rebuild from the
redacted bronze gives the same silver as the incremental runs plus the erase step.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from todo_contracts.table import (
    ENTITY_TYPE_ATTRIBUTE,
    PARTITION_KEY,
    SORT_KEY,
    TABLE,
    TTL_ATTRIBUTE,
    USER_PREFIX,
)
from todo_contracts.timestamps import rfc3339
from todo_etl.cdc.dynamodb_json import dumps, loads

ERASED_KEY = "erased_at"
ERASED_PREFIX = '{"' + ERASED_KEY + '":'
ERASED_PREFIX_BYTES = ERASED_PREFIX.encode("utf-8")
REDACTED = "[erased]"

# What a redacted image keeps: the keys and index keys (ids, status, priority, category, due date),
# the entity marker, the ids, and the fields that carry the change's shape and time. Everything
# else (email, name, title, description, tags and any attribute the schema does not know yet) is
# personal until shown otherwise, so it goes: an allow-list, not a deny-list.
KEPT_ATTRIBUTES: frozenset[str] = frozenset(
    {PARTITION_KEY, SORT_KEY, ENTITY_TYPE_ATTRIBUTE, TTL_ATTRIBUTE}
    | {g.partition_key.name for g in TABLE.global_indexes}
    | {g.sort_key.name for g in TABLE.global_indexes}
    | {
        "task_id",
        "user_id",
        "status",
        "priority",
        "category",
        "due_date",
        "created_at",
        "updated_at",
        "completed_at",
        "version",
        "timezone",
    }
)
# The attributes the erasure is about, named for tests, docs and the demo (all outside KEPT).
PERSONAL_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "USER": ("email", "name"),
    "TASK": ("title", "description", "tags"),
}
IMAGE_FIELDS = ("new_image", "old_image")
DDB_IMAGE_FIELDS = ("new_image_ddb",)


# The stream's times are whole seconds, the access log's are not: a request is logged after the
# REMOVE it caused, within the same second or the next.
LOG_SLACK = timedelta(seconds=1)


@dataclass(frozen=True)
class ErasureRequest:
    """One deleted account to erase: records of `user_id` up to the REMOVE of the profile at
    `requested_at`; a profile re-created later is not part of it. Stream times are whole seconds,
    so a profile re-created within the same second is told apart by the stream sequence number:
    `sequence_cutoff` is the REMOVE's (the user's records share one partition key, so their
    sequence numbers are ordered), None until the erase step has found it in bronze."""

    user_id: str
    requested_at: datetime
    sequence_cutoff: int | None = None

    def covers(self, at: datetime, sequence: int | None) -> bool:
        """Whether a CDC record of this user at `at` with `sequence` is part of the erased period."""
        if at != self.requested_at:
            return at < self.requested_at
        return self.sequence_cutoff is None or sequence is None or sequence <= self.sequence_cutoff


@dataclass(frozen=True)
class Rewrite:
    """What rewriting one object did: the new bytes (None when nothing changed) and per-user counts."""

    data: bytes | None
    redacted: dict[str, int]


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _redact_plain(value: Any) -> Any:
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return REDACTED


def _redact_ddb(value: Any) -> Any:
    descriptor = next(iter(value), "S") if isinstance(value, Mapping) else "S"
    if descriptor in ("L", "SS", "NS", "BS"):
        return {"L": []}
    if descriptor == "M":
        return {"M": {}}
    return {"S": REDACTED}


def redact_image(image: Any, ddb: bool = False) -> Any:
    """An image with every attribute outside KEPT_ATTRIBUTES replaced by the redaction marker."""
    if not isinstance(image, dict):
        return image
    redact = _redact_ddb if ddb else _redact_plain
    return {k: (v if k in KEPT_ATTRIBUTES else redact(v)) for k, v in image.items()}


def redact_record(record: dict[str, Any], erased_at: datetime) -> str:
    """The redacted JSON line (no newline) of one bronze record: `erased_at` first, then the record."""
    out: dict[str, Any] = {ERASED_KEY: rfc3339(erased_at)}
    for key, value in record.items():
        if key in IMAGE_FIELDS:
            out[key] = redact_image(value)
        elif key in DDB_IMAGE_FIELDS:
            out[key] = redact_image(value, ddb=True)
        elif key == ERASED_KEY:
            continue
        else:
            out[key] = value
    return dumps(out)


def owner(record: Mapping[str, Any], folder: str) -> tuple[str | None, datetime | None]:
    """Whose record this is and when it happened: (user id, time) for a CDC or an access-log record."""
    if folder == "logs":
        user = record.get("user_id")
        return (user if isinstance(user, str) else None), _parse_time(record.get("ts"))
    pk = record.get("pk")
    user = pk[len(USER_PREFIX) :] if isinstance(pk, str) and pk.startswith(USER_PREFIX) else None
    return user, _parse_time(record.get("approximate_creation_time"))


def redact_log_record(record: dict[str, Any], erased_at: datetime) -> str:
    """An access-log record keeps route, status, latency and time; the caller's id goes."""
    out: dict[str, Any] = {ERASED_KEY: rfc3339(erased_at)}
    for key, value in record.items():
        if key != ERASED_KEY:
            out[key] = REDACTED if key == "user_id" else value
    return dumps(out)


def _sequence(record: Mapping[str, Any]) -> int | None:
    value = record.get("sequence_number")
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _covered(record: Mapping[str, Any], folder: str, request: ErasureRequest, at: datetime) -> bool:
    if folder == "logs":
        return at < request.requested_at + LOG_SLACK
    return request.covers(at, _sequence(record))


def profile_remove_sequence(text: bytes, request: ErasureRequest) -> int | None:
    """The sequence number of the request's profile REMOVE if this object holds it (redacted or not)."""
    found: int | None = None
    marker = f"{USER_PREFIX}{request.user_id}".encode()
    for line in text.split(b"\n"):
        if marker not in line or b"REMOVE" not in line:
            continue
        try:
            record = loads(line)
        except ValueError:
            continue
        if (
            not isinstance(record, dict)
            or record.get("sk") != "PROFILE"
            or record.get("event_name") != "REMOVE"
        ):
            continue
        user, at = owner(record, "cdc")
        sequence = _sequence(record)
        if user == request.user_id and at == request.requested_at and sequence is not None:
            found = sequence if found is None else max(found, sequence)
    return found


def rewrite_lines(
    text: bytes, requests: Mapping[str, ErasureRequest], folder: str, erased_at: datetime
) -> tuple[bytes, dict[str, int]]:
    """The object's lines with the requested users' records redacted; every other line unchanged."""
    lines = text.split(b"\n")
    redacted: dict[str, int] = {}
    for index, line in enumerate(lines):
        if not line.strip() or line.startswith(ERASED_PREFIX_BYTES):
            continue
        try:
            record = loads(line)
        except ValueError:
            continue  # a corrupt line is silver's to quarantine (and the erase step's to delete there)
        if not isinstance(record, dict):
            continue
        user, at = owner(record, folder)
        if (
            user is None
            or user not in requests
            or at is None
            or not _covered(record, folder, requests[user], at)
        ):
            continue
        redact = redact_log_record if folder == "logs" else redact_record
        lines[index] = redact(record, erased_at).encode("utf-8")
        redacted[user] = redacted.get(user, 0) + 1
    return b"\n".join(lines), redacted


def plain_text(data: bytes) -> bytes:
    """An object's JSON Lines text (gzip undone when it is gzip)."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


def rewrite_object(
    data: bytes, requests: Mapping[str, ErasureRequest], folder: str, erased_at: datetime
) -> Rewrite:
    """A gzip JSON Lines object rewritten for `requests`, or `data=None` when it holds none of theirs."""
    compressed = data[:2] == b"\x1f\x8b"
    text = plain_text(data)
    rewritten, redacted = rewrite_lines(text, requests, folder, erased_at)
    if not redacted:
        return Rewrite(data=None, redacted={})
    # mtime=0: the same input always gives the same bytes (a rerun rewrites nothing new anyway).
    out = gzip.compress(rewritten, mtime=0) if compressed else rewritten
    return Rewrite(data=out, redacted=redacted)
