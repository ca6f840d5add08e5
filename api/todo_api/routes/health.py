"""GET /api/health: public liveness check (touches no AWS service)."""

from __future__ import annotations

from fastapi import APIRouter

from todo_api.observability import SERVICE_NAME
from todo_contracts import routes

router = APIRouter(tags=["health"])


@router.get(routes.HEALTH, summary="Liveness check")
def health() -> dict[str, str]:
    return {"status": "ok", "service": SERVICE_NAME}
