"""Dispatch endpoints: the catalogue, the department suggestion, the flow (派单, 签收, 退单,
改派) and the per-department reports. The table `OPERATIONS` joins the API's table.

Who may do what: the hotline's 12345 agents and supervisors dispatch; only the
department holding an order (a `department` user) accepts or returns it; only a
supervisor reassigns. A department user sees its own orders, its own report row and
nothing of the rest of the API but the session endpoints.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.api.accounts import DEPARTMENT_ROLE, User
from services.api.core import Ctx, Operation
from services.api.errors import Forbidden
from services.work_orders.ids import ORDER_ID_PATTERN, platform_of

PLATFORM = "12345"
HOTLINE = ("agent_12345", "supervisor")
DEPARTMENT = (DEPARTMENT_ROLE,)
BOARD = ("supervisor", "ops")

# ---- schemas (the same subset services/api/schema.py checks) --------------------------------
_TEXT = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u2028\u2029]*$"
DEPARTMENT_ID = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,63}$"}
ORDER_ID = {"type": "string", "pattern": ORDER_ID_PATTERN.pattern}
REGION = {"type": "string", "pattern": r"^\d{6}$"}
DATETIME = {"type": "string", "format": "date-time", "maxLength": 40}
STR, INT, NUM = {"type": "string"}, {"type": "integer"}, {"type": ["number", "null"]}


def text(limit: int, minimum: int = 0) -> dict[str, Any]:
    return {"type": "string", "maxLength": limit, "pattern": _TEXT,
            **({"minLength": minimum} if minimum else {})}


def obj(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


def shape(required: list[str], **properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties}


SUGGESTION = shape(["department", "confidence", "candidates"], department={"type": ["string",
                   "null"]}, confidence={"type": "number"}, candidates={"type": "array"},
                   fallback={"type": "boolean"})
STEP_OUT = shape(["order_id", "action", "state", "department", "status"], order_id=STR,
                 action=STR, state=STR, department={"type": ["string", "null"]}, status=STR)
DISPATCH_OUT = shape(["order_id", "state", "department", "suggestion", "steps"],
                     order_id=STR, state=STR, department={"type": ["string", "null"]},
                     suggestion={"type": ["object", "null"]}, steps={"type": "array"})
DEPARTMENT_ROW = shape(["department", "orders", "response_rate", "resolution_rate",
                        "satisfaction_rate", "overdue", "returns"], department=STR,
                       orders=INT, response_rate=NUM, resolution_rate=NUM,
                       satisfaction_rate=NUM, overdue=INT, returns=INT)


# ---- who may see and do what ----------------------------------------------------------------
def _actor(user: User) -> str:
    return f"api:{user.name}"


def _check_hotline_side(ctx: Ctx, order_id: str) -> None:
    """Departments take 12345 work orders; a supervisor bound to another platform's site
    does not move them."""
    if platform_of(order_id) != PLATFORM:
        raise Forbidden("only 12345 work orders are dispatched to departments",
                        error_id="other_platform", order_id=order_id)
    user = ctx.user
    if user.role == "supervisor" and user.site is not None and \
            ctx.deps.site_platforms.get(user.site, user.site) != PLATFORM:
        raise Forbidden(f"a supervisor at site {user.site} does not dispatch 12345 orders",
                        error_id="other_site", order_id=order_id)


async def _check_holder(ctx: Ctx, order_id: str) -> None:
    """A department user sees and acts on an order only while it holds it."""
    if ctx.user.role != "department":
        return
    if await ctx.dispatch.holder(order_id) != ctx.user.department:
        raise Forbidden("this order is not held by your department", error_id="not_your_order",
                        order_id=order_id)


def _own_rows(user: User, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if user.role != "department" or r["department"] == user.department]


# ---- catalogue and suggestion ---------------------------------------------------------------
async def list_departments(ctx: Ctx) -> dict[str, Any]:
    catalogue = await ctx.dispatch.catalogue()
    return {"departments": [
        {"department": d.id, "name": d.name, "remit": d.remit,
         "items": [i.to_record() for i in catalogue.items_of(d.id)]}
        for d in catalogue.departments.values()]}


async def suggest_department(ctx: Ctx) -> dict[str, Any]:
    body = ctx.body
    return ctx.dispatch.suggest(body["text"], body.get("category"), body.get("region")).to_dict()


# ---- the flow -------------------------------------------------------------------------------
async def get_dispatch(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    if ctx.user.role != "department":
        _check_hotline_side(ctx, order_id)
    await _check_holder(ctx, order_id)
    return await ctx.dispatch.of_order(order_id)


async def dispatch_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    _check_hotline_side(ctx, order_id)
    result = await ctx.dispatch.dispatch(order_id, ctx.body["department"], _actor(ctx.user),
                                         note=ctx.body.get("note", ""))
    return result.to_dict()


async def accept_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    await _check_holder(ctx, order_id)
    assert ctx.user.department is not None   # accounts require it of a department user
    result = await ctx.dispatch.accept(order_id, ctx.user.department, _actor(ctx.user))
    return result.to_dict()


async def return_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    await _check_holder(ctx, order_id)
    assert ctx.user.department is not None
    result = await ctx.dispatch.return_(order_id, ctx.user.department, _actor(ctx.user),
                                        ctx.body["reason"])
    return result.to_dict()


async def reassign_order(ctx: Ctx) -> dict[str, Any]:
    order_id = ctx.params["order_id"]
    _check_hotline_side(ctx, order_id)
    result = await ctx.dispatch.reassign(order_id, ctx.body["department"], _actor(ctx.user),
                                         ctx.body["reason"])
    return result.to_dict()


async def department_queue(ctx: Ctx) -> dict[str, Any]:
    """What a department holds now: a department user's own; a supervisor names one."""
    user = ctx.user
    department = user.department if user.role == "department" else ctx.query.get("department")
    if department is None:
        raise Forbidden("say which department (?department=)", error_id="department_required")
    if user.role == "department" and ctx.query.get("department") not in (None, department):
        raise Forbidden("a department sees only its own orders", error_id="not_your_department")
    return {"department": department,
            "orders": await ctx.dispatch.queue(department, ctx.query.get("state"),
                                               ctx.query.get("limit", 100))}


