"""The consumer's event handlers on SQLAlchemy Core rows, and the batch driver.

One table, `CORE_EVENTS`: event type -> handler(applier, rows, event). A handler
changes the row dicts of `BatchRows` the way the ORM handler of the same event
changes mapped objects (intake._on_opened, links._on_transferred, ...), and
raises a WorkOrderError to refuse. Adding an event kind is one entry here (or
one in the service's ORM `_event_table`, which then applies it, off the fast path).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from services.call_log.batch import CORE_HANDLERS as CALL_LOG_HANDLERS
from services.call_log.batch import CallRows, call_ids
from services.privacy import mask_number

from ..categories import default_level
from ..errors import InvalidOrder, WorkOrderError
from ..events import (
    NegotiationRecorded,
    OrderEvent,
    OrderOpened,
    OrderTransferred,
    StatusChanged,
    SummaryUpdated,
    TransferFailed,
)
from ..exchange import CHANNELS
from ..ids import PREFIXES, platform_of
from ..levels import ResponseLevel
from ..status import Status, check_transition
from .batch import BatchRows, Row, applied_ids
from .store import SYSTEM, OrderStore

log = logging.getLogger("services.work_orders.service")

Handler = Callable[["CoreApply", BatchRows, Any], Awaitable[None]]


class CoreApply(OrderStore):
    """`apply_many` on Core: the consumer's path (the ORM's stays for single changes)."""

    async def apply_many(self, events: Sequence[OrderEvent]) -> list[bool | WorkOrderError]:
        """Apply a batch exactly once; a refused event comes back as its error, alone.

        Runs of events with a Core handler go in one transaction each; any other
        kind is applied by the ORM path in between, so the order is kept.
        """
        results: list[bool | WorkOrderError] = []
        start = 0
        while start < len(events):
            fast = type(events[start]) in CORE_EVENTS
            end = start
            while end < len(events) and (type(events[end]) in CORE_EVENTS) == fast:
                end += 1
            run = events[start:end]
            results += await (self._apply_core(run) if fast else self.apply_many_orm(run))
            start = end
        return results

    async def _apply_core(self, events: Sequence[OrderEvent]) -> list[bool | WorkOrderError]:
        async with self._sessions() as session, session.begin():
            conn = await session.connection()
            seen = await applied_ids(conn, events)
            rows = BatchRows(conn, lock=conn.dialect.name == "postgresql")
            await rows.load(_order_ids(events))
            await rows.calls.load(call_ids(events))
            applied: dict[str, Row] = {}
            outcomes = [await self._apply_one(rows, event, seen, applied) for event in events]
            await rows.write([applied[e.event_id] for e, ok in zip(events, outcomes, strict=True)
                              if ok is True])
            await self._run_hooks(session, conn, rows,
                                  [e for e, ok in zip(events, outcomes, strict=True) if ok is True])
        return outcomes

    async def _run_hooks(self, session: Any, conn: Any, rows: BatchRows,
                         applied: list[OrderEvent]) -> None:
        """The batch hooks (e.g. the dispatch suggestion); without them, the per-event
        ones, on the ORM session (correct, and as slow as the ORM path)."""
        if not applied:
            return
        if self._after_batch or not self._after_apply:
            for batch_hook in self._after_batch:
                await batch_hook(conn, applied, rows.orders)
            return
        for event in applied:
            for hook in self._after_apply:
                await hook(session, event)

    async def _apply_one(self, rows: BatchRows, event: OrderEvent, seen: set[str],
                         applied: dict[str, Row]) -> bool | WorkOrderError:
        if event.event_id in seen:
            return False
        rows.begin()
        try:
            await CORE_EVENTS[type(event)](self, rows, event)
        except WorkOrderError as exc:
            rows.rollback()
            return exc
        except ValueError as exc:   # a malformed field (a level, a status): refused, not retried
            rows.rollback()
            return InvalidOrder(str(exc), event_id=event.event_id)
        seen.add(event.event_id)
        applied[event.event_id] = {"event_id": event.event_id, "kind": event.kind,
                                   "order_id": event.order_ref or None,
                                   "applied_at": self._clock()}
        return True

    def _open_row(self, rows: BatchRows, actor: str, *, level: ResponseLevel | str, note: str,
                  data: dict[str, Any] | None = None, **fields: Any) -> Row:
        """As OrderStore._open: a new order, received now, with its deadline and first entry."""
        at = fields["opened_at"]
        order = rows.add_order({
            **fields, "level": str(level), "deadline_at": self.calendar.deadline(at, level),
            "status": str(Status.RECEIVED), "updated_at": at})
        rows.audit(order, "status", actor, at, to_status=Status.RECEIVED, note=note, data=data)
        return order


def _order_ids(events: Sequence[OrderEvent]) -> list[str]:
    """Every order the batch names, read up front in one statement."""
    ids = []
    for event in events:
        ids.append(event.order_ref)
        if isinstance(event, OrderTransferred):
            ids.append(event.target_order_id)
    return ids


async def _opened(svc: CoreApply, rows: BatchRows, e: OrderOpened) -> None:
    if e.platform not in PREFIXES or platform_of(e.order_id) != e.platform:
        raise InvalidOrder("order id and platform disagree", order_id=e.order_id)
    if e.channel not in CHANNELS:
        raise InvalidOrder(f"channel must be one of {CHANNELS}", channel=e.channel)
    order = await rows.find(e.order_id)
    if order is not None:   # the transfer created it first; the call's details complete it
        rows.touch(order)
        for name in ("call_id", "suggestion", "citizen_number", "summary"):
            order[name] = order[name] or getattr(e, name)
        rows.audit(order, "details", SYSTEM, e.opened_at, note="call details attached",
                   data={"call_id": e.call_id})
        return
    svc._open_row(
        rows, SYSTEM,
        level=ResponseLevel(e.level) if e.level else default_level(e.category, svc.categories),
        note=f"opened via {e.channel}", data={"call_id": e.call_id},
        order_id=e.order_id, platform=e.platform, call_id=e.call_id,
        citizen_number=e.citizen_number or "", region_code=e.region_code, channel=e.channel,
        opened_at=e.opened_at, suggestion=e.suggestion, category=e.category,
        summary=e.summary or "")
    log.info("order %s opened for %s", e.order_id, mask_number(e.citizen_number))


async def _transferred(svc: CoreApply, rows: BatchRows, e: OrderTransferred) -> None:
    source = await rows.get(e.source_order_id)
    if (e.target_platform == source["platform"]
            or platform_of(e.target_order_id) != e.target_platform):
        raise InvalidOrder("a transfer goes to the other platform", target=e.target_order_id)
    target = await rows.find(e.target_order_id)
    if target is None:
        target = svc._open_row(
            rows, e.actor, level=source["level"], note=f"from {source['order_id']} ({e.mode})",
            order_id=e.target_order_id, platform=e.target_platform, call_id=None,
            citizen_number=source["citizen_number"], region_code=source["region_code"],
            channel="online" if e.mode == "online" else source["channel"], opened_at=e.at,
            suggestion=source["suggestion"], category=source["category"],
            summary=source["summary"])
    rows.touch(target)["source_order_id"] = target["source_order_id"] or source["order_id"]
    rows.move(source, Status.TRANSFERRED, e.actor, e.at,
              note=f"to {target['order_id']} ({e.mode}) {e.note}".strip(),
              data={"target_order_id": target["order_id"], "mode": e.mode})
    rows.links.append({"source_order_id": source["order_id"], "target_order_id": target["order_id"],
                       "kind": e.mode, "actor": e.actor, "created_at": e.at})


async def _negotiation(svc: CoreApply, rows: BatchRows, e: NegotiationRecorded) -> None:
    order = await rows.get(e.order_id)
    taker, rule = (e.outcome, "agreed") if e.outcome else (order["platform"], "first_contact")
    rows.audit(order, "negotiation", e.actor, e.at,
               note=f"key {e.key}: {taker} takes the case ({rule})",
               data={"key": e.key, "platform": taker, "rule": rule})


async def _transfer_failed(svc: CoreApply, rows: BatchRows, e: TransferFailed) -> None:
    order = await rows.get(e.order_id)
    rows.audit(order, "transfer_failed", e.actor, e.at, note=e.reason,
               data={"target_platform": e.target_platform})


async def _summary(svc: CoreApply, rows: BatchRows, e: SummaryUpdated) -> None:
    order = await rows.get(e.order_id)
    changes: dict[str, list[Any]] = {}
    level = e.level
    # A new category brings its level, unless an agent had set the level by hand.
    follows_category = order["level"] == default_level(order["category"], svc.categories)
    if level is None and e.category not in (None, order["category"]) and follows_category:
        level = str(default_level(e.category, svc.categories))
    for name, value in (("summary", e.summary), ("category", e.category), ("level", level)):
        if value is not None and value != order[name]:
            changes[name] = [order[name], value]
            rows.touch(order)[name] = value
    if "level" in changes:
        order["deadline_at"] = svc.calendar.deadline(order["opened_at"],
                                                     ResponseLevel(order["level"]))
        changes["deadline_at"] = [None, order["deadline_at"].isoformat()]
    if changes:
        order["updated_at"] = e.at
        rows.audit(order, "details", e.actor, e.at, note="changed " + ", ".join(changes),
                   data=changes)


async def _status(svc: CoreApply, rows: BatchRows, e: StatusChanged) -> None:
    order = await rows.get(e.order_id)
    target = Status(e.to_status)
    check_transition(order["status"], target)
    if target is Status.ASSIGNED and not (e.department or order["department"]):
        raise InvalidOrder("assigning needs a department", order_id=order["order_id"])
    if (target is Status.REPLIED and order["level"] == ResponseLevel.COMPLEX
            and not (e.next_steps or order["next_steps"])):
        raise InvalidOrder("a complex order's reply must give the next steps",
                           order_id=order["order_id"])
    rows.touch(order)
    for name in ("department", "outcome", "next_steps"):
        order[name] = getattr(e, name) or order[name]
    rows.move(order, target, e.actor, e.at, note=e.note)
    await _feed_back(rows, order, e)


async def _feed_back(rows: BatchRows, order: Row, e: StatusChanged) -> None:
    """As status_flow._feed_back: the platform the order came from hears how it went."""
    if not order["source_order_id"]:
        return
    source = await rows.get(order["source_order_id"])
    rows.audit(source, "feedback", f"{order['platform']}:{order['order_id']}", e.at,
               note=f"{order['order_id']} is {order['status']}",
               data={"order_id": order["order_id"], "status": order["status"],
                     "outcome": order["outcome"]})
    if source["status"] != Status.TRANSFERRED:
        return
    actor = f"feedback:{order['order_id']}"
    if order["status"] == Status.CLOSED:
        rows.touch(source)["outcome"] = order["outcome"]
        rows.move(source, Status.CLOSED, actor, e.at,
                  note=f"closed by {order['platform']} {order['order_id']}")
    elif order["status"] == Status.REJECTED:
        rows.move(source, Status.RECEIVED, actor, e.at,
                  note=f"sent back by {order['platform']} {order['order_id']}: {e.note}")


def _on_call_log(handler: Callable[[CallRows, Any], Awaitable[None]]) -> Handler:
    """A call-log handler (services/call_log/batch.py) on the batch's call-log rows."""
    async def apply(svc: CoreApply, rows: BatchRows, event: Any) -> None:
        await handler(rows.calls, event)
    return apply


CORE_EVENTS: dict[type[OrderEvent], Handler] = {
    OrderOpened: _opened,
    OrderTransferred: _transferred,
    NegotiationRecorded: _negotiation,
    TransferFailed: _transfer_failed,
    SummaryUpdated: _summary,
    StatusChanged: _status,
    **{kind: _on_call_log(handler) for kind, handler in CALL_LOG_HANDLERS.items()},
}
