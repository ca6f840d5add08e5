"""Lossless conversions of DynamoDB JSON attribute values: to plain JSON, to canonical DynamoDB JSON, to text.

Numbers stay `Decimal` from the wire to the bronze file and are written as JSON number literals
with every digit (no float ever touches them), so `123456789012345678901234567890` and `1E-130`
survive exactly. Binary becomes base64 text, sets become sorted arrays in the plain form.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Any

AttributeValue = Mapping[str, Any]
Image = Mapping[str, AttributeValue]

TYPE_DESCRIPTORS = frozenset({"S", "N", "B", "SS", "NS", "BS", "M", "L", "BOOL", "NULL"})
# DynamoDB's number syntax; stricter than Decimal(), which also takes "NaN", "1_000" or " 1 ".
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NUMBER_MATCH = _NUMBER.fullmatch
_ABSENT = object()


class ConversionError(ValueError):
    """An attribute value that is not valid DynamoDB JSON; `path` says where."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '<value>'}: {problem}")
        self.path = path


def _single_type(value: Any, path: str) -> tuple[str, Any]:
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConversionError(path, "an attribute value is an object with exactly one type descriptor")
    ((descriptor, inner),) = value.items()
    if descriptor not in TYPE_DESCRIPTORS:
        raise ConversionError(path, f"unknown type descriptor {descriptor!r}")
    return descriptor, inner


def parse_number(text: Any, path: str) -> Decimal:
    """A DynamoDB N string as an exact Decimal."""
    if not isinstance(text, str) or not _NUMBER.fullmatch(text):
        raise ConversionError(path, f"not a DynamoDB number: {text!r}")
    return Decimal(text)


def _binary(value: Any, path: str) -> bytes:
    """Binary arrives as bytes from boto3 and as base64 text in Lambda events."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConversionError(path, "binary is neither bytes nor valid base64") from exc
    raise ConversionError(path, f"binary is neither bytes nor base64 text: {type(value).__name__}")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ConversionError(path, f"expected a string, got {type(value).__name__}")
    return value


def _members(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConversionError(path, f"expected a list, got {type(value).__name__}")
    return value


def _entries(value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    if not isinstance(value, Mapping):
        raise ConversionError(path, f"expected a map, got {type(value).__name__}")
    for key, inner in value.items():
        yield _string(key, path), inner, f"{path}.{key}" if path else str(key)


def to_plain(value: AttributeValue, path: str = "") -> Any:
    """One attribute value as a plain JSON-ready value (Decimal numbers, sorted arrays for sets)."""
    descriptor, inner = _single_type(value, path)
    if descriptor == "S":
        return _string(inner, path)
    if descriptor == "N":
        return parse_number(inner, path)
    if descriptor == "B":
        return _b64(_binary(inner, path))
    if descriptor == "SS":
        return sorted(_string(m, path) for m in _members(inner, path))
    if descriptor == "NS":
        return sorted(parse_number(m, path) for m in _members(inner, path))
    if descriptor == "BS":
        return [_b64(b) for b in sorted(_binary(m, path) for m in _members(inner, path))]
    if descriptor == "M":
        return {key: to_plain(v, p) for key, v, p in _entries(inner, path)}
    if descriptor == "L":
        return [to_plain(m, f"{path}[{i}]") for i, m in enumerate(_members(inner, path))]
    if descriptor == "BOOL":
        if not isinstance(inner, bool):
            raise ConversionError(path, "BOOL must be true or false")
        return inner
    if inner is not True:  # NULL
        raise ConversionError(path, "NULL must be true")
    return None


def to_canonical(value: AttributeValue, path: str = "") -> dict[str, Any]:
    """One attribute value as JSON-ready DynamoDB JSON: validated, binary as base64, numbers untouched."""
    descriptor, inner = _single_type(value, path)
    if descriptor == "S":
        return {"S": _string(inner, path)}
    if descriptor == "N":
        parse_number(inner, path)
        return {"N": inner}
    if descriptor == "B":
        return {"B": _b64(_binary(inner, path))}
    if descriptor == "SS":
        return {"SS": [_string(m, path) for m in _members(inner, path)]}
    if descriptor == "NS":
        numbers = _members(inner, path)
        for member in numbers:
            parse_number(member, path)
        return {"NS": list(numbers)}
    if descriptor == "BS":
        return {"BS": [_b64(_binary(m, path)) for m in _members(inner, path)]}
    if descriptor == "M":
        return {"M": {key: to_canonical(v, p) for key, v, p in _entries(inner, path)}}
    if descriptor == "L":
        return {"L": [to_canonical(m, f"{path}[{i}]") for i, m in enumerate(_members(inner, path))]}
    if descriptor == "BOOL":
        if not isinstance(inner, bool):
            raise ConversionError(path, "BOOL must be true or false")
        return {"BOOL": inner}
    if inner is not True:
        raise ConversionError(path, "NULL must be true")
    return {"NULL": True}


def to_client(value: AttributeValue) -> dict[str, Any]:
    """Canonical DynamoDB JSON as boto3's low-level client takes it (binary as bytes)."""
    descriptor, inner = _single_type(value, "")
    if descriptor == "B":
        return {"B": _binary(inner, "")}
    if descriptor == "BS":
        return {"BS": [_binary(m, "") for m in inner]}
    if descriptor == "M":
        return {"M": {k: to_client(v) for k, v in inner.items()}}
    if descriptor == "L":
        return {"L": [to_client(m) for m in inner]}
    return {descriptor: inner}


