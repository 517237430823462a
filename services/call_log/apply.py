"""Applying call-log events in the order consumer's transaction (exactly once: the
work-order service records each event id), and reading the log back.

Registered in the work-order service's event table by `EVENT_HANDLERS`; nothing else of
the consumer changes.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.privacy import mask_number
from services.work_orders.errors import WorkOrderError
from services.work_orders.search import number_forms

from .events import CallArrivalLogged, CallEndLogged, CallStepLogged
from .levels import ServiceLevel
from .levels_db import service_levels_in_db
from .models import CallLogRow, CallLogStepRow
from .record import OUTCOMES, arrival_of, summarize_steps

MAX_PAGE = 500


class CallNotLogged(WorkOrderError):
    """A step for a call whose arrival has not been applied: usually an ordering effect,
    so the consumer retries it a few rounds before setting it aside."""

    error_id = "call_not_logged"
    status = 404


# ---- writing ------------------------------------------------------------------------------
async def _on_arrival(session: AsyncSession, e: CallArrivalLogged) -> None:
    if await session.get(CallLogRow, e.call_id) is not None:
        return
    row = CallLogRow(call_id=e.call_id, site=e.site, platform=e.platform,
                     origin_site=e.origin_site, via_trunk=e.via_trunk,
                     citizen_number=e.citizen_number, order_id=e.order_id,
                     linked_order_id=e.linked_order_id or None, arrived_at=e.at,
                     seats=[], transfers=[], legs=[], outcome="live", overflowed=False,
                     recording_ids=None)
    session.add(row)
    await session.flush()


async def _row(session: AsyncSession, call_id: str) -> CallLogRow:
    row = await session.get(CallLogRow, call_id, with_for_update=True)
    if row is None:
        raise CallNotLogged(f"no call {call_id} in the call log yet", call_id=call_id)
    return row


async def _on_step(session: AsyncSession, e: CallStepLogged) -> None:
    row = await _row(session, e.call_id)
    session.add(CallLogStepRow(call_id=e.call_id, event_id=e.event_id, step=e.step, at=e.at,
                               seat=e.seat, detail=dict(e.detail)))
    await session.flush()
    await _resummarize(session, row)


async def _on_end(session: AsyncSession, e: CallEndLogged) -> None:
    row = await _row(session, e.call_id)
    session.add(CallLogStepRow(call_id=e.call_id, event_id=e.event_id, step="ended", at=e.at,
                               seat=None, detail={"by": e.by, "state": e.state,
                                                  "taken_by": e.taken_by}))
    await session.flush()
    await _resummarize(session, row)


async def _resummarize(session: AsyncSession, row: CallLogRow) -> None:
    """The row's derived columns, again from every step the call has so far."""
    rows = (await session.scalars(select(CallLogStepRow).where(
        CallLogStepRow.call_id == row.call_id).order_by(CallLogStepRow.at,
                                                        CallLogStepRow.id))).all()
    for name, value in summarize_steps(arrival_of(row), rows).items():
        setattr(row, name, value)


EVENT_HANDLERS: dict[type, Callable[[AsyncSession, Any], Any]] = {
    CallArrivalLogged: _on_arrival,
    CallStepLogged: _on_step,
    CallEndLogged: _on_end,
}


# ---- reading -------------------------------------------------------------------------------
@dataclass(frozen=True)
class CallLogQuery:
    since: datetime | None = None
    until: datetime | None = None
    sites: Sequence[str] = ()        # empty: every site
    seat: str | None = None
    number: str | None = None        # matched whole, in any of its written forms
    outcomes: Sequence[str] = ()
    order_id: str | None = None      # the call's own order or its linked one
    platform: str | None = None
    call_id: str | None = None


