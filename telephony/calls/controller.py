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
from dataclasses import dataclass, field, replace

from services.overflow import OverflowState, SiteLoad
from services.privacy import mask_number
from services.seats import SeatBoard
from services.waiting_line import WaitingLine
from telephony.ari.events import (
    AriEvent,
    ChannelDestroyed,
    ChannelDtmfReceived,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
)
from telephony.calls import machine
from telephony.sip_rules import UnsafeDialString, caller_number, clean_header
from telephony.calls.model import (
    AddToBridge,
    AgentLost,
    Answer,
    BridgeLegs,
    Call,
    CallEvent,
    CallState,
    CitizenEntered,
    CitizenKey,
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
    Play,
    PlaybackDone,
    PositionAnnounce,
    ReleaseSeat,
    RingSeat,
    RingTarget,
    SeatAnswered,
    SeatFailed,
    SeatOffered,
    StartRingback,
    StopPlayback,
    StopRingback,
    SuggestionChanged,
    SurgeOffered,
    TargetAnswered,
    TargetFailed,
    TellAgent,
    TransferMode,
    WaitForSeat,
)
from telephony.calls.ports import Switch, SwitchError

log = logging.getLogger("hotline.calls")

FAILED_SEAT_REST_S = 2.0
ANSWER_TARGET_S = 15.0   # the service level: answered within 15 s
KEY_WINDOW_S = 3.0        # "*" then a digit within this long makes a feature key
TONE_INTERVAL_S = 1.0     # at most one refusal tone a second, whatever a key storm sends
_RINGING_TARGET = (CallState.TRANSFER_RINGING, CallState.BLIND_RINGING,
                   CallState.THREE_WAY_RINGING)

# Q.850 causes of an unanswered leg -> why the seat did not take the call
_CAUSES = {17: "busy", 18: "no_answer", 19: "no_answer", 21: "rejected"}


# Q.850 causes of a leg ending the usual way: a hang-up (16), or no cause known
_NORMAL_CLEARING = {0, 16, 31}
_LOST = {27: "out_of_order", 38: "network_failure", 41: "temporary_failure",
         42: "congestion", 102: "timer_expired", 127: "interworking"}


def failure_reason(cause: int) -> str:
    return _CAUSES.get(cause, "unreachable")


def lost_reason(cause: int) -> str | None:
    """Why an answered leg was lost, or None when it was hung up the usual way."""
    if cause in _NORMAL_CLEARING or cause in _CAUSES:
        return None
    return _LOST.get(cause, f"cause_{cause}")


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
    lines: frozenset[str] | None = None   # the configured lines (None: not checked)

    def resolve(self, site: str, mode: TransferMode, line: str | None) -> tuple[str | None, str]:
        if mode is TransferMode.LINE:
            if not line or (self.lines is not None and line not in self.lines):
                raise UnsafeDialString(f"no configured line {line!r}")
            return None, f"PJSIP/line-{line}"
        return self.handover[site]


@dataclass
class _Runner:
    call: Call
    arrived: float = 0.0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None


@dataclass
class SiteCounters:
    """Per-site counts since start, for the board and Prometheus."""
    arrived: int = 0
    answered: int = 0
    answered_in_target: int = 0
    abandoned: int = 0
    overflowed: int = 0