def _entry_path(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def image_to_plain(image: Image, path: str = "") -> dict[str, Any]:
    """A whole item image (attribute name → attribute value) as a plain JSON object.

    Strings and numbers (most attributes) are converted in line, without building their path;
    everything else, and anything that is not valid, goes through `to_plain` with its path, in
    order, so the result and the first error are those of the general conversion."""
    if type(image) is not dict:
        return {key: to_plain(v, p) for key, v, p in _entries(image, path)}
    out: dict[str, Any] = {}
    for key, value in image.items():
        if type(key) is str and type(value) is dict and len(value) == 1:
            inner = value.get("S", _ABSENT)
            if type(inner) is str:
                out[key] = inner
                continue
            inner = value.get("N", _ABSENT)
            if type(inner) is str and _NUMBER_MATCH(inner):
                out[key] = Decimal(inner)
                continue
        out[_string(key, path)] = to_plain(value, _entry_path(path, key))
    return out


def image_to_canonical(image: Image, path: str = "") -> dict[str, Any]:
    """A whole item image as canonical DynamoDB JSON (strings and numbers in line, as above)."""
    if type(image) is not dict:
        return {key: to_canonical(v, p) for key, v, p in _entries(image, path)}
    out: dict[str, Any] = {}
    for key, value in image.items():
        if type(key) is str and type(value) is dict and len(value) == 1:
            inner = value.get("S", _ABSENT)
            if type(inner) is str:
                out[key] = {"S": inner}
                continue
            inner = value.get("N", _ABSENT)
            if type(inner) is str and _NUMBER_MATCH(inner):
                out[key] = {"N": inner}
                continue
        out[_string(key, path)] = to_canonical(value, _entry_path(path, key))
    return out


def image_to_client(image: Image) -> dict[str, Any]:
    """A canonical image as boto3's low-level `put_item` takes it."""
    return {key: to_client(v) for key, v in image.items()}


def dumps(value: Any) -> str:
    """Compact JSON text where Decimals are number literals with every digit (json.dumps cannot)."""
    return "".join(_encode(value))


# `dumps_string_keyed` hands Decimals to the C encoder as this marker and splices the digits back in.
_MARK = "\ue000"
_MARKED = json.dumps(_MARK, ensure_ascii=False)


class _NotFastError(Exception):
    """A value the fast path leaves to `dumps` (which encodes it, or raises the right error)."""


def dumps_string_keyed(value: Any) -> str:
    """`dumps` for values whose mapping keys are all strings and whose mappings are dicts (what the
    image conversions and bronze records build), through the C JSON encoder: the same text.

    Each Decimal is encoded as a marker string, then replaced by its digits in encoding order. A
    marker character already in the data (so a count that does not add up) or any type the C
    encoder does not know sends the value through `dumps` instead, so the text is always exact.
    """
    numbers: list[str] = []

    def number(item: Any) -> str:
        if type(item) is not Decimal:
            raise _NotFastError
        if not item.is_finite():
            raise ValueError(f"JSON has no literal for {item}")
        numbers.append(str(item))
        return _MARK

    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=number)
    try:
        text = encoder.encode(value)
    except _NotFastError:
        return dumps(value)
    if not numbers:
        return text
    pieces = text.split(_MARKED)
    if len(pieces) != len(numbers) + 1 or text.count(_MARK) != len(numbers):
        return dumps(value)
    out = [pieces[0]]
    for digits, piece in zip(numbers, pieces[1:], strict=True):
        out.append(digits)
        out.append(piece)
    return "".join(out)


def _encode(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):
        yield "{"
        for index, (key, inner) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            yield ("," if index else "") + json.dumps(key, ensure_ascii=False) + ":"
            yield from _encode(inner)
        yield "}"
    elif isinstance(value, list | tuple):
        yield "["
        for index, inner in enumerate(value):
            if index:
                yield ","
            yield from _encode(inner)
        yield "]"
    else:
        yield _scalar(value)


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"JSON has no literal for {value}")
        return str(value)  # str(Decimal) is always a valid JSON number for finite values
    if isinstance(value, int | float):
        return json.dumps(value, allow_nan=False)
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping every non-integer number exact (as Decimal)."""
    return json.loads(text, parse_float=Decimal)
