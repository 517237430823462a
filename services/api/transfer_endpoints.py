"""Transfers and three-ways as resources (in the manner of wazo-calld's `/transfers`).

`POST /transfers` rings the other platform or a line for the call's agent, with this
transfer's own `flow` (warm or blind) and `timeout`, and answers 201 with its id once the
call's state machine has taken it; `GET` reads it (also after it ended, for a while),
`DELETE` calls it off, `PUT .../complete` releases the agent of a warm transfer before the
target answers. `/three-ways` is the same for inviting the other platform into the call,
with `complete` (*3: the other platform takes the case) and `keep` (*4). A key press (*1,
*2, *8, *0, *3, *4) and a desk button make and move the same records, through the same
machine. The table `OPERATIONS` joins the API's table.
"""
from __future__ import annotations

from typing import Any

from services.api.access import check_may_act, may_see_call
from services.api.core import Ctx, Operation, Reply
from services.api.errors import ApiError, Forbidden, Invalid, NotFound
from services.api.shapes import AGENTS, NAME, OPT_STR, STR, listing, nullable, obj, shape
from services.api.transfer_desk import TransferDesk

ACTORS = (*AGENTS, "supervisor")
READERS = (*AGENTS, "supervisor", "ops")
TIMEOUT = {"type": "integer", "minimum": 5, "maximum": 120,
           "description": "seconds the target may ring (default: the site's setting)"}
LINE = {"type": "string", "pattern": r"^[a-z0-9_]{1,32}$"}
FLOW = {"type": "string", "enum": ["warm", "blind"]}
STATUSES = ["ringing", "answered", "completed", "kept", "cancelled", "failed", "ended"]
TRANSFER_OUT = shape(
    ["transfer_id", "kind", "call_id", "site", "platform", "status", "target", "flow",
     "timeout_s", "created_at"],
    transfer_id=STR, kind={"type": "string", "enum": ["transfer", "three_way"]}, call_id=STR,
    site=STR, platform=STR, order_id=OPT_STR, initiator_seat=OPT_STR,
    status={"type": "string", "enum": STATUSES},
    target=shape(["type"], type={"type": "string", "enum": ["platform", "line"]},
                 line=OPT_STR),
    flow={"type": ["string", "null"], "enum": ["warm", "blind", None]},
    timeout_s={"type": ["integer", "null"]}, via={"type": "string", "enum": ["key", "api"]},
    agent_released={"type": "boolean"}, reason=OPT_STR, taken_by=OPT_STR,
    created_at=STR, updated_at=STR, ended_at=OPT_STR)
TRANSFER_PARAMS = {"transfer_id": NAME}
THREE_WAY_PARAMS = {"three_way_id": NAME}
LIST_QUERY = {"call_id": NAME, "status": {"type": "string", "enum": STATUSES}}


def _desk(ctx: Ctx) -> TransferDesk:
    desk = ctx.deps.transfers
    if desk is None:
        raise ApiError("transfers are not available here", error_id="unavailable", status=503,
                       service="transfers")
    return desk


def _record(ctx: Ctx, kind: str) -> dict[str, Any]:
    """The record the path names, of this kind, that the user may see."""
    transfer_id = ctx.params.get("transfer_id") or ctx.params["three_way_id"]
    record = _desk(ctx).get(transfer_id)
    if record is None or record["kind"] != kind:
        raise NotFound(f"no such {kind.replace('_', '-')} (or it ended long ago)",
                       error_id=f"{kind}_not_found")
    if not may_see_call(ctx.user, record):
        raise Forbidden("this transfer belongs to another site or platform",
                        error_id="other_site")
    return record


def _check_may_move(ctx: Ctx, record: dict[str, Any]) -> None:
    """Someone at the call's site; an agent only on a transfer their seat started (they may
    still call it off after a blind transfer released them)."""
    user = ctx.user
    if user.site is None or user.site != record["site"]:
        raise Forbidden("this transfer belongs to another site", error_id="other_site",
                        transfer_site=record["site"], your_site=user.site)
    if user.is_agent and (record["platform"] != user.platform
                          or record["initiator_seat"] != user.seat):
        raise Forbidden("this transfer was started at another seat", error_id="not_your_call")


