"""Supervisor listen-in, whisper and barge on a live call (issue 18): a supervisor of the
call's site names the mode and their own softphone's seat; it rings, and on answer joins.
Every session is audited (started, ended) with the recordings' audit."""
from __future__ import annotations

from typing import Any

from services.api.access import actor
from services.api.core import Ctx, Operation, Reply
from services.api.errors import ApiError, Forbidden, NotFound
from services.api.shapes import BOOL, NAME, STR, listing, obj, shape

SESSION_OUT = shape(["session_id", "call_id", "site", "mode", "seat", "supervisor", "answered"],
                    session_id=STR, call_id=STR, site=STR, mode=STR, seat=STR, supervisor=STR,
                    answered=BOOL)


def _desk(ctx: Ctx) -> Any:
    desk = ctx.deps.supervision
    if desk is None:
        raise ApiError("supervision is not available", error_id="unavailable", status=503)
    return desk


def _own_site_call(ctx: Ctx) -> dict[str, Any]:
    call = ctx.deps.desk.call(ctx.params["call_id"])
    if call is None:
        raise NotFound("no such call (it may have ended)", error_id="call_not_found",
                       call_id=ctx.params["call_id"])
    if ctx.user.site is not None and ctx.user.site != call.get("site"):
        raise Forbidden("this call belongs to another site", error_id="other_site")
    return call


async def start_supervision(ctx: Ctx) -> Reply:
    """Ring the supervisor's seat; on answer it joins (a refusal is a DomainError: 404, 409,
    422 or 502 with its error id)."""
    call = _own_site_call(ctx)
    session = await _desk(ctx).start(call["call_id"], ctx.body["mode"], ctx.body["seat"],
                                     ctx.user.name, ctx.user.role)
    return Reply(session, 201)


async def list_supervision(ctx: Ctx) -> dict[str, Any]:
    call = _own_site_call(ctx)
    return {"sessions": _desk(ctx).sessions(call["call_id"])}


async def stop_supervision(ctx: Ctx) -> dict[str, Any]:
    call = _own_site_call(ctx)
    ended = await _desk(ctx).stop(call["call_id"], actor(ctx.user), ctx.user.role)
    return {"call_id": call["call_id"], "ended": ended}


CALL = {"call_id": NAME}
OPERATIONS = [
    Operation("POST", "/calls/{call_id}/supervision", start_supervision,
              "Listen in, whisper to the agent, or barge into a live call", "supervision",
              roles=("supervisor",), params=CALL, ok=201, errors=(403, 409, 502),
              ok_schema=SESSION_OUT,
              body=obj(["mode", "seat"], mode={"type": "string",
                                               "enum": ["listen", "whisper", "barge"]},
                       seat={"type": "string", "pattern": r"^[0-9]{1,10}$"}),
              description="The supervisor's softphone (`seat`, one of the site's supervisor "
              "seats, 422 `not_a_supervisor_seat` otherwise) rings; on answer it joins through "
              "a snoop on the agent's leg (listen: hears both; whisper: also speaks to the "
              "agent alone) or the call's bridge (barge). The citizen never hears listen or "
              "whisper. 409 `call_not_answered` before an agent answers, `seat_busy` when the "
              "seat supervises already. Audited (`supervision_started`, `supervision_ended`)."),
    Operation("GET", "/calls/{call_id}/supervision", list_supervision,
              "The supervision sessions on a live call", "supervision", roles=("supervisor",),
              params=CALL, errors=(403,), ok_schema=listing("sessions", SESSION_OUT)),
    Operation("DELETE", "/calls/{call_id}/supervision", stop_supervision,
              "End the supervision of a live call (the supervisor's leg is hung up)",
              "supervision", roles=("supervisor",), params=CALL, errors=(403,),
              ok_schema=shape(["call_id", "ended"], call_id=STR,
                              ended={"type": "array", "items": STR})),
]
