"""The pieces every endpoint shares: collaborators, the operation table's row type, and
the wrapper that authenticates, checks the role, parses and validates before a handler runs.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from services.api.accounts import ACCOUNT_ROLES, ROLES, Accounts, User
from services.api.desk import CallDesk
from services.api.errors import (
    ApiError,
    Forbidden,
    Invalid,
    TooManyRequests,
    Unauthorized,
    json_response,
)
from services.api.events import EventHub
from services.api.schema import check_schema, parse_datetime, problems
from services.api.throttle import Throttled

if TYPE_CHECKING:
    from services.api.transfer_desk import TransferDesk
    from services.call_log.apply import CallLog
    from services.dispatch.service import DispatchService
    from services.knowledge.service import KnowledgeService
    from services.routing.service import RoutingService
    from services.work_orders.service import WorkOrderService


@dataclass(frozen=True)
class ApiDeps:
    """Everything the API calls; built and passed in by the controller's wiring.

    `orders` and `routing` may be given as zero-argument callables for services that come
    up after the HTTP server (the database answers, the model loads): until they return
    a service, the endpoints that need them answer 503 `unavailable`.
    """

    orders: WorkOrderService | Callable[[], WorkOrderService | None]
    routing: RoutingService | Callable[[], RoutingService | None]
    desk: CallDesk
    accounts: Accounts
    events: EventHub
    # site -> the platform whose orders its supervisors see (a site not listed: its name)
    site_platforms: Mapping[str, str] = field(default_factory=dict)
    # browser origins besides the server's own that may open the events WebSocket
    allowed_origins: frozenset[str] = frozenset()
    # where each lookup of a citizen's number is written (callers.JsonlAudit); None: the log
    audit: Callable[[dict[str, Any]], None] | None = None
    # departments, their items and the dispatch flow (services/dispatch); None: 503
    dispatch: DispatchService | Callable[[], DispatchService | None] | None = None
    # the knowledge base (services.knowledge), or a callable until its database answers
    knowledge: KnowledgeService | Callable[[], KnowledgeService | None] | None = None
    # transfers and three-ways as resources (services/api/transfer_desk.py); None: 503
    transfers: TransferDesk | None = None
    # the call log's read side (services/call_log), or a callable until the database answers
    call_log: CallLog | Callable[[], CallLog | None] | None = None
    # call recordings (services.recordings.library.RecordingLibrary); None: 503
    recordings: Any = None
    # listen-in, whisper, barge (telephony.supervision.SupervisionDesk); None: 503
    supervision: Any = None


def _ready(value: Any, name: str) -> Any:
    service = value() if callable(value) else value
    if service is None:
        raise ApiError(f"the {name} service is not ready yet; try again", error_id="unavailable",
                       status=503, service=name)
    return service


@dataclass(frozen=True)
class Ctx:
    """One request, parsed: who asks, with what."""

    request: web.Request
    deps: ApiDeps
    user: User
    params: Mapping[str, str]
    query: Mapping[str, Any]
    body: Any

    @property
    def orders(self) -> WorkOrderService:
        return _ready(self.deps.orders, "work-order")

    @property
    def routing(self) -> RoutingService:
        return _ready(self.deps.routing, "routing")

    @property
    def dispatch(self) -> DispatchService:
        return _ready(self.deps.dispatch, "dispatch")


@dataclass(frozen=True)
class Reply:
    data: Any
    status: int = 200


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True)
class Operation:
    """One route and everything the OpenAPI document says about it."""

    method: str
    path: str                          # relative to /api/v1, aiohttp syntax: /calls/{call_id}
    handler: Handler
    summary: str
    tag: str
    roles: tuple[str, ...] = ROLES
    body: dict[str, Any] | None = None
    query: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    params: Mapping[str, dict[str, Any]] = field(default_factory=dict)
    ok: int = 200
    ok_schema: dict[str, Any] | None = None
    ok_media: str = "application/json"
    ok_media_alt: tuple[str, ...] = ()   # other media types of the success body
    errors: tuple[int, ...] = ()       # statuses besides the common ones
    authenticated: bool = True
    description: str = ""

    @property
    def operation_id(self) -> str:
        return self.handler.__name__.lstrip("_")

    def statuses(self) -> dict[int, str]:
        """Every status this operation may answer with, and why."""
        out = {self.ok: "success"}
        if self.authenticated:
            out[401] = "no or bad credentials"
            out[429] = "too many failed logins or bad tokens; see Retry-After"
        if self.authenticated and set(self.roles) != set(ACCOUNT_ROLES):
            out[403] = "the role may not do this"
        if self.body is not None:
            out.update({400: "body is not JSON", 413: "body too large",
                        422: "body breaks the schema or a rule"})
        if self.query:
            out[400] = "bad query parameter"
        if self.params:
            out[404] = "no such resource"
        for status in self.errors:
            out.setdefault(status, _REASONS[status])
        out[500] = "internal error (the body names an incident id)"
        out[503] = "a backend (database) is unavailable"
        return dict(sorted(out.items()))


_REASONS = {
    400: "bad request", 401: "wrong user or password", 403: "not allowed for this user (role, site, platform or seat)",
    404: "no such resource", 409: "the resource's state refuses this",
    410: "gone (a recording's audio past its retention)",
    502: "the switch refused (a supervisor's seat could not be rung)",
    422: "breaks a rule", 426: "a WebSocket upgrade is required",
    429: "too many failed attempts from this user or address; see Retry-After",
}  # fmt: skip


def check_operations(operations: list[Operation]) -> None:
    """Refuse at start any schema the checker would not understand."""
    for op in operations:
        for schema in [op.body, *op.query.values(), *op.params.values()]:
            if schema is not None:
                check_schema(schema)


# ---- request handling ---------------------------------------------------------------------
# Bodies of this API are small; the parent app's client_max_size (1 MiB default) still caps
# what aiohttp reads at all (a sub-app's own setting is not used).
MAX_BODY = 256 * 1024
DEPS = web.AppKey("hotline_api_deps", ApiDeps)
USER = web.RequestKey("hotline_api_user", User)


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


async def authenticate(request: web.Request, deps: ApiDeps, *, allow_query: bool) -> User:
    token = bearer_token(request)
    if token is None and allow_query:
        token = request.query.get("token")
    if not token:
        raise Unauthorized("send Authorization: Bearer <token>",
                           error_id="unauthorized")
    try:
        user = await deps.accounts.authenticate(token, request.remote)
    except Throttled as exc:
        raise TooManyRequests(exc.retry_after) from None
    if user is None:
        raise Unauthorized("the token is unknown or expired", error_id="bad_token")
    return user


def endpoint(op: Operation) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        deps = request.config_dict[DEPS]
        user = User(name="", role="") if not op.authenticated else await authenticate(
            request, deps, allow_query=op.method == "GET" and op.path == "/events")
        if op.authenticated and user.role not in op.roles:
            raise Forbidden(f"role {user.role} may not {op.summary[0].lower()}{op.summary[1:]}",
                            error_id="role_forbidden", role=user.role, allowed=list(op.roles))
        request[USER] = user
        params = _params(op, request)
        query = _query(op, request)
        body = await _body(op, request)
        result = await op.handler(Ctx(request, deps, user, params, query, body))
        if isinstance(result, web.StreamResponse):
            return result
        if isinstance(result, Reply):
            return json_response(result.data, status=result.status)
        return json_response(result, status=op.ok)

    handle.__name__ = op.operation_id
    return handle


def _params(op: Operation, request: web.Request) -> dict[str, str]:
    params = dict(request.match_info)
    for name, schema in op.params.items():
        if problems(schema, params.get(name)):
            raise ApiError(f"no such {name.removesuffix('_id')}: {params.get(name)!r}"[:200],
                           error_id=f"unknown_{name.removesuffix('_id')}", status=404)
    return params


def _query(op: Operation, request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    bad: list[dict[str, str]] = []
    for name, schema in op.query.items():
        if name not in request.query:
            continue
        raw = request.query.getall(name)[-1]
        value = _coerce(schema, raw)
        found = problems(schema, value, f"/{name}") if value is not _BAD else [
            {"path": f"/{name}", "message": f"expected {schema.get('type')}"}]
        if found:
            bad.extend(found)
        elif schema.get("format") == "date-time":
            out[name] = parse_datetime(value)
        else:
            out[name] = value
    if bad:
        raise ApiError("bad query parameters", error_id="bad_query", status=400, problems=bad)
    return out


_BAD = object()


def _coerce(schema: Mapping[str, Any], raw: str) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(raw) if len(raw) <= 12 else _BAD
        except ValueError:
            return _BAD
    if kind == "boolean":
        return {"true": True, "false": False}.get(raw.lower(), _BAD)
    if kind == "array":
        # "a,,b", "," and "" hold empty items: the schema then refuses them, as it says
        return raw.split(",")
    return raw


def _too_large() -> ApiError:
    return ApiError(f"bodies are limited to {MAX_BODY} bytes", error_id="body_too_large",
                    status=413, limit=MAX_BODY)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def _body(op: Operation, request: web.Request) -> Any:
    if op.body is None:
        return None
    if (request.content_length or 0) > MAX_BODY:
        raise _too_large()
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise _too_large()
    if not raw.strip():
        raise ApiError("a JSON body is required", error_id="malformed_json", status=400)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(f"the body is not JSON: {exc}"[:200], error_id="malformed_json",
                       status=400) from None
    found = problems(op.body, body)
    if found:
        raise Invalid("the body breaks the schema", problems=found[:20])
    return body
