"""Transfers and three-ways as the API sees them (`services.api.transfer_desk.TransferDesk`).

`TransferBook` listens to what calls do (a `CallObserver`, like the journal) and keeps one
record per transfer or three-way, whoever started it: a key (*1, *2, *8) or
`POST /transfers`. Its status follows the call's machine, so the API never guesses; an
ended record stays readable for a while (at most `keep` records, `keep_s` seconds), and
each change goes out on the events WebSocket as `transfer_created`, `transfer_updated` or
`transfer_ended`.

`ControllerTransfers` turns the API's requests into the machine's events: the same keys
(*0, *3, *4) where a key says it, and the transfer events where none does.
"""
from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.errors import DomainError
from telephony.calls import machine
from telephony.calls import transfers as tr
from telephony.calls.controller import CallController
from telephony.calls.model import Call, CallState, KeyPressed, Notice, Notify, TransferMode
from telephony.calls.ports import CallObserver

S = CallState
ENDED_STATUSES = ("completed", "kept", "cancelled", "failed", "ended")
WAIT_S = 10.0   # how long an API request waits for the call's runner to act on it


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class TransferBook(CallObserver):
    """Every transfer and three-way, live (one per call at most) and recently ended."""

    def __init__(self, publish: Callable[[dict], object], clock: Callable[[], str] = _now,
                 keep: int = 1000, keep_s: float = 900.0,
                 monotonic: Callable[[], float] | None = None):
        self._publish = publish
        self._clock = clock
        self._monotonic = monotonic or time.monotonic
        self._keep, self._keep_s = keep, keep_s
        self._records: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._ended_at: dict[str, float] = {}
        self._live: dict[str, str] = {}                  # call id -> its running transfer's id
        self._waiters: dict[str, list[asyncio.Future]] = {}

    # ---- reading ---------------------------------------------------------------------------
    def get(self, transfer_id: str) -> dict[str, Any] | None:
        self._forget_old()
        record = self._records.get(transfer_id)
        return dict(record) if record else None

    def records(self) -> list[dict[str, Any]]:
        self._forget_old()
        return [dict(r) for r in self._records.values()]

    def live_for(self, call_id: str) -> dict[str, Any] | None:
        transfer_id = self._live.get(call_id)
        return self.get(transfer_id) if transfer_id else None

    def changed(self, transfer_id: str) -> asyncio.Future:
        """A future set with the record at its next change (or with a refusal's detail)."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(transfer_id, []).append(future)
        return future

    def stop_waiting(self, transfer_id: str, future: asyncio.Future) -> None:
        """A waiter that gave up: drop it, so nothing is kept for a record that never moves."""
        waiting = self._waiters.get(transfer_id, [])
        if future in waiting:
            waiting.remove(future)
        if not waiting:
            self._waiters.pop(transfer_id, None)

    # ---- what calls do ---------------------------------------------------------------------
    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        if kind is Notice.TRANSFER_STARTED:
            self._created(call, detail)
        elif kind is Notice.TRANSFER_REFUSED:
            self._wake(detail.get("transfer_id", ""), {"refused": detail})
        elif call.id in self._live:
            self._moved(call, kind, detail)

    def _created(self, call: Call, detail: dict) -> None:
        transfer = call.transfer
        if transfer is None:
            return
        mode = detail.get("mode")
        now = self._clock()
        record = {
            "transfer_id": transfer.id, "kind": transfer.kind, "call_id": call.id,
            "site": call.site, "platform": call.platform, "order_id": call.order_id,
            "initiator_seat": detail.get("seat"),
            "target": {"type": "line" if mode == TransferMode.LINE.value else "platform",
                       "line": detail.get("line")},
            "flow": transfer.flow if transfer.kind == "transfer" else None,
            "timeout_s": transfer.timeout_s, "via": transfer.via, "status": "ringing",
            "agent_released": call.agent_leg is None, "reason": None, "taken_by": None,
            "created_at": now, "updated_at": now, "ended_at": None,
        }
        self._live[call.id] = transfer.id
        self._records[transfer.id] = record
        self._publish_change("transfer_created", record)
        self._wake(transfer.id, record)
        self._forget_old()

    def _moved(self, call: Call, kind: Notice, detail: dict) -> None:
        record = self._records.get(self._live[call.id])
        if record is None:
            self._live.pop(call.id, None)
            return
        change = _CHANGES.get(kind)
        update = change(call, detail) if change else None
        if update is None:
            return
        status = update.get("status", record["status"])
        record.update(update, updated_at=self._clock())
        if status in ENDED_STATUSES:
            record["ended_at"] = record["updated_at"]
            self._live.pop(call.id, None)
            self._ended_at[record["transfer_id"]] = self._monotonic()
            self._publish_change("transfer_ended", record)
        else:
            self._publish_change("transfer_updated", record)
        self._wake(record["transfer_id"], record)

    def _publish_change(self, event_type: str, record: dict[str, Any]) -> None:
        self._publish({"type": event_type, "site": record["site"],
                       "platform": record["platform"], "seat": record["initiator_seat"],
                       "transfer": dict(record)})

    def _wake(self, transfer_id: str, outcome: dict[str, Any]) -> None:
        for future in self._waiters.pop(transfer_id, []):
            if not future.done():
                future.set_result(dict(outcome))

    def _forget_old(self) -> None:
        """Ended records go after `keep_s`, or oldest first beyond `keep`: bounded memory
        whatever the call volume (a live record goes only with its call)."""
        # `_ended_at` is in the order the records ended, oldest first: the scan stops at
        # the first record that stays (it was a copy of every ended record, at each
        # transfer, under load)
        now = self._monotonic()
        while self._ended_at:
            transfer_id, ended = next(iter(self._ended_at.items()))
            if now - ended <= self._keep_s and len(self._records) <= self._keep:
                break
            self._drop(transfer_id)

    def _drop(self, transfer_id: str) -> None:
        self._ended_at.pop(transfer_id, None)
        self._records.pop(transfer_id, None)


def _released(call: Call, detail: dict) -> dict | None:
    if call.state is S.BLIND_RINGING:   # the agent left (or was released) while it rang
        flow = "blind" if call.transfer and call.transfer.kind == "transfer" else None
        return {"agent_released": True, **({"flow": flow} if flow else {})}
    if call.state is S.HANDED_OVER:     # left a three-way without *3 or *4 (首接负责制)
        return {"status": "ended", "reason": "agent_left", "agent_released": True}
    return None


def _negotiated(call: Call, detail: dict) -> dict:
    status = "completed" if detail.get("key") == "*3" else "kept"
    return {"status": status, "taken_by": detail.get("taken_by"),
            "agent_released": status == "completed"}


_CHANGES: dict[Notice, Callable[[Call, dict], dict | None]] = {
    Notice.TRANSFER_RELEASED: _released,
    Notice.AGENT_LEFT: _released,
    Notice.THREE_WAY_JOINED: lambda call, d: {"status": "answered"},
    Notice.TRANSFER_COMPLETED: lambda call, d: {"status": "completed", "agent_released": True,
                                                "taken_by": d.get("taken_by")},
    Notice.TRANSFER_CANCELLED: lambda call, d: {"status": "cancelled"},
    Notice.THREE_WAY_CANCELLED: lambda call, d: {"status": "cancelled"},
    Notice.TRANSFER_FAILED: lambda call, d: {"status": "failed", "reason": d.get("reason")},
    Notice.NEGOTIATED: _negotiated,
    Notice.TARGET_LEFT: lambda call, d: {"status": "ended", "reason": "target_left"},
    Notice.CALL_ENDED: lambda call, d: {"status": "ended", "reason": "call_ended"},
}


def _conflict(message: str, error_id: str, **details: Any) -> DomainError:
    return DomainError(message, error_id=error_id, status=409, **details)


class ControllerTransfers:
    """The API's transfer requests, posted on each call's own queue."""

    def __init__(self, calls: CallController, book: TransferBook, lines: frozenset[str],
                 new_id: Callable[[], str] = lambda: uuid.uuid4().hex[:16],
                 wait_s: float = WAIT_S):
        self._calls, self._book, self._lines = calls, book, lines
        self._new_id, self._wait_s = new_id, wait_s

    def get(self, transfer_id: str) -> dict[str, Any] | None:
        return self._book.get(transfer_id)

    def records(self) -> list[dict[str, Any]]:
        return self._book.records()

    async def start(self, call_id: str, kind: str, target: str, line: str | None = None,
                    flow: str | None = None, timeout_s: int | None = None) -> dict[str, Any]:
        """Ring the target for the call's agent; the created record, or a DomainError."""
        call = self._running_call(call_id)
        if tr.running(call):
            live = self._book.live_for(call_id) or {}
            raise _conflict("a transfer or three-way is already running on this call",
                            "transfer_running", transfer_id=live.get("transfer_id"),
                            state=call.state.value)
        if call.agent_leg is None:
            raise _conflict("nobody has answered this call", "call_not_answered")
        if line is not None and line not in self._lines:
            raise DomainError(f"no line {line!r} here", error_id="unknown_line", status=422,
                              lines=sorted(self._lines))
        mode = (TransferMode.THREE_WAY if kind == "three_way" else
                TransferMode.LINE if target == "line" else TransferMode.HANDOVER)
        transfer = tr.Transfer(self._new_id(), tr.kind_of(mode),
                               flow or ("blind" if call.blind_transfer else "warm"),  # type: ignore[arg-type]
                               timeout_s, via="api")
        event = tr.TransferRequested(call.agent_leg.id, transfer, mode, line)
        self._check(call, event, transfer.id)
        outcome = await self._post_and_wait(call_id, event, transfer.id)
        if outcome is None:
            raise DomainError("the call did not take the transfer in time", error_id="unavailable",
                              status=503)
        return outcome

    async def cancel(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """Cancel a ringing transfer, or drop a three-way's invited party (*0).
        Returns the record and whether it ended within the wait."""
        _record, call = self._live_record(transfer_id)
        if call.agent_leg is not None:
            self._check_key(call, "*0", transfer_id)
            return await self._press_and_wait(call, "*0", transfer_id)
        event = tr.TransferCancelRequested(transfer_id)
        self._check(call, event, transfer_id)
        return await self._outcome(call.id, event, transfer_id)

    async def complete(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """A warm transfer: release the agent now. A three-way: hand over (*3)."""
        record, call = self._live_record(transfer_id)
        if record["kind"] == "three_way":
            self._check_key(call, "*3", transfer_id)
            return await self._press_and_wait(call, "*3", transfer_id)
        event = tr.TransferCompleteRequested(transfer_id)
        self._check(call, event, transfer_id)
        return await self._outcome(call.id, event, transfer_id)

    async def keep(self, transfer_id: str) -> tuple[dict[str, Any], bool]:
        """A three-way: the invited party leaves, the case stays here (*4)."""
        record, call = self._live_record(transfer_id)
        if record["kind"] != "three_way":
            raise _conflict("only a three-way can be kept", "not_a_three_way")
        self._check_key(call, "*4", transfer_id)
        return await self._press_and_wait(call, "*4", transfer_id)

    # ---- helpers ---------------------------------------------------------------------------
    def _running_call(self, call_id: str) -> Call:
        call = self._calls.call(call_id)
        if call is None:
            raise DomainError("no such call (it may have ended)", error_id="call_not_found",
                              status=404, call_id=call_id)
        return call

    def _live_record(self, transfer_id: str) -> tuple[dict[str, Any], Call]:
        record = self._book.get(transfer_id)
        if record is None:
            raise DomainError("no such transfer (or it ended long ago)",
                              error_id="transfer_not_found", status=404)
        call = self._calls.call(record["call_id"])
        if record["status"] in ENDED_STATUSES or call is None or call.transfer is None \
                or call.transfer.id != transfer_id:
            raise _conflict(f"the transfer has ended ({record['status']})", "transfer_ended",
                            transfer_status=record["status"])
        return record, call

    @staticmethod
    def _check(call: Call, event: Any, transfer_id: str) -> None:
        """Step the machine (pure) on the request: a refusal is a 409 now, not an event."""
        refused = _refusal(machine.step(call, event).commands, Notice.TRANSFER_REFUSED)
        if refused is not None:
            raise _conflict(refused.get("why", "refused"), "action_not_allowed",
                            state=call.state.value, transfer_id=transfer_id)

    @staticmethod
    def _check_key(call: Call, key: str, transfer_id: str) -> None:
        agent = call.agent_leg
        refused = (_refusal(machine.step(call, KeyPressed(agent.id, key)).commands,
                            Notice.KEY_REFUSED) if agent else {"why": "no agent"})
        if refused is not None:
            raise _conflict(refused.get("why") or f"{key} not valid now", "action_not_allowed",
                            state=call.state.value, transfer_id=transfer_id, key=key)

    async def _press_and_wait(self, call: Call, key: str, transfer_id: str
                              ) -> tuple[dict[str, Any], bool]:
        waiter = self._book.changed(transfer_id)
        self._calls.press(call.id, key)
        return await self._settle(waiter, transfer_id)

    async def _outcome(self, call_id: str, event: Any, transfer_id: str
                       ) -> tuple[dict[str, Any], bool]:
        waiter = self._book.changed(transfer_id)
        self._calls.request(call_id, event)
        return await self._settle(waiter, transfer_id)

    async def _settle(self, waiter: asyncio.Future, transfer_id: str
                      ) -> tuple[dict[str, Any], bool]:
        try:
            outcome = await asyncio.wait_for(waiter, self._wait_s)
        except TimeoutError:
            self._book.stop_waiting(transfer_id, waiter)
            return self._book.get(transfer_id) or {}, False
        if "refused" in outcome:
            raise _conflict(outcome["refused"].get("why", "refused"), "action_not_allowed",
                            transfer_id=transfer_id)
        return outcome, True

    async def _post_and_wait(self, call_id: str, event: Any, transfer_id: str
                             ) -> dict[str, Any] | None:
        waiter = self._book.changed(transfer_id)
        if not self._calls.request(call_id, event):
            self._book.stop_waiting(transfer_id, waiter)
            raise DomainError("no such call (it may have ended)", error_id="call_not_found",
                              status=404, call_id=call_id)
        outcome, settled = await self._settle(waiter, transfer_id)
        return outcome if settled else None


def _refusal(commands: tuple, kind: Notice) -> dict | None:
    return next((c.detail for c in commands if isinstance(c, Notify) and c.kind is kind), None)


__all__ = ["ControllerTransfers", "TransferBook"]
