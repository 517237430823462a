"""The controller as the API sees it (`services.api.desk.CallDesk`): calls,
seats and the overflow switch as plain dicts, and keys posted through the
same state machine as a softphone's."""
from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.api.desk import ACTION_KEYS
from services.seats import Seat, SeatBoard
from telephony.calls import machine
from telephony.calls.controller import CallController
from telephony.calls.dispatcher import SeatDispatcher
from telephony.calls.model import Call, KeyPressed, Notice, Notify
from telephony.calls.ports import CallObserver
from telephony.calls.transfers import running


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
                 resuggest: Callable[[Call, str, str], dict | None] = lambda c, s, a: None):
        self._calls = calls
        self._board = board
        self._force_overflow = force_overflow
        self._resuggest = resuggest

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

    def __init__(self, publish: Callable[[dict], object]):
        self._publish = publish

    def call_opened(self, call: Call) -> None:
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": call_view(call), "kind": "call_opened"})

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        # `call` is the call as it is now: notices come from its own runner
        view = call_view(call)
        if kind is Notice.SEAT_ANSWERED:
            self._publish({"type": "call_incoming", "site": call.site, "platform": call.platform,
                           "seat": detail.get("seat"), "call": view})
        if kind is Notice.KEY_REFUSED:
            self._publish({"type": "key_refused", "site": call.site, "platform": call.platform,
                           "seat": view["seat"], "call_id": call.id, **detail})
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": view, "kind": kind, "detail": detail})
