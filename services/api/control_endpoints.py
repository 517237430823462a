"""Call control as resources: hold, unhold, mute, unmute and hanging up one leg of a live
call; a callback placed on an order; each site's queue (waiting calls and seats).

Each control is posted through the call's own state machine, as a key is: the call's
`allowed_controls` (in `GET /calls/{call_id}` and the call events) lists what its state
accepts now, and anything else is 409 `control_not_allowed`. A callback rings the
order's citizen showing the hotline's number; the agent who places it gets the call on
their seat once the citizen answers, through the usual call machine (keys, transfers).
"""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.api.access import actor, check_may_act
from services.api.call_endpoints import _known_call
from services.api.callers import number_digest
from services.api.core import Ctx, Operation, Reply
from services.api.errors import Conflict, Forbidden, NotFound
from services.api.shapes import (
    AGENTS,
    BOOL,
    INT,
    NAME,
    OPT_STR,
    ORDER_ID,
    SEAT_OUT,
    SITE,
    STR,
    obj,
    shape,
)
from services.privacy import mask_number
from services.work_orders.ids import platform_of

CONTROL_ROLES = (*AGENTS, "supervisor", "ops")
CONTROLS = ("hold", "unhold", "mute", "unmute")
LEGS = ("agent", "target", "citizen")
SEAT = {"type": "string", "pattern": r"^[0-9]{1,16}$"}


# ---- controls on a live call ----------------------------------------------------------
async def _control(ctx: Ctx, name: str) -> Reply:
    call = _known_call(ctx)
    check_may_act(ctx.user, call)
    allowed = call.get("allowed_controls")
    if allowed is not None and name not in allowed:
        raise Conflict(f"{name} is not possible in state {call.get('state')}",
                       error_id="control_not_allowed", state=call.get("state"),
                       allowed=allowed)
    if not await ctx.deps.desk.control(call["call_id"], name):
        raise NotFound("no such call (it has ended)", error_id="call_not_found",
                       call_id=call["call_id"])
    return Reply({"call_id": call["call_id"], "control": name, "accepted": True}, 202)


def _control_endpoint(name: str):
    async def handler(ctx: Ctx) -> Reply:
        return await _control(ctx, name)
    handler.__name__ = f"{name}_call"
    return handler


async def hangup_leg(ctx: Ctx) -> Reply:
    return await _control(ctx, f"hangup_{ctx.params['leg']}")


# ---- callbacks ------------------------------------------------------------------------------
def _callback_site(ctx: Ctx, order_platform: str) -> tuple[str, str | None]:
    """Where the callback is placed from, and whose seat answers it: an agent's own seat
    at their own site; a supervisor or ops a site they cover (and, if named, a seat)."""
    user, body = ctx.user, ctx.body
    if user.is_agent:
        if body.get("seat") not in (None, user.seat) or body.get("site") not in (None, user.site):
            raise Forbidden("an agent places callbacks from their own seat only",
                            error_id="not_your_seat")
        site, seat = user.site, user.seat
    else:
        site, seat = body.get("site") or user.site, body.get("seat")
    if site is None:
        raise Conflict("name the site the callback is placed from", error_id="site_required")
    if not user.covers_site(site):
        raise Forbidden("this site is not yours", error_id="other_site", site=site)
    if ctx.deps.site_platforms.get(site, site) != order_platform:
        raise Forbidden(f"site {site} does not work {order_platform} orders",
                        error_id="other_platform", site=site)
    return site, seat


async def place_callback(ctx: Ctx) -> Reply:
    order_id = ctx.params["order_id"]
    site, seat = _callback_site(ctx, platform_of(order_id))
    record = await ctx.orders.record(order_id)   # 404 order_not_found if there is none
    number = record.get("citizen_number") or ""
    if not number.lstrip("+").isdigit():
        raise Conflict("the order has no number to call back", error_id="no_number",
                       order_id=order_id)
    _audit(ctx, order_id, number, site, seat)
    call = await ctx.deps.desk.place_callback(site, order_id, number, seat)
    return Reply({"call_id": call["call_id"], "order_id": order_id, "site": site, "seat": seat,
                  "state": call["state"], "citizen_number": mask_number(number)}, 202)


def _audit(ctx: Ctx, order_id: str, number: str, site: str, seat: str | None) -> None:
    """A callback dials a citizen's number: it goes in the lookup audit like a lookup."""
    sink = ctx.deps.audit
    if sink is not None:
        sink({"at": datetime.now(UTC).isoformat(), "what": "callback", "user": ctx.user.name,
              "role": ctx.user.role, "site": site, "seat": seat, "order_id": order_id,
              "number": mask_number(number), "number_sha256": number_digest(number),
              "by": actor(ctx.user), "remote": ctx.request.remote})


