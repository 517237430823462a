"""The controller as the API sees it (`services.api.desk.CallDesk`): calls,
seats and the overflow switch as plain dicts, and keys posted through the
same state machine as a softphone's."""
from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.api.desk import ACTION_KEYS
from services.errors import DomainError
from services.privacy import mask_number
from services.seats import Seat, SeatBoard, SeatState
from telephony.calls import control, machine
from telephony.calls.controller import CallController
from telephony.calls.dispatcher import SeatDispatcher
from telephony.calls.model import (
    Call,
    CallbackPlaced,
    CallEvent,
    CallState,
    HangupRequested,
    HoldRequested,
    KeyPressed,
    LegRole,
    MuteRequested,
    Notice,
    Notify,
    other_platform,
)
from telephony.calls.ports import CallObserver
from telephony.calls.transfers import running

# the desk's call controls (services/api/control_endpoints.py), as the machine's requests
CONTROLS: dict[str, CallEvent] = {
    "hold": HoldRequested(True), "unhold": HoldRequested(False),
    "mute": MuteRequested(True), "unmute": MuteRequested(False),
    "hangup_agent": HangupRequested(LegRole.AGENT),
    "hangup_target": HangupRequested(LegRole.TARGET),
    "hangup_citizen": HangupRequested(LegRole.CITIZEN),
}


def allowed_controls(call: Call) -> list[str]:
    """The controls the call's machine would accept now, each stepped through it as
    `allowed_actions` steps keys: a refused one comes back as a `control_refused` notice."""
    allowed = []
    for name, request in CONTROLS.items():
        step = machine.step(call, request)
        if step.commands and not any(isinstance(c, Notify) and c.kind == Notice.CONTROL_REFUSED
                                     for c in step.commands):
            allowed.append(name)
    return allowed


def allowed_actions(call: Call) -> list[str]:
    """The call actions the call's state machine would accept now. Each action's key is
    stepped through the machine itself (a pure function: nothing is carried out), so the
    desk enables a button exactly when pressing it would not be refused."""
    agent = call.agent_leg
    if agent is None:
        return []
    allowed = []
    for action, key in ACTION_KEYS.items():
        step = machine.step(call, KeyPressed(agent.id, key))
        refused = any(isinstance(c, Notify) and c.kind == Notice.KEY_REFUSED
                      for c in step.commands)
        if step.commands and not refused:
            allowed.append(action)
    return allowed


def call_view(call: Call) -> dict[str, Any]:
    return {
        "call_id": call.id, "site": call.site, "platform": call.platform,
        "state": call.state.value, "citizen_number": call.citizen_number,
        "order_id": call.order_id, "linked_order_id": call.linked_order_id,
        "seat": call.agent_leg.seat if call.agent_leg else None,
        "origin_site": call.origin_site, "via_trunk": call.via_trunk,
        "transfer_mode": call.transfer_mode.value if call.transfer_mode else None,
        "suggested_line": call.suggested_line, "emergency": call.emergency,
        "case_taken_by": call.case_taken_by, "allowed_actions": allowed_actions(call),
        # the running transfer or three-way (GET /transfers/{id}), None when none runs
        "transfer_id": call.transfer.id if call.transfer and running(call) else None,
        "on_hold": call.on_hold, "muted": call.muted, "callback": call.callback,
        "allowed_controls": allowed_controls(call),
    }


def seat_view(seat: Seat) -> dict[str, Any]:
    return {"site": seat.site, "seat": seat.id, "state": seat.state.value,
            "registered": seat.registered, "paused": seat.paused}


class OverflowSwitch:
    """The ops switch (启动应急联动预案); every change is appended to an audit file."""

    def __init__(self, seats: SeatDispatcher, audit_path: Path):
        self._seats = seats
        self._audit_path = audit_path

    def force(self, site: str, mode: str, reason: str, actor: str) -> dict:
        if mode not in ("on", "off", "auto"):
            raise ValueError(f"overflow mode must be on, off or auto, not {mode!r}")
        if not reason.strip():
            raise ValueError("a reason is required to switch overflow")
        status = self._seats.force_overflow(site, {"on": True, "off": False, "auto": None}[mode],
                                            reason)
        entry = {"at": datetime.now(UTC).isoformat(), "site": site, "mode": mode,
                 "reason": reason, "actor": actor, "status": status}
        with open(self._audit_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())
        return status


