"""The controller as the API sees it (`services.api.desk.CallDesk`): calls,
seats and the overflow switch as plain dicts, and keys posted through the
same state machine as a softphone's."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from services.api.desk import ACTION_KEYS
from services.seats import Seat, SeatBoard
from telephony.calls import machine
from telephony.calls.controller import CallController, CallObserver
from telephony.calls.model import Call, KeyPressed, Notify


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
        refused = any(isinstance(c, Notify) and c.kind == "key_refused" for c in step.commands)
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
    }


def seat_view(seat: Seat) -> dict[str, Any]:
    return {"site": seat.site, "seat": seat.id, "state": seat.state.value,
            "registered": seat.registered, "paused": seat.paused}


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
        self._calls.seat_resumed(site)
        return seat_view(changed)

    def overflow(self) -> dict[str, bool]:
        return {site: status["active"] for site, status in self._calls.overflow_status().items()}

    def overflow_status(self) -> dict[str, dict]:
        return self._calls.overflow_status()

    async def set_overflow(self, site: str, enabled: bool | None, *, actor: str = "api",
                           reason: str = "") -> bool:
        if site not in self._calls.overflow_status():
            return False
        mode = {True: "on", False: "off", None: "auto"}[enabled]
        self._force_overflow(site, mode, reason or f"switched {mode} through the API", actor)
        return True


class EventFeed(CallObserver):
    """Call happenings -> the API's live event hub (pop-ups, state changes, refusals)."""

    def __init__(self, publish: Callable[[dict], object],
                 calls: Callable[[], CallController | None]):
        self._publish = publish
        self._calls = calls

    def call_opened(self, call: Call) -> None:
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": call_view(call), "kind": "call_opened"})

    def notice(self, call: Call, kind: str, detail: dict) -> None:
        controller = self._calls()
        current = (controller.call(call.id) if controller else None) or call
        view = call_view(current)
        if kind == "seat_answered":
            self._publish({"type": "call_incoming", "site": call.site, "platform": call.platform,
                           "seat": detail.get("seat"), "call": view})
        if kind == "key_refused":
            self._publish({"type": "key_refused", "site": call.site, "platform": call.platform,
                           "seat": view["seat"], "call_id": call.id, **detail})
        self._publish({"type": "call_state", "site": call.site, "platform": call.platform,
                       "call": view, "kind": kind, "detail": detail})
