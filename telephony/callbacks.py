"""Booked callbacks and the scheduled job that places them.

A citizen books a callback by pressing 2 in the surge menu, or by hanging up while
waiting (no abandoned citizen without a callback). The book keeps each booking (one per
order, the latest), and the job, when a site has it switched on
(`HOTLINE_CALLBACK_SITES=12345,110`; off by default), places the oldest one whenever
that site has a free seat and nobody waiting: never more than one of its callbacks
ringing at a time, each booking tried at most `MAX_ATTEMPTS` times, `RETRY_S` apart.
An agent may place any of them at once through the API instead.

The book lives in the controller's memory: a restart forgets bookings not yet placed
(the order's summary still says "[回拨 callback]").
"""
from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace

from services.errors import DomainError
from services.privacy import mask_number
from telephony.calls.model import Call, Notice
from telephony.calls.ports import CallObserver

log = logging.getLogger("hotline.callbacks")

MAX_ATTEMPTS = 3
RETRY_S = 120.0
MAX_BOOKED = 1000   # bounded: the oldest bookings give way


@dataclass(frozen=True)
class Booking:
    order_id: str
    number: str
    site: str
    booked_at: float
    attempts: int = 0
    not_before: float = 0.0


class CallbackBook(CallObserver):
    """Bookings by order, oldest first; told of calls like the order record is."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._booked: OrderedDict[str, Booking] = OrderedDict()
        self._placing: dict[str, Booking] = {}   # order id -> the booking being placed

    def notice(self, call: Call, kind: Notice, detail: dict) -> None:
        if call.callback:
            self._placed_call(call, kind)
        elif kind in (Notice.CALLBACK_REQUESTED, Notice.ABANDONED) and call.citizen_number:
            self.book(call.order_id, call.citizen_number, call.site)

    def book(self, order_id: str, number: str, site: str) -> None:
        self._booked.pop(order_id, None)
        self._booked[order_id] = Booking(order_id, number, site, self._clock())
        while len(self._booked) > MAX_BOOKED:
            self._booked.popitem(last=False)
        log.info("callback booked on order %s for %s", order_id, mask_number(number))

    def _placed_call(self, call: Call, kind: Notice) -> None:
        """A placed callback answered (done, whoever placed it) or not reached (again
        later, up to MAX_ATTEMPTS)."""
        if kind is Notice.CALLBACK_ANSWERED:
            self._placing.pop(call.order_id, None)
            self._booked.pop(call.order_id, None)
        elif kind is Notice.CALLBACK_FAILED:
            booking = self._placing.pop(call.order_id, None)
            if booking is not None and booking.attempts < MAX_ATTEMPTS:
                self._booked[call.order_id] = replace(
                    booking, not_before=self._clock() + RETRY_S)

    def due(self, site: str) -> Booking | None:
        now = self._clock()
        return next((b for b in self._booked.values()
                     if b.site == site and b.not_before <= now), None)

    def placing(self, site: str) -> int:
        return sum(1 for b in self._placing.values() if b.site == site)

    def take(self, booking: Booking) -> Booking:
        self._booked.pop(booking.order_id, None)
        taken = replace(booking, attempts=booking.attempts + 1)
        self._placing[booking.order_id] = taken
        return taken

    def dropped(self, booking: Booking) -> None:
        """A booking that could not be placed at all (the order's seat or site refused)."""
        self._placing.pop(booking.order_id, None)

    def booked(self, site: str | None = None) -> list[Booking]:
        return [b for b in self._booked.values() if site in (None, b.site)]

    def views(self, site: str) -> list[dict]:
        """A site's bookings for the queue resource, the number masked."""
        now = self._clock()
        return [{"order_id": b.order_id, "citizen_number": mask_number(b.number),
                 "booked_s": round(now - b.booked_at, 1), "attempts": b.attempts}
                for b in self.booked(site)]


class CallbackJob:
    """Places due callbacks of the sites that have it on, one at a time per site."""

    def __init__(self, book: CallbackBook, sites: Iterable[str],
                 site_is_free: Callable[[str], bool],
                 place: Callable[[str, str, str, str | None], Awaitable[object]],
                 interval_s: float = 2.0):
        self._book = book
        self._sites = tuple(sites)
        self._site_is_free = site_is_free   # a free seat and nobody waiting
        self._place = place
        self._interval_s = interval_s

    async def tick(self) -> None:
        for site in self._sites:
            booking = self._book.due(site)
            if booking is None or self._book.placing(site) or not self._site_is_free(site):
                continue
            taken = self._book.take(booking)
            try:
                await self._place(site, taken.order_id, taken.number, None)
                log.info("callback on order %s placed from site %s (attempt %d)",
                         taken.order_id, site, taken.attempts)
            except DomainError as exc:
                log.warning("callback on order %s not placed: %s", taken.order_id, exc.message)
                self._book.dropped(taken)

    async def run(self) -> None:
        if not self._sites:
            return   # off: no site has the job switched on
        while True:
            await asyncio.sleep(self._interval_s)
            await self.tick()
