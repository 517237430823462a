"""A restarted controller squares stored calls with the channels Asterisk kept."""
from __future__ import annotations

import asyncio
from dataclasses import replace

from services.seats import SeatBoard
from telephony.calls import machine
from telephony.calls.controller import CallController, CallObserver, TransferTargets
from telephony.calls.model import (
    Call,
    CallState,
    HangupLeg,
    Leg,
    LegHungUp,
    LegRole,
    Notice,
    Notify,
    Recovered,
    TransferMode,
)

S = CallState


class FakeSwitch:
    def __init__(self):
        self.done: list[tuple] = []

    def __getattr__(self, name):
        async def record(*args, **kwargs):
            self.done.append((name, *args))
        return record


class Notes(CallObserver):
    def __init__(self):
        self.seen = []

    def notice(self, call, kind, detail):
        self.seen.append((call.id, kind, detail))


def stored(**kw) -> Call:
    call = Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=Leg("cit", LegRole.CITIZEN), order_id="WO-1", linked_order_id="PO-1",
                origin_site="12345", state=S.CONNECTED,
                agent_leg=Leg("c1-s1", LegRole.AGENT, "1001"), bridge_id="c1-b")
    return replace(call, **kw)


def controller(switch, notes=None):
    board = SeatBoard([("12345", "1001"), ("12345", "1002")], clock=lambda: 0.0)
    return CallController({"12345": switch}, board, clock=lambda: 0.0, ring_timeout_s=20,
                          new_order_id=lambda p: "WO-X", site_platform={"12345": "12345"},
                          targets=TransferTargets(handover={}, site_up=lambda s: True),
                          observer=notes), board


def _settle(call: Call, alive: set[str]) -> tuple[Call, list[str]]:
    """The machine's recovery step: the call, and the legs it hangs up."""
    step = machine.step(call, Recovered(frozenset(alive)))
    return step.call, [c.leg_id for c in step.commands if isinstance(c, HangupLeg)]


def test_a_connected_call_with_both_legs_alive_stays_connected():
    call, stale = _settle(stored(), {"cit", "c1-s1"})
    assert call.state is S.CONNECTED and stale == []


def test_a_ringing_transfer_is_called_off_and_its_leg_hung_up():
    call, stale = _settle(stored(state=S.TRANSFER_RINGING, target_leg=Leg("c1-t2", LegRole.TARGET),
                                 transfer_mode=TransferMode.HANDOVER), {"cit", "c1-s1", "c1-t2"})
    assert call.state is S.CONNECTED and call.target_leg is None and stale == ["c1-t2"]


def test_a_citizen_left_alone_goes_back_to_the_waiting_line():
    call, _ = _settle(stored(), {"cit"})
    assert call.state is S.WAITING and call.agent_leg is None


async def test_recover_adopts_live_calls_and_marks_their_seats_busy():
    switch = FakeSwitch()
    calls, board = controller(switch)
    board.set_registered("12345", "1001", True)
    assert calls.recover("12345", [stored()], {"cit", "c1-s1"}) == ["c1"]
    assert calls.call("c1").state is S.CONNECTED
    assert board.get("12345", "1001").state.value == "busy"
    assert calls.press("c1", "*1")   # the agent's keys work again
    await calls.close()


async def test_a_call_whose_citizen_left_while_away_is_ended_not_left_dangling():
    switch, notes = FakeSwitch(), Notes()
    calls, _ = controller(switch, notes)
    assert calls.recover("12345", [stored()], {"c1-s1"}) == []
    await asyncio.sleep(0)
    assert ("hangup", "c1-s1", "normal") in switch.done and ("destroy_bridge", "c1-b") in switch.done
    assert notes.seen[-1][1] == "call_ended"
    await calls.close()


def _leg_gone(leg_id: str, cause: int):
    from telephony.ari.calls import Channel, ChannelDestroyed, StasisEnd, to_signal
    channel = Channel(leg_id, "PJSIP/1001-1", "Up", "", "", "")
    return to_signal(StasisEnd(channel)), to_signal(ChannelDestroyed(channel, cause, ""))


async def _settled(calls, call_id="c1"):
    for _ in range(50):
        await asyncio.sleep(0)
    return calls.call(call_id)


