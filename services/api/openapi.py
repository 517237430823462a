"""The OpenAPI 3.1 document, generated from the operation table.

The same schema dicts validate requests (`core.endpoint`), so the document
cannot say one thing while the handlers check another; a test walks the
router and this document both ways.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from services.api.core import Operation

API_PREFIX = "/api/v1"
DOCUMENT = web.AppKey("hotline_api_openapi", dict)

ERROR = {
    "type": "object",
    "required": ["error_id", "message", "details"],
    "properties": {
        "error_id": {"type": "string", "description": "stable id to branch on"},
        "message": {"type": "string", "description": "for people"},
        "details": {"type": "object", "description": "what exactly; for 500, the incident id"},
    },
}
ROLE_TEXT = (
    "Roles: `agent_12345`, `agent_110` (work at one site, see their platform's calls and "
    "orders), `supervisor` (all orders, whole citizen numbers; site-bound for call actions), "
    "`ops` (seats, overflow, reports). Authenticate with `Authorization: Bearer <token>`: an "
    "API token `<user>:<secret>` or a session token from `POST /api/v1/session`."
)


def build_document(operations: list[Operation], prefix: str = API_PREFIX, *,
                   extra_paths: dict[str, Any] | None = None,
                   extra_schemas: dict[str, Any] | None = None) -> dict[str, Any]:
    """`extra_paths` (absolute, e.g. Open311's) and `extra_schemas` (e.g. the event payloads)
    join the document as they are."""
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(prefix + op.path, {})[op.method.lower()] = _operation(op)
    paths.update(extra_paths or {})
    return {
        "openapi": "3.1.0",
        "info": {"title": "hotline-link API", "version": "1.0.0", "description": ROLE_TEXT},
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, **(extra_schemas or {})},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "queryToken": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
    }


def _operation(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [op.tag],
        "x-roles": list(op.roles) if op.authenticated else [],
        "responses": {str(status): _response(op, status, why)
                      for status, why in op.statuses().items()},
    }
    if op.description:
        out["description"] = op.description
    if not op.authenticated:
        out["security"] = []
    elif op.path == "/events":
        out["security"] = [{"bearer": []}, {"queryToken": []}]
    else:
        out["security"] = [{"bearer": []}]
    parameters = [{"name": name, "in": "path", "required": True, "schema": schema}
                  for name, schema in op.params.items()]
    for name, schema in op.query.items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                                 "schema": schema}
        if schema.get("type") == "array":
            param.update(style="form", explode=False)
        parameters.append(param)
    if parameters:
        out["parameters"] = parameters
    if op.body is not None:
        out["requestBody"] = {"required": True,
                              "content": {"application/json": {"schema": op.body}}}
    return out


def _response(op: Operation, status: int, why: str) -> dict[str, Any]:
    if status == 101:
        return {"description": "switching to the WebSocket event stream"}
    if status == op.ok:
        return {"description": why, "content": {
            media: {"schema": op.ok_schema or {}} for media in (op.ok_media, *op.ok_media_alt)}}
    return {"description": why,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
