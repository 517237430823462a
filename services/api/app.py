"""`build_api(deps)`: the API as an aiohttp sub-application, to mount at /api/v1.

    app.add_subapp(API_PREFIX, build_api(deps))
"""
from __future__ import annotations

from aiohttp import web

from services.api import (
    call_log,
    callers,
    control_endpoints,
    dispatch,
    event_schemas,
    handlers,
    knowledge,
    open311,
    recordings,
    supervision,
    reference,
    search,
    transfer_endpoints,
)
from services.api.core import DEPS, ApiDeps, check_operations, endpoint
from services.api.errors import error_middleware
from services.api.openapi import API_PREFIX, DOCUMENT, build_document

# The whole table; a module's fixed paths come before handlers' /orders/{order_id}, which
# aiohttp would otherwise match first.
OPERATIONS = [*search.OPERATIONS, *callers.OPERATIONS, *reference.OPERATIONS, *call_log.OPERATIONS,
              *handlers.OPERATIONS, *control_endpoints.OPERATIONS, *dispatch.OPERATIONS,
              *knowledge.OPERATIONS, *transfer_endpoints.OPERATIONS, *recordings.OPERATIONS,
              *supervision.OPERATIONS]


async def api_headers(_request: web.Request, response: web.StreamResponse) -> None:
    """Answers name citizens and orders: never cached, never framed, never sniffed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    # the reference page (reference.py) names its own CSP: scripts and styles from 'self'
    response.headers["Content-Security-Policy"] = response.get(
        reference.CSP_KEY, "default-src 'none'; frame-ancestors 'none'")


def build_api(deps: ApiDeps, prefix: str = API_PREFIX) -> web.Application:
    """The API sub-app; `prefix` is where the caller mounts it (only the document uses it)."""
    check_operations(OPERATIONS)
    api = web.Application(middlewares=[error_middleware])
    api[DEPS] = deps
    document = build_document(OPERATIONS, prefix, extra_paths=open311.OPENAPI_PATHS,
                              extra_schemas={**open311.OPENAPI_SCHEMAS, **event_schemas.SCHEMAS})
    # the WebSocket's messages: OpenAPI has no word for them, so an extension names the schema
    document["paths"][f"{prefix}/events"]["get"]["x-messages"] = {
        "$ref": "#/components/schemas/Event"}
    api[DOCUMENT] = document
    for op in OPERATIONS:
        api.router.add_route(op.method, op.path, endpoint(op), name=op.operation_id)

    async def end_streams(_app: web.Application) -> None:
        # Close every live stream so shutdown does not wait on open WebSockets.
        deps.events.close()

    api.on_shutdown.append(end_streams)
    api.on_response_prepare.append(api_headers)
    return api


__all__ = ["API_PREFIX", "OPERATIONS", "ApiDeps", "build_api"]
