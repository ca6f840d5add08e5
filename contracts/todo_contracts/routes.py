"""The API's public routes: answered without a token, by API Gateway and the local gateway alike.

The FastAPI app serves its OpenAPI document and Swagger UI at these paths, the Api stack creates
one unauthenticated resource per path, and the local gateway skips the authorizer for them.
"""

from __future__ import annotations

API_BASE = "/api"
HEALTH = f"{API_BASE}/health"
OPENAPI = f"{API_BASE}/openapi.json"
DOCS = f"{API_BASE}/docs"
PUBLIC_ROUTES: tuple[str, ...] = (HEALTH, OPENAPI, DOCS)
PUBLIC_METHODS: tuple[str, ...] = ("GET", "HEAD")
