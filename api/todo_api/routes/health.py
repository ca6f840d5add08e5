"""GET /api/health: public liveness check (touches no AWS service)."""

from __future__ import annotations

from fastapi import APIRouter

from todo_api.observability import SERVICE_NAME

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", summary="Liveness check")
def health() -> dict[str, str]:
    return {"status": "ok", "service": SERVICE_NAME}
