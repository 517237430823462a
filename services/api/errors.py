"""API errors, and the one middleware that turns every failure into JSON.

The body is always `{"error_id", "message", "details"}`. A domain error (any
`services.errors.DomainError`: the API's own below, the work orders') says
its own id and status; aiohttp's own errors (unknown route, wrong method, body
too large) keep their status; anything else is a 500 with a fresh incident id
in the body and the traceback only in the log.
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from services.errors import DomainError

log = logging.getLogger("hotline.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(DomainError):
    """A refusal of the API itself (authentication, access, the body)."""


class Unauthorized(ApiError):
    error_id = "unauthorized"
    status = 401


class Forbidden(ApiError):
    error_id = "forbidden"
    status = 403


class NotFound(ApiError):
    error_id = "not_found"
    status = 404


class Conflict(ApiError):
    error_id = "conflict"
    status = 409


class TooManyRequests(ApiError):
    """Too many failed logins or bad tokens lately: 429 with Retry-After."""

    error_id = "too_many_attempts"
    status = 429

    def __init__(self, retry_after: int, **details: Any) -> None:
        super().__init__(f"too many failed attempts; retry in {retry_after} s",
                         retry_after=retry_after, **details)
        self.headers = {"Retry-After": str(retry_after)}


class Invalid(ApiError):
    """Well-formed JSON that breaks the schema or a rule."""

    error_id = "invalid_body"
    status = 422


_HTTP_IDS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type",
    429: "too_many_attempts",
}  # fmt: skip


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, ensure_ascii=False)


def json_response(data: Any, status: int = 200, **kwargs: Any) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps, **kwargs)


def error_response(error_id: str, message: str, status: int,
                   details: dict[str, Any] | None = None, **kwargs: Any) -> web.Response:
    body = {"error_id": error_id, "message": message, "details": details or {}}
    # ASCII-only: a client's malformed text (lone surrogates) cannot break the encoder.
    return web.json_response(body, status=status, dumps=lambda v: json.dumps(v, default=str),
                             **kwargs)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return error_response(exc.error_id, exc.message, exc.status, exc.details,
                              headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow",)}
        details: dict[str, Any] = {}
        if isinstance(exc, web.HTTPMethodNotAllowed):
            details["allowed"] = sorted(exc.allowed_methods)
        return error_response(_HTTP_IDS.get(exc.status, f"http_{exc.status}"), exc.reason,
                              exc.status, details, headers=headers)
    except (ConnectionError, TimeoutError) as exc:
        incident = uuid.uuid4().hex[:12]
        log.warning("%s %s: backend unavailable (incident %s): %r",
                    request.method, request.path, incident, exc)
        return error_response("unavailable", "a backend is unavailable; try again", 503,
                              {"incident": incident})
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("%s %s failed (incident %s)", request.method, request.path, incident)
        return error_response("internal_error", "internal error", 500, {"incident": incident})