def _where(q: CallLogQuery) -> list[Any]:
    clauses: list[Any] = []
    if q.since is not None:
        clauses.append(CallLogRow.arrived_at >= q.since)
    if q.until is not None:
        clauses.append(CallLogRow.arrived_at < q.until)
    if q.sites:
        clauses.append(CallLogRow.site.in_(list(q.sites)))
    if q.seat is not None:
        # the answering seat, or any seat that answered the call later (seats is JSON)
        clauses.append(or_(CallLogRow.seat == q.seat,
                           cast(CallLogRow.seats, Text).contains(f'"{q.seat}"', autoescape=True)))
    if q.number is not None:
        clauses.append(CallLogRow.citizen_number.in_(number_forms(q.number)))
    if q.outcomes:
        unknown = set(q.outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown outcomes {sorted(unknown)}")
        clauses.append(CallLogRow.outcome.in_(list(q.outcomes)))
    if q.order_id is not None:
        clauses.append(or_(CallLogRow.order_id == q.order_id,
                           CallLogRow.linked_order_id == q.order_id))
    if q.platform is not None:
        clauses.append(CallLogRow.platform == q.platform)
    if q.call_id is not None:
        clauses.append(CallLogRow.call_id == q.call_id)
    return clauses


def to_dict(row: CallLogRow, whole_number: bool = False) -> dict[str, Any]:
    """A row for the API: times in ISO 8601, the number masked unless asked whole."""
    def iso(at: datetime | None) -> str | None:
        return at.isoformat() if at else None
    return {
        "call_id": row.call_id, "site": row.site, "platform": row.platform,
        "origin_site": row.origin_site, "via_trunk": row.via_trunk,
        "citizen_number": row.citizen_number if whole_number else mask_number(row.citizen_number),
        "order_id": row.order_id, "linked_order_id": row.linked_order_id,
        "arrived_at": iso(row.arrived_at), "answered_at": iso(row.answered_at),
        "seat": row.seat, "seats": list(row.seats or []), "wait_s": row.wait_s,
        "handled_s": row.handled_s, "ended_at": iso(row.ended_at), "ended_by": row.ended_by,
        "taken_by": row.taken_by, "outcome": row.outcome, "overflowed": row.overflowed,
        "transfers": list(row.transfers or []), "legs": list(row.legs or []),
        "recording_ids": row.recording_ids,
    }


class CallLog:
    """The read side, on the order database's session factory."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def search(self, query: CallLogQuery, *, limit: int = 50, offset: int = 0,
                     whole_numbers: bool = False) -> tuple[list[dict[str, Any]], int]:
        limit = max(1, min(limit, MAX_PAGE))
        where = _where(query)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(CallLogRow)
                                         .where(*where)) or 0
            rows = (await session.scalars(
                select(CallLogRow).where(*where)
                .order_by(CallLogRow.arrived_at.desc(), CallLogRow.call_id)
                .limit(limit).offset(offset))).all()
        return [to_dict(r, whole_numbers) for r in rows], total

    async def iter_rows(self, query: CallLogQuery, *, whole_numbers: bool = False,
                        batch: int = 200) -> AsyncIterator[dict[str, Any]]:
        """Every matching row, a batch at a time (for a streamed export)."""
        offset = 0
        while True:
            rows, _ = await self.search(query, limit=batch, offset=offset,
                                        whole_numbers=whole_numbers)
            for row in rows:
                yield row
            if len(rows) < batch:
                return
            offset += batch

    async def steps(self, call_id: str) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(CallLogStepRow).where(
                CallLogStepRow.call_id == call_id).order_by(CallLogStepRow.at,
                                                            CallLogStepRow.id))).all()
        return [{"step": r.step, "at": r.at.isoformat(), "seat": r.seat, "detail": r.detail}
                for r in rows]

    async def service_levels(self, sites: Sequence[str], since: datetime,
                             until: datetime) -> list[ServiceLevel]:
        """Worked out by the database (levels_db.py): two statements, not every row."""
        async with self._sessions() as session:
            return await service_levels_in_db(session, sites, since, until)
