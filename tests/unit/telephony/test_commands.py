"""The command table: every command the machine can ask for has one small handler,
and each does what its command says on the switch, the seats or the observers."""
from __future__ import annotations

import asyncio
import typing
from dataclasses import replace

import pytest

from services.seats import SeatBoard
from telephony.calls import model
from telephony.calls.controller import COMMANDS, CallController, CallObserver, TransferTargets
from telephony.calls.model import (
    AddToBridge,
    Answer,
    BridgeLegs,
    Call,
    CallState,
    DestroyBridge,
    HangupLeg,
    Leg,
    LegRole,
    Notice,
    Notify,
    Play,
    ReleaseSeat,
    RingSeat,
    RingTarget,
    SeatFailed,
    StartRingback,
    StopPlayback,
    TargetFailed,
    TellAgent,
    TransferMode,
)
from telephony.calls.ports import LineOut, OtherPlatform, SeatAt, SwitchError


class FakeSwitch:
    def __init__(self, fail: set[str] = frozenset()):
        self.done: list[tuple] = []
        self.options: list[tuple[str, dict]] = []   # each request's keyword arguments
        self._fail = fail

    def __getattr__(self, name):
        async def record(*args, **kwargs):
            self.done.append((name, *args))
            self.options.append((name, kwargs))
            if name in self._fail:
                raise SwitchError(f"{name} refused")
        return record


class Notes(CallObserver):
    def __init__(self):
        self.seen = []

    def notice(self, call, kind, detail):
        self.seen.append((kind, detail))


CALL = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
            citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
            state=CallState.CONNECTED, agent_leg=Leg("c1-s1", LegRole.AGENT, "1001"),
            bridge_id="c1-b")


def controller(switch, notes=None, site_up=lambda site: True, seats=(("12345", "1001"),)):
    board = SeatBoard(list(seats), clock=lambda: 0.0)
    calls = CallController({"12345": switch, "110": switch}, board, clock=lambda: 0.0,
                           ring_timeout_s=20, new_order_id=lambda p: "WO-X",
                           site_platform={"12345": "12345", "110": "110"},
                           targets=TransferTargets(handover={"12345": "110"}, site_up=site_up),
                           observer=notes, faq_media=("sound:faq-1", "sound:faq-2"))
    return calls, board


def test_every_command_has_a_handler():
    commands = typing.get_args(model.Command)
    assert commands and set(commands) == set(COMMANDS)


@pytest.mark.parametrize(("command", "sent"), [
    (Answer("cit"), ("answer", "cit")),
    (AddToBridge("c1-b", "c1-t2"), ("add_to_bridge", "c1-b", "c1-t2")),
    (BridgeLegs("c1-b", ("cit", "c1-s1")), ("bridge", "c1-b", ("cit", "c1-s1"))),
    (HangupLeg("c1-s1", "busy"), ("hangup", "c1-s1", "busy")),
    (DestroyBridge("c1-b"), ("destroy_bridge", "c1-b")),
    (StopPlayback("c1-menu"), ("stop_playback", "c1-menu")),
])
async def test_a_one_request_command_is_that_request(command, sent):
    switch = FakeSwitch()
    calls, _ = controller(switch)
    await calls._carry_out(CALL, command)
    assert switch.done == [sent]


async def test_a_tone_is_sent_without_waiting_and_a_failure_is_only_logged():
    switch = FakeSwitch(fail={"start_ringback"})
    calls, _ = controller(switch)
    await calls._carry_out(CALL, StartRingback("cit"))
    await asyncio.sleep(0)
    assert switch.done == [("start_ringback", "cit")]
    await calls.close()


async def test_a_refusal_tone_is_sent_at_most_once_a_second():
    switch = FakeSwitch()
    calls, _ = controller(switch)
    for _ in range(3):
        await calls._carry_out(CALL, TellAgent("c1-s1"))
    assert switch.done == [("play", "c1-s1", "sound:beeperr")]


async def test_the_faq_item_plays_the_knowledge_files_answers():
    switch = FakeSwitch()
    calls, _ = controller(switch)
    await calls._carry_out(CALL, Play("cit", ("sound:a", "faq"), "c1-faq"))
    assert switch.done == [("play", "cit", "sound:a,sound:faq-1,sound:faq-2", "c1-faq")]


