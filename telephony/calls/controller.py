"""Call control: one ordered event queue and task per call.

Signals from a site's switch (already typed, see ports.py) are turned into call
events and queued on their call, so a call's events are handled in order
without locks. The machine decides; the command table below carries its
commands out, one small handler each. Seats are the dispatcher's.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from services.overflow import OverflowState
from services.privacy import mask_number
from services.seats import SeatBoard
from telephony.calls import machine, recovery
from telephony.calls import model as m
from telephony.calls import ports as p
from telephony.calls.counters import SiteCounters
from telephony.calls.dispatcher import SeatDispatcher
from telephony.calls.model import Call, CallEvent, CallState, Command, Notice
from telephony.calls.ports import (
    CallObserver,
    Destination,
    Switch,
    SwitchError,
    TransferTargets,
)
from telephony.calls.transfers import TransferRequest

log = logging.getLogger("hotline.calls")

TONE_INTERVAL_S = 1.0     # at most one refusal tone a second, whatever a key storm sends


@dataclass
class CallRunner:
    """One call: its current state, its event queue, and the task that drains it."""
    call: Call
    arrived: float = 0.0
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)
    task: asyncio.Task | None = None
    legs: set[str] = field(default_factory=set)   # every leg id registered for it


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
                 faq_menu: Callable[[str], tuple[tuple[str, str], ...]] = lambda site: (),
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
        self.counters = {site: SiteCounters() for site in switches}
        self._faq_media = faq_media
        self._store = store   # RedisCallStore, or None: calls then die with the process
        self._runners: dict[str, CallRunner] = {}
        self._last_tone: dict[str, float] = {}
        self._legs: dict[str, str] = {}          # channel id -> call id
        self._detached: set[asyncio.Task] = set()   # requests sent without waiting
        self.seats = SeatDispatcher(switches, board, clock, self._post, self._waiting_calls,
                                    targets.site_up, overflow, surge_after_s, positions,
                                    lambda site: m.SurgeOffered(faq_menu(site)))

    # ---- views -----------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        return [r.call for r in self._runners.values()]

    def call(self, call_id: str) -> Call | None:
        runner = self._runners.get(call_id)
        return runner.call if runner else None

    def _waiting_calls(self, site: str) -> list[str]:
        return [r.call.id for r in list(self._runners.values())
                if r.call.site == site and r.call.state is CallState.WAITING]

    # ---- signals from the switch --------------------------------------------------
    async def on_signal(self, site: str, signal: p.Signal) -> None:
        match signal:
            case p.CallArrived():
                self._open_call(site, signal)
            case p.LegAnswered(leg_id, call_id, role):
                answered = ANSWERED[role](leg_id)
                if not self._post(call_id, answered):
                    log.warning("%s leg %s answered for unknown call %s; hanging up",
                                role, leg_id, call_id)
                    await self._switches[site].hangup(leg_id)
            case p.StrayLeg(leg_id, why):
                log.warning("site %s: channel %s %s; hanging up", site, leg_id, why)
                await self._switches[site].hangup(leg_id)
            case p.LegLeft(leg_id) if not self._is_connected_agent(leg_id):
                # a two-way call's agent leg waits for LegGone: a hang-up or a lost line?
                self._post_for_channel(leg_id, m.LegHungUp(leg_id))
            case p.DigitReceived(leg_id, digit):
                log.debug("leg %s: DTMF %s", leg_id, digit)
                self._post_for_channel(leg_id, m.DigitPressed(leg_id, digit, self._clock()))
            case p.PromptFinished(playback_id, leg_id):
                self._post_for_channel(leg_id, m.PlaybackDone(playback_id))
            case p.LegGone():
                self._leg_gone(signal)

    def _leg_gone(self, gone: p.LegGone) -> None:
        self._last_tone.pop(gone.leg_id, None)
        runner = self._runners.get(self._legs.pop(gone.leg_id, ""))
        if runner is None:
            return
        call, leg_id = runner.call, gone.leg_id
        if call.ringing_leg and call.ringing_leg.id == leg_id:
            self._post(call.id, m.SeatFailed(leg_id, gone.unanswered))
        elif call.target_leg and call.target_leg.id == leg_id and call.state in m.RINGING_TARGET:
            self._post(call.id, m.TargetFailed(leg_id, gone.unanswered))
        elif call.state is CallState.DIALING_CITIZEN and call.citizen_leg.id == leg_id:
            self._post(call.id, m.CitizenUnreached(leg_id, gone.unanswered))
        elif call.agent_leg and call.agent_leg.id == leg_id and gone.lost:
            log.warning("call %s: agent leg %s lost (cause %d); the citizen waits again",
                        call.id, leg_id, gone.cause)
            self._post(call.id, m.AgentLost(leg_id, gone.lost))
        else:
            self._post(call.id, m.LegHungUp(leg_id))

    def _is_connected_agent(self, leg_id: str) -> bool:
        call = self.call(self._legs.get(leg_id, ""))
        return bool(call and call.state is CallState.CONNECTED and call.agent_leg
                    and call.agent_leg.id == leg_id)

    def _open_call(self, site: str, arrived: p.CallArrived) -> None:
        call = arrived.new_call(uuid.uuid4().hex[:12], site, self._site_platform[site],
                                self._new_order_id, self._targets.blind)
        line, emergency = self._suggest(call.id, site, arrived.ivr_choice or None)
        call = m.replace(call, suggested_line=line, emergency=emergency)
        if not arrived.via_trunk:
            self.counters[site].arrived += 1
        self._start(CallRunner(call, arrived=self._clock()))
        log.info("call %s: citizen %s arrived at site %s; order %s", call.id,
                 mask_number(arrived.caller_number) or "(no number)", site, call.order_id)
        self._observer.call_opened(call)
        self._post(call.id, m.CitizenEntered(arrived.answered, arrived.music, arrived.ringing))

    def _start(self, runner: CallRunner, commands: tuple[Command, ...] = ()) -> None:
        """Register the call's legs and start its task, which first carries out `commands`."""
        call = runner.call
        self._runners[call.id] = runner
        for leg in call.live_legs:
            self._legs[leg.id] = call.id
            runner.legs.add(leg.id)
        runner.task = asyncio.create_task(self._run(runner, commands), name=f"call-{call.id}")

    # ---- posting to a call ---------------------------------------------------------
    def press(self, call_id: str, key: str) -> bool:
        """A desktop button: the same key, through the same machine, as the softphone's;
        False if the call is unknown or has no agent to press it."""
        runner = self._runners.get(call_id)
        if runner is None or runner.call.agent_leg is None:
            return False
        return self._post(call_id, m.KeyPressed(runner.call.agent_leg.id, key))

    def control(self, call_id: str, request: m.HoldRequested | m.MuteRequested
                | m.HangupRequested) -> bool:
        """The desk's hold, mute or hang-up of a leg, through the call's machine."""
        return self._post(call_id, request)

    def open_placed(self, call: Call, first: CallEvent) -> None:
        """A call we place ourselves (a callback) runs like any other, from `first` on."""
        self._start(CallRunner(call, arrived=self._clock()))
        self._observer.call_opened(call)
        self._post(call.id, first)

    def suggestion_changed(self, call_id: str, line: str | None, emergency: bool) -> bool:
        return self._post(call_id, m.SuggestionChanged(line, emergency))

    def request(self, call_id: str, event: CallEvent | TransferRequest) -> bool:
        """An API request (a transfer's) on the call's own queue; False if the call is gone."""
        return self._post(call_id, event)

    def _post_for_channel(self, channel_id: str, event: CallEvent) -> None:
        call_id = self._legs.get(channel_id)
        if call_id:
            self._post(call_id, event)

    def _post(self, call_id: str, event: CallEvent | TransferRequest) -> bool:
        runner = self._runners.get(call_id)
        if runner is None:
            return False
        runner.queue.put_nowait(event)
        return True

    # ---- one call ----------------------------------------------------------------
    async def _run(self, runner: CallRunner, commands: tuple[Command, ...] = ()) -> None:
        for command in commands:
            await self._carry_out(runner.call, command)
        if any(isinstance(c, m.Finished) for c in commands):
            return
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
            self._persist(before, result.call)
            if result.commands or result.call.state is not before.state:
                # each step is in the call log (services/call_log) for good; at INFO this
                # line was the largest part of the loop's logging under load
                log.debug("call %s: %s -[%s]-> %s", before.id, before.state.value,
                         type(event).__name__, result.call.state.value)
            for command in result.commands:
                await self._carry_out(runner.call, command)
            if any(isinstance(c, m.Finished) for c in result.commands):
                return

    def _persist(self, before: Call | None, after: Call) -> None:
        if self._store is None or after == before:
            return
        if after.state is CallState.ENDED:
            self._store.forget(after.id, after.site)
        else:
            self._store.save(after)

    def _count(self, runner: CallRunner, before: Call, event: CallEvent) -> None:
        waited = self.counters[runner.call.site].count(
            before, runner.call, event, self._clock() - runner.arrived)
        if waited is not None:   # no abandoned citizen without a callback: the order says so
            self._observer.notice(runner.call, Notice.ABANDONED, {"waited_s": round(waited, 1)})

    # ---- commands: one small handler each (COMMANDS, below) --------------------------
    async def _carry_out(self, call: Call, command: Command) -> None:
        try:
            await COMMANDS[type(command)](self, call, command)
        except SwitchError as exc:
            # the leg is usually gone already; its own hang-up event ends the call
            log.warning("call %s: %s failed: %s", call.id, type(command).__name__, exc)

    async def _on_switch(self, call: Call, command: Command) -> None:
        await p.SWITCH_REQUESTS[type(command)](self._switches[call.site], command)

    async def _in_background(self, call: Call, command: Command) -> None:
        # tones are sent without waiting for Asterisk's reply: the next step (ringing a
        # seat) need not wait a round trip for them, and on the events socket Asterisk
        # still runs them in order
        request = p.SWITCH_REQUESTS[type(command)](self._switches[call.site], command)
        self._detach(request, f"call {call.id}: {type(command).__name__}")

    async def _wait_for_seat(self, call: Call, command: m.WaitForSeat) -> None:
        if command.or_fail is None:
            self.seats.join(call.id, call.site, urgent=call.emergency, first=command.first)
            return
        seat = self.seats.claim_now(call.site)
        self._post(call.id, m.SeatOffered(seat.id) if seat else m.NoSeat(command.or_fail or "busy"))

    async def _leave_line(self, call: Call, command: m.LeaveWaitingLine) -> None:
        self.seats.leave(call.id, call.site)

    async def _release_seat(self, call: Call, command: m.ReleaseSeat) -> None:
        self.seats.release(call.site, command.seat, command.failed)

    async def _tell_agent(self, call: Call, command: m.TellAgent) -> None:
        now = self._clock()
        if now - self._last_tone.get(command.leg_id, -TONE_INTERVAL_S) >= TONE_INTERVAL_S:
            self._last_tone[command.leg_id] = now
            await self._switches[call.site].play(command.leg_id, f"sound:{command.sound}")

    async def _play(self, call: Call, command: m.Play) -> None:
        expanded = [m for item in command.media
                    for m in (self._faq_media if item == "faq" else (item,))]
        await self._switches[call.site].play(command.leg_id, ",".join(expanded),
                                             command.playback_id)

    async def _notify(self, call: Call, command: m.Notify) -> None:
        log.debug("call %s: %s %s", call.id, command.kind, command.detail)
        self._observer.notice(call, command.kind, command.detail)

    async def _ring_seat(self, call: Call, ring: m.RingSeat) -> None:
        seat_site = self._board.site_of(ring.seat)
        if seat_site is None or not ring.seat.isdigit():   # not a configured seat
            log.error("call %s: refusing to ring unknown seat %r", call.id, ring.seat)
            self._post(call.id, m.SeatFailed(ring.leg_id, "unreachable"))
            return
        if seat_site != call.site:   # a remote seat, over the trunk
            self.counters[call.site].overflowed += 1
            self._observer.notice(call, Notice.OVERFLOWED, {"seat": ring.seat,
                                                            "site": seat_site})
        await self._ring(call, p.SeatAt(ring.seat, seat_site, call.site), ring, "seat",
                         self._ring_timeout_s, m.SeatFailed(ring.leg_id, "unreachable"))

    async def _ring_target(self, call: Call, ring: m.RingTarget) -> None:
        target_site, destination = self._targets.resolve(call.site, ring.mode, ring.line)
        if target_site is not None and not self._targets.site_up(target_site):
            log.warning("call %s: site %s is down; %s not attempted", call.id, target_site,
                        ring.mode.value)
            self._post(call.id, m.TargetFailed(ring.leg_id, "site_down"))
            return
        timeout_s = ring.timeout_s or self._targets.timeout_s   # the transfer's own, if set
        await self._ring(call, destination, ring, "target", timeout_s,
                         m.TargetFailed(ring.leg_id, "unreachable"))

    async def _ring_citizen(self, call: Call, ring: m.RingCitizen) -> None:
        await self._ring(call, p.CitizenAt(ring.citizen_number), ring, "callback",
                         self._ring_timeout_s, m.CitizenUnreached(ring.leg_id, "unreachable"))

    async def _ring(self, call: Call, destination: Destination,
                    ring: m.RingSeat | m.RingTarget | m.RingCitizen,
                    role: str, timeout_s: int, failed: CallEvent) -> None:
        """A new leg for the call; if the switch will not ring it, `failed` comes back."""
        self._legs[ring.leg_id] = call.id
        runner = self._runners.get(call.id)
        if runner is not None:
            runner.legs.add(ring.leg_id)
        # DEBUG: the call log keeps each seat and target rung (answered or failed, why);
        # at INFO this was one line in three under load
        log.debug("call %s: ringing %s %s as %s", call.id, role, destination,
                 mask_number(ring.caller_number))
        stamp = p.LegStamp(call.id, "seat" if role == "seat" else "target",
                           seat=ring.seat if isinstance(ring, m.RingSeat) else None,
                           mode=ring.mode.value if isinstance(ring, m.RingTarget) else None,
                           orders=(call.order_id, call.linked_order_id))
        # a hand-over's two rings (its target here, and the seat for a call that came by
        # trunk) are what the agent and the citizen wait on with the key pressed
        urgent = role == "target" or (role == "seat" and call.via_trunk)
        try:
            await self._switches[call.site].ring(
                destination, ring.leg_id, ring.caller_number, ring.headers,
                f"{role},{call.id}", timeout_s, stamp=stamp, urgent=urgent)
        except SwitchError as exc:
            log.warning("call %s: %s could not be rung: %s", call.id, destination, exc)
            self._legs.pop(ring.leg_id, None)
            self._post(call.id, failed)

    async def _finished(self, call: Call, command: m.Finished) -> None:
        runner = self._runners.pop(call.id, None)
        self.seats.forget(call.id)
        self._forget_legs(call.id, runner)
        log.info("call %s: finished (order %s)", call.id, call.order_id)

    def _detach(self, coro: Awaitable[Any], what: str) -> None:
        """Send a request without waiting for it; a failure is only logged."""
        async def run() -> None:
            try:
                await coro
            except SwitchError as exc:
                log.warning("%s failed: %s", what, exc)
        task = asyncio.ensure_future(run())
        self._detached.add(task)   # held until done, so it is not collected mid-flight
        task.add_done_callback(self._detached.discard)

    # ---- a restarted controller, a reconnected site ---------------------------------------
    def recover(self, site: str, records: list[Call],
                switch: p.SwitchSnapshot | set[str]) -> list[str]:
        """Adopt the calls of `site` that Asterisk kept up while nobody controlled them;
        end those whose citizen left meanwhile. Asterisk's view (`switch`: its channels,
        bridges and the legs' stamps) wins over the stored records. The transitions are
        the machine's (recovery.py)."""
        if not isinstance(switch, p.SwitchSnapshot):
            switch = p.SwitchSnapshot(frozenset(switch), {}, {})
        adopted = []
        for call in [*records, *self._unstored(site, records, switch)]:
            if call.site != site or call.id in self._runners:
                continue
            bridged = switch.bridges.get(call.bridge_name, frozenset())
            stamped = switch.legs_of(call.id)
            target_mode = next((switch.mode_of(leg.id) for leg in stamped
                                if leg.id in bridged and leg.role is m.LegRole.TARGET), None)
            step = machine.step(call, m.Recovered(switch.alive, bridged, stamped, target_mode))
            self._adopt(step.call)
            self._start(CallRunner(step.call, arrived=self._clock()), step.commands)
            if step.call.state is CallState.ENDED:
                log.info("call %s: ended while the controller was away (order %s)", call.id,
                         call.order_id)
                continue
            adopted.append(call.id)
            log.info("call %s: adopted in state %s (stored %s; order %s)", call.id,
                     step.call.state.value, call.state.value, call.order_id)
        self.seats.dispatch(site)
        return adopted

    def _unstored(self, site: str, records: list[Call], switch: p.SwitchSnapshot
                  ) -> list[Call]:
        """Calls Asterisk holds bridged that no record names (the old controller died
        before any write of them landed): rebuilt from the bridge and the stamps."""
        known = {call.id for call in records} | set(self._runners)
        out = []
        for call_id, (citizen, stamp) in switch.unstored_calls(known).items():
            caller = switch.callers[citizen]
            out.append(recovery.rebuilt(call_id, site, self._site_platform[site], citizen,
                                        caller.number, caller.via_trunk, stamp.orders,
                                        switch.legs_of(call_id)))
            log.warning("call %s: no stored record; rebuilt from Asterisk (order %s)",
                        call_id, stamp.orders[0])
        return out

    def abandon_site(self, site: str) -> int:
        """Another controller holds `site` now: let go of its calls at once, touching
        nothing in Asterisk or the store (the new holder adopts them from there)."""
        dropped = [r for r in self._runners.values() if r.call.site == site]
        for runner in dropped:
            if runner.task:
                runner.task.cancel()
            call = self._runners.pop(runner.call.id).call
            self.seats.leave(call.id, site)
            self.seats.forget(call.id)
            # their seats are the new holder's to track; if the site comes back to us,
            # adopting its calls marks the busy ones again
            for seat in {leg.seat for leg in call.live_legs} | {call.reserved_seat}:
                if seat:
                    self._board.release(self._board.site_of(seat) or site, seat)
        for runner in dropped:
            self._forget_legs(runner.call.id, runner)
        return len(dropped)

    def _forget_legs(self, call_id: str, runner: CallRunner | None) -> None:
        """The call's legs no longer lead to it: its own, not a scan of every call's."""
        legs = runner.legs if runner is not None else [
            leg_id for leg_id, owner in self._legs.items() if owner == call_id]
        for leg_id in legs:
            if self._legs.get(leg_id) == call_id:
                del self._legs[leg_id]

    def _adopt(self, call: Call) -> None:
        """An adopted call's seats are busy again, and the call is stored as it is now."""
        for seat in {leg.seat for leg in call.live_legs} | {call.reserved_seat}:
            if seat:
                self._board.mark_busy(self._board.site_of(seat) or call.site, seat)
        self._persist(None, call)

    def reconcile(self, site: str, alive: set[str]) -> None:
        """After a (re)connection: legs that vanished while we could not hear are gone."""
        for call in self.calls:
            if call.site == site:
                for event in recovery.vanished(call, alive):
                    self._post(call.id, event)

    async def close(self) -> None:
        self.seats.close()
        tasks = [r.task for r in self._runners.values() if r.task] + list(self._detached)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def state_counts(self) -> dict[str, int]:
        return dict(Counter(call.state.value for call in self.calls))


