"""The caller's insights as GET /api/v1/users/me/insights returns them (computed by the lake, ADR 0014)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Weekday = Literal["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


class CategoryInsight(BaseModel):
    """One of the caller's most used categories: tasks created and completed in it."""

    model_config = ConfigDict(extra="forbid")

    category: str
    created: int = Field(ge=0)
    completed: int = Field(ge=0)


class Insights(BaseModel):
    """The caller's figures from the latest gold run that saw them (`as_of`)."""

    model_config = ConfigDict(extra="forbid")

    as_of: str = Field(description="When the gold run computed these figures (RFC 3339 UTC)")
    total_tasks: int = Field(ge=0)
    open_tasks: int = Field(ge=0)
    completed_tasks: int = Field(ge=0)
    overdue_tasks: int = Field(ge=0, description="Open tasks due before today (in your time zone)")
    completed_last_7_days: int = Field(ge=0)
    completed_last_30_days: int = Field(ge=0)
    completion_rate: float = Field(ge=0, le=100, description="Completed tasks as a percentage of all tasks")
    current_streak_days: int = Field(ge=0, description="Consecutive days, up to today, with a completion")
    longest_streak_days: int = Field(ge=0)
    median_hours_to_complete: float | None = Field(ge=0, description="null until a task has been completed")
    busiest_weekday: Weekday | None = Field(description="The weekday with the most activity; null with none")
    top_categories: list[CategoryInsight] = Field(max_length=3)