class CallController:
    def __init__(self, switches: Mapping[str, Switch], board: SeatBoard,
                 clock: Callable[[], float], ring_timeout_s: int,
                 new_order_id: Callable[[str], str],
                 site_platform: Mapping[str, str],
                 targets: TransferTargets,
                 observer: CallObserver | None = None,
                 suggest: Callable[[str, str, str | None], tuple[str | None, bool]] = (
                     lambda call_id, site, ivr_choice: (None, False)),
                 overflow: Mapping[str, OverflowState] | None = None,
                 surge_after_s: Mapping[str, float] | None = None,
                 faq_media: tuple[str, ...] = (),
                 positions: tuple[int, float] = (0, 30.0),
                 store=None):
        self._switches = switches
        self._board = board
        self._clock = clock
        self._ring_timeout_s = ring_timeout_s
        self._new_order_id = new_order_id
        self._site_platform = site_platform
        self._targets = targets
        self._observer = observer or CallObserver()
        self._suggest = suggest
        self._overflow = dict(overflow or {})
        self.counters = {site: SiteCounters() for site in switches}
        self._surge_after_s = dict(surge_after_s or {})
        self._surge_since: dict[str, float | None] = {}
        self._faq_media = faq_media
        self._max_position, self._announce_every_s = positions
        self._announced: dict[str, float] = {}
        self._store = store   # RedisCallStore, or None: calls then die with the process
        self._runners: dict[str, _Runner] = {}
        self._keys: dict[str, tuple[str, float]] = {}   # leg -> ("*", when)
        self._last_tone: dict[str, float] = {}
        self._legs: dict[str, str] = {}          # channel id -> call id
        self._waiting = {site: WaitingLine(clock) for site in switches}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._detached: set[asyncio.Task] = set()   # requests sent without waiting

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
            if not self._is_connected_agent(event.channel.id):
                self._post_for_channel(event.channel.id, LegHungUp(event.channel.id))
            # an agent's leg under a two-way call waits for ChannelDestroyed, whose
            # cause tells a hang-up from a lost line
        elif isinstance(event, ChannelDtmfReceived):
            self._dtmf(event.channel.id, event.digit)
        elif isinstance(event, PlaybackFinished) and event.channel_id:
            self._post_for_channel(event.channel_id, PlaybackDone(event.playback_id))
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
            elif call.agent_leg and call.agent_leg.id == leg_id and lost_reason(event.cause):
                log.warning("call %s: agent leg %s lost (cause %d); the citizen waits again",
                            call.id, leg_id, event.cause)
                self._post(call.id, AgentLost(leg_id, lost_reason(event.cause) or ""))
            else:
                self._post(call.id, LegHungUp(leg_id))

    def _is_connected_agent(self, leg_id: str) -> bool:
        runner = self._runners.get(self._legs.get(leg_id, ""))
        call = runner.call if runner else None
        return bool(call and call.state is CallState.CONNECTED and call.agent_leg
                    and call.agent_leg.id == leg_id)

    def _dtmf(self, leg_id: str, digit: str) -> None:
        """Assemble "*N" feature keys from single DTMF digits (RFC 2833 or SIP INFO alike)."""
        now = self._clock()
        log.debug("leg %s: DTMF %s", leg_id, digit)
        runner = self._runners.get(self._legs.get(leg_id, ""))
        if runner and runner.call.citizen_leg.id == leg_id:
            self._post(runner.call.id, CitizenKey(digit))
            return
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
        number = caller_number(channel.caller_number)
        platform = self._site_platform[site]
        via_trunk = event.args[0] == "trunk"
        # the dialplan passes what the call brings as Stasis arguments: for a
        # hand-over the orders and origin the first platform set, for a citizen
        # the gateway IVR's choice (no ARI round trip while events wait)
        # (checked again here: a value that breaks its rule is dropped)
        extra = [arg or None for arg in event.args[2:]]
        names = ("X-Work-Order", "X-Linked-Order", "X-Origin-Site") if via_trunk else (
            "X-IVR-Choice",)
        headers: dict[str, str | None] = {
            name: clean_header(name, value)
            for name, value in zip(names, extra + [None] * len(names))}
        call_id = uuid.uuid4().hex[:12]
        call = Call(
            id=call_id, site=site, platform=platform, citizen_number=number,
            citizen_leg=Leg(channel.id, LegRole.CITIZEN),
            order_id=headers.get("X-Work-Order") or self._new_order_id(platform),
            linked_order_id=(headers.get("X-Linked-Order")
                             or self._new_order_id(machine.other_platform(platform))),
            origin_site=headers.get("X-Origin-Site") or site,
            via_trunk=via_trunk, blind_transfer=self._targets.blind,
        )
        line, emergency = self._suggest(call_id, site, headers.get("X-IVR-Choice") or None)
        call = replace(call, suggested_line=line, emergency=emergency)
        runner = _Runner(call, arrived=self._clock())
        if not via_trunk:
            self.counters[site].arrived += 1
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

    def suggestion_changed(self, call_id: str, line: str | None, emergency: bool) -> bool:
        return self._post(call_id, SuggestionChanged(line, emergency))

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
            self._count(runner, before, event)
            if self._store is not None and result.call != before:
                if result.call.state is CallState.ENDED:
                    self._store.forget(result.call.id)
                else:
                    self._store.save(result.call)
            if result.commands or result.call.state is not before.state:
                log.info("call %s: %s -[%s]-> %s", before.id, before.state.value,
                         type(event).__name__, result.call.state.value)
            for command in result.commands:
                await self._execute(runner, command)
            if any(isinstance(c, Finished) for c in result.commands):
                return

    def _count(self, runner: _Runner, before: Call, event: CallEvent) -> None:
        call, counters = runner.call, self.counters[runner.call.site]
        if call.via_trunk:
            return
        if before.state is CallState.RINGING_SEAT and call.state is CallState.CONNECTED \
                and before.attempts == call.attempts and not before.agent_leg:
            counters.answered += 1
            if self._clock() - runner.arrived <= ANSWER_TARGET_S:
                counters.answered_in_target += 1
        if (call.state is CallState.ENDED and before.state in (CallState.WAITING,
                                                             CallState.RINGING_SEAT)
                and isinstance(event, LegHungUp) and event.leg_id == call.citizen_leg.id
                and not call.callback_requested):
            counters.abandoned += 1
            # no abandoned citizen without a callback: the order says so
            self._observer.notice(call, "abandoned", {"waited_s": round(
                self._clock() - runner.arrived, 1)})

    async def _execute(self, runner: _Runner, command: Command) -> None:
        call = runner.call
        switch = self._switches[call.site]
        try:
            match command:
                case Answer(leg_id):
                    await switch.answer(leg_id)
                # tones are sent without waiting for Asterisk's reply: the next
                # step (ringing a seat) need not wait a round trip for them, and
                # on the events socket Asterisk still runs them in order
                case StartRingback(leg_id):
                    self._detach(switch.start_ringback(leg_id),
                                 f"call {call.id}: {type(command).__name__}")
                case StopRingback(leg_id):
                    self._detach(switch.stop_ringback(leg_id),
                                 f"call {call.id}: {type(command).__name__}")
                case WaitForSeat(or_fail=None, first=first):
                    position = self._waiting[call.site].join(call.id, urgent=call.emergency,
                                                             first=first)
                    log.debug("call %s: waiting for a seat at %s (position %d)",
                              call.id, call.site, position)
                    self._dispatch(call.site)
                    self._announce(call.id, call.site)
                case WaitForSeat(or_fail=reason):
                    seat = self._board.claim_longest_idle(call.site)
                    self._post(call.id, SeatOffered(seat.id) if seat else NoSeat(reason or "busy"))
                case IndicateRinging(leg_id):
                    self._detach(switch.indicate_ringing(leg_id),
                                 f"call {call.id}: {type(command).__name__}")
                case RingTarget() as ring:
                    await self._ring_target(call, switch, ring)
                case AddToBridge(bridge_id, leg_id):
                    await switch.add_to_bridge(bridge_id, leg_id)
                case TellAgent(leg_id, sound):
                    now = self._clock()
                    if now - self._last_tone.get(leg_id, -TONE_INTERVAL_S) >= TONE_INTERVAL_S:
                        self._last_tone[leg_id] = now
                        await switch.play(leg_id, f"sound:{sound}")
                case Play(leg_id, media, playback_id):
                    expanded = [m for item in media
                                for m in (self._faq_media if item == "faq" else (item,))]
                    await switch.play(leg_id, ",".join(expanded), playback_id)
                case StopPlayback(playback_id):
                    await switch.stop_playback(playback_id)
                case Notify(kind, detail):
                    log.debug("call %s: %s %s", call.id, kind, detail)
                    self._observer.notice(call, kind, detail)
                case LeaveWaitingLine():
                    self._waiting[call.site].leave(call.id)
                case RingSeat(seat, leg_id, number, headers):
                    seat_site = self._board.site_of(seat)
                    if seat_site is None or not seat.isdigit():   # not a configured seat
                        log.error("call %s: refusing to ring unknown seat %r", call.id, seat)
                        self._post(call.id, SeatFailed(leg_id, "unreachable"))
                        return
                    self._legs[leg_id] = call.id
                    endpoint = f"PJSIP/{seat}"
                    if seat_site != call.site:   # a remote seat, over the trunk
                        endpoint = f"PJSIP/{seat}@trunk-{seat_site}"
                        self.counters[call.site].overflowed += 1
                        self._observer.notice(call, "overflowed", {"seat": seat,
                                                                   "site": seat_site})
                    log.info("call %s: ringing seat %s as %s", call.id, endpoint,
                             mask_number(number))
                    try:
                        await switch.ring(endpoint, leg_id, number, headers,
                                          f"seat,{call.id}", self._ring_timeout_s,
                                          watch_keys=True)
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
                    self._board.release(self._board.site_of(seat) or call.site, seat,
                                        FAILED_SEAT_REST_S if failed else 0.0)
                    self._dispatch_all()
                case Finished():
                    self._forget(call)
        except SwitchError as exc:
            # the leg is usually gone already; its own hang-up event ends the call
            log.warning("call %s: %s failed: %s", call.id, type(command).__name__, exc)

    async def _ring_target(self, call: Call, switch: Switch, ring: RingTarget) -> None:
        try:
            target_site, endpoint = self._targets.resolve(call.site, ring.mode, ring.line)
        except UnsafeDialString as exc:
            log.error("call %s: %s", call.id, exc)
            self._post(call.id, TargetFailed(ring.leg_id, "unreachable"))
            return
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
        self._announced.pop(call.id, None)
        for leg_id, call_id in list(self._legs.items()):
            if call_id == call.id:
                del self._legs[leg_id]
        log.info("call %s: finished (order %s)", call.id, call.order_id)

    # ---- seats -------------------------------------------------------------------
    def _dispatch_all(self) -> None:
        for site in self._waiting:
            self._dispatch(site)

    def _dispatch(self, site: str) -> None:
        """Offer free seats to waiting calls, longest-idle seat to the head of the line;
        remote seats too while the site overflows."""
        line = self._waiting[site]
        while len(line):
            seat = None
            state = self._overflow.get(site)
            # remote seats only while their site answers: else callers queue here
            remote = (state.policy.to if state is not None and self._overflowing(site)
                      and self._targets.site_up(state.policy.to) else None)
            if remote and state is not None and state.forced is True:
                # the emergency plan is on: remote seats first, local ones behind them
                seat = self._board.claim_longest_idle(remote)
            seat = seat or self._board.claim_longest_idle(site)
            if seat is None and remote:
                seat = self._board.claim_longest_idle(remote)
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

    def load(self, site: str) -> SiteLoad:
        line = self._waiting[site]
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
        self._dispatch(site)
        return self.overflow_status()[site]

    async def tick(self, interval: float = 0.5) -> None:
        """Time passing trips and calms overflow even when no call event happens."""
        while True:
            await asyncio.sleep(interval)
            for site in self._overflow:
                self._overflowing(site)
                self._dispatch(site)
            for site in self._surge_after_s:
                self._check_surge(site)
            now = self._clock()
            for site, line in self._waiting.items():
                for call_id in line.calls():
                    if now - self._announced.get(call_id, now) >= self._announce_every_s:
                        self._announce(call_id, site)

    def _announce(self, call_id: str, site: str) -> None:
        """A waiting caller hears their place (the last prompt stands for "or later")."""
        position = self._waiting[site].position(call_id)
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
            for runner in list(self._runners.values()):
                if runner.call.site == site and runner.call.state is CallState.WAITING:
                    self._post(runner.call.id, SurgeOffered())

    def surging(self, site: str) -> bool:
        since = self._surge_since.get(site)
        return since is not None and self._clock() - since >= self._surge_after_s.get(site, 0)

    def seat_resumed(self, site: str) -> None:
        self._dispatch_all()

    def seat_registered(self, site: str, seat: str, registered: bool) -> None:
        before = self._board.get(site, seat)
        after = self._board.set_registered(site, seat, registered)
        if after is None or before == after:
            return
        log.info("seat %s@%s %s", seat, site, "registered" if registered else "unregistered")
        if registered:
            self._dispatch_all()

    def seats_resynced(self, site: str, registered: set[str]) -> None:
        for seat in self._board.seats(site):
            self.seat_registered(site, seat.id, seat.id in registered)

    # ---- a restarted controller ------------------------------------------------------------
    def recover(self, site: str, records: list[Call], channel_ids: set[str]) -> list[str]:
        """Adopt the calls of `site` that Asterisk kept up while we were away.

        Stable calls go on as they were; a transfer or a seat that was ringing is
        called off (the agent can press again); a citizen left alone goes back to
        the waiting line. Nobody is hung up on.
        """
        adopted = []
        for call in records:
            if call.site != site or call.id in self._runners:
                continue
            if call.citizen_leg.id not in channel_ids:
                self._finish_orphan(call, channel_ids)
                continue
            call, stale = _settle(call, channel_ids)
            runner = _Runner(call, arrived=self._clock())
            self._runners[call.id] = runner
            for leg in call.live_legs:
                self._legs[leg.id] = call.id
            for leg in (*call.live_legs, Leg(call.reserved_seat or "", LegRole.AGENT,
                                             call.reserved_seat)):
                if leg.seat:
                    self._board.mark_busy(self._board.site_of(leg.seat) or site, leg.seat)
            runner.task = asyncio.create_task(self._run(runner), name=f"call-{call.id}")
            switch = self._switches[site]
            for leg_id in stale:
                self._detach(switch.hangup(leg_id), "recovery: hangup")
            if call.state is CallState.WAITING:
                self._detach(switch.start_ringback(call.citizen_leg.id), "recovery: ringback")
                self._waiting[site].join(call.id, urgent=call.emergency)
            if self._store is not None:
                self._store.save(call)
            adopted.append(call.id)
            log.info("call %s: adopted after restart in state %s (order %s)", call.id,
                     call.state.value, call.order_id)
        self._dispatch(site)
        return adopted

    def _finish_orphan(self, call: Call, alive: set[str]) -> None:
        """The citizen left while we were away: end what is left of the call."""
        switch = self._switches[call.site]
        for leg in call.live_legs:
            if leg.id in alive:
                self._detach(switch.hangup(leg.id), "recovery: hangup")
        if call.bridge_id:
            self._detach(switch.destroy_bridge(call.bridge_id), "recovery: bridge")
        if self._store is not None:
            self._store.forget(call.id)
        log.info("call %s: ended while the controller was away (order %s)", call.id,
                 call.order_id)
        self._observer.notice(call, "call_ended", {
            "state": call.state.value,
            "taken_by": call.case_taken_by or (machine.other_platform(call.platform)
                                               if call.via_trunk else call.platform)})

    def _detach(self, coro, what: str) -> None:
        """Send a request without waiting for it; a failure is only logged."""
        async def run() -> None:
            try:
                await coro
            except SwitchError as exc:
                log.warning("%s failed: %s", what, exc)
        task = asyncio.ensure_future(run())
        self._detached.add(task)   # held until done, so it is not collected mid-flight
        task.add_done_callback(self._detached.discard)

    # ---- site lifecycle ----------------------------------------------------------------
    def reconcile(self, site: str, alive: set[str]) -> None:
        """After a (re)connection: legs that vanished while we could not hear are gone."""
        for runner in list(self._runners.values()):
            call = runner.call
            if call.site != site:
                continue
            if call.citizen_leg.id not in alive:
                self._post(call.id, LegHungUp(call.citizen_leg.id))
                continue
            if call.ringing_leg and call.ringing_leg.id not in alive:
                self._post(call.id, SeatFailed(call.ringing_leg.id, "unreachable"))
            if call.target_leg and call.target_leg.id not in alive:
                if call.state in _RINGING_TARGET:
                    self._post(call.id, TargetFailed(call.target_leg.id, "unreachable"))
                else:
                    self._post(call.id, LegHungUp(call.target_leg.id))
            if call.agent_leg and call.agent_leg.id not in alive:
                self._post(call.id, LegHungUp(call.agent_leg.id))

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


