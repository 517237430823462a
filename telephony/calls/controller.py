"""Call control: one ordered event queue and task per call.

Transport events (already typed) come in per site; each is turned into a
call event and queued on its call, so a call's events are handled in order
without locks. The machine decides; this module carries the commands out.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from services.privacy import mask_number
from services.seats import SeatBoard
from services.waiting_line import WaitingLine
from telephony.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    StasisEnd,
    StasisStart,
)
from telephony.calls import machine
from telephony.calls.model import (
    AddToBridge,
    Answer,
    BridgeLegs,
    Call,
    CallEvent,
    CallState,
    CitizenEntered,
    Command,
    DestroyBridge,
    Finished,
    HangupLeg,
    IndicateRinging,
    KeyPressed,
    LeaveWaitingLine,
    Leg,
    LegHungUp,
    LegRole,
    NoSeat,
    Notify,
    ReleaseSeat,
    RingSeat,
    RingTarget,
    SeatAnswered,
    SeatFailed,
    SeatOffered,
    StartRingback,
    StopRingback,
    TargetAnswered,
    TargetFailed,
    TellAgent,
    TransferMode,
    WaitForSeat,
)
from telephony.calls.ports import Switch, SwitchError

log = logging.getLogger("hotline.calls")

FAILED_SEAT_REST_S = 2.0
KEY_WINDOW_S = 3.0        # "*" then a digit within this long makes a feature key
TONE_INTERVAL_S = 1.0     # at most one refusal tone a second, whatever a key storm sends
_RINGING_TARGET = (CallState.TRANSFER_RINGING, CallState.BLIND_RINGING,
                   CallState.THREE_WAY_RINGING)

# Q.850 causes of an unanswered leg -> why the seat did not take the call
_CAUSES = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}


def failure_reason(cause: int) -> str:
    return _CAUSES.get(cause, "unreachable")


class CallObserver:
    """Told of what calls do: the order record and live views listen here."""

    def call_opened(self, call: Call) -> None:
        pass

    def notice(self, call: Call, kind: str, detail: dict) -> None:
        pass


@dataclass(frozen=True)
class TransferTargets:
    """Where a site's keys send calls, and whether that place is up."""

    handover: Mapping[str, tuple[str, str]]      # site -> (target site, endpoint)
    site_up: Callable[[str], bool]
    timeout_s: int = 20
    blind: bool = False

    def resolve(self, site: str, mode: TransferMode, line: str | None) -> tuple[str | None, str]:
        if mode is TransferMode.LINE:
            return None, f"PJSIP/line-{line}"
        return self.handover[site]


@dataclass
class _Runner:
    call: Call
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None


