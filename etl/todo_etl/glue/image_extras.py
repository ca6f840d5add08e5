"""Attributes of an item image outside the typed silver schema, as a JSON object (schema drift).

Plain Python on purpose: it runs as a Spark UDF on the live rows only, and keeps each drifted
value with its JSON type (Spark's map<string,string> would turn the number 5 and the string "5"
into the same text).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def extra_attributes(image_json: str | None, known: Iterable[str]) -> str | None:
    """JSON text of the image's attributes not in `known` (sorted keys), or None when there are none."""
    if not image_json:
        return None
    try:
        image = json.loads(image_json, parse_float=Decimal)
    except ValueError:
        return None
    if not isinstance(image, dict):
        return None
    skip = set(known)
    extra = {k: v for k, v in image.items() if k not in skip}
    if not extra:
        return None
    return json.dumps(extra, sort_keys=True, separators=(",", ":"), default=_default)
