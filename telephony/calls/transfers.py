"""Transfers and three-ways as things with an id: the machine's part (pure, no I/O).

A transfer starts the same way whether the agent pressed *1, *2 or *8 or the API posted
`TransferRequested`: `start_transfer` below, called from the machine's key handler and
from `requested`. The call keeps the latest transfer (`Call.transfer`: its id, flow and
timeout) so that what the API set for this one transfer overrides the site's settings for
it alone, and survives a takeover with the call. The API's requests that have no key
(`PUT .../complete` on a warm transfer, a cancel once the agent has gone) are events of
their own here; the rest are the keys themselves (*0, *3, *4).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from telephony.calls.model import (
    Call,
    CallState,
    HangupLeg,
    Leg,
    LegRole,
    Notice,
    Notify,
    RingTarget,
    StartRingback,
    Step,
    TransferMode,
    target_headers,
)

S = CallState
Flow = Literal["warm", "blind"]
Kind = Literal["transfer", "three_way"]


@dataclass(frozen=True)
class Transfer:
    """One transfer or three-way of a call. `id` names the API resource: the API's own
    id, or for a key press the target leg's id (unique, and known without I/O)."""
    id: str
    kind: Kind
    flow: Flow = "warm"
    timeout_s: int | None = None    # None: the site's HOTLINE_TRANSFER_TIMEOUT_S
    via: Literal["key", "api"] = "key"


@dataclass(frozen=True)
class TransferRequested:
    """The API asks for a transfer (or three-way) on behalf of the call's agent."""
    leg_id: str                 # the agent leg the request was made for
    transfer: Transfer
    mode: TransferMode
    line: str | None = None     # LINE: the line; None: the routing suggestion's


@dataclass(frozen=True)
class TransferCompleteRequested:
    """`PUT /transfers/{id}/complete` while a warm transfer rings: release the agent now."""
    transfer_id: str


@dataclass(frozen=True)
class TransferCancelRequested:
    """`DELETE /transfers/{id}` once the agent has gone (blind): no key can say it."""
    transfer_id: str


def kind_of(mode: TransferMode) -> Kind:
    return "three_way" if mode is TransferMode.THREE_WAY else "transfer"


def start_transfer(call: Call, mode: TransferMode, line: str | None = None,
                   transfer: Transfer | None = None) -> Step:
    """Ring the target as a new leg: the key's way and the API's way are this one."""
    leg = Leg(id=call.next_leg_id("t"), role=LegRole.TARGET)
    transfer = transfer or Transfer(leg.id, kind_of(mode),
                                    "blind" if call.blind_transfer else "warm")
    ring = RingTarget(mode, leg.id, call.citizen_number, target_headers(call, mode), line,
                      transfer.timeout_s)
    notice = Notify(Notice.TRANSFER_STARTED, {
        "mode": mode.value, "line": line,
        "seat": call.agent_leg.seat if call.agent_leg else None,
        "transfer_id": transfer.id, "flow": transfer.flow})
    base = replace(call, target_leg=leg, transfer_mode=mode, attempts=call.attempts + 1,
                   transfer=transfer)
    if mode is TransferMode.THREE_WAY:
        return Step(replace(base, state=S.THREE_WAY_RINGING), (ring, notice))
    if transfer.flow == "blind" and call.agent_leg:
        # blind: the agent is free at once, but the seat is kept for the citizen's return
        agent = call.agent_leg
        return Step(replace(base, state=S.BLIND_RINGING, agent_leg=None, reserved_seat=agent.seat),
                    (ring, HangupLeg(agent.id), StartRingback(call.citizen_leg.id), notice))
    return Step(replace(base, state=S.TRANSFER_RINGING), (ring, notice))


def refuse(call: Call, transfer_id: str, why: str) -> Step:
    """An API request the call's state refuses: nothing changes, the API is told (no tone:
    the agent pressed nothing)."""
    return Step(call, (Notify(Notice.TRANSFER_REFUSED, {
        "transfer_id": transfer_id, "state": call.state.value, "why": why}),))


def running(call: Call) -> bool:
    """A transfer or three-way is under way: ringing, or a three-way in progress."""
    return call.state in (S.TRANSFER_RINGING, S.BLIND_RINGING, S.THREE_WAY_RINGING,
                          S.THREE_WAY)


def requested(call: Call, event: TransferRequested) -> Step:
    """The API's transfer in a two-way call: as the key would, with the request's flow,
    timeout and line."""
    transfer = event.transfer
    if call.agent_leg is None or call.agent_leg.id != event.leg_id:
        return refuse(call, transfer.id, "the agent the request was made for has left")
    line = event.line
    if event.mode is TransferMode.LINE:
        line = line or call.suggested_line
        if line is None:
            return refuse(call, transfer.id, "no line given and no suggested line")
    return start_transfer(call, event.mode, line, transfer)


def refuse_request(call: Call, event: TransferRequested) -> Step:
    why = ("a transfer or three-way is already running" if running(call)
           else f"no transfer is possible in state {call.state.value}")
    return refuse(call, event.transfer.id, why)


def release_agent(call: Call, event: TransferCompleteRequested) -> Step:
    """Complete a warm transfer before the target answers: the agent is released now and
    the citizen waits on the target alone, as in a blind transfer (the seat is kept for
    the citizen's return if the target fails)."""
    agent = call.agent_leg
    if agent is None or call.transfer is None or call.transfer.id != event.transfer_id:
        return refuse(call, event.transfer_id, "not this call's running transfer")
    return Step(replace(call, state=S.BLIND_RINGING, agent_leg=None, reserved_seat=agent.seat,
                        transfer=replace(call.transfer, flow="blind")),
                (HangupLeg(agent.id), StartRingback(call.citizen_leg.id),
                 Notify(Notice.TRANSFER_RELEASED, {"transfer_id": event.transfer_id,
                                                   "seat": agent.seat})))


def refuse_complete(call: Call, event: TransferCompleteRequested) -> Step:
    return refuse(call, event.transfer_id, f"nothing to complete in state {call.state.value}")


def refuse_cancel(call: Call, event: TransferCancelRequested) -> Step:
    return refuse(call, event.transfer_id, f"nothing to cancel in state {call.state.value}")


TransferRequest = TransferRequested | TransferCompleteRequested | TransferCancelRequested