class CallController:
    def __init__(self, switches: Mapping[str, Switch], board: SeatBoard,
                 clock: Callable[[], float], ring_timeout_s: int,
                 new_order_id: Callable[[str], str],
                 site_platform: Mapping[str, str],
                 targets: TransferTargets,
                 observer: CallObserver | None = None,
                 suggest_line: Callable[[str, str], str | None] = lambda call_id, site: None):
        self._switches = switches
        self._board = board
        self._clock = clock
        self._ring_timeout_s = ring_timeout_s
        self._new_order_id = new_order_id
        self._site_platform = site_platform
        self._targets = targets
        self._observer = observer or CallObserver()
        self._suggest_line = suggest_line
        self._runners: dict[str, _Runner] = {}
        self._keys: dict[str, tuple[str, float]] = {}   # leg -> ("*", when)
        self._last_tone: dict[str, float] = {}
        self._legs: dict[str, str] = {}          # channel id -> call id
        self._waiting = {site: WaitingLine(clock) for site in switches}
        self._timers: dict[str, asyncio.TimerHandle] = {}

    # ---- views -----------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        return [r.call for r in self._runners.values()]

    def waiting(self, site: str) -> WaitingLine:
        return self._waiting[site]

    # ---- transport events ------------------------------------------------------
    async def on_event(self, site: str, event: AriEvent) -> None:
        if isinstance(event, StasisStart):
            await self._stasis_start(site, event)
        elif isinstance(event, StasisEnd):
            self._post_for_channel(event.channel.id, LegHungUp(event.channel.id))
        elif isinstance(event, ChannelDtmfReceived):
            self._dtmf(event.channel.id, event.digit)
        elif isinstance(event, ChannelDestroyed):
            self._keys.pop(event.channel.id, None)
            self._last_tone.pop(event.channel.id, None)
            call_id = self._legs.pop(event.channel.id, None)
            runner = self._runners.get(call_id or "")
            if runner is None:
                return
            call, leg_id, reason = runner.call, event.channel.id, failure_reason(event.cause)
            if call.ringing_leg and call.ringing_leg.id == leg_id:
                self._post(call.id, SeatFailed(leg_id, reason))
            elif call.target_leg and call.target_leg.id == leg_id and call.state in _RINGING_TARGET:
                self._post(call.id, TargetFailed(leg_id, reason))
            else:
                self._post(call.id, LegHungUp(leg_id))

    def _dtmf(self, leg_id: str, digit: str) -> None:
        """Assemble "*N" feature keys from single DTMF digits (RFC 2833 or SIP INFO alike)."""
        now = self._clock()
        log.debug("leg %s: DTMF %s", leg_id, digit)
        pending = self._keys.pop(leg_id, None)
        if digit == "*":
            self._keys[leg_id] = ("*", now)
        elif pending and digit.isdigit() and now - pending[1] <= KEY_WINDOW_S:
            self._post_for_channel(leg_id, KeyPressed(leg_id, f"*{digit}"))

    async def _stasis_start(self, site: str, event: StasisStart) -> None:
        kind = event.args[0] if event.args else ""
        if kind in ("citizen", "trunk"):
            await self._open_call(site, event)
        elif kind in ("seat", "target") and len(event.args) > 1:
            answered = SeatAnswered if kind == "seat" else TargetAnswered
            if not self._post(event.args[1], answered(event.channel.id)):
                log.warning("%s leg %s answered for unknown call %s; hanging up",
                            kind, event.channel.id, event.args[1])
                await self._switches[site].hangup(event.channel.id)
        else:
            log.warning("site %s: channel %s entered with unknown args %r; hanging up",
                        site, event.channel.id, event.args)
            await self._switches[site].hangup(event.channel.id)

    async def _open_call(self, site: str, event: StasisStart) -> None:
        channel = event.channel
        number = channel.caller_number if channel.caller_number.isdigit() else ""
        platform = self._site_platform[site]
        via_trunk = event.args[0] == "trunk"
        headers: dict[str, str | None] = {}
        if via_trunk:
            # a hand-over: keep the orders and origin the first platform set
            for name in ("X-Work-Order", "X-Linked-Order", "X-Origin-Site"):
                try:
                    headers[name] = await self._switches[site].header(channel.id, name)
                except SwitchError:
                    headers[name] = None
        call_id = uuid.uuid4().hex[:12]
        call = Call(
            id=call_id, site=site, platform=platform, citizen_number=number,
            citizen_leg=Leg(channel.id, LegRole.CITIZEN),
            order_id=headers.get("X-Work-Order") or self._new_order_id(platform),
            linked_order_id=(headers.get("X-Linked-Order")
                             or self._new_order_id(machine.other_platform(platform))),
            origin_site=headers.get("X-Origin-Site") or site,
            via_trunk=via_trunk, blind_transfer=self._targets.blind,
            suggested_line=self._suggest_line(call_id, site),
        )
        runner = _Runner(call)
        self._runners[call.id] = runner
        self._legs[channel.id] = call.id
        runner.task = asyncio.create_task(self._run(runner), name=f"call-{call.id}")
        log.info("call %s: citizen %s arrived at site %s; order %s",
                 call.id, mask_number(number) or "(no number)", site, call.order_id)
        self._observer.call_opened(call)
        self._post(call.id, CitizenEntered())

    def press(self, call_id: str, key: str) -> bool:
        """A desktop button: the same key, through the same machine, as the softphone's.

        False if the call is unknown or has no agent to press it.
        """
        runner = self._runners.get(call_id)
        if runner is None or runner.call.agent_leg is None:
            return False
        return self._post(call_id, KeyPressed(runner.call.agent_leg.id, key))

    def call(self, call_id: str) -> Call | None:
        runner = self._runners.get(call_id)
        return runner.call if runner else None

    def _post_for_channel(self, channel_id: str, event: CallEvent) -> None:
        call_id = self._legs.get(channel_id)
        if call_id:
            self._post(call_id, event)

    def _post(self, call_id: str, event: CallEvent) -> bool:
        runner = self._runners.get(call_id)
        if runner is None:
            return False
        runner.queue.put_nowait(event)
        return True

    # ---- one call ----------------------------------------------------------------
    async def _run(self, runner: _Runner) -> None:
        while True:
            event = await runner.queue.get()
            before = runner.call
            try:
                result = machine.step(before, event)
            except machine.IllegalTransition as exc:
                log.warning("%s; ignored", exc)
                continue
            runner.call = result.call
            if result.commands or result.call.state is not before.state:
                log.info("call %s: %s -[%s]-> %s", before.id, before.state.value,
                         type(event).__name__, result.call.state.value)
            for command in result.commands:
                await self._execute(runner, command)
            if any(isinstance(c, Finished) for c in result.commands):
                return

    async def _execute(self, runner: _Runner, command: Command) -> None:
        call = runner.call
        switch = self._switches[call.site]
        try:
            match command:
                case Answer(leg_id):
                    await switch.answer(leg_id)
                case StartRingback(leg_id):
                    await switch.start_ringback(leg_id)
                case StopRingback(leg_id):
                    await switch.stop_ringback(leg_id)
                case WaitForSeat(or_fail=None):
                    position = self._waiting[call.site].join(call.id)
                    log.info("call %s: waiting for a seat at %s (position %d)",
                             call.id, call.site, position)
                    self._dispatch(call.site)
                case WaitForSeat(or_fail=reason):
                    seat = self._board.claim_longest_idle(call.site)
                    self._post(call.id, SeatOffered(seat.id) if seat else NoSeat(reason or "busy"))
                case IndicateRinging(leg_id):
                    await switch.indicate_ringing(leg_id)
                case RingTarget() as ring:
                    await self._ring_target(call, switch, ring)
                case AddToBridge(bridge_id, leg_id):
                    await switch.add_to_bridge(bridge_id, leg_id)
                case TellAgent(leg_id, sound):
                    now = self._clock()
                    if now - self._last_tone.get(leg_id, -TONE_INTERVAL_S) >= TONE_INTERVAL_S:
                        self._last_tone[leg_id] = now
                        await switch.play(leg_id, f"sound:{sound}")
                case Notify(kind, detail):
                    log.info("call %s: %s %s", call.id, kind, detail)
                    self._observer.notice(call, kind, detail)
                case LeaveWaitingLine():
                    self._waiting[call.site].leave(call.id)
                case RingSeat(seat, leg_id, number, headers):
                    self._legs[leg_id] = call.id
                    log.info("call %s: ringing seat %s as %s", call.id, seat, mask_number(number))
                    try:
                        await switch.ring(f"PJSIP/{seat}", leg_id, number, headers,
                                          f"seat,{call.id}", self._ring_timeout_s)
                    except SwitchError as exc:
                        log.warning("call %s: seat %s could not be rung: %s", call.id, seat, exc)
                        self._legs.pop(leg_id, None)
                        self._post(call.id, SeatFailed(leg_id, "unreachable"))
                case BridgeLegs(bridge_id, leg_ids):
                    await switch.bridge(bridge_id, leg_ids)
                case HangupLeg(leg_id, reason):
                    await switch.hangup(leg_id, reason)
                case DestroyBridge(bridge_id):
                    await switch.destroy_bridge(bridge_id)
                case ReleaseSeat(seat, failed):
                    self._board.release(call.site, seat, FAILED_SEAT_REST_S if failed else 0.0)
                    self._dispatch(call.site)
                case Finished():
                    self._forget(call)
        except SwitchError as exc:
            # the leg is usually gone already; its own hang-up event ends the call
            log.warning("call %s: %s failed: %s", call.id, type(command).__name__, exc)

    async def _ring_target(self, call: Call, switch: Switch, ring: RingTarget) -> None:
        target_site, endpoint = self._targets.resolve(call.site, ring.mode, ring.line)
        if target_site is not None and not self._targets.site_up(target_site):
            log.warning("call %s: site %s is down; %s not attempted", call.id, target_site,
                        ring.mode.value)
            self._post(call.id, TargetFailed(ring.leg_id, "site_down"))
            return
        self._legs[ring.leg_id] = call.id
        log.info("call %s: %s to %s as %s", call.id, ring.mode.value, endpoint,
                 mask_number(ring.caller_number))
        try:
            await switch.ring(endpoint, ring.leg_id, ring.caller_number, ring.headers,
                              f"target,{call.id}", self._targets.timeout_s)
        except SwitchError as exc:
            log.warning("call %s: %s could not be rung: %s", call.id, endpoint, exc)
            self._legs.pop(ring.leg_id, None)
            self._post(call.id, TargetFailed(ring.leg_id, "unreachable"))

    def _forget(self, call: Call) -> None:
        self._runners.pop(call.id, None)
        for leg_id, call_id in list(self._legs.items()):
            if call_id == call.id:
                del self._legs[leg_id]
        log.info("call %s: finished (order %s)", call.id, call.order_id)

    # ---- seats -------------------------------------------------------------------
    def _dispatch(self, site: str) -> None:
        """Offer free seats to waiting calls, longest-idle seat to the head of the line."""
        line = self._waiting[site]
        while len(line):
            seat = self._board.claim_longest_idle(site)
            if seat is None:
                self._wake_when_seat_rested(site)
                return
            call_id = line.pop()
            if call_id is None or not self._post(call_id, SeatOffered(seat.id)):
                self._board.release(site, seat.id)

    def _wake_when_seat_rested(self, site: str) -> None:
        ready_at = self._board.next_ready_at(site)
        if ready_at is None or site in self._timers:
            return
        loop = asyncio.get_running_loop()

        def wake() -> None:
            self._timers.pop(site, None)
            self._dispatch(site)

        self._timers[site] = loop.call_later(max(0.0, ready_at - self._clock()), wake)

    def seat_registered(self, site: str, seat: str, registered: bool) -> None:
        before = self._board.get(site, seat)
        after = self._board.set_registered(site, seat, registered)
        if after is None or before == after:
            return
        log.info("seat %s@%s %s", seat, site, "registered" if registered else "unregistered")
        if registered:
            self._dispatch(site)

    def seats_resynced(self, site: str, registered: set[str]) -> None:
        for seat in self._board.seats(site):
            self.seat_registered(site, seat.id, seat.id in registered)

    # ---- site lifecycle ----------------------------------------------------------------
    def site_lost(self, site: str) -> None:
        """The site's Asterisk went away: its channels are gone, so are its calls."""
        for runner in list(self._runners.values()):
            if runner.call.site == site:
                self._post(runner.call.id, LegHungUp(runner.call.citizen_leg.id))

    async def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        tasks = [r.task for r in self._runners.values() if r.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def is_idle(self) -> bool:
        return not self._runners

    def seat_states(self) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {}
        for seat in self._board.seats():
            out.setdefault(seat.site, {})[seat.id] = seat.state.value
        return out

    def state_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.state.value] = counts.get(call.state.value, 0) + 1
        return counts


__all__ = ["CallController", "CallObserver", "CallState", "TransferTargets", "failure_reason"]
