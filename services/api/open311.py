"""Open311 GeoReport v2, served at /open311/v2: the city's other systems read our
categories as services and our orders as service requests, and post requests received
online (在线转交) as new orders. Each resource answers in the format its name ends with,
`.xml` (the specification's required format) or `.json`.

    GET  /open311/v2/services.{json,xml}
    GET  /open311/v2/requests.{json,xml}   service_request_id, service_code, start_date,
                                           end_date, status (comma-separated lists)
    GET  /open311/v2/requests/{id}.{json,xml}
    POST /open311/v2/requests.{json,xml}   form-encoded, as the specification says

Every call takes `api_key` (the specification asks it of POST; here GET too, since a
request's description holds a citizen's words). Keys are stored as SHA-256 hashes; each
names the platform its requests go to and the region code they get. Errors are the
specification's `[{"code": 400, "description": "..."}]`.

`python -m services.api.open311_keys key NAME --platform 12345 --region 410300` prints a new key
and the entry for the keys file (`HOTLINE_OPEN311_KEYS_FILE`).
"""
from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.api.open311_keys import ApiKey, Open311Keys
from services.api.schema import parse_datetime
from services.work_orders.errors import WorkOrderError
from services.work_orders.ids import ORDER_ID_PATTERN
from services.work_orders.search import Location, open311_requests, set_location

if TYPE_CHECKING:
    from services.work_orders.service import WorkOrderService

log = logging.getLogger("hotline.open311")

OPEN311_PREFIX = "/open311/v2"
MAX_REQUESTS = 1000                 # the specification's default ceiling for GET requests
DEFAULT_WINDOW = timedelta(days=90)  # and its default window when no dates are given
MAX_FORM = 64 * 1024
MAX_LIST = 50                        # items of a comma-separated filter (a URL stays short)
_REGION = re.compile(r"[0-9]{6}([0-9]{3}([0-9]{3})?)?", re.ASCII)
_NUMBER = re.compile(r"\+?[0-9]{3,20}", re.ASCII)
_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")


# ---- answers and errors in the specification's shapes ------------------------------------------
class Open311Error(Exception):
    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


