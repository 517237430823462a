"""The call log's events on the order consumer's Core batch path
(services/work_orders/service/batch.py), beside the order events.

The ORM handlers (apply.py, kept as the reference) apply each step in a savepoint of its
own and re-read every step of the call to summarize it again: O(steps²) a call, and most
of the consumer's CPU once the call log rode the outbox. Here a batch reads the call-log
rows it names in one statement, applies its events to plain dicts (an arrival already
logged is a no-op; a step or end for a call not logged yet is refused alone with
CallNotLogged, for the consumer's retry), inserts the new rows and the steps in bulk,
then reads the steps of every call it touched in one statement, summarizes each call once
(record.summarize_steps, the ORM's rule) and writes the summaries in one bulk update.
tests/unit/work_orders/test_core_batch_call_log.py compares the two paths row for row.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from .apply import CallNotLogged
from .events import CALL_LOG_EVENTS, CallArrivalLogged, CallEndLogged, CallStepLogged
from .models import CallLogRow, CallLogStepRow
from .record import arrival_of, summarize, summarize_steps

CALL_LOG = CallLogRow.__table__
STEPS = CallLogStepRow.__table__
# the columns summarize() decides (an update writes these, nothing else)
SUMMARY_COLUMNS = ("answered_at", "seat", "seats", "wait_s", "handled_s", "ended_at", "ended_by",
                   "taken_by", "outcome", "transfers", "legs", "overflowed")
ARRIVAL_COLUMNS = ("call_id", "site", "platform", "origin_site", "via_trunk", "citizen_number",
                   "order_id", "linked_order_id", "arrived_at")
Row = dict[str, Any]


class CallRows:
    """The call-log rows and steps one batch reads and writes, with an undo per event."""

    def __init__(self, conn: AsyncConnection, *, lock: bool) -> None:
        self._conn = conn
        self._lock = lock                      # FOR UPDATE (PostgreSQL), as the ORM's _row
        self.calls: dict[str, Row | None] = {}   # arrival columns; None: not logged
        self.new: list[Row] = []               # arrivals this batch logs, in order
        self.steps: list[Row] = []             # steps this batch adds, in order
        self._marks = (0, 0)

    async def load(self, call_ids: Iterable[str]) -> None:
        """The batch's calls already in the log: one statement."""
        wanted = sorted({i for i in call_ids if i and i not in self.calls})
        if not wanted:
            return
        query = select(*(CALL_LOG.c[name] for name in ARRIVAL_COLUMNS)).where(
            CALL_LOG.c.call_id.in_(wanted))
        rows = await self._conn.execute(query.with_for_update() if self._lock else query)
        found = {row.call_id: dict(row._mapping) for row in rows}
        for call_id in wanted:
            self.calls[call_id] = found.get(call_id)

    # -- one event's changes, undone if it is refused -----------------------------------
    def begin(self) -> None:
        self._marks = (len(self.new), len(self.steps))

    def rollback(self) -> None:
        new, steps = self._marks
        for row in self.new[new:]:
            self.calls[row["call_id"]] = None
        del self.new[new:], self.steps[steps:]

    # -- the handlers -------------------------------------------------------------------
    async def arrived(self, e: CallArrivalLogged) -> None:
        if self.calls.get(e.call_id) is not None:
            return   # logged before: a no-op, as in the ORM's _on_arrival
        row = {"call_id": e.call_id, "site": e.site, "platform": e.platform,
               "origin_site": e.origin_site, "via_trunk": e.via_trunk,
               "citizen_number": e.citizen_number, "order_id": e.order_id,
               "linked_order_id": e.linked_order_id or None, "arrived_at": e.at}
        self.calls[e.call_id] = row
        self.new.append(row)

    async def stepped(self, e: CallStepLogged) -> None:
        self._add_step(e.call_id, e.event_id, e.step, e.at, e.seat, dict(e.detail))

    async def ended(self, e: CallEndLogged) -> None:
        self._add_step(e.call_id, e.event_id, "ended", e.at, None,
                       {"by": e.by, "state": e.state, "taken_by": e.taken_by})

    def _add_step(self, call_id: str, event_id: str, step: str, at: Any, seat: str | None,
                  detail: dict[str, Any]) -> None:
        if self.calls.get(call_id) is None:
            raise CallNotLogged(f"no call {call_id} in the call log yet", call_id=call_id)
        self.steps.append({"call_id": call_id, "event_id": event_id, "step": step, "at": at,
                           "seat": seat, "detail": detail})

    # -- writing ------------------------------------------------------------------------
    async def write(self) -> None:
        """New rows, then the steps (bulk), then one read of the touched calls' steps,
        one summary each, and one bulk update."""
        conn = self._conn
        if self.new:
            await conn.execute(insert(CALL_LOG), [
                {**row, **summarize(arrival_of(row), [], None), "recording_ids": None}
                for row in self.new])
        if not self.steps:
            return
        await conn.execute(insert(STEPS), self.steps)
        touched = sorted({step["call_id"] for step in self.steps})
        by_call: dict[str, list[Any]] = {call_id: [] for call_id in touched}
        result = await conn.execute(
            select(STEPS.c.call_id, STEPS.c.step, STEPS.c.at, STEPS.c.seat, STEPS.c.detail)
            .where(STEPS.c.call_id.in_(touched))
            .order_by(STEPS.c.call_id, STEPS.c.at, STEPS.c.id))
        for step in result:
            by_call[step.call_id].append(step)
        await conn.execute(_UPDATE_SUMMARY, [
            {"_id": call_id, **summarize_steps(arrival_of(self.calls[call_id]), steps)}
            for call_id, steps in sorted(by_call.items())])


_UPDATE_SUMMARY = (
    update(CALL_LOG)
    .where(CALL_LOG.c.call_id == bindparam("_id"))
    .values({name: bindparam(name, type_=CALL_LOG.c[name].type) for name in SUMMARY_COLUMNS})
)


def call_ids(events: Iterable[Any]) -> list[str]:
    """Every call the batch's call-log events name, read up front in one statement."""
    return [e.call_id for e in events if isinstance(e, CALL_LOG_EVENTS)]


# event type -> its handler on the batch's CallRows
CORE_HANDLERS: dict[type, Callable[[CallRows, Any], Awaitable[None]]] = {
    CallArrivalLogged: CallRows.arrived,
    CallStepLogged: CallRows.stepped,
    CallEndLogged: CallRows.ended,
}