async def test_an_agent_leg_lost_by_a_network_cause_sends_the_citizen_back_to_the_line():
    switch, notes = FakeSwitch(), Notes()
    calls, board = controller(switch, notes)
    board.set_registered("12345", "1001", True)
    calls.recover("12345", [stored()], {"cit", "c1-s1"})
    end, destroyed = _leg_gone("c1-s1", 38)   # network out of order
    await calls.on_signal("12345", end)
    assert (await _settled(calls)).state is S.CONNECTED   # waits for the cause
    await calls.on_signal("12345", destroyed)
    call = await _settled(calls)
    assert call is not None and call.agent_leg is None
    assert ("c1", "agent_lost", {"seat": "1001", "reason": "network_failure"}) in notes.seen
    assert not any(name == "hangup" and args == ("cit",) for name, *args in switch.done)
    await calls.close()


async def test_an_agent_who_hangs_up_normally_ends_the_call():
    switch, notes = FakeSwitch(), Notes()
    calls, board = controller(switch, notes)
    board.set_registered("12345", "1001", True)
    calls.recover("12345", [stored()], {"cit", "c1-s1"})
    for event in _leg_gone("c1-s1", 16):   # normal clearing: a BYE from the seat
        await calls.on_signal("12345", event)
    assert await _settled(calls) is None   # finished
    assert any(kind == "call_ended" for _, kind, _ in notes.seen)
    assert ("hangup", "cit", "normal") in switch.done
    await calls.close()


# ---- the recovery transitions live in the machine's table ---------------------------------
def test_every_live_state_has_a_recovery_transition():
    from telephony.calls.recovery import recovered
    live = [state for state in S if state is not S.ENDED]
    assert all(machine.TRANSITIONS[(state, Recovered)] is recovered for state in live)


def test_a_ringing_seat_is_called_off_and_the_citizen_waits_again():
    from telephony.calls.model import StartRingback, WaitForSeat
    call = stored(state=S.RINGING_SEAT, agent_leg=None, ringing_leg=Leg("c1-s2", LegRole.AGENT,
                                                                        "1002"))
    step = machine.step(call, Recovered(frozenset({"cit", "c1-s2"})))
    assert step.call.state is S.WAITING and step.call.ringing_leg is None
    assert step.commands == (HangupLeg("c1-s2"), StartRingback("cit"), WaitForSeat())


def test_a_blind_transfer_still_ringing_goes_back_to_the_waiting_line():
    call = stored(state=S.BLIND_RINGING, agent_leg=None, reserved_seat="1001",
                  target_leg=Leg("c1-t2", LegRole.TARGET), transfer_mode=TransferMode.HANDOVER)
    call, stale = _settle(call, {"cit", "c1-t2"})
    assert call.state is S.WAITING and call.target_leg is None and stale == ["c1-t2"]


def test_a_three_way_whose_agent_left_is_handed_over():
    call = stored(state=S.THREE_WAY, target_leg=Leg("c1-t2", LegRole.TARGET),
                  transfer_mode=TransferMode.THREE_WAY)
    call, stale = _settle(call, {"cit", "c1-t2"})
    assert call.state is S.HANDED_OVER and call.agent_leg is None and stale == []


def test_a_call_whose_citizen_left_ends_with_what_is_left_hung_up():
    from telephony.calls.model import DestroyBridge, Finished, Notice
    step = machine.step(stored(), Recovered(frozenset({"c1-s1"})))
    assert step.call.state is S.ENDED
    assert step.commands[:2] == (DestroyBridge("c1-b"), HangupLeg("c1-s1"))
    notice, finished = step.commands[2:]
    assert notice.kind is Notice.CALL_ENDED and notice.detail == {"state": "connected",
                                                                  "taken_by": "12345"}
    assert finished == Finished()


