"""User profile models: what a caller sends to create or change a profile, and what they get back."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from todo_api.models.common import NOT_BLANK_PATTERN, InputModel, TimeZoneName, not_blank, storable_text

UserName = Annotated[
    str,
    Field(min_length=1, max_length=100, json_schema_extra={"pattern": NOT_BLANK_PATTERN}),
    AfterValidator(storable_text),
    AfterValidator(not_blank),
]


class UserCreate(InputModel):
    """Body of POST /api/v1/users; the email comes from the token, never from the body."""

    name: UserName
    timezone: TimeZoneName = "UTC"


class UserUpdate(InputModel):
    """Body of PATCH /api/v1/users/me: any subset of the fields; null is not a value here."""

    name: UserName | SkipJsonSchema[None] = None
    timezone: TimeZoneName | SkipJsonSchema[None] = None

    @field_validator("name", "timezone", mode="before")
    @classmethod
    def _no_null(cls, value: object) -> object:
        # Runs only for fields the client sent: an explicit null cannot clear a required field.
        if value is None:
            raise ValueError("may not be null")
        return value


class User(BaseModel):
    """A user profile as the API returns it."""

    user_id: str
    email: str
    name: str
    timezone: str
    created_at: str
    updated_at: str
    version: int
