"""The FastAPI application: routers, error envelope, request context middleware, OpenAPI under /api."""

from __future__ import annotations

from fastapi import FastAPI

from todo_api import error_handlers, openapi
from todo_api.request_context import RequestContextMiddleware
from todo_api.routes import health, insights, tasks, users
from todo_contracts import routes

API_VERSION = "1.0.0"


def create_app() -> FastAPI:
    """Build the app; touches no AWS service (clients are built on first use)."""
    app = FastAPI(
        title="Todo API",
        version=API_VERSION,
        description="Tasks and profiles of the signed-in user. Send a Cognito ID token as a Bearer token.",
        openapi_url=routes.OPENAPI,
        docs_url=routes.DOCS,
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,  # tokens are pasted as Bearer: no OAuth2 redirect page
        redirect_slashes=False,
    )
    app.include_router(health.router)
    app.include_router(insights.router)
    app.include_router(users.router)
    app.include_router(tasks.router)
    error_handlers.install(app)
    openapi.install(app)
    app.add_middleware(RequestContextMiddleware)
    return app