# ---- reports --------------------------------------------------------------------------------
async def department_report(ctx: Ctx) -> dict[str, Any]:
    """Per department: the three rates of its 12345 orders, its overdue orders under
    supervision (督办) and its returns (退单)."""
    q = ctx.query
    rates = await ctx.orders.rates(by=["department"], since=q.get("since"),
                                   until=q.get("until"), platform=PLATFORM)
    overdue: dict[str, list[int]] = {}
    for item in await ctx.orders.board():
        if item.platform == PLATFORM:
            overdue.setdefault(item.department or "unassigned", []).append(item.tier)
    returns = {r["department"]: r for r in await ctx.dispatch.returns(q.get("since"),
                                                                      q.get("until"))}
    names = {d.id: d.name for d in (await ctx.dispatch.catalogue()).departments.values()}
    rows: dict[str, dict[str, Any]] = {}
    for department in [*names, *(r.group["department"] for r in rates), *overdue, *returns]:
        rows.setdefault(department, {
            "department": department, "name": names.get(department), "orders": 0, "due": 0,
            "response_rate": None, "resolution_rate": None, "satisfaction_rate": None,
            "overdue": 0, "max_tier": 0, "returns": 0})
    for rate in rates:
        row = rows[rate.group["department"]]
        row.update({k: v for k, v in rate.to_dict().items() if k != "group"})
    for department, tiers in overdue.items():
        rows[department].update(overdue=len(tiers), max_tier=max(tiers))
    for department, entry in returns.items():
        rows[department]["returns"] = entry["returns"]
    return {"rows": _own_rows(ctx.user, sorted(rows.values(), key=lambda r: r["department"]))}


async def returns_report(ctx: Ctx) -> dict[str, Any]:
    rows = await ctx.dispatch.returns(ctx.query.get("since"), ctx.query.get("until"))
    return {"rows": _own_rows(ctx.user, rows)}


async def accuracy_report(ctx: Ctx) -> dict[str, Any]:
    return await ctx.dispatch.accuracy()


# ---- the table ------------------------------------------------------------------------------
ORDER_PARAMS = {"order_id": ORDER_ID}
SINCE_UNTIL = {"since": DATETIME, "until": DATETIME}
STATE = {"type": "string", "enum": ["dispatched", "accepted"]}

