"""Field types shared by the models: text that DynamoDB can store, ISO dates, IANA time zones."""

from __future__ import annotations

import re
import zoneinfo
from datetime import date
from functools import lru_cache
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class InputModel(BaseModel):
    """Base of every request model: unknown fields are an error, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


def storable_text(value: str) -> str:
    """Refuse text DynamoDB cannot store."""
    # JSON may carry lone surrogates ("\ud800") that no UTF-8 store accepts; refuse them here
    # rather than fail later inside the AWS SDK with a 500.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return value


def not_blank(value: str) -> str:
    """Refuse text that is only whitespace."""
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def _iso_date(value: Any) -> Any:
    # Lax pydantic would accept integers (Unix time) and datetimes as dates; the contract is
    # "YYYY-MM-DD" and nothing else.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be a date in the form YYYY-MM-DD")
    return value


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _iana_zone(value: str) -> str:
    # Checked against the zone list rather than by calling ZoneInfo(value), which would read
    # arbitrary paths for values like "../../etc/passwd".
    if value not in _known_zones():
        raise ValueError("must be an IANA time zone name such as 'Europe/Paris' or 'UTC'")
    return value


def _zone_enum(schema: dict[str, Any]) -> None:
    # Built when the OpenAPI document is, never at import (a cold start does not read the zone list).
    schema["enum"] = sorted(_known_zones())


# A schema-only pattern for "not blank": `not_blank` validates (str.strip and Python's `\S` agree).
NOT_BLANK_PATTERN = r"\S"

IsoDate = Annotated[date, BeforeValidator(_iso_date)]
TimeZoneName = Annotated[
    str, Field(min_length=1, max_length=64, json_schema_extra=_zone_enum), AfterValidator(_iana_zone)
]