def test_after_a_reconnection_vanished_legs_are_heard_of():
    from telephony.calls.model import SeatFailed, TargetFailed
    from telephony.calls.recovery import vanished
    ringing = stored(state=S.TRANSFER_RINGING, target_leg=Leg("c1-t2", LegRole.TARGET))
    assert vanished(ringing, {"cit", "c1-s1"}) == [TargetFailed("c1-t2", "unreachable")]
    assert vanished(stored(), {"c1-s1"}) == [LegHungUp("cit")]
    seat = stored(state=S.RINGING_SEAT, agent_leg=None,
                  ringing_leg=Leg("c1-s2", LegRole.AGENT, "1002"))
    assert vanished(seat, {"cit"}) == [SeatFailed("c1-s2", "unreachable")]


# ---- a takeover trusts Asterisk: the bridge over a record a write or two behind -----------
def _trusting(call: Call, alive: set[str], bridged: set[str], stamped=(), mode=None):
    step = machine.step(call, Recovered(frozenset(alive), frozenset(bridged), tuple(stamped),
                                        mode))
    return step.call, step.commands


def test_a_seat_stored_as_ringing_but_bridged_is_the_agent_and_is_not_hung_up():
    """The old controller died before writing "connected": the live agent stays."""
    call = stored(state=S.RINGING_SEAT, agent_leg=None, bridge_id=None,
                  ringing_leg=Leg("c1-s2", LegRole.AGENT, "1002"))
    after, commands = _trusting(call, {"cit", "c1-s2"}, {"cit", "c1-s2"})
    assert after.state is S.CONNECTED and after.agent_leg == Leg("c1-s2", LegRole.AGENT, "1002")
    assert after.bridge_id == "c1-b" and after.ringing_leg is None
    # nothing hung up, nobody re-queued; the answer the record missed is told (call log)
    assert commands == (Notify(Notice.SEAT_ANSWERED, {"seat": "1002", "recovered": True}),)


def test_a_seat_leg_the_record_never_named_is_known_by_its_stamp():
    call = stored(state=S.WAITING, agent_leg=None, bridge_id=None)
    seat = Leg("c1-s3", LegRole.AGENT, "1003")
    after, commands = _trusting(call, {"cit", "c1-s3"}, {"cit", "c1-s3"}, [seat])
    assert after.state is S.CONNECTED and after.agent_leg == seat
    assert commands == (Notify(Notice.SEAT_ANSWERED, {"seat": "1003", "recovered": True}),)


def test_a_handed_over_call_stored_as_connected_is_not_sent_back_to_the_line():
    """The old controller died before writing the hand-over: the citizen talks with the
    other platform, and must not be queued for a seat again."""
    target = Leg("c1-t2", LegRole.TARGET)
    after, commands = _trusting(stored(), {"cit", "c1-t2"}, {"cit", "c1-t2"}, [target],
                                "handover")
    assert after.state is S.HANDED_OVER and after.target_leg == target
    assert after.agent_leg is None and after.case_taken_by == "110"
    assert commands == ()


def test_a_target_bridged_with_agent_and_citizen_makes_a_three_way_and_hangs_up_nobody():
    target = Leg("c1-t2", LegRole.TARGET)
    call = stored(state=S.TRANSFER_RINGING, target_leg=target, transfer_mode=TransferMode.HANDOVER)
    after, commands = _trusting(call, {"cit", "c1-s1", "c1-t2"}, {"cit", "c1-s1", "c1-t2"})
    assert after.state is S.THREE_WAY and after.agent_leg and after.target_leg == target
    assert not any(isinstance(c, HangupLeg) for c in commands)


def test_a_target_still_ringing_outside_the_bridge_is_called_off_as_before():
    target = Leg("c1-t2", LegRole.TARGET)
    call = stored(state=S.TRANSFER_RINGING, target_leg=target, transfer_mode=TransferMode.HANDOVER)
    after, commands = _trusting(call, {"cit", "c1-s1", "c1-t2"}, {"cit", "c1-s1"}, [target])
    assert after.state is S.CONNECTED and commands == (HangupLeg("c1-t2"),)


