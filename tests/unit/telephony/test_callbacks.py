"""Booked callbacks and the scheduled job: off unless a site has it on, one ringing per
site, only when a seat is free and nobody waits, retried a bounded number of times."""
from __future__ import annotations

from services.errors import DomainError
from telephony.callbacks import MAX_ATTEMPTS, RETRY_S, CallbackBook, CallbackJob
from telephony.calls.control import callback_call
from telephony.calls.model import Notice

from .test_machine import PO, WO, new_call


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


def booked(clock: Clock) -> CallbackBook:
    book = CallbackBook(clock)
    book.notice(new_call(), Notice.CALLBACK_REQUESTED, {})
    return book


def job(book: CallbackBook, placed: list, free: bool = True, sites=("12345",),
        refuse: bool = False) -> CallbackJob:
    async def place(site, order_id, number, seat):
        if refuse:
            raise DomainError("no", error_id="site_not_found", status=404)
        placed.append((site, order_id, number, seat))
    return CallbackJob(book, sites, lambda site: free, place)


async def test_a_surge_booking_is_placed_when_the_site_has_a_free_seat():
    placed: list = []
    book = booked(Clock())
    await job(book, placed, free=False).tick()
    assert placed == []                      # every seat busy or someone waiting: not now
    await job(book, placed).tick()
    assert placed == [("12345", WO, "13800138000", None)]
    await job(book, placed).tick()
    assert len(placed) == 1                  # one of the site's callbacks at a time


async def test_the_job_is_off_for_sites_not_named():
    placed: list = []
    book = booked(Clock())
    await job(book, placed, sites=()).tick()
    await job(book, placed, sites=("110",)).tick()
    assert placed == []


async def test_an_unreached_citizen_is_tried_again_later_at_most_max_attempts():
    clock, placed = Clock(), []
    book = booked(clock)
    placed_call = callback_call("cb", "12345", "12345", WO, "13800138000", PO)
    for _ in range(MAX_ATTEMPTS):
        await job(book, placed).tick()
        book.notice(placed_call, Notice.CALLBACK_FAILED, {"reason": "no_answer"})
        await job(book, placed).tick()       # not before RETRY_S
        clock.now += RETRY_S
    await job(book, placed).tick()
    assert len(placed) == MAX_ATTEMPTS and book.booked() == []


async def test_an_answered_callback_is_done_and_a_refused_one_dropped():
    placed: list = []
    book = booked(Clock())
    await job(book, placed).tick()
    book.notice(callback_call("cb", "12345", "12345", WO, "13800138000", PO),
                Notice.CALLBACK_ANSWERED, {})
    assert book.booked() == [] and book.placing("12345") == 0
    book = booked(Clock())
    await job(book, placed, refuse=True).tick()
    assert book.booked() == [] and book.placing("12345") == 0


def test_the_queue_shows_bookings_with_the_number_masked():
    clock = Clock()
    book = booked(clock)
    clock.now += 30
    assert book.views("12345") == [{"order_id": WO, "citizen_number": "138****8000",
                                    "booked_s": 30.0, "attempts": 0}]
    assert book.views("110") == []
