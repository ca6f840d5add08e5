"""Task models: create/replace/patch bodies, list filters, and the task and page the API returns."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from todo_api.models.common import NOT_BLANK_PATTERN, InputModel, IsoDate, not_blank, storable_text

# Length constraints come first so that pydantic checks them as string lengths.
_NOT_BLANK = {"pattern": NOT_BLANK_PATTERN}
Title = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra=_NOT_BLANK),
    AfterValidator(storable_text),
    AfterValidator(not_blank),
]
Description = Annotated[str, Field(max_length=2000), AfterValidator(storable_text)]
Category = Annotated[
    str,
    Field(min_length=1, max_length=50, json_schema_extra=_NOT_BLANK),
    AfterValidator(storable_text),
    AfterValidator(not_blank),
]
Tag = Annotated[
    str,
    Field(min_length=1, max_length=30, json_schema_extra=_NOT_BLANK),
    AfterValidator(storable_text),
    AfterValidator(not_blank),
]
Tags = Annotated[list[Tag], Field(max_length=10)]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
MAX_CURSOR_LENGTH = 4096


class TaskStatus(StrEnum):
    """Where a task is in its life."""

    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class TaskPriority(StrEnum):
    """How much a task matters."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class TaskFields(InputModel):
    """Every mutable field of a task, with its default."""

    title: Title
    description: Description = ""
    status: TaskStatus = TaskStatus.PENDING
    priority: TaskPriority = TaskPriority.MEDIUM
    category: Category = "general"
    due_date: IsoDate | None = None
    tags: Tags = Field(default_factory=list)


class TaskCreate(TaskFields):
    """Body of POST /api/v1/tasks."""


class TaskReplace(TaskFields):
    """Body of PUT /api/v1/tasks/{task_id}: fields left out go back to their defaults."""


class TaskPatch(InputModel):
    """Body of PATCH /api/v1/tasks/{task_id}: only the fields sent change; `due_date: null` clears it."""

    # `SkipJsonSchema[None]`: the default is "not sent", and the schema says null is refused.
    title: Title | SkipJsonSchema[None] = None
    description: Description | SkipJsonSchema[None] = None
    status: TaskStatus | SkipJsonSchema[None] = None
    priority: TaskPriority | SkipJsonSchema[None] = None
    category: Category | SkipJsonSchema[None] = None
    due_date: IsoDate | None = None
    tags: Tags | SkipJsonSchema[None] = None

    @field_validator("title", "description", "status", "priority", "category", "tags", mode="before")
    @classmethod
    def _no_null(cls, value: object) -> object:
        # Runs only for fields the client sent; only due_date may be cleared with null.
        if value is None:
            raise ValueError("may not be null (only due_date can be cleared)")
        return value


class TaskListQuery(InputModel):
    """Query parameters of GET /api/v1/tasks. Due-date bounds are inclusive."""

    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    category: Category | None = None
    due_before: IsoDate | None = Field(default=None, description="due on or before this date")
    due_after: IsoDate | None = Field(default=None, description="due on or after this date")
    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(default=None, min_length=1, max_length=MAX_CURSOR_LENGTH)

    @model_validator(mode="after")
    def _bounds_in_order(self) -> TaskListQuery:
        if self.due_after and self.due_before and self.due_after > self.due_before:
            raise ValueError("due_after must not be later than due_before")
        return self

    def filters(self) -> dict[str, str]:
        """The filter set (no paging parameters) as strings: what a cursor is bound to."""
        values = {
            "status": self.status,
            "priority": self.priority,
            "category": self.category,
            "due_before": self.due_before.isoformat() if self.due_before else None,
            "due_after": self.due_after.isoformat() if self.due_after else None,
        }
        return {name: str(value) for name, value in values.items() if value is not None}


class Task(BaseModel):
    """A task as the API returns it."""

    task_id: str
    user_id: str
    title: str
    description: str
    status: TaskStatus
    priority: TaskPriority
    category: str
    due_date: date | None
    tags: list[str]
    created_at: str
    updated_at: str
    completed_at: str | None
    version: int


class TaskPage(BaseModel):
    """One page of a task listing; pass `next_cursor` back to get the next page."""

    items: list[Task]
    next_cursor: str | None