class ControllerDesk:
    def __init__(self, calls: CallController, board: SeatBoard,
                 force_overflow: Callable[[str, str, str, str], dict],
                 resuggest: Callable[[Call, str, str], dict | None] = lambda c, s, a: None,
                 new_order_id: Callable[[str], str] | None = None,
                 site_platform: Mapping[str, str] | None = None, blind: bool = False,
                 bookings: Callable[[str], list[dict[str, Any]]] = lambda site: []):
        self._calls = calls
        self._board = board
        self._force_overflow = force_overflow
        self._resuggest = resuggest
        self._new_order_id = new_order_id   # None: callbacks cannot be placed
        self._site_platform = dict(site_platform or {})
        self._blind = blind
        self._bookings = bookings   # a site's booked callbacks not yet placed

    # ---- call control: hold, mute, a leg hung up; callbacks; the queue ------------------
    async def control(self, call_id: str, name: str) -> bool:
        """Post the control `name` (a key of CONTROLS) to the call; False if it is gone."""
        return self._calls.control(call_id, CONTROLS[name])

    async def place_callback(self, site: str, order_id: str, number: str,
                             seat: str | None) -> dict[str, Any]:
        """Call the citizen of `order_id` back from `site`; `seat` (free now) is kept for
        the agent who asked and rung once the citizen answers, else the waiting line's
        next seat answers. Refusals are DomainErrors (404 site or seat, 409 seat busy)."""
        platform = self._site_platform.get(site)
        if platform is None:
            raise DomainError(f"no site {site}", error_id="site_not_found", status=404, site=site)
        if self._new_order_id is None:
            raise DomainError("callbacks need a citizen gateway (HOTLINE_CITIZEN_GATEWAY)",
                              error_id="callbacks_unavailable", status=409)
        if seat is not None:
            self._claim(site, seat)
        call = control.callback_call(uuid.uuid4().hex[:12], site, platform, order_id, number,
                                     self._new_order_id(other_platform(platform)),
                                     self._blind)
        self._calls.open_placed(call, CallbackPlaced(seat))
        return call_view(call)

    def _claim(self, site: str, seat: str) -> None:
        found = self._board.get(site, seat)
        if found is None:
            raise DomainError(f"no seat {seat} at site {site}", error_id="seat_not_found",
                              status=404, site=site, seat=seat)
        if not found.registered or found.state is not SeatState.AVAILABLE:
            raise DomainError(f"seat {seat} is {found.state.value}, not free to call back",
                              error_id="seat_busy", status=409, seat=seat,
                              state=found.state.value)
        self._board.mark_busy(site, seat)

    def queue(self, site: str) -> dict[str, Any] | None:
        """The site's waiting calls (head first: emergencies, then first come) with how long
        each has waited, and its seats by state; None for an unknown site."""
        if self._site_platform.get(site) is None:
            return None
        line = self._calls.seats.waiting(site)
        waited = line.waits()
        waiting = []
        for position, call_id in enumerate(line.calls(), start=1):
            call = self._calls.call(call_id)
            if call is None:
                continue
            waiting.append({"call_id": call_id, "position": position,
                            "wait_s": round(waited.get(call_id, 0.0), 1),
                            "priority": "emergency" if call.emergency else "normal",
                            "emergency": call.emergency, "state": call.state.value,
                            "citizen_number": mask_number(call.citizen_number) or None,
                            "order_id": call.order_id, "callback": call.callback})
        seats = [seat_view(seat) for seat in self._board.seats(site)]
        counts: dict[str, int] = {}
        for seat in seats:
            counts[seat["state"]] = counts.get(seat["state"], 0) + 1
        return {"site": site, "waiting": waiting, "longest_wait_s": round(line.longest_wait(), 1),
                "seats": seats, "seat_counts": counts,
                "callbacks_booked": self._bookings(site),
                "ringing": sum(1 for c in self._calls.calls
                               if c.site == site and c.state is CallState.RINGING_SEAT)}

    def calls(self) -> list[dict[str, Any]]:
        return [call_view(call) for call in self._calls.calls]

    def call(self, call_id: str) -> dict[str, Any] | None:
        call = self._calls.call(call_id)
        return call_view(call) if call else None

    async def press(self, call_id: str, key: str) -> bool:
        return self._calls.press(call_id, key)

    async def summary_changed(self, call_id: str, summary: str, *,
                              actor: str = "api") -> dict[str, Any] | None:
        """The agent's summary: a fresh suggestion (None if the call is gone)."""
        call = self._calls.call(call_id)
        if call is None:
            return None
        return self._resuggest(call, summary, actor)

    def seats(self) -> list[dict[str, Any]]:
        return [seat_view(seat) for seat in self._board.seats()]

    async def pause(self, site: str, seat: str) -> dict[str, Any] | None:
        changed = self._board.pause(site, seat)
        return seat_view(changed) if changed else None

    async def resume(self, site: str, seat: str) -> dict[str, Any] | None:
        changed = self._board.resume(site, seat)
        if changed is None:
            return None
        self._calls.seats.seat_resumed(site)
        return seat_view(changed)

    def overflow(self) -> dict[str, bool]:
        return {site: status["active"] for site, status in self._calls.seats.overflow_status().items()}

    def overflow_status(self) -> dict[str, dict]:
        return self._calls.seats.overflow_status()

    async def set_overflow(self, site: str, enabled: bool | None, *, actor: str = "api",
                           reason: str = "") -> bool:
        if site not in self._calls.seats.overflow_status():
            return False
        mode = {True: "on", False: "off", None: "auto"}[enabled]
        self._force_overflow(site, mode, reason or f"switched {mode} through the API", actor)
        return True


class EventFeed(CallObserver):
    """Call happenings -> the API's live event hub (pop-ups, state changes, refusals)."""

    def __init__(self, publish: Callable[[dict], object],
                 listening: Callable[[], bool] = lambda: True):
        self._publish = publish
        # a call's view is built for every notice; with no desk or board open (most of
        # a night, and every load test) nobody would read it, so it is not built
        self._listening = listening

    def call_opened(self, call: Call) -> None:
        if not self._listening():
            return
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": call_view(call), "kind": "call_opened"})

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        # `call` is the call as it is now: notices come from its own runner
        if not self._listening():
            return
        view = call_view(call)
        if kind is Notice.SEAT_ANSWERED:
            self._publish({"type": "call_incoming", "site": call.site, "platform": call.platform,
                           "seat": detail.get("seat"), "call": view})
        if kind is Notice.KEY_REFUSED:
            self._publish({"type": "key_refused", "site": call.site, "platform": call.platform,
                           "seat": view["seat"], "call_id": call.id, **detail})
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": view, "kind": kind, "detail": detail})
