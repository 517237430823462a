"""Seats for waiting calls: each site's waiting line, overflow to the other site's
seats, the surge menu when every seat is busy too long, and the caller's place
in the line. It offers a seat by posting SeatOffered to the call."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping

from services.overflow import OverflowState, SiteLoad
from services.seats import Seat, SeatBoard
from services.waiting_line import WaitingLine
from telephony.calls.model import CallEvent, PositionAnnounce, SeatOffered, SurgeOffered

log = logging.getLogger("hotline.calls")

FAILED_SEAT_REST_S = 2.0


class SeatDispatcher:
    def __init__(self, sites: Iterable[str], board: SeatBoard, clock: Callable[[], float],
                 post: Callable[[str, CallEvent], bool],
                 waiting_calls: Callable[[str], list[str]],
                 site_up: Callable[[str], bool],
                 overflow: Mapping[str, OverflowState] | None = None,
                 surge_after_s: Mapping[str, float] | None = None,
                 positions: tuple[int, float] = (0, 30.0),
                 surge_offer: Callable[[str], SurgeOffered] = lambda site: SurgeOffered()):
        self._board = board
        self._surge_offer = surge_offer   # site -> the offer, with its region's FAQ answers
        self._clock = clock
        self._post = post
        self._waiting_calls = waiting_calls   # site -> calls in the WAITING state
        self._site_up = site_up
        self._overflow = dict(overflow or {})
        self._surge_after_s = dict(surge_after_s or {})
        self._surge_since: dict[str, float | None] = {}
        self._max_position, self._announce_every_s = positions
        self._announced: dict[str, float] = {}
        self._lines = {site: WaitingLine(clock) for site in sites}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # ---- a call's view -------------------------------------------------------------------
    def waiting(self, site: str) -> WaitingLine:
        return self._lines[site]

    def join(self, call_id: str, site: str, urgent: bool, first: bool = False) -> None:
        position = self._lines[site].join(call_id, urgent=urgent, first=first)
        log.debug("call %s: waiting for a seat at %s (position %d)", call_id, site, position)
        self.dispatch(site)
        self._announce(call_id, site)

    def claim_now(self, site: str) -> Seat | None:
        """A seat free right now, or None (a hand-over does not wait)."""
        return self._board.claim_longest_idle(site)

    def leave(self, call_id: str, site: str) -> None:
        self._lines[site].leave(call_id)

    def release(self, site: str, seat: str, failed: bool) -> None:
        self._board.release(self._board.site_of(seat) or site, seat,
                            FAILED_SEAT_REST_S if failed else 0.0)
        self.dispatch_all()

    def forget(self, call_id: str) -> None:
        self._announced.pop(call_id, None)

    # ---- offering seats -------------------------------------------------------------------
    def dispatch_all(self) -> None:
        for site in self._lines:
            self.dispatch(site)

    def dispatch(self, site: str) -> None:
        """Offer free seats to waiting calls, longest-idle seat to the head of the line;
        remote seats too while the site overflows."""
        line = self._lines[site]
        while len(line):
            seat = self._claim(site)
            if seat is None:
                self._wake_when_seat_rested(site)
                return
            call_id = line.pop()
            if call_id is None or not self._post(call_id, SeatOffered(seat.id)):
                self._board.release(site, seat.id)

    def _claim(self, site: str) -> Seat | None:
        state = self._overflow.get(site)
        # remote seats only while their site answers: else callers queue here
        remote = (state.policy.to if state is not None and self._overflowing(site)
                  and self._site_up(state.policy.to) else None)
        seat = None
        if remote and state is not None and state.forced is True:
            # the emergency plan is on: remote seats first, local ones behind them
            seat = self._board.claim_longest_idle(remote)
        seat = seat or self._board.claim_longest_idle(site)
        if seat is None and remote:
            seat = self._board.claim_longest_idle(remote)
        return seat

    def _wake_when_seat_rested(self, site: str) -> None:
        ready_at = self._board.next_ready_at(site)
        if ready_at is None or site in self._timers:
            return
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._timers.pop(site, None)
            self.dispatch(site)

        self._timers[site] = loop.call_later(max(0.0, ready_at - self._clock()), wake)

    # ---- overflow ---------------------------------------------------------------------------
    def load(self, site: str) -> SiteLoad:
        line = self._lines[site]
        return SiteLoad(waiting=len(line), longest_wait_s=line.longest_wait(),
                        local_available=self._board.available(site),
                        local_on_duty=self._board.on_duty(site))

    def _overflowing(self, site: str) -> bool:
        state = self._overflow.get(site)
        if state is None:
            return False
        was = state.active
        active = state.update(self.load(site), self._clock())
        if active != was:
            log.warning("site %s: overflow to %s %s (%s)", site, state.policy.to,
                        "ON" if active else "off", state.why)
        return active

    def overflow_status(self) -> dict[str, dict]:
        return {site: {"to": s.policy.to, "active": s.active, "why": s.why,
                       "forced": s.forced, "reason": s.reason}
                for site, s in self._overflow.items()}

    def force_overflow(self, site: str, on: bool | None, reason: str) -> dict:
        """The ops switch (启动应急联动预案): on, off, or back to automatic."""
        state = self._overflow.get(site)
        if state is None:
            raise KeyError(f"site {site} has no overflow policy")
        state.force(on, reason, self._clock())
        log.warning("site %s: overflow forced %s by ops: %s", site,
                    {True: "on", False: "off", None: "automatic"}[on], reason)
        self.dispatch(site)
        return self.overflow_status()[site]

    # ---- time passing ---------------------------------------------------------------------
    async def tick(self, interval: float = 0.5) -> None:
        """Time passing trips and calms overflow even when no call event happens."""
        while True:
            await asyncio.sleep(interval)
            for site in self._overflow:
                self._overflowing(site)
                self.dispatch(site)
            for site in self._surge_after_s:
                self._check_surge(site)
            now = self._clock()
            for site, line in self._lines.items():
                for call_id in line.calls():
                    if now - self._announced.get(call_id, now) >= self._announce_every_s:
                        self._announce(call_id, site)

    def _announce(self, call_id: str, site: str) -> None:
        """A waiting caller hears their place (the last prompt stands for "or later")."""
        position = self._lines[site].position(call_id)
        if position is None or not self._max_position:
            self._announced.pop(call_id, None)
            return
        self._announced[call_id] = self._clock()
        self._post(call_id, PositionAnnounce(min(position, self._max_position)))

    def _check_surge(self, site: str) -> None:
        """Every seat, local and remote, busy past the threshold: offer the menu to waiters."""
        load = self.load(site)
        remote = self._overflow[site].policy.to if site in self._overflow else None
        remote_free = remote is not None and self._board.available(remote) > 0
        if not load.waiting or load.local_available or remote_free:
            self._surge_since[site] = None
            return
        since = self._surge_since.get(site)
        now = self._clock()
        if since is None:
            self._surge_since[site] = now
        elif now - since >= self._surge_after_s[site]:
            offer = self._surge_offer(site)
            for call_id in self._waiting_calls(site):
                self._post(call_id, offer)

    def surging(self, site: str) -> bool:
        since = self._surge_since.get(site)
        return since is not None and self._clock() - since >= self._surge_after_s.get(site, 0)

    # ---- seats coming and going --------------------------------------------------------------
    def seat_resumed(self, site: str) -> None:
        self.dispatch_all()

    def seat_registered(self, site: str, seat: str, registered: bool) -> None:
        before = self._board.get(site, seat)
        after = self._board.set_registered(site, seat, registered)
        if after is None or before == after:
            return
        log.info("seat %s@%s %s", seat, site, "registered" if registered else "unregistered")
        if registered:
            self.dispatch_all()

    def seats_resynced(self, site: str, registered: set[str]) -> None:
        for seat in self._board.seats(site):
            self.seat_registered(site, seat.id, seat.id in registered)

    def seat_states(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for seat in self._board.seats():
            out.setdefault(seat.site, {})[seat.id] = seat.state.value
        return out

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
