"""/api/v1/users/me/insights: the caller's insights from the latest gold run (ADR 0014)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Response, status

from todo_api.models.insights import Insights
from todo_api.routes.contract import ContractRoute
from todo_api.routes.dependencies import CurrentIdentity, InsightsStore
from todo_api.routes.responses import errors
from todo_api.services import insights_service

# Personal data: a shared cache must never keep it; the browser may, and revalidates with the ETag.
CACHE_CONTROL = "private, no-cache"

router = APIRouter(
    prefix="/api/v1/users", tags=["insights"], responses=errors(401, 413, 422), route_class=ContractRoute
)

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: If-None-Match names the current ETag (no body)"}
}


@router.get(
    "/me/insights",
    summary="Your insights from the latest pipeline run",
    response_model=Insights,
    responses={**NOT_MODIFIED, **errors(404)},
)
async def get_my_insights(
    identity: CurrentIdentity,
    repository: InsightsStore,
    response: Response,
    if_none_match: Annotated[
        str | None,
        Header(
            alias="If-None-Match",
            description="An ETag from an earlier answer (a list, or *); 304 while it is still current",
            examples=['"3f2a9c0d5b7e41a8b6c2d9e0f1a2b3c4"'],
        ),
    ] = None,
) -> Any:
    insights = insights_service.get_insights(repository, identity)
    tag = insights_service.insights_etag(insights)
    headers = {"ETag": tag, "Cache-Control": CACHE_CONTROL}
    if insights_service.none_match(if_none_match, tag):
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    response.headers.update(headers)
    return insights
