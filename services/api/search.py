"""`GET /orders/search`: orders filtered by time, status, category, level, region,
platform, number and overdue, a page at a time as `{items, total, next}`.

`GET /orders` keeps its `{"orders": [...]}` answer for the clients that read it.
"""
from __future__ import annotations

from typing import Any

from services.api.access import actor, check_may_write_order, site_platform
from services.api.callers import ORDER_ITEM, audit_lookup
from services.api.core import Ctx, Operation
from services.api.errors import Forbidden, Invalid
from services.api.shapes import (
    CATEGORY,
    DATETIME,
    INT,
    LEVEL,
    NUMBER,
    ORDER_ID,
    ORDER_ROLES,
    PLATFORMS,
    STR,
    obj,
    shape,
    text,
)
from services.work_orders.errors import InvalidOrder
from services.work_orders.search import Location, OrderQuery, search_orders, set_location
from services.work_orders.status import Status


def _platform(ctx: Ctx) -> str | None:
    """The asked platform, narrowed to what this user may list (403 for another)."""
    asked, user = ctx.query.get("platform"), ctx.user
    own = user.platform if user.is_agent else site_platform(ctx)
    if own is not None and asked not in (None, own):
        raise Forbidden(f"you list only {own} orders", error_id="other_platform"
                        if user.is_agent else "other_site")
    return own or asked


async def find_orders(ctx: Ctx) -> dict[str, Any]:
    q, user = ctx.query, ctx.user
    number = q.get("number")
    if number is not None and user.role != "supervisor":
        raise Forbidden("only supervisors search by a citizen's number",
                        error_id="number_search_forbidden")
    query = OrderQuery(since=q.get("since"), until=q.get("until"), status=q.get("status", ()),
                       category=q.get("category", ()), level=q.get("level", ()),
                       region=q.get("region"), platform=_platform(ctx), number=number,
                       overdue=q.get("overdue"))
    limit, offset = q.get("limit", 50), q.get("offset", 0)
    items, total = await search_orders(ctx.orders, query, limit=limit, offset=offset,
                                       whole_numbers=user.role == "supervisor")
    if number is not None:
        audit_lookup(ctx, "order_search", number, len(items))
    after = offset + len(items)
    return {"items": items, "total": total, "next": after if after < total else None}


async def put_location(ctx: Ctx) -> dict[str, Any]:
    """Where the request is about: an address, coordinates, or both (validated here)."""
    order_id = ctx.params["order_id"]
    check_may_write_order(ctx.user, order_id, ctx)
    body = ctx.body
    try:
        location = Location(body.get("address"), body.get("lat"), body.get("long"))
    except InvalidOrder as exc:
        raise Invalid(exc.message, problems=[{"path": "/", "message": exc.message}]) from None
    await set_location(ctx.orders, order_id, location, actor(ctx.user))
    return {"order_id": order_id, "location": location.to_dict()}


LOCATION = {**obj([], address=text(200, 1),
                  lat={"type": "number", "minimum": -90, "maximum": 90},
                  long={"type": "number", "minimum": -180, "maximum": 180}),
            "minProperties": 1}


def _many(item: dict[str, Any], most: int) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": most, "items": item}


OPERATIONS: list[Operation] = [
    Operation("GET", "/orders/search", find_orders, "Search orders, with totals and paging",
              "orders", roles=ORDER_ROLES, errors=(403,),
              ok_schema=shape(["items", "total", "next"],
                              items={"type": "array", "items": ORDER_ITEM}, total=INT,
                              next={"type": ["integer", "null"]}),
              description="Every filter is optional and they combine (AND); a list filter "
              "(`status=received,assigned`) matches any of its values. `since` and `until` "
              "bound the opening time (since ≤ opened < until); `region` is a GB/T 2260 code "
              "or its prefix; `number` (supervisors only, audited) is matched whole; "
              "`overdue=true` is replied late or still waiting past the deadline. Newest "
              "first; `next` is the `offset` of the next page, null on the last. Agents get "
              "their platform's orders, a supervisor with a site that site's platform's.",
              query={
                  "since": DATETIME, "until": DATETIME,
                  "status": _many({"type": "string", "enum": [str(s) for s in Status]}, 9),
                  "category": _many(CATEGORY, 20), "level": _many(LEVEL, 4),
                  "region": {"type": "string", "pattern": r"^[0-9]{2,12}$"},
                  "platform": {"type": "string", "enum": PLATFORMS},
                  "number": NUMBER, "overdue": {"type": "boolean"},
                  "limit": {"type": "integer", "minimum": 1, "maximum": 500},
                  "offset": {"type": "integer", "minimum": 0, "maximum": 1_000_000}}),
    Operation("PUT", "/orders/{order_id}/location", put_location,
              "Set where an order's request is about (address and/or coordinates)", "orders",
              roles=ORDER_ROLES, params={"order_id": ORDER_ID}, body=LOCATION, errors=(403,),
              ok_schema=shape(["order_id", "location"], order_id=STR,
                              location={"type": "object"}),
              description="`lat` and `long` (WGS 84) come together; an address is 1 to 200 "
              "characters. Audited on the order (a `details` entry). Search rows and Open311 "
              "requests show it."),
]
