"""The caller's insights, and their entity tag (If-None-Match answers 304 when it still matches)."""

from __future__ import annotations

import hashlib
import json

from todo_api.identity import Identity
from todo_api.models.insights import Insights
from todo_api.repository.insights_repository import InsightsRepository
from todo_api.services.failures import InsightsNotReadyError


def get_insights(repository: InsightsRepository, identity: Identity) -> Insights:
    """The caller's own insights (identity from the token only); 404 INSIGHTS_NOT_READY before a load."""
    insights = repository.get(identity.sub)
    if insights is None:
        raise InsightsNotReadyError()
    return insights


def insights_etag(insights: Insights) -> str:
    """A strong entity tag of exactly this representation: as_of and every figure.

    Strong because two equal tags mean byte-for-byte equal bodies (the body is the model's JSON).
    """
    canonical = json.dumps(insights.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return f'"{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"'


def none_match(header: str | None, current: str) -> bool:
    """Whether `If-None-Match` matches `current` (RFC 9110: `*`, or a list compared weakly)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    tags = (candidate.strip() for candidate in header.split(","))
    return any(tag.removeprefix("W/") == current for tag in tags)