# XML: the root element and the name of each item of the list it holds
LISTS = {"services": ("services", "service"), "requests": ("service_requests", "request"),
         "errors": ("errors", "error")}


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, item in value.items():
            _xml_value(element, key, item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def to_xml(kind: str, items: list[dict[str, Any]]) -> bytes:
    root_name, item_name = LISTS[kind]
    root = ET.Element(root_name)
    for item in items:
        element = ET.SubElement(root, item_name)
        for key, value in item.items():
            _xml_value(element, key, value)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def _answer(request: web.Request, kind: str, items: list[dict[str, Any]],
            status: int = 200) -> web.Response:
    if request.path.endswith(".xml"):
        return web.Response(body=to_xml(kind, items), status=status,
                            content_type="text/xml", charset="utf-8")
    return web.json_response(items, status=status, dumps=_dumps)


def _errors(request: web.Request, status: int, description: str) -> web.Response:
    return _answer(request, "errors", [{"code": status, "description": description}], status)


@web.middleware
async def open311_errors(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    try:
        return await handler(request)
    except Open311Error as exc:
        return _errors(request, exc.status, exc.description)
    except WorkOrderError as exc:
        return _errors(request, exc.status if exc.status < 500 else 400, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _errors(request, exc.status, exc.reason)
    except (ConnectionError, TimeoutError):
        return _errors(request, 503, "a backend is unavailable; try again")
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _errors(request, 500, "internal error")


# ---- handlers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Open311Deps:
    orders: WorkOrderService | Callable[[], WorkOrderService | None]
    keys: Open311Keys


DEPS = web.AppKey("hotline_open311_deps", Open311Deps)


def _orders(request: web.Request) -> WorkOrderService:
    orders = request.config_dict[DEPS].orders
    service = orders() if callable(orders) else orders
    if service is None:
        raise Open311Error(503, "the order database is not ready yet; try again")
    return service


def _key(request: web.Request, form: Mapping[str, str] | None = None) -> ApiKey:
    raw = (form or {}).get("api_key") or request.query.get("api_key")
    key = request.config_dict[DEPS].keys.find(raw)
    if key is None:
        raise Open311Error(403, "invalid api_key")
    return key


def _list(raw: str | None, pattern: re.Pattern[str], name: str) -> list[str]:
    if raw is None:
        return []
    items = raw.split(",")
    if len(items) > MAX_LIST or not all(pattern.fullmatch(item) for item in items):
        raise Open311Error(400, f"{name} must be a comma-separated list of valid values")
    return items


def _when(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    moment = parse_datetime(raw.replace("Z", "+00:00")) if len(raw) <= 40 else None
    if moment is None:
        raise Open311Error(400, f"{name} must be a W3C date-time with a time zone")
    return moment


async def services(request: web.Request) -> web.Response:
    _key(request)
    return _answer(request, "services", _orders(request).open311_services())


async def list_requests(request: web.Request) -> web.Response:
    _key(request)
    q = request.query
    ids = _list(q.get("service_request_id"), ORDER_ID_PATTERN, "service_request_id")
    codes = _list(q.get("service_code"), _CODE, "service_code")
    statuses = _list(q.get("status"), re.compile("open|closed"), "status")
    start, end = _when(q.get("start_date"), "start_date"), _when(q.get("end_date"), "end_date")
    service = _orders(request)
    if not ids and start is None and end is None:
        start = service.now() - DEFAULT_WINDOW
    if start is not None and end is not None and start > end:
        raise Open311Error(400, "start_date is after end_date")
    found = await open311_requests(service, ids=ids, service_codes=codes, statuses=statuses,
                                   start=start, end=end, limit=MAX_REQUESTS)
    return _answer(request, "requests", found)


async def get_request(request: web.Request) -> web.Response:
    _key(request)
    request_id = request.match_info["service_request_id"]
    if not ORDER_ID_PATTERN.fullmatch(request_id):
        raise Open311Error(404, f"no service request {request_id[:40]}")
    found = await open311_requests(_orders(request), ids=[request_id])
    if not found:
        raise Open311Error(404, f"no service request {request_id}")
    return _answer(request, "requests", found)


def _text(form: Mapping[str, str], name: str, limit: int) -> str | None:
    value = form.get(name)
    if value is None or value == "":
        return None
    if len(value) > limit or _CONTROL.search(value):
        raise Open311Error(400, f"{name} must be at most {limit} characters of text")
    return value


def _float(form: Mapping[str, str], name: str) -> float | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw) if len(raw) <= 32 else float("nan")
    except ValueError:
        raise Open311Error(400, f"{name} must be a number") from None


async def create_request(request: web.Request) -> web.Response:
    if (request.content_length or 0) > MAX_FORM:
        raise Open311Error(413, f"requests are limited to {MAX_FORM} bytes")
    try:
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
    except (ValueError, UnicodeDecodeError):
        raise Open311Error(400, "the body must be form-encoded UTF-8") from None
    key = _key(request, form)
    service = _orders(request)
    code = form.get("service_code") or ""
    known = {c.code: c for c in service.categories}
    if code not in known:
        raise Open311Error(400, "service_code is required and must be one of services.json")
    description = _text(form, "description", 4000)
    if description is None:
        raise Open311Error(400, "description is required (the citizen's request)")
    phone = form.get("phone") or ""
    if phone and not _NUMBER.fullmatch(phone.replace(" ", "").replace("-", "")):
        raise Open311Error(400, "phone must be a telephone number")
    lat, lon = _float(form, "lat"), _float(form, "long")
    address = _text(form, "address_string", 200)
    if lat is None and lon is None and address is None:
        raise Open311Error(400, "give a location: lat and long, or address_string")
    try:
        location = Location(address, lat, lon)
    except WorkOrderError as exc:
        raise Open311Error(400, exc.message) from None
    order_id = await service.submit_online(
        key.platform, citizen_number=phone.replace(" ", "").replace("-", ""),
        region_code=key.region_code, summary=description, category=code)
    await set_location(service, order_id, location, f"open311:{key.name}")
    log.info("open311 %s: request %s (%s) as an online order", key.name, order_id, code)
    level = known[code].level
    return _answer(request, "requests",
                   [{"service_request_id": order_id, "service_notice": f"response level {level}",
                     "account_id": None}], status=201)


async def _headers(_request: web.Request, response: web.StreamResponse) -> None:
    """As the API's answers: never cached, framed or sniffed."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def build_open311(deps: Open311Deps) -> web.Application:
    """The GeoReport v2 sub-app, to mount at OPEN311_PREFIX."""
    app = web.Application(middlewares=[open311_errors], client_max_size=MAX_FORM)
    app[DEPS] = deps
    app.router.add_get("/services.{format:json|xml}", services)
    app.router.add_get("/requests.{format:json|xml}", list_requests)
    app.router.add_post("/requests.{format:json|xml}", create_request)
    app.router.add_get("/requests/{service_request_id}.{format:json|xml}", get_request)
    app.on_response_prepare.append(_headers)
    return app


# ---- the document's part ----------------------------------------------------------------------
_ERRORS = {"type": "array", "items": {
    "type": "object", "required": ["code", "description"],
    "properties": {"code": {"type": "integer"}, "description": {"type": "string"}}}}
_REQUEST = {"type": "object", "required": ["service_request_id", "status"], "properties": {
    "service_request_id": {"type": "string"}, "status": {"enum": ["open", "closed"]},
    "status_notes": {"type": ["string", "null"]}, "service_name": {"type": ["string", "null"]},
    "service_code": {"type": ["string", "null"]}, "description": {"type": ["string", "null"]},
    "agency_responsible": {"type": ["string", "null"]},
    "service_notice": {"type": ["string", "null"]},
    "requested_datetime": {"type": "string"}, "updated_datetime": {"type": "string"},
    "expected_datetime": {"type": ["string", "null"]},
    "address": {"type": ["string", "null"]}, "address_id": {"type": ["string", "null"]},
    "zipcode": {"type": ["string", "null"]}, "lat": {"type": ["number", "null"]},
    "long": {"type": ["number", "null"]}, "media_url": {"type": ["string", "null"]},
    "extended_attributes": {"type": "object"}}}
_SERVICE = {"type": "object", "required": ["service_code", "service_name", "metadata", "type"],
            "properties": {"service_code": {"type": "string"},
                           "service_name": {"type": "string"},
                           "description": {"type": "string"}, "metadata": {"type": "boolean"},
                           "type": {"enum": ["realtime", "batch", "blackbox"]},
                           "keywords": {"type": "string"}, "group": {"type": "string"}}}
_KEY = {"name": "api_key", "in": "query", "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200}}


_FORMAT = {"name": "format", "in": "path", "required": True,
           "description": "the answer's format: json, or xml (the specification's own)",
           "schema": {"type": "string", "enum": ["json", "xml"]}}


def _answers(ok: int, schema: dict[str, Any], *errors: int) -> dict[str, Any]:
    def content(body: dict[str, Any]) -> dict[str, Any]:
        return {"application/json": {"schema": body}, "text/xml": {"schema": {}}}
    out: dict[str, Any] = {str(ok): {"description": "success", "content": content(schema)}}
    # 404 also for a format other than json or xml (no such resource)
    for status in sorted({*errors, 403, 404, 500, 503}):
        out[str(status)] = {"description": "error", "content": content(
            {"$ref": "#/components/schemas/Open311Errors"})}
    return out


def _list_param(name: str, pattern: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": False,
            "schema": {"type": "array", "maxItems": MAX_LIST,
                       "items": {"type": "string", "pattern": pattern}}}


OPENAPI_PATHS: dict[str, Any] = {
    f"{OPEN311_PREFIX}/services.{{format}}": {"get": {
        "operationId": "open311_services", "tags": ["open311"], "security": [],
        "summary": "Open311: the services (one per order category)",
        "parameters": [_FORMAT, _KEY],
        "responses": _answers(200, {"type": "array", "items": _SERVICE})}},
    f"{OPEN311_PREFIX}/requests.{{format}}": {
        "get": {"operationId": "open311_requests", "tags": ["open311"], "security": [],
                "summary": "Open311: service requests (orders), newest first, at most 1000",
                "description": "Without service_request_id or dates: the last 90 days.",
                "parameters": [
                    _FORMAT, _KEY, _list_param("service_request_id", ORDER_ID_PATTERN.pattern),
                    _list_param("service_code", "^[a-z][a-z0-9_]{0,63}$"),
                    {"name": "start_date", "in": "query", "required": False,
                     "schema": {"type": "string", "format": "date-time"}},
                    {"name": "end_date", "in": "query", "required": False,
                     "schema": {"type": "string", "format": "date-time"}},
                    _list_param("status", "^(open|closed)$")],
                "responses": _answers(200, {"type": "array", "items": _REQUEST}, 400)},
        "post": {"operationId": "open311_create_request", "tags": ["open311"], "security": [],
                 "summary": "Open311: post a request received online (在线转交) as a new order",
                 "parameters": [_FORMAT],
                 "requestBody": {"required": True, "content": {
                     "application/x-www-form-urlencoded": {"schema": {
                         "type": "object", "required": ["api_key", "service_code",
                                                        "description"],
                         "properties": {
                             "api_key": {"type": "string", "minLength": 1, "maxLength": 200},
                             "service_code": {"type": "string"},
                             "description": {"type": "string", "maxLength": 4000},
                             "lat": {"type": "number", "minimum": -90, "maximum": 90},
                             "long": {"type": "number", "minimum": -180, "maximum": 180},
                             "address_string": {"type": "string", "maxLength": 200},
                             "phone": {"type": "string", "maxLength": 24},
                             "email": {"type": "string"}, "first_name": {"type": "string"},
                             "last_name": {"type": "string"}}}}}},
                 "responses": _answers(201, {"type": "array", "items": {
                     "type": "object", "required": ["service_request_id"],
                     "properties": {"service_request_id": {"type": "string"},
                                    "service_notice": {"type": ["string", "null"]},
                                    "account_id": {"type": ["string", "null"]}}}},
                     400, 413)}},
    f"{OPEN311_PREFIX}/requests/{{service_request_id}}.{{format}}": {"get": {
        "operationId": "open311_request", "tags": ["open311"], "security": [],
        "summary": "Open311: one service request",
        "parameters": [_FORMAT, _KEY, {"name": "service_request_id", "in": "path", "required": True,
                              "schema": {"type": "string"}}],
        "responses": _answers(200, {"type": "array", "items": _REQUEST}, 404)}},
}
OPENAPI_SCHEMAS = {"Open311Errors": _ERRORS}