def _settle(call: Call, alive: set[str]) -> tuple[Call, list[str]]:
    """A stored call made consistent with the channels that still exist.

    Returns the call and the legs to hang up (a ringing seat or target nobody
    is waiting on any more).
    """
    S = CallState
    stale: list[str] = []
    if call.ringing_leg:
        if call.ringing_leg.id in alive:
            stale.append(call.ringing_leg.id)
        call = replace(call, ringing_leg=None, state=S.WAITING if call.state is S.RINGING_SEAT
                       else call.state)
    if call.state in (S.TRANSFER_RINGING, S.THREE_WAY_RINGING, S.BLIND_RINGING):
        if call.target_leg and call.target_leg.id in alive:
            stale.append(call.target_leg.id)
        call = replace(call, target_leg=None, transfer_mode=None,
                       state=S.BLIND_RINGING if call.state is S.BLIND_RINGING else S.CONNECTED)
        if call.state is S.BLIND_RINGING:
            call = replace(call, state=S.WAITING)
    if call.agent_leg and call.agent_leg.id not in alive:
        call = replace(call, agent_leg=None)
    if call.target_leg and call.target_leg.id not in alive:
        call = replace(call, target_leg=None, transfer_mode=None)
    if call.state is S.THREE_WAY and not call.target_leg:
        call = replace(call, state=S.CONNECTED)
    if call.state is S.THREE_WAY and not call.agent_leg:
        call = replace(call, state=S.HANDED_OVER)
    if call.state in (S.CONNECTED, S.HANDED_OVER) and not (call.agent_leg or call.target_leg):
        call = replace(call, state=S.WAITING)   # alone in the bridge: back to the line
    return call, stale


__all__ = ["CallController", "CallObserver", "CallState", "TransferTargets", "failure_reason"]
