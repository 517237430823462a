"""Calls -> order events. Every citizen call opens an order on its platform;
hand-overs, three-way outcomes and failed transfers are recorded on it.

The call never waits on the database: events go into one bounded queue, and one
task publishes them to the durable outbox (Redis stream, or a local spool) in the
order they happened. When the queue is full (the outbox is stuck behind a slow
disk), events spill to an overflow file instead, and keep spilling, so they stay
in order, until the task has published it: never dropped, never blocking a call.

Every event has a stable id: an id derived from the call (its order, the notice
and the call's leg count, kept with the call across a restart), so an event
emitted again after a restart is the same event and the consumer applies it once.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from collections import OrderedDict
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
from services.work_orders.outbox import (
    Spool,
    drain_spool,
    gather_batch,
    publish_until_safe,
    unpublished,
)
from telephony.calls.model import Call, Notice, other_platform
from telephony.calls.ports import CallObserver

log = logging.getLogger(__name__)

QUEUE_BOUND = 10_000        # events held in memory before they spill to the overflow file
SUMMARY_CALLS_KEPT = 10_000  # calls whose summary count is remembered (oldest forgotten)


class OrderRecorder(CallObserver):
    """`publish` takes a batch of events, in order (Outbox.publish_many)."""

    def __init__(self, publish: Callable[[list[OrderEvent]], Awaitable[object]],
                 region_of: Mapping[str, str],
                 suggestion_of: Callable[[str], dict | None] = lambda call_id: None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 published: Callable[[OrderEvent], None] = lambda event: None,
                 overflow: Spool | None = None, bound: int = QUEUE_BOUND):
        self._publish = publish
        self._published = published
        self._region_of = region_of
        self._suggestion_of = suggestion_of
        self._clock = clock
        self._queue: asyncio.Queue[OrderEvent] = asyncio.Queue(maxsize=bound)
        self._overflow = overflow
        # An earlier run's overflow goes first: keep spilling until it is published.
        self._spilled = _count_lines(overflow) if overflow else 0
        self._spilling = bool(overflow and overflow.pending())
        self._summaries: OrderedDict[str, int] = OrderedDict()
        self._hand: list[OrderEvent] = []   # the batch being gathered or published

    # ---- CallObserver -------------------------------------------------------
    def call_opened(self, call: Call) -> None:
        if call.via_trunk or call.callback:
            # a hand-over: the origin's OrderTransferred opens the linked order; a callback
            # is placed on an order that exists
            return
        suggestion = self._suggestion_of(call.id)
        category = (suggestion or {}).get("category")
        self._put(OrderOpened(
            order_id=call.order_id, platform=call.platform, call_id=call.id,
            citizen_number=call.citizen_number, region_code=self._region_of[call.origin_site],
            channel="phone", opened_at=self._clock(), suggestion=suggestion,
            category=category, level="2h" if (suggestion or {}).get("emergency") else None,
        ))

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        for event in self._events(call, kind, detail):
            self._put(event)

    def _events(self, call: Call, kind: Notice, detail: dict) -> list[OrderEvent]:
        now, eid = self._clock(), notice_event_id(call, kind)   # transfers: their natural id
        other = other_platform(call.platform)
        actor = f"seat:{detail['seat']}" if detail.get("seat") else "system"
        if kind is Notice.TRANSFER_COMPLETED and detail.get("mode") == "handover":
            return [OrderTransferred(source_order_id=call.order_id,
                                     target_order_id=call.linked_order_id, target_platform=other,
                                     mode="handover", actor=actor, at=now)]
        if kind is Notice.NEGOTIATED:
            events: list[OrderEvent] = [NegotiationRecorded(
                event_id=eid, order_id=call.order_id, actor=actor, key=detail["key"], at=now,
                outcome=detail["taken_by"])]
            if detail["taken_by"] == other:
                events.append(OrderTransferred(
                    source_order_id=call.order_id, target_order_id=call.linked_order_id,
                    target_platform=other, mode="three_way", actor=actor, at=now))
            return events
        if kind is Notice.CALL_ENDED and detail.get("state") == "three_way":
            # the three-way ended without *3 or *4: first contact keeps it (首接负责制)
            return [NegotiationRecorded(event_id=eid, order_id=call.order_id, actor="system",
                                        key="", at=now, outcome=None)]
        if kind is Notice.ABANDONED:
            # no abandoned citizen without a callback: the order, with the number, says so
            return [SummaryUpdated(event_id=eid, order_id=call.order_id, actor="system", at=now,
                                   summary=f"[回拨 callback] 候线放弃 abandoned after "
                                           f"{detail.get('waited_s', 0)}s waiting")]
        if kind is Notice.CALLBACK_REQUESTED:
            return [SummaryUpdated(event_id=eid, order_id=call.order_id, actor="citizen", at=now,
                                   summary="[回拨 callback] 来电高峰，市民按2预约回拨 "
                                           "(surge: the citizen asked to be called back)")]
        if kind is Notice.FAQ_CHOICE and detail.get("outcome") == "helped":
            # the order says why this caller left without a seat or a callback
            return [SummaryUpdated(order_id=call.order_id, actor="citizen", at=now,
                                   summary=f"[一问一答 FAQ] 来电高峰，市民收听解答后按0表示已解决 "
                                           f"(surge: answered by {detail.get('entry_id')})")]
        if kind is Notice.TRANSFER_FAILED:
            return [TransferFailed(event_id=eid, order_id=call.order_id, reason=detail["reason"],
                                   at=now,
                                   target_platform=None if detail.get("mode") == "line" else other)]
        return []

    def summary(self, call: Call, summary: str, category: str | None, actor: str) -> None:
        """The agent wrote (or rewrote) the call's summary: the nth summary of the call,
        with these words, is one event however often it is emitted."""
        count = self._summaries.pop(call.id, 0) + 1
        self._summaries[call.id] = count
        if len(self._summaries) > SUMMARY_CALLS_KEPT:
            self._summaries.popitem(last=False)
        digest = _digest(actor, summary, category or "")
        self._put(SummaryUpdated(order_id=call.order_id, actor=actor, at=self._clock(),
                                 summary=summary, category=category,
                                 event_id=f"{call.order_id}:summary:{count}:{digest}"))

    def _put(self, event: OrderEvent) -> None:
        """Queue `event`, or spill it when the queue is full (or already spilling, so
        events stay in order)."""
        if not self._spilling:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                if self._overflow is None:
                    raise
                log.warning("order event queue full (%d); spilling to %s",
                            self._queue.maxsize, self._overflow.path.name)
                self._spilling = True
        assert self._overflow is not None
        self._overflow.append(event.to_json())
        self._spilled += 1

    # ---- the one publishing task ---------------------------------------------
    async def run(self) -> None:
        while True:
            if self._spilling and self._queue.empty():
                await self._publish_overflow()   # the queued events were older: they went first
                continue
            await self._publish_safely(await gather_batch(self._queue, hand=self._hand))
            self._hand.clear()

    async def _publish_safely(self, events: list[OrderEvent]) -> None:
        await publish_until_safe(self._publish, events, "order")
        for event in events:
            self._published(event)

    async def _publish_overflow(self) -> None:
        assert self._overflow is not None

        async def publish(lines: list[str]) -> None:
            await self._publish_safely([OrderEvent.from_json(line) for line in lines])
            self._spilled -= len(lines)

        await drain_spool(self._overflow, publish, batch=100)
        if not self._overflow.pending():   # nothing appended since: back to the queue
            self._spilling, self._spilled = False, 0
            log.info("order event overflow published; queueing again")

    @property
    def spilling(self) -> bool:
        """New events go to the overflow file (the queue filled and has not caught up)."""
        return self._spilling

    def unpublished(self) -> list[OrderEvent]:
        """After `run` is cancelled: the events it had not made safe, in order, for the
        outbox's spool (`Outbox.keep`). The overflow file needs nothing: it is on disk,
        and the next start publishes it from where this one stopped."""
        return unpublished(self._hand, self._queue)

    def pending(self) -> int:
        """Events not yet in the outbox: queued, or spilled to the overflow file."""
        return self._queue.qsize() + len(self._hand) + max(self._spilled, 0)


def notice_event_id(call: Call, kind: Notice) -> str:
    """The order, the notice and the number of legs the call had made: each notice that
    makes an event fires at most once per leg (a transfer attempt, a three-way), and
    the leg count is kept with the call, so a restarted controller derives the same id."""
    return f"{call.order_id}:{kind.value}:{call.attempts}"


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=6).hexdigest()


def _count_lines(spool: Spool) -> int:
    """Lines an earlier run left (for `pending`; a half-drained file counts whole)."""
    count = 0
    for path in (spool.draining, spool.path):
        if path.exists():
            with path.open("rb") as spilled:
                count += sum(1 for line in spilled if line.strip())
    return count
