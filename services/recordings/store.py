"""The recording rows in the shared database: what the controller's recorder writes,
what the API lists and audits, what the retention job deletes.

The call log (issue 18 item 4) joins on `recordings_of_calls`: recording ids by call id,
with the orders each belongs to.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.recordings.models import Recording, RecordingAudit, RecordingOrder


@dataclass(frozen=True)
class RecordingInfo:
    recording_id: str
    call_id: str
    site: str
    platform: str
    seats: tuple[str, ...]
    file_name: str
    started_at: datetime
    ended_at: datetime | None
    deleted_at: datetime | None
    order_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"recording_id": self.recording_id, "call_id": self.call_id, "site": self.site,
                "platform": self.platform, "seats": list(self.seats),
                "order_ids": list(self.order_ids),
                "started_at": self.started_at.isoformat(),
                "ended_at": self.ended_at.isoformat() if self.ended_at else None,
                "deleted": self.deleted_at is not None}


def new_recording_id(call_id: str) -> str:
    """Unique, and names the call it belongs to (a file name the switch accepts)."""
    return f"rec-{call_id}-{uuid.uuid4().hex[:8]}"


class RecordingStore:
    def __init__(self, sessions: async_sessionmaker, clock: Callable[[], datetime]):
        self._sessions = sessions
        self._clock = clock

    # ---- the recorder's writes ---------------------------------------------------------
    async def started(self, recording_id: str, call_id: str, site: str, platform: str,
                      seat: str | None, order_ids: Iterable[str], at: datetime) -> None:
        async with self._sessions.begin() as session:
            if await session.get(Recording, recording_id) is not None:
                return   # replayed
            session.add(Recording(recording_id=recording_id, call_id=call_id, site=site,
                                  platform=platform, seats=[seat] if seat else [],
                                  file_name=f"{recording_id}.wav", started_at=at,
                                  ended_at=None, deleted_at=None))
            await session.flush()
            for order_id in dict.fromkeys(order_ids):
                session.add(RecordingOrder(recording_id=recording_id, order_id=order_id))

    async def linked(self, recording_id: str, order_id: str | None = None,
                     seat: str | None = None) -> None:
        """The recording touches another order (a hand-over) or another seat (a three-way)."""
        async with self._sessions.begin() as session:
            row = await session.get(Recording, recording_id)
            if row is None:
                return
            if seat and seat not in row.seats:
                row.seats = [*row.seats, seat]
            if order_id and await session.get(RecordingOrder, (recording_id, order_id)) is None:
                session.add(RecordingOrder(recording_id=recording_id, order_id=order_id))

    async def ended(self, recording_id: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(Recording, recording_id)
            if row is not None and row.ended_at is None:
                row.ended_at = at

    # ---- reads ----------------------------------------------------------------------------
    async def get(self, recording_id: str) -> RecordingInfo | None:
        found = await self._infos(select(Recording).where(
            Recording.recording_id == recording_id))
        return found[0] if found else None

    async def for_call(self, call_id: str) -> list[RecordingInfo]:
        return await self._infos(select(Recording).where(Recording.call_id == call_id))

    async def for_order(self, order_id: str) -> list[RecordingInfo]:
        ids = select(RecordingOrder.recording_id).where(RecordingOrder.order_id == order_id)
        return await self._infos(select(Recording).where(Recording.recording_id.in_(ids)))

    async def recordings_of_calls(self, call_ids: Iterable[str]) -> dict[str, list[dict]]:
        """For the call log: call id -> its recordings ({recording_id, site, order_ids})."""
        rows = await self._infos(select(Recording).where(Recording.call_id.in_(list(call_ids))))
        out: dict[str, list[dict]] = {}
        for info in rows:
            out.setdefault(info.call_id, []).append(
                {"recording_id": info.recording_id, "site": info.site,
                 "order_ids": list(info.order_ids)})
        return out

    async def _infos(self, query) -> list[RecordingInfo]:
        async with self._sessions() as session:
            rows = list((await session.scalars(query.order_by(Recording.started_at))).all())
            links = (await session.execute(select(RecordingOrder).where(
                RecordingOrder.recording_id.in_([r.recording_id for r in rows])))).scalars()
            orders: dict[str, list[str]] = {}
            for link in links:
                orders.setdefault(link.recording_id, []).append(link.order_id)
        return [RecordingInfo(r.recording_id, r.call_id, r.site, r.platform, tuple(r.seats),
                              r.file_name, r.started_at, r.ended_at, r.deleted_at,
                              tuple(sorted(orders.get(r.recording_id, ()))))
                for r in rows]

    # ---- audit ------------------------------------------------------------------------------
    async def audit(self, actor: str, role: str, action: str, recording_id: str | None,
                    call_id: str | None, **detail: Any) -> None:
        async with self._sessions.begin() as session:
            session.add(RecordingAudit(at=self._clock(), actor=actor, role=role, action=action,
                                       recording_id=recording_id, call_id=call_id,
                                       detail=detail))

    async def audit_trail(self, recording_id: str | None = None,
                          call_id: str | None = None, limit: int = 500) -> list[dict[str, Any]]:
        query = select(RecordingAudit).order_by(RecordingAudit.id.desc()).limit(limit)
        if recording_id is not None:
            query = query.where(RecordingAudit.recording_id == recording_id)
        if call_id is not None:
            query = query.where(RecordingAudit.call_id == call_id)
        async with self._sessions() as session:
            rows = (await session.scalars(query)).all()
        return [{"id": r.id, "at": r.at.isoformat(), "actor": r.actor, "role": r.role,
                 "action": r.action, "recording_id": r.recording_id, "call_id": r.call_id,
                 "detail": r.detail} for r in rows]

    # ---- retention ----------------------------------------------------------------------------
    async def expire(self, retention: Mapping[str, timedelta],
                     delete_audio: Callable[[str, str], bool],
                     now: datetime | None = None) -> list[str]:
        """Delete the audio of every ended recording older than its site's retention, and
        write an audit line for each; the row stays (the call log and audit name it).
        `delete_audio(site, file_name)` says whether a file was there to delete."""
        now = now or self._clock()
        expired = []
        async with self._sessions() as session:
            rows = (await session.scalars(select(Recording).where(
                Recording.deleted_at.is_(None), Recording.ended_at.is_not(None)))).all()
            due = [(r.recording_id, r.call_id, r.site, r.file_name) for r in rows
                   if r.site in retention and r.ended_at + retention[r.site] <= now]
        for recording_id, call_id, site, file_name in due:
            existed = delete_audio(site, file_name)
            async with self._sessions.begin() as session:
                row = await session.get(Recording, recording_id)
                row.deleted_at = now
                session.add(RecordingAudit(
                    at=now, actor="retention", role="system", action="expired",
                    recording_id=recording_id, call_id=call_id,
                    detail={"site": site, "retention_days": retention[site].days,
                            "file_existed": existed}))
            expired.append(recording_id)
        return expired