async def test_a_notice_reaches_the_observer_typed():
    notes = Notes()
    calls, _ = controller(FakeSwitch(), notes)
    await calls._carry_out(CALL, Notify(Notice.SEAT_ANSWERED, {"seat": "1001"}))
    assert notes.seen == [(Notice.SEAT_ANSWERED, {"seat": "1001"})]
    assert notes.seen[0][0] == "seat_answered"   # the journal's kind stays the same text


async def test_a_local_seat_is_rung_as_a_seat_destination_watching_keys():
    switch = FakeSwitch()
    calls, _ = controller(switch)
    await calls._carry_out(CALL, RingSeat("1001", "c1-s2", "13800138000", ()))
    assert switch.done == [("ring", SeatAt("1001", "12345", "12345"), "c1-s2", "13800138000",
                            (), "seat,c1", 20)]


async def test_a_remote_seat_counts_as_overflowed_and_is_noticed():
    notes = Notes()
    switch = FakeSwitch()
    calls, _ = controller(switch, notes, seats=(("12345", "1001"), ("110", "2001")))
    await calls._carry_out(CALL, RingSeat("2001", "c1-s2", "13800138000", ()))
    assert switch.done[0][1] == SeatAt("2001", "110", "12345")
    assert calls.counters["12345"].overflowed == 1
    assert (Notice.OVERFLOWED, {"seat": "2001", "site": "110"}) in notes.seen


async def test_an_unknown_seat_is_not_rung_and_the_call_hears_it_failed():
    switch = FakeSwitch()
    calls, _ = controller(switch)
    posted = []
    calls._post = lambda call_id, event: posted.append(event) or True   # type: ignore[method-assign]
    await calls._carry_out(CALL, RingSeat("9999", "c1-s2", "13800138000", ()))
    assert switch.done == [] and posted == [SeatFailed("c1-s2", "unreachable")]


async def test_a_handover_rings_the_other_platform_unless_its_site_is_down():
    switch = FakeSwitch()
    up = {"110": True}
    calls, _ = controller(switch, site_up=lambda site: up[site])
    posted = []
    calls._post = lambda call_id, event: posted.append(event) or True   # type: ignore[method-assign]
    ring = RingTarget(TransferMode.HANDOVER, "c1-t2", "13800138000")
    await calls._carry_out(CALL, ring)
    assert switch.done[0][:2] == ("ring", OtherPlatform("12345")) and posted == []
    up["110"] = False
    await calls._carry_out(CALL, replace(ring, leg_id="c1-t3"))
    assert len(switch.done) == 1 and posted == [TargetFailed("c1-t3", "site_down")]


async def test_only_a_hand_overs_rings_are_urgent_its_target_and_the_far_seat():
    switch = FakeSwitch()
    calls, _ = controller(switch, seats=(("12345", "1001"), ("110", "2001")))
    await calls._carry_out(CALL, RingSeat("1001", "c1-s2", "13800138000", ()))
    await calls._carry_out(CALL, RingTarget(TransferMode.HANDOVER, "c1-t3", "13800138000"))
    handed = replace(CALL, id="c2", site="110", platform="110", via_trunk=True,
                     state=CallState.WAITING, agent_leg=None)
    await calls._carry_out(handed, RingSeat("2001", "c2-s1", "13800138000", ()))
    assert [(name, options["urgent"]) for name, options in switch.options] == [
        ("ring", False), ("ring", True), ("ring", True)]


async def test_a_target_the_switch_refuses_fails_as_unreachable():
    switch = FakeSwitch(fail={"ring"})
    calls, _ = controller(switch)
    posted = []
    calls._post = lambda call_id, event: posted.append(event) or True   # type: ignore[method-assign]
    await calls._carry_out(CALL, RingTarget(TransferMode.LINE, "c1-t2", "13800138000",
                                            line="119"))
    assert switch.done[0][1] == LineOut("119")
    assert posted == [TargetFailed("c1-t2", "unreachable")]


async def test_releasing_a_seat_frees_it_for_the_next_caller():
    calls, board = controller(FakeSwitch())
    board.set_registered("12345", "1001", True)
    assert board.claim_longest_idle("12345") is not None
    assert board.get("12345", "1001").state.value == "busy"
    await calls._carry_out(CALL, ReleaseSeat("1001"))
    assert board.get("12345", "1001").state.value == "available"
