"""Calls -> order events. Every citizen call opens an order on its platform;
hand-overs, three-way outcomes and failed transfers are recorded on it.

The call never waits on the database: events go into one queue, and one task
publishes them to the durable outbox (Redis stream, or a local spool) in the
order they happened.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

from services.work_orders.events import (
    NegotiationRecorded,
    OrderEvent,
    OrderOpened,
    OrderTransferred,
    SummaryUpdated,
    TransferFailed,
)
from telephony.calls.model import Call, Notice, other_platform
from telephony.calls.ports import CallObserver

log = logging.getLogger(__name__)


class OrderRecorder(CallObserver):
    def __init__(self, publish: Callable[[OrderEvent], Awaitable[object]],
                 region_of: Mapping[str, str],
                 suggestion_of: Callable[[str], dict | None] = lambda call_id: None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 published: Callable[[OrderEvent], None] = lambda event: None):
        self._publish = publish
        self._published = published
        self._region_of = region_of
        self._suggestion_of = suggestion_of
        self._clock = clock
        self._queue: asyncio.Queue[OrderEvent] = asyncio.Queue()

    # ---- CallObserver -------------------------------------------------------
    def call_opened(self, call: Call) -> None:
        if call.via_trunk or call.callback:
            # a hand-over: the origin's OrderTransferred opens the linked order; a callback
            # is placed on an order that exists
            return
        suggestion = self._suggestion_of(call.id)
        category = (suggestion or {}).get("category")
        self._queue.put_nowait(OrderOpened(
            order_id=call.order_id, platform=call.platform, call_id=call.id,
            citizen_number=call.citizen_number, region_code=self._region_of[call.origin_site],
            channel="phone", opened_at=self._clock(), suggestion=suggestion,
            category=category, level="2h" if (suggestion or {}).get("emergency") else None,
        ))

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        for event in self._events(call, kind, detail):
            self._queue.put_nowait(event)

    def _events(self, call: Call, kind: Notice, detail: dict) -> list[OrderEvent]:
        now = self._clock()
        other = other_platform(call.platform)
        actor = f"seat:{detail['seat']}" if detail.get("seat") else "system"
        if kind is Notice.TRANSFER_COMPLETED and detail.get("mode") == "handover":
            return [OrderTransferred(source_order_id=call.order_id,
                                     target_order_id=call.linked_order_id, target_platform=other,
                                     mode="handover", actor=actor, at=now)]
        if kind is Notice.NEGOTIATED:
            events: list[OrderEvent] = [NegotiationRecorded(
                order_id=call.order_id, actor=actor, key=detail["key"], at=now,
                outcome=detail["taken_by"])]
            if detail["taken_by"] == other:
                events.append(OrderTransferred(
                    source_order_id=call.order_id, target_order_id=call.linked_order_id,
                    target_platform=other, mode="three_way", actor=actor, at=now))
            return events
        if kind is Notice.CALL_ENDED and detail.get("state") == "three_way":
            # the three-way ended without *3 or *4: first contact keeps it (首接负责制)
            return [NegotiationRecorded(order_id=call.order_id, actor="system", key="",
                                        at=now, outcome=None)]
        if kind is Notice.ABANDONED:
            # no abandoned citizen without a callback: the order, with the number, says so
            return [SummaryUpdated(order_id=call.order_id, actor="system", at=now,
                                   summary=f"[回拨 callback] 候线放弃 abandoned after "
                                           f"{detail.get('waited_s', 0)}s waiting")]
        if kind is Notice.CALLBACK_REQUESTED:
            return [SummaryUpdated(order_id=call.order_id, actor="citizen", at=now,
                                   summary="[回拨 callback] 来电高峰，市民按2预约回拨 "
                                           "(surge: the citizen asked to be called back)")]
        if kind is Notice.TRANSFER_FAILED:
            return [TransferFailed(order_id=call.order_id, reason=detail["reason"], at=now,
                                   target_platform=None if detail.get("mode") == "line" else other)]
        return []

    def summary(self, call: Call, summary: str, category: str | None, actor: str) -> None:
        """The agent wrote (or rewrote) the call's summary."""
        self._queue.put_nowait(SummaryUpdated(order_id=call.order_id, actor=actor,
                                              at=self._clock(), summary=summary,
                                              category=category))

    # ---- the one publishing task ---------------------------------------------
    async def run(self) -> None:
        while True:
            event = await self._queue.get()
            while True:   # in order: the next event waits until this one is safe
                try:
                    await self._publish(event)
                    self._published(event)
                    break
                except Exception:  # the outbox spools on failure; this is a last resort
                    log.exception("order event %s could not be published; retrying", event.kind)
                    await asyncio.sleep(0.5)

    def pending(self) -> int:
        return self._queue.qsize()