def _known_call(ctx: Ctx) -> dict[str, Any]:
    call = ctx.deps.desk.call(ctx.body["call_id"])
    if call is None:
        raise NotFound("no such call (it may have ended)", error_id="call_not_found",
                       call_id=ctx.body["call_id"])
    check_may_act(ctx.user, call)
    return call


# ---- transfers --------------------------------------------------------------------------------
async def create_transfer(ctx: Ctx) -> Reply:
    body = ctx.body
    if body["target"] != "line" and body.get("line") is not None:
        raise Invalid("`line` goes with target `line` only",
                      problems=[{"path": "/line", "message": "only with target line"}])
    call = _known_call(ctx)
    record = await _desk(ctx).start(call["call_id"], "transfer", body["target"],
                                    body.get("line"), body.get("flow"), body.get("timeout"))
    return Reply(record, 201)


async def list_transfers(ctx: Ctx) -> dict[str, Any]:
    return {"transfers": _listed(ctx, "transfer")}


async def get_transfer(ctx: Ctx) -> dict[str, Any]:
    return _record(ctx, "transfer")


async def _move(ctx: Ctx, kind: str, move: str) -> dict[str, Any]:
    """Cancel, complete or keep a transfer or three-way: the same checks, one desk call."""
    record = _record(ctx, kind)
    _check_may_move(ctx, record)
    return (await getattr(_desk(ctx), move)(record["transfer_id"]))[0]


async def cancel_transfer(ctx: Ctx) -> dict[str, Any]:
    return await _move(ctx, "transfer", "cancel")


async def complete_transfer(ctx: Ctx) -> dict[str, Any]:
    return await _move(ctx, "transfer", "complete")


# ---- three-ways -------------------------------------------------------------------------------
async def create_three_way(ctx: Ctx) -> Reply:
    call = _known_call(ctx)
    record = await _desk(ctx).start(call["call_id"], "three_way", ctx.body["target"],
                                    timeout_s=ctx.body.get("timeout"))
    return Reply(record, 201)


async def list_three_ways(ctx: Ctx) -> dict[str, Any]:
    return {"three_ways": _listed(ctx, "three_way")}


async def get_three_way(ctx: Ctx) -> dict[str, Any]:
    return _record(ctx, "three_way")


async def cancel_three_way(ctx: Ctx) -> dict[str, Any]:
    return await _move(ctx, "three_way", "cancel")


async def complete_three_way(ctx: Ctx) -> dict[str, Any]:
    return await _move(ctx, "three_way", "complete")


async def keep_three_way(ctx: Ctx) -> dict[str, Any]:
    return await _move(ctx, "three_way", "keep")


def _listed(ctx: Ctx, kind: str) -> list[dict[str, Any]]:
    call_id, status = ctx.query.get("call_id"), ctx.query.get("status")
    return [r for r in _desk(ctx).records()
            if r["kind"] == kind and may_see_call(ctx.user, r)
            and call_id in (None, r["call_id"]) and status in (None, r["status"])]


# ---- the table --------------------------------------------------------------------------------
_STATUS_TEXT = (
    "Statuses: a transfer `ringing` → `completed` (the target answered; the agent is "
    "released) | `cancelled` | `failed` (`reason`: busy, no_answer, unreachable, site_down, "
    "rejected; the citizen stays with, or is rung back to, the agent) | `ended` (`reason`: "
    "call_ended). Each change is a `transfer_created`, `transfer_updated` or `transfer_ended` "
    "event on `GET /events`.")
_THREE_WAY_TEXT = (
    "Statuses: `ringing` → `answered` (all three in one bridge) → `completed` (*3: the "
    "other platform takes the case, this agent leaves) | `kept` (*4: the invited party "
    "leaves, the case stays) | `cancelled` (*0) | `failed` | `ended` (`reason`: "
    "target_left, agent_left, call_ended). Events as for transfers, with `kind: three_way`.")
_DONE = "The record after the change (if the call had not acted on it within 10 s, as it " \
    "was then; the change follows as an event)."

