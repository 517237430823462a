"""Calls -> call-log events (services/call_log), published to the same durable outbox as
order events, so the call never waits on the database and a controller crash loses none.

One queue and one publishing task keep a call's facts in the order they happened. The
times are the controller's wall clock when it learnt each fact.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from services.call_log.events import CallArrivalLogged, CallEndLogged, CallStepLogged
from services.call_log.record import LOGGED_STEPS
from services.work_orders.events import OrderEvent
from services.work_orders.outbox import gather_batch, publish_until_safe, unpublished
from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver


class CallLogRecorder(CallObserver):
    """`publish` takes a batch of events, in order (Outbox.publish_many)."""

    def __init__(self, publish: Callable[[list[OrderEvent]], Awaitable[object]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)):
        self._publish = publish
        self._clock = clock
        self._queue: asyncio.Queue[OrderEvent] = asyncio.Queue()
        self._hand: list[OrderEvent] = []   # the batch being gathered or published

    # ---- CallObserver -------------------------------------------------------
    def call_opened(self, call: Call) -> None:
        self._queue.put_nowait(CallArrivalLogged(
            call_id=call.id, site=call.site, platform=call.platform,
            origin_site=call.origin_site or call.site, via_trunk=call.via_trunk,
            citizen_number=call.citizen_number, order_id=call.order_id,
            linked_order_id=call.linked_order_id, at=self._clock()))

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        now = self._clock()
        if kind is Notice.CALL_ENDED:
            self._queue.put_nowait(CallEndLogged(
                call_id=call.id, at=now, by=str(detail.get("by") or "system"),
                state=str(detail.get("state") or ""), taken_by=detail.get("taken_by")))
        elif str(kind) in LOGGED_STEPS:
            seat = detail.get("seat")
            self._queue.put_nowait(CallStepLogged(
                call_id=call.id, step=str(kind), at=now, seat=str(seat) if seat else None,
                detail={k: v for k, v in detail.items() if k != "seat"}))
        if kind is Notice.HANDOVER_REFUSED:   # ends the call without a CALL_ENDED notice
            self._queue.put_nowait(CallEndLogged(call_id=call.id, at=now, by="system",
                                                 state="refused", taken_by=None))

    # ---- the one publishing task ---------------------------------------------
    async def run(self) -> None:
        while True:
            batch = await gather_batch(self._queue, hand=self._hand)
            await publish_until_safe(self._publish, batch, "call-log")
            self._hand.clear()

    def unpublished(self) -> list[OrderEvent]:
        """After `run` is cancelled: the events it had not made safe, in order."""
        return unpublished(self._hand, self._queue)

    def pending(self) -> int:
        return self._queue.qsize() + len(self._hand)