OPERATIONS: list[Operation] = [
    Operation("GET", "/dispatch/departments", list_departments,
              "The dispatch catalogue: departments and their responsibility items", "dispatch",
              roles=(*HOTLINE, "ops", *DEPARTMENT),
              ok_schema=shape(["departments"], departments={"type": "array"})),
    Operation("POST", "/dispatch/suggestions", suggest_department,
              "Suggest the responsible department for a text", "dispatch", roles=HOTLINE,
              ok_schema=SUGGESTION,
              body=obj(["text"], text=text(4000, 1), category=text(64), region=REGION)),
    Operation("GET", "/dispatch/queue", department_queue,
              "The orders a department holds now", "dispatch", roles=(*DEPARTMENT, *BOARD),
              errors=(403,),
              ok_schema=shape(["department", "orders"], department=STR,
                              orders={"type": "array"}),
              query={"department": DEPARTMENT_ID, "state": STATE,
                     "limit": {"type": "integer", "minimum": 1, "maximum": 500}}),
    Operation("GET", "/orders/{order_id}/dispatch", get_dispatch,
              "An order's dispatch state, department suggestion and steps", "dispatch",
              roles=(*HOTLINE, *DEPARTMENT), params=ORDER_PARAMS, errors=(403,),
              ok_schema=DISPATCH_OUT,
              description="The suggestion names the department, its confidence and ranked "
              "candidates, each with the responsibility item that matched and on which "
              "words, and the order's category and region. A department user sees only an "
              "order its department holds."),
    Operation("POST", "/orders/{order_id}/dispatch", dispatch_order,
              "派单: send a 12345 order to a department", "dispatch", roles=HOTLINE,
              params=ORDER_PARAMS, errors=(403, 409), ok_schema=STEP_OUT,
              body=obj(["department"], department=DEPARTMENT_ID, note=text(2000))),
    Operation("POST", "/orders/{order_id}/accept", accept_order,
              "签收: the department holding the order takes it on", "dispatch",
              roles=DEPARTMENT, params=ORDER_PARAMS, errors=(403, 409), ok_schema=STEP_OUT,
              body=obj([], note=text(2000))),
    Operation("POST", "/orders/{order_id}/return", return_order,
              "退单: the department holding the order sends it back, with a reason",
              "dispatch", roles=DEPARTMENT, params=ORDER_PARAMS, errors=(403, 409),
              ok_schema=STEP_OUT, body=obj(["reason"], reason=text(2000, 1))),
    Operation("POST", "/orders/{order_id}/reassign", reassign_order,
              "改派: a supervisor sends the order to another department", "dispatch",
              roles=("supervisor",), params=ORDER_PARAMS, errors=(403, 409),
              ok_schema=STEP_OUT,
              body=obj(["department", "reason"], department=DEPARTMENT_ID,
                       reason=text(2000, 1))),
    Operation("GET", "/reports/departments", department_report,
              "Per department: the three rates, overdue orders under supervision, returns",
              "reports", roles=(*BOARD, *DEPARTMENT),
              ok_schema=shape(["rows"], rows={"type": "array", "items": DEPARTMENT_ROW}),
              query=SINCE_UNTIL,
              description="12345 orders grouped by the department holding them. Rates as "
              "/reports/rates computes them; `overdue` counts orders still waiting past their "
              "deadline with a supervision notice (`max_tier` the highest). A department "
              "user gets its own row only."),
    Operation("GET", "/reports/returns", returns_report, "退单 per department, with reasons",
              "reports", roles=(*BOARD, *DEPARTMENT), query=SINCE_UNTIL,
              ok_schema=shape(["rows"], rows={"type": "array"})),
    Operation("GET", "/reports/dispatch-accuracy", accuracy_report,
              "Dispatch accuracy: the suggested department against the final one", "reports",
              roles=BOARD,
              ok_schema=shape(["orders", "correct", "accuracy", "departments"], orders=INT,
                              correct=INT, accuracy=NUM, departments={"type": "array"}),
              description="Over 12345 orders a department holds (dispatched or accepted) "
              "that had a suggestion: how often the department holding it is the one "
              "suggested. The suggestion is fixed once a department holds the order."),
]