# what a leg we rang means when it answers, by the role it was rung as
ANSWERED = {"seat": m.SeatAnswered, "target": m.TargetAnswered, "callback": m.CitizenAnswered}
Handler = Callable[[CallController, Call, Any], Awaitable[None]]
COMMANDS: dict[type, Handler] = {
    # one request to the switch, awaited, or (tones) sent without waiting
    **dict.fromkeys((m.Answer, m.AddToBridge, m.BridgeLegs, m.HangupLeg, m.DestroyBridge,
                     m.StopPlayback, m.HoldLeg, m.UnholdLeg, m.MuteLeg, m.UnmuteLeg),
                    CallController._on_switch),
    **dict.fromkeys((m.StartRingback, m.StopRingback, m.IndicateRinging),
                    CallController._in_background),
    m.WaitForSeat: CallController._wait_for_seat,
    m.LeaveWaitingLine: CallController._leave_line,
    m.ReleaseSeat: CallController._release_seat,
    m.RingSeat: CallController._ring_seat,
    m.RingTarget: CallController._ring_target,
    m.RingCitizen: CallController._ring_citizen,
    m.TellAgent: CallController._tell_agent,
    m.Play: CallController._play,
    m.Notify: CallController._notify,
    m.Finished: CallController._finished,
}

__all__ = ["COMMANDS", "CallController", "CallObserver", "CallState", "TransferTargets"]
