"""Opaque list cursors: a paging position, HMAC-signed and bound to the caller and filter set."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence

CURSOR_VERSION = b"todo-cursor-v1"
MAX_POSITION_ATTRIBUTES = 8
MAX_VALUE_LENGTH = 1024


class InvalidCursorError(ValueError):
    """The cursor was not issued by us for this caller and exactly these filters."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidCursorError("not base64url") from None
    # Base64 leaves spare bits in the last character; insisting on the canonical spelling makes
    # every change to the text a change to the bytes, so no edited cursor still verifies.
    if _b64encode(raw) != text:
        raise InvalidCursorError("not canonical base64url")
    return raw


def _signature(key: bytes, user_id: str, filters: Mapping[str, str], payload: bytes) -> bytes:
    bound = json.dumps({"user": user_id, "filters": dict(sorted(filters.items()))}, sort_keys=True)
    message = b"\n".join((CURSOR_VERSION, bound.encode("utf-8"), payload))
    return hmac.new(key, message, hashlib.sha256).digest()


def encode_cursor(key: bytes, user_id: str, filters: Mapping[str, str], position: Mapping[str, str]) -> str:
    """A cursor for `position` that only `user_id` with exactly `filters` can use."""
    payload = json.dumps(dict(sorted(position.items())), separators=(",", ":")).encode("utf-8")
    return f"{_b64encode(payload)}.{_b64encode(_signature(key, user_id, filters, payload))}"


def decode_cursor(key: bytes, user_id: str, filters: Mapping[str, str], cursor: str) -> dict[str, str]:
    """The position inside `cursor`; InvalidCursorError if it is malformed, edited or foreign."""
    return decode_cursor_with_any((key,), user_id, filters, cursor)


def decode_cursor_with_any(
    keys: Sequence[bytes], user_id: str, filters: Mapping[str, str], cursor: str
) -> dict[str, str]:
    """As `decode_cursor`, for a cursor signed with any of `keys` (the current and previous key)."""
    if not keys:
        raise InvalidCursorError("no key to verify with")
    if not cursor.isascii():
        raise InvalidCursorError("not ASCII")
    payload_text, dot, signature_text = cursor.partition(".")
    if not dot or not payload_text or not signature_text:
        raise InvalidCursorError("not two parts")
    payload, signature = _b64decode(payload_text), _b64decode(signature_text)
    if not any(hmac.compare_digest(signature, _signature(key, user_id, filters, payload)) for key in keys):
        raise InvalidCursorError("bad signature")
    try:
        position = json.loads(payload)
    except ValueError:
        raise InvalidCursorError("not JSON") from None
    if (
        not isinstance(position, dict)
        or not 0 < len(position) <= MAX_POSITION_ATTRIBUTES
        or not all(isinstance(v, str) and 0 < len(v) <= MAX_VALUE_LENGTH for v in position.values())
    ):
        raise InvalidCursorError("not a position")
    return position