async def test_recover_reads_asterisks_bridges_and_stamps():
    from telephony.calls.ports import LegStamp, SwitchSnapshot
    switch = FakeSwitch()
    calls, board = controller(switch)
    board.set_registered("12345", "1002", True)
    call = stored(state=S.RINGING_SEAT, agent_leg=None, bridge_id=None,
                  ringing_leg=Leg("c1-s2", LegRole.AGENT, "1002"))
    view = SwitchSnapshot(frozenset({"cit", "c1-s2"}), {"c1-b": frozenset({"cit", "c1-s2"})},
                          {"c1-s2": LegStamp("c1", "seat", "1002")})
    assert calls.recover("12345", [call], view) == ["c1"]
    await asyncio.sleep(0)
    assert calls.call("c1").state is S.CONNECTED and switch.done == []
    assert board.get("12345", "1002").state.value == "busy"
    await calls.close()


# ---- a site given up: its calls are let go, nothing is sent ------------------------------
async def test_without_the_lease_no_command_reaches_the_switch():
    from telephony.calls.ports import LeasedSwitch
    switch, held = FakeSwitch(), {"12345"}
    guarded = LeasedSwitch(switch, "12345", lambda site: site in held)
    calls, board = controller(guarded)
    board.set_registered("12345", "1001", True)
    calls.recover("12345", [stored()], {"cit", "c1-s1"})
    held.clear()   # the lease is lost
    assert calls.press("c1", "*5")   # refused: a tone to the agent, which is a request
    await _settled(calls)
    assert switch.done == [] and guarded.refused == 1
    await calls.close()


async def test_abandoning_a_site_drops_its_calls_without_touching_them():
    switch = FakeSwitch()
    calls, _ = controller(switch)
    calls.recover("12345", [stored()], {"cit", "c1-s1"})
    assert calls.abandon_site("12345") == 1
    await asyncio.sleep(0)
    assert calls.call("c1") is None and switch.done == []
    assert not calls.press("c1", "*1")
    await calls.close()


async def test_a_call_no_record_names_is_rebuilt_from_the_bridge_and_stamps():
    """Every write of a hand-over's far side failed: Asterisk alone tells the call."""
    from telephony.ari.calls import snapshot_of
    channels = [
        {"id": "trunk-leg", "name": "PJSIP/trunk-12345-00000001",
         "caller": {"number": "13800138000"}},
        {"id": "x9-s1", "name": "PJSIP/1001-00000002", "caller": {"number": "13800138000"},
         "channelvars": {"HOTLINE_CALL": "x9", "HOTLINE_ROLE": "seat", "HOTLINE_SEAT": "1001",
                         "HOTLINE_MODE": "", "HOTLINE_ORDERS": "WO-9,PO-9"}},
    ]
    view = snapshot_of(channels, [{"id": "x9-b", "channels": ["trunk-leg", "x9-s1"]}])
    switch = FakeSwitch()
    calls, board = controller(switch)
    board.set_registered("12345", "1001", True)
    assert calls.recover("12345", [], view) == ["x9"]
    await asyncio.sleep(0)
    call = calls.call("x9")
    assert call.state is S.CONNECTED and call.via_trunk and call.citizen_number == "13800138000"
    assert (call.order_id, call.linked_order_id) == ("WO-9", "PO-9")
    assert call.agent_leg == Leg("x9-s1", LegRole.AGENT, "1001") and call.attempts == 1
    assert switch.done == []
    await calls.close()


def test_channels_without_our_stamp_are_not_taken_for_our_legs():
    from telephony.ari.calls import snapshot_of
    view = snapshot_of([{"id": "a", "channelvars": {"HOTLINE_CALL": "", "HOTLINE_ROLE": ""}},
                        {"id": "b", "channelvars": {"HOTLINE_CALL": "c", "HOTLINE_ROLE": "boss"}},
                        "junk"], [{"id": "c-b", "channels": ["a", "b"]}, {"no": "id"}])
    assert view.stamps == {} and view.alive == frozenset({"a", "b"})
    assert view.unstored_calls(set()) == {}


async def test_a_site_given_up_frees_its_seats_in_this_controllers_board():
    switch = FakeSwitch()
    calls, board = controller(switch)
    board.set_registered("12345", "1001", True)
    calls.recover("12345", [stored()], {"cit", "c1-s1"})
    assert board.get("12345", "1001").state.value == "busy"
    calls.abandon_site("12345")
    assert board.get("12345", "1001").state.value == "available"
    await calls.close()