# ---- the queue ------------------------------------------------------------------------------
async def site_queue(ctx: Ctx) -> dict[str, Any]:
    site = ctx.params["site"]
    if not ctx.user.covers_site(site):
        raise Forbidden("this site is not yours", error_id="other_site", site=site)
    queue = ctx.deps.desk.queue(site)
    if queue is None:
        raise NotFound(f"no site {site}", error_id="site_not_found", site=site)
    return queue


CALL_PARAMS = {"call_id": NAME}
CONTROL_OUT = shape(["call_id", "control", "accepted"], call_id=STR, control=STR,
                    accepted=BOOL)
WAITING_OUT = shape(["call_id", "position", "wait_s", "priority", "emergency"],
                    call_id=STR, position=INT, wait_s={"type": "number"},
                    priority={"type": "string", "enum": ["emergency", "normal"]},
                    emergency=BOOL, state=STR, citizen_number=OPT_STR, order_id=OPT_STR,
                    callback=BOOL)
QUEUE_OUT = shape(["site", "waiting", "longest_wait_s", "seats"], site=STR,
                  waiting={"type": "array", "items": WAITING_OUT},
                  longest_wait_s={"type": "number"},
                  seats={"type": "array", "items": SEAT_OUT},
                  seat_counts={"type": "object"}, ringing=INT,
                  callbacks_booked={"type": "array", "items": shape(
                      ["order_id", "booked_s"], order_id=STR, citizen_number=OPT_STR,
                      booked_s={"type": "number"}, attempts=INT)})
CALLBACK_OUT = shape(["call_id", "order_id", "site", "seat", "state"], call_id=STR,
                     order_id=STR, site=STR, seat=OPT_STR, state=STR, citizen_number=OPT_STR)
_CONTROL_TEXT = {
    "hold": "Put the citizen on hold: music on their leg; only in a two-way call",
    "unhold": "Take the citizen off hold",
    "mute": "Mute the agent's voice (the agent still hears the call)",
    "unmute": "Unmute the agent's voice",
}
_CONTROL_DESCRIPTION = (
    "Posted through the call's state machine. The call's `allowed_controls` (in "
    "`GET /calls/{call_id}` and the call events) lists what its state accepts now; any other "
    "control is 409 `control_not_allowed`. An agent acts only on the call at their seat; a "
    "supervisor or ops on calls of their site.")

OPERATIONS: list[Operation] = [
    *(Operation("POST", f"/calls/{{call_id}}/{name}", _control_endpoint(name),
                _CONTROL_TEXT[name], "calls", roles=CONTROL_ROLES, params=CALL_PARAMS, ok=202,
                errors=(403, 404, 409), ok_schema=CONTROL_OUT,
                description=_CONTROL_DESCRIPTION) for name in CONTROLS),
    Operation("POST", "/calls/{call_id}/legs/{leg}/hangup", hangup_leg,
              "Hang up one leg: the agent's, the invited party's (target) or the citizen's",
              "calls", roles=CONTROL_ROLES, ok=202, errors=(403, 404, 409),
              params={**CALL_PARAMS, "leg": {"type": "string", "enum": list(LEGS)}},
              ok_schema=CONTROL_OUT,
              description=_CONTROL_DESCRIPTION + " The call then moves as if that party hung "
              "up: the agent leaving a two-way call or the citizen leaving ends it; the invited "
              "seat leaving a three-way returns it to two-way (the case stays here)."),
    Operation("POST", "/orders/{order_id}/callback", place_callback,
              "Call the order's citizen back, showing the hotline's number", "calls",
              roles=CONTROL_ROLES, params={"order_id": ORDER_ID}, ok=202,
              errors=(403, 404, 409), ok_schema=CALLBACK_OUT,
              body=obj([], site=SITE, seat=SEAT),
              description="Rings the citizen of the order through the PSTN gateway with the "
              "platform's service number (12345 or 110) in From. When they answer, the seat "
              "that placed it rings (an agent's own seat; a supervisor or ops may name a free "
              "seat of their site, or none: the site's next free seat), and the call runs as "
              "any other (keys, transfers, hold). The seat must be free: 409 `seat_busy`. "
              "Audited in the lookup audit, as a lookup of the number is."),
    Operation("GET", "/sites/{site}/queue", site_queue,
              "A site's queue: waiting calls (wait, priority) and seats by state", "seats",
              roles=CONTROL_ROLES, params={"site": SITE}, errors=(403, 404),
              ok_schema=QUEUE_OUT,
              description="Waiting calls head first (emergencies ahead), each with its wait "
              "in seconds; citizens' numbers masked. Seats with their states. Callbacks "
              "citizens booked (surge key 2, or hanging up while waiting) and not yet placed, "
              "oldest first: `POST /orders/{order_id}/callback` places one."),
]

__all__ = ["OPERATIONS"]
