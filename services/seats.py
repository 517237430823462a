"""Seats and who answers next.

A seat is on duty while its softphone is registered. The seat idle longest
answers first. The board is kept in process, so calls never wait on Redis;
a mirror copies every change to Redis for other processes and for restarts.
"""
from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Protocol

from services.latest_writer import LatestWriter

log = logging.getLogger(__name__)


class SeatState(str, Enum):
    OFFLINE = "offline"        # not registered
    AVAILABLE = "available"
    BUSY = "busy"
    PAUSED = "paused"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True)
class Seat:
    site: str
    id: str
    registered: bool = False
    state: SeatState = SeatState.OFFLINE
    idle_since: float = 0.0
    not_before: float = 0.0    # a seat that just failed rests until then
    paused: bool = False       # the agent asked for no new calls (a call in progress goes on)


class SeatMirror(Protocol):
    def seat_changed(self, seat: Seat) -> None: ...


class SeatBoard:
    def __init__(self, seats: Iterable[tuple[str, str]], clock: Callable[[], float],
                 mirror: SeatMirror | None = None):
        self._clock = clock
        self._mirror = mirror
        self._seats: dict[tuple[str, str], Seat] = {}
        # indexes: calls ask these on every arrival, and a site may have hundreds of seats
        self._by_site: dict[str, dict[str, Seat]] = {}
        self._site_of: dict[str, str] = {}
        self._available: dict[str, dict[str, Seat]] = {}
        self._on_duty: dict[str, set[str]] = {}
        # per site, (idle_since, seat id) of free seats, longest idle on top; entries
        # whose seat has moved on are dropped when they reach the top
        self._idle: dict[str, list[tuple[float, str]]] = {}
        for site, seat_id in seats:
            seat = Seat(site=site, id=seat_id)
            self._seats[(site, seat_id)] = seat
            self._by_site.setdefault(site, {})[seat_id] = seat
            self._site_of.setdefault(seat_id, site)
            self._available.setdefault(site, {})
            self._on_duty.setdefault(site, set())
            self._idle.setdefault(site, [])

    def site_of(self, seat: str) -> str | None:
        return self._site_of.get(seat)

    def get(self, site: str, seat: str) -> Seat | None:
        return self._seats.get((site, seat))

    def seats(self, site: str | None = None) -> list[Seat]:
        if site is None:
            return list(self._seats.values())
        return list(self._by_site.get(site, {}).values())

    def _put(self, seat: Seat) -> Seat:
        old = self._seats.get((seat.site, seat.id))
        self._seats[(seat.site, seat.id)] = seat
        self._by_site[seat.site][seat.id] = seat
        available = self._available[seat.site]
        if seat.registered and seat.state is SeatState.AVAILABLE:
            before = available.get(seat.id)
            available[seat.id] = seat
            if before is None or before.idle_since != seat.idle_since:
                heapq.heappush(self._idle[seat.site], (seat.idle_since, seat.id))
        else:
            available.pop(seat.id, None)
        if seat.registered:
            self._on_duty[seat.site].add(seat.id)
        else:
            self._on_duty[seat.site].discard(seat.id)
        if old != seat and self._mirror is not None:
            self._mirror.seat_changed(seat)
        return seat

    def set_registered(self, site: str, seat_id: str, registered: bool) -> Seat | None:
        seat = self.get(site, seat_id)
        if seat is None:
            return None
        if not registered:
            return self._put(replace(seat, registered=False, state=SeatState.OFFLINE))
        if seat.state is SeatState.OFFLINE:
            state = SeatState.PAUSED if seat.paused else SeatState.AVAILABLE
            seat = replace(seat, state=state, idle_since=self._clock())
        return self._put(replace(seat, registered=True))

    def claim_longest_idle(self, site: str) -> Seat | None:
        now = self._clock()
        idle, available = self._idle.get(site), self._available.get(site, {})
        if not idle:
            return None
        resting: list[tuple[float, str]] = []
        chosen = None
        while idle:
            idle_since, seat_id = entry = heapq.heappop(idle)
            seat = available.get(seat_id)
            if seat is None or seat.idle_since != idle_since:
                continue   # no longer free, or free again since: a newer entry stands
            if seat.not_before > now:
                resting.append(entry)   # a seat that just failed rests; kept for later
                continue
            chosen = seat
            break
        for entry in resting:
            heapq.heappush(idle, entry)
        if chosen is None:
            return None
        return self._put(replace(chosen, state=SeatState.BUSY))

    def mark_busy(self, site: str, seat_id: str) -> None:
        seat = self.get(site, seat_id)
        if seat is not None:
            self._put(replace(seat, state=SeatState.BUSY))

    def available(self, site: str) -> int:
        """Seats of `site` registered and free (resting ones included)."""
        return len(self._available.get(site, {}))

    def on_duty(self, site: str) -> int:
        """Seats of `site` whose softphones are registered."""
        return len(self._on_duty.get(site, ()))

    def release(self, site: str, seat_id: str, rest_s: float = 0.0) -> Seat | None:
        seat = self.get(site, seat_id)
        if seat is None:
            return None
        now = self._clock()
        state = SeatState.AVAILABLE if seat.registered else SeatState.OFFLINE
        if seat.registered and seat.paused:
            state = SeatState.PAUSED
        return self._put(replace(seat, state=state, idle_since=now, not_before=now + rest_s))

    def pause(self, site: str, seat_id: str) -> Seat | None:
        """No new calls for this seat; a call it is on goes on."""
        seat = self.get(site, seat_id)
        if seat is None:
            return None
        state = SeatState.PAUSED if seat.state is SeatState.AVAILABLE else seat.state
        return self._put(replace(seat, paused=True, state=state))

    def resume(self, site: str, seat_id: str) -> Seat | None:
        seat = self.get(site, seat_id)
        if seat is None:
            return None
        if seat.state is SeatState.PAUSED:
            return self._put(replace(seat, paused=False, state=SeatState.AVAILABLE,
                                     idle_since=self._clock()))
        return self._put(replace(seat, paused=False))

    def next_ready_at(self, site: str) -> float | None:
        """When a resting seat of `site` becomes ready, if any is resting."""
        now = self._clock()
        resting = [s.not_before for s in self._available.get(site, {}).values()
                   if s.not_before > now]
        return min(resting) if resting else None


# The mirror is a view for boards and ops tools (nothing in call control reads it back),
# so a tenth of a second late is nothing; in that window a call's claim, answer and
# release of one seat collapse into one write of its latest state.
SEAT_MIRROR_GATHER_S = 0.1


class RedisSeatMirror:
    """Copies seat changes to Redis hashes `hotline:seat:<site>:<seat>`.

    Writes are fire-and-forget (`schedule` runs them): a slow or dead Redis
    never holds a call. While Redis is away the latest state of each seat waits
    and is written when it answers again.
    """

    def __init__(self, redis, schedule: Callable[[object], object]):
        self._redis = redis
        self._writer: LatestWriter[Seat] = LatestWriter(self._write, schedule, "seat mirror",
                                                         gather_s=SEAT_MIRROR_GATHER_S)

    def seat_changed(self, seat: Seat) -> None:
        self._writer.put(f"hotline:seat:{seat.site}:{seat.id}", seat)

    async def _write(self, batch: list[tuple[str, Seat]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for key, seat in batch:
            pipe.hset(key, mapping={
                "site": seat.site, "seat": seat.id, "state": seat.state.value,
                "registered": int(seat.registered), "idle_since": seat.idle_since,
            })
        await pipe.execute()