OPERATIONS: list[Operation] = [
    Operation("POST", "/transfers", create_transfer,
              "Transfer a call to the other platform or a line", "transfers", roles=ACTORS,
              ok=201, errors=(403, 404, 409), ok_schema=TRANSFER_OUT,
              body=obj(["call_id", "target"], call_id=NAME,
                       target={"type": "string", "enum": ["platform", "line"]},
                       line=nullable(LINE), flow=FLOW, timeout=TIMEOUT),
              description="As the agent's *1 (target `platform`) or *8 (target `line`; "
              "without `line`, the call's suggested line), with this transfer's own `flow` "
              "and `timeout` (defaults: the site's HOTLINE_TRANSFER_MODE and "
              "HOTLINE_TRANSFER_TIMEOUT_S). A new INVITE leg carries the citizen's number and "
              "the order headers. 201 once the call's machine has started it (`ringing`); "
              "409 `transfer_running` (its id in `details`) when a transfer or three-way is "
              "already running, `action_not_allowed` when the call's state refuses it, "
              "`call_not_answered`; 422 `unknown_line`. " + _STATUS_TEXT),
    Operation("GET", "/transfers", list_transfers, "Transfers running or ended lately",
              "transfers", roles=READERS, query=LIST_QUERY,
              ok_schema=listing("transfers", TRANSFER_OUT)),
    Operation("GET", "/transfers/{transfer_id}", get_transfer, "One transfer", "transfers",
              roles=READERS, params=TRANSFER_PARAMS, errors=(403,), ok_schema=TRANSFER_OUT,
              description="Live, or ended within the last 15 minutes (at most 1000 kept). "
              + _STATUS_TEXT),
    Operation("PUT", "/transfers/{transfer_id}/complete", complete_transfer,
              "Complete a warm transfer now: release the agent before the target answers",
              "transfers", roles=ACTORS, params=TRANSFER_PARAMS, errors=(403, 409),
              ok_schema=TRANSFER_OUT,
              description="The citizen waits on the target alone, as in a blind transfer "
              "(`agent_released: true`, `flow: blind`); if the target fails the citizen is "
              "rung back to the agent's seat. A warm transfer completes by itself when the "
              "target answers. " + _DONE),
    Operation("DELETE", "/transfers/{transfer_id}", cancel_transfer,
              "Cancel a ringing transfer: the citizen goes back to the agent", "transfers",
              roles=ACTORS, params=TRANSFER_PARAMS, errors=(403, 409), ok_schema=TRANSFER_OUT,
              description="As *0 while the target rings (warm); after a blind transfer the "
              "citizen is rung back to the agent's seat. 409 `transfer_ended` once it has "
              "ended. " + _DONE),
    Operation("POST", "/three-ways", create_three_way,
              "Invite the other platform into the call", "three-ways", roles=ACTORS, ok=201,
              errors=(403, 404, 409), ok_schema=TRANSFER_OUT,
              body=obj(["call_id", "target"], call_id=NAME,
                       target={"type": "string", "enum": ["platform"]}, timeout=TIMEOUT),
              description="As the agent's *2. 409 as for `POST /transfers`. "
              + _THREE_WAY_TEXT),
    Operation("GET", "/three-ways", list_three_ways, "Three-ways running or ended lately",
              "three-ways", roles=READERS, query=LIST_QUERY,
              ok_schema=listing("three_ways", TRANSFER_OUT)),
    Operation("GET", "/three-ways/{three_way_id}", get_three_way, "One three-way",
              "three-ways", roles=READERS, params=THREE_WAY_PARAMS, errors=(403,),
              ok_schema=TRANSFER_OUT, description=_THREE_WAY_TEXT),
    Operation("DELETE", "/three-ways/{three_way_id}", cancel_three_way,
              "Drop the invited party (*0)", "three-ways", roles=ACTORS,
              params=THREE_WAY_PARAMS, errors=(403, 409), ok_schema=TRANSFER_OUT,
              description=_DONE),
    Operation("PUT", "/three-ways/{three_way_id}/complete", complete_three_way,
              "Hand over (*3): the other platform takes the case, the agent leaves",
              "three-ways", roles=ACTORS, params=THREE_WAY_PARAMS, errors=(403, 409),
              ok_schema=TRANSFER_OUT, description="Only once `answered`. " + _DONE),
    Operation("PUT", "/three-ways/{three_way_id}/keep", keep_three_way,
              "Keep (*4): the invited party leaves, the case stays here", "three-ways",
              roles=ACTORS, params=THREE_WAY_PARAMS, errors=(403, 409),
              ok_schema=TRANSFER_OUT, description="Only once `answered`. " + _DONE),
]
