"""The call state machine, without Asterisk: arrival, seats, feature keys,
transfers, three-way negotiation and who keeps the case."""
from __future__ import annotations

from dataclasses import replace

import pytest

from telephony.calls import machine
from telephony.calls.model import (
    AddToBridge,
    AgentLost,
    Answer,
    BridgeLegs,
    Call,
    CallState,
    CitizenEntered,
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

S = CallState
CITIZEN = Leg("chan-citizen", LegRole.CITIZEN)
WO, PO = "WO-20261122-000000000001", "PO-20261122-000000000002"


def new_call(**kw) -> Call:
    return Call(id="c1", site="12345", platform="12345", citizen_number="13800138000",
                citizen_leg=CITIZEN, order_id=WO, linked_order_id=PO, origin_site="12345", **kw)


def run(call: Call, *events):
    commands = []
    for event in events:
        result = machine.step(call, event)
        call = result.call
        commands.append(result.commands)
    return call, commands


def actions(cmds) -> tuple:
    return tuple(c for c in cmds if not isinstance(c, Notify))


def notices(cmds) -> list[tuple[str, dict]]:
    return [(c.kind, c.detail) for c in cmds if isinstance(c, Notify)]


CONNECTED = (CitizenEntered(), SeatOffered("1001"), SeatAnswered("c1-s1"))


def connected(**kw) -> Call:
    return run(new_call(**kw), *CONNECTED)[0]


# ---- arrival and seats ---------------------------------------------------------------
def test_given_new_citizen_when_entered_then_answered_on_hold_and_waiting():
    call, [cmds] = run(new_call(), CitizenEntered())
    assert call.state is S.WAITING
    assert actions(cmds) == (Answer("chan-citizen"), StartRingback("chan-citizen"), WaitForSeat())


def test_given_citizen_the_site_already_answered_then_not_answered_again():
    call, [cmds] = run(new_call(), CitizenEntered(answered=True))
    assert call.state is S.WAITING
    assert actions(cmds) == (StartRingback("chan-citizen"), WaitForSeat())


def test_given_what_the_dialplan_already_did_then_not_asked_for_again():
    _, [cmds] = run(new_call(), CitizenEntered(answered=True, music=True))
    assert actions(cmds) == (WaitForSeat(),)
    _, [cmds] = run(new_call(via_trunk=True), CitizenEntered(ringing=True))
    assert actions(cmds) == (WaitForSeat(or_fail="busy"),)
    # the music the dialplan started is stopped like any other when a seat answers
    _, cmds = run(new_call(), CitizenEntered(answered=True, music=True), SeatOffered("1001"),
                  SeatAnswered("c1-s1"))
    assert StopRingback("chan-citizen") in cmds[-1]


def test_given_hand_over_arrival_then_not_answered_until_a_seat_answers():
    _call, cmds = run(new_call(via_trunk=True), CitizenEntered(), SeatOffered("2001"),
                     SeatAnswered("c1-s1"))
    assert actions(cmds[0]) == (IndicateRinging("chan-citizen"), WaitForSeat(or_fail="busy"))
    assert actions(cmds[2])[0] == Answer("chan-citizen")


def test_given_hand_over_and_no_free_seat_then_refused_busy_so_origin_gets_citizen_back():
    call, cmds = run(new_call(via_trunk=True), CitizenEntered(), NoSeat("busy"))
    assert call.state is S.ENDED
    assert actions(cmds[-1]) == (LeaveWaitingLine(), HangupLeg("chan-citizen", "busy"), Finished())


def test_given_hand_over_when_its_seat_is_busy_then_fails_fast_not_queued():
    _call, cmds = run(new_call(via_trunk=True), CitizenEntered(), SeatOffered("2001"),
                     SeatFailed("c1-s1", "busy"))
    assert WaitForSeat(or_fail="busy") in cmds[-1]


def test_given_waiting_when_seat_offered_then_seat_rung_with_citizen_number_and_order_headers():
    call, [_, cmds] = run(new_call(), CitizenEntered(), SeatOffered("1001"))
    assert call.state is S.RINGING_SEAT
    (ring,) = actions(cmds)
    assert isinstance(ring, RingSeat)
    assert ring.seat == "1001" and ring.caller_number == "13800138000"
    headers = dict(ring.headers)
    assert headers["X-Work-Order"] == WO
    assert headers["X-Origin-Site"] == "12345"
    assert headers["Call-Info"] == f"<urn:hotline-link:incidentid:{WO}>;purpose=emergency-IncidentId"


def test_given_ringing_when_seat_answers_then_citizen_and_seat_bridged():
    call = connected()
    _, [cmds] = run(run(new_call(), CitizenEntered(), SeatOffered("1001"))[0], SeatAnswered("c1-s1"))
    assert call.state is S.CONNECTED
    assert call.agent_leg == Leg("c1-s1", LegRole.AGENT, "1001")
    assert actions(cmds) == (StopRingback("chan-citizen"),
                             BridgeLegs("c1-b", ("chan-citizen", "c1-s1")))


def test_given_ringing_when_seat_busy_then_citizen_keeps_waiting_and_seat_rests():
    call, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), SeatFailed("c1-s1", "busy"))
    assert call.state is S.WAITING
    assert actions(cmds[-1]) == (ReleaseSeat("1001", failed=True), WaitForSeat())


def test_given_second_seat_offer_then_new_leg_id_is_used():
    call, _ = run(new_call(), CitizenEntered(), SeatOffered("1001"),
                  SeatFailed("c1-s1", "no_answer"), SeatOffered("1002"))
    assert call.ringing_leg == Leg("c1-s2", LegRole.AGENT, "1002")


def test_given_connected_when_citizen_hangs_up_then_bridge_seat_leg_and_seat_released():
    # the bridge first, with the seat's leg still in it (see machine._end)
    call, cmds = run(connected(), LegHungUp("chan-citizen"))
    assert call.state is S.ENDED
    assert actions(cmds[-1]) == (DestroyBridge("c1-b"), HangupLeg("c1-s1"), ReleaseSeat("1001"),
                                 Finished())
    assert ("call_ended", {"state": "connected", "taken_by": "12345",
                          "by": "citizen"}) in notices(cmds[-1])


def test_given_connected_when_agent_line_is_lost_then_citizen_waits_first_in_line_not_dropped():
    call, [cmds] = run(connected(), AgentLost("c1-s1", "network_failure"))
    assert call.state is S.WAITING and call.agent_leg is None
    assert call.bridge_id == "c1-b"   # the citizen stays in the bridge, on hold
    assert actions(cmds) == (ReleaseSeat("1001", failed=True), StartRingback("chan-citizen"),
                             WaitForSeat(first=True))
    assert notices(cmds) == [("agent_lost", {"seat": "1001", "reason": "network_failure"})]
    assert not any(isinstance(c, HangupLeg) for c in cmds)


def test_given_agent_lost_when_next_seat_answers_then_it_joins_the_same_bridge():
    call, [_, _, cmds] = run(connected(), AgentLost("c1-s1", "network_failure"),
                             SeatOffered("1002"), SeatAnswered("c1-s2"))
    assert call.state is S.CONNECTED and call.agent_leg.seat == "1002"
    assert AddToBridge("c1-b", "c1-s2") in cmds


def test_given_a_transfer_ringing_when_agent_line_is_lost_then_as_if_agent_hung_up():
    lost, _ = run(connected(), KeyPressed("c1-s1", "*1"), AgentLost("c1-s1", "timer_expired"))
    hung, _ = run(connected(), KeyPressed("c1-s1", "*1"), LegHungUp("c1-s1"))
    assert lost == hung and lost.state is S.BLIND_RINGING


def test_given_waiting_when_citizen_hangs_up_then_leaves_the_waiting_line():
    _, cmds = run(new_call(), CitizenEntered(), LegHungUp("chan-citizen"))
    assert actions(cmds[-1]) == (LeaveWaitingLine(), Finished())


def test_given_ended_when_late_seat_answers_then_that_leg_is_hung_up():
    _, cmds = run(new_call(), CitizenEntered(), SeatOffered("1001"), LegHungUp("chan-citizen"),
                  SeatAnswered("c1-s1"))
    assert cmds[-1] == (HangupLeg("c1-s1"),)


def test_given_connected_when_another_seat_offered_then_it_goes_straight_back():
    call, cmds = run(connected(), SeatOffered("1002"))
    assert call.state is S.CONNECTED
    assert cmds[-1] == (ReleaseSeat("1002"),)


def test_given_a_leg_already_gone_when_its_hang_up_repeats_then_nothing_happens():
    call, cmds = run(connected(), LegHungUp("some-old-leg"))
    assert call.state is S.CONNECTED and cmds[-1] == ()


@pytest.mark.parametrize("event", [SeatAnswered("c1-s1")])
def test_given_waiting_when_unexpected_leg_event_then_illegal(event):
    call, _ = run(new_call(), CitizenEntered())
    with pytest.raises(machine.IllegalTransition):
        machine.step(call, event)


# ---- *1 hand over -------------------------------------------------------------------------
def test_given_connected_when_agent_presses_star1_then_other_platform_rung_with_linked_order():
    call, [cmds] = run(connected(), KeyPressed("c1-s1", "*1"))
    assert call.state is S.TRANSFER_RINGING
    (ring,) = actions(cmds)
    assert ring == RingTarget(TransferMode.HANDOVER, "c1-t2", "13800138000", (
        ("X-Work-Order", PO), ("X-Linked-Order", WO), ("X-Origin-Site", "12345"),
        ("Call-Info", f"<urn:hotline-link:incidentid:{WO}>;purpose=emergency-IncidentId")))


def test_given_warm_transfer_when_target_answers_then_agent_leaves_and_target_joins():
    # the agent first: never three legs in the bridge (Asterisk's multi-party mixer)
    call, cmds = run(connected(), KeyPressed("c1-s1", "*1"), TargetAnswered("c1-t2"))
    assert call.state is S.HANDED_OVER
    assert actions(cmds[-1]) == (HangupLeg("c1-s1"), AddToBridge("c1-b", "c1-t2"),
                                 ReleaseSeat("1001"))
    assert call.case_taken_by == "110"


@pytest.mark.parametrize("reason", ["busy", "no_answer", "unreachable", "site_down"])
def test_given_warm_transfer_when_target_fails_then_citizen_stays_with_agent_who_is_told(reason):
    call, cmds = run(connected(), KeyPressed("c1-s1", "*1"), TargetFailed("c1-t2", reason))
    assert call.state is S.CONNECTED and call.target_leg is None
    assert actions(cmds[-1]) == (TellAgent("c1-s1"),)
    assert notices(cmds[-1]) == [("transfer_failed", {"reason": reason, "mode": "handover"})]


def test_given_transfer_running_when_star1_again_then_refused_and_nothing_changes():
    before, _ = run(connected(), KeyPressed("c1-s1", "*1"))
    call, [cmds] = run(before, KeyPressed("c1-s1", "*1"))
    assert call == before
    assert actions(cmds) == (TellAgent("c1-s1"),)
    assert notices(cmds)[0][0] == "key_refused"


def test_given_transfer_ringing_when_star0_then_target_dropped_back_to_two_way():
    call, cmds = run(connected(), KeyPressed("c1-s1", "*1"), KeyPressed("c1-s1", "*0"))
    assert call.state is S.CONNECTED
    assert actions(cmds[-1]) == (HangupLeg("c1-t2"),)
    # the cancelled leg's failure that follows changes nothing
    assert run(call, TargetFailed("c1-t2", "rejected"))[0] == call


def test_given_blind_transfer_then_agent_freed_at_once_and_same_agent_rung_back_on_failure():
    call, cmds = run(connected(blind_transfer=True), KeyPressed("c1-s1", "*1"))
    assert call.state is S.BLIND_RINGING and call.reserved_seat == "1001"
    assert HangupLeg("c1-s1") in cmds[-1] and ReleaseSeat("1001") not in cmds[-1]
    call, cmds = run(call, TargetFailed("c1-t2", "busy"))
    assert call.state is S.RINGING_SEAT and call.ringing_leg.seat == "1001"
    call, cmds = run(call, SeatAnswered(call.ringing_leg.id))
    assert call.state is S.CONNECTED
    assert AddToBridge("c1-b", call.agent_leg.id) in cmds[-1]


def test_given_warm_transfer_when_agent_hangs_up_then_citizen_waits_on_target_and_is_not_dropped():
    call, cmds = run(connected(), KeyPressed("c1-s1", "*1"), LegHungUp("c1-s1"))
    assert call.state is S.BLIND_RINGING
    call, cmds = run(call, TargetFailed("c1-t2", "no_answer"))
    assert call.state is S.WAITING and WaitForSeat() in cmds[-1]


# ---- *2 three-way, *3 hand over, *4 keep, *0 cancel ---------------------------------------
def three_way() -> Call:
    return run(connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))[0]


def test_given_star2_when_invited_seat_answers_then_all_three_in_one_bridge():
    call, cmds = run(connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))
    assert call.state is S.THREE_WAY
    assert actions(cmds[-1]) == (AddToBridge("c1-b", "c1-t2"),)
    assert isinstance(actions(cmds[0])[0], RingTarget)
    assert actions(cmds[0])[0].mode is TransferMode.THREE_WAY


def test_given_three_way_when_star3_then_agent_leaves_and_other_platform_takes_the_case():
    call, [cmds] = run(three_way(), KeyPressed("c1-s1", "*3"))
    assert call.state is S.HANDED_OVER and call.case_taken_by == "110"
    assert actions(cmds) == (HangupLeg("c1-s1"), ReleaseSeat("1001"))
    assert notices(cmds) == [("negotiated", {"key": "*3", "seat": "1001", "taken_by": "110"})]


def test_given_three_way_when_star4_then_invited_seat_leaves_and_case_stays_here():
    call, [cmds] = run(three_way(), KeyPressed("c1-s1", "*4"))
    assert call.state is S.CONNECTED and call.case_taken_by == "12345"
    assert actions(cmds) == (HangupLeg("c1-t2"),)


def test_given_three_way_when_star0_then_invited_party_dropped():
    call, [_cmds] = run(three_way(), KeyPressed("c1-s1", "*0"))
    assert call.state is S.CONNECTED and call.case_taken_by is None


def test_given_three_way_ending_without_agreement_then_first_contact_keeps_the_case():
    _, [cmds] = run(three_way(), LegHungUp("chan-citizen"))
    assert ("call_ended", {"state": "three_way", "taken_by": "12345",
                          "by": "citizen"}) in notices(cmds)
    assert HangupLeg("c1-s1") in cmds and HangupLeg("c1-t2") in cmds


def test_given_three_way_when_invited_seat_hangs_up_then_back_to_two_way():
    call, _ = run(three_way(), LegHungUp("c1-t2"))
    assert call.state is S.CONNECTED and call.target_leg is None


@pytest.mark.parametrize("key", ["*3", "*4"])
def test_given_two_way_when_three_way_keys_pressed_then_refused(key):
    call, [cmds] = run(connected(), KeyPressed("c1-s1", key))
    assert call == connected()
    assert actions(cmds) == (TellAgent("c1-s1"),)


def test_given_citizen_presses_keys_then_they_are_not_feature_keys():
    call, [cmds] = run(connected(), KeyPressed("chan-citizen", "*1"))
    assert call.state is S.CONNECTED and cmds == ()


# ---- *8 suggested line -------------------------------------------------------------------
def test_given_suggested_line_when_star8_then_line_rung_with_the_citizens_number():
    _call, [cmds] = run(replace(connected(), suggested_line="120"), KeyPressed("c1-s1", "*8"))
    (ring,) = actions(cmds)
    assert ring.mode is TransferMode.LINE and ring.line == "120"
    assert dict(ring.headers)["X-Work-Order"] == WO


def test_given_no_suggested_line_when_star8_then_refused():
    call, [cmds] = run(connected(), KeyPressed("c1-s1", "*8"))
    assert call.state is S.CONNECTED and TellAgent("c1-s1") in cmds


# ---- waiting: position, surge menu, FAQ, callback -----------------------------------------
from telephony.calls.model import (
    CitizenKey,
    Play,
    PlaybackDone,
    PositionAnnounce,
    StopPlayback,
    SurgeOffered,
)


def test_waiting_caller_hears_their_position_then_music_again():
    call, cmds = run(new_call(), CitizenEntered(), PositionAnnounce(3))
    assert actions(cmds[-1]) == (StopRingback("chan-citizen"),
                                 Play("chan-citizen", ("sound:hotline/position-3",), "c1-position"))
    call, cmds = run(call, PlaybackDone("c1-position"))
    assert cmds[-1] == (StartRingback("chan-citizen"),) and call.playing is None


def test_answer_during_an_announcement_stops_it():
    call, cmds = run(new_call(), CitizenEntered(), PositionAnnounce(1), SeatOffered("1001"),
                     SeatAnswered("c1-s1"))
    assert StopPlayback("c1-position") in cmds[-1]
    # the stopped playback's end changes nothing
    assert run(call, PlaybackDone("c1-position"))[1] == [()]


def test_surge_menu_then_1_plays_the_faq_and_2_books_a_callback_and_says_goodbye():
    call, cmds = run(new_call(), CitizenEntered(), SurgeOffered())
    assert Play("chan-citizen", ("sound:hotline/surge-menu",), "c1-menu") in cmds[-1]
    call, cmds = run(call, PlaybackDone("c1-menu"), CitizenKey("1"))
    assert Play("chan-citizen", ("faq",), "c1-faq") in cmds[-1]
    call, cmds = run(call, PlaybackDone("c1-faq"), CitizenKey("2"))
    assert LeaveWaitingLine() in cmds[-1] and call.callback_requested
    assert ("callback_requested", {}) in notices(cmds[-1])
    call, cmds = run(call, PlaybackDone("c1-callback"))
    assert cmds[-1] == (HangupLeg("chan-citizen"),)


def test_a_key_pressed_during_the_surge_menu_stops_it_before_what_the_key_asked_for():
    """Asterisk queues a channel's playbacks: unless the menu is stopped, the caller who
    chose at once hears the rest of it (16 s) before the callback's confirmation."""
    call, _ = run(new_call(), CitizenEntered(), SurgeOffered())
    _, cmds = run(call, CitizenKey("2"))
    stop, play = (cmds[-1].index(StopPlayback("c1-menu")),
                  cmds[-1].index(Play("chan-citizen", ("sound:hotline/callback-ok",),
                                      "c1-callback")))
    assert stop < play
    _, cmds = run(call, CitizenKey("1"))
    assert cmds[-1].index(StopPlayback("c1-menu")) < cmds[-1].index(
        Play("chan-citizen", ("faq",), "c1-faq"))


def test_the_surge_menu_stops_the_callers_place_still_playing_before_it_starts():
    """A call keeps one playback: the menu started behind a place announcement left that
    one playing, and a seat answering stopped only the menu (the lab's music test heard
    the announcement go on over the agent)."""
    call, _ = run(new_call(), CitizenEntered(), PositionAnnounce(1))
    assert call.playing == "c1-position"
    call, cmds = run(call, SurgeOffered())
    menu = Play("chan-citizen", ("sound:hotline/surge-menu",), "c1-menu")
    assert cmds[-1].index(StopPlayback("c1-position")) < cmds[-1].index(menu)
    call, cmds = run(call, SeatOffered("1001"), SeatAnswered("c1-s1"))
    assert StopPlayback("c1-menu") in cmds[-1] and call.state is CallState.CONNECTED
    _, cmds = run(call, PlaybackDone("c1-position"))   # its end changes nothing now
    assert cmds[-1] == ()


def test_digits_before_the_surge_menu_are_ignored():
    call, cmds = run(new_call(), CitizenEntered(), CitizenKey("2"))
    assert cmds[-1] == () and not call.callback_requested


def test_a_call_survives_the_round_trip_through_its_stored_form():
    from telephony.calls.store import call_from_json, call_to_json
    call = run(connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))[0]
    assert call_from_json(call_to_json(call)) == call


def test_the_stored_form_is_what_asdict_gives():
    """call_to_json skips asdict's deep copy; the JSON must say what earlier versions
    wrote, so a controller of either version reads the other's calls."""
    import json
    from dataclasses import asdict, replace

    from telephony.calls.model import PendingKey
    from telephony.calls.store import call_to_json
    calls = [connected(), three_way(),
             run(connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))[0],
             replace(connected(), pending_key=PendingKey("c1-s1", 3.5),
                     faq_menu=(("kb-1", "sound:x"),))]
    for call in calls:
        assert json.loads(call_to_json(call)) == json.loads(
            json.dumps(asdict(call), default=lambda v: v.value))


@pytest.mark.parametrize("leaving, by", [("c1-s1", "agent"), ("chan-citizen", "citizen")])
def test_the_end_says_who_hung_up_first(leaving, by):
    """The call log's "who hung up": the role of the leg whose leaving ended the call."""
    call, _ = run(three_way(), KeyPressed("c1-s1", "*4"))   # back to citizen and agent
    _, [cmds] = run(call, LegHungUp(leaving))
    [(_, detail)] = [n for n in notices(cmds) if n[0] == "call_ended"]
    assert detail["by"] == by


def test_the_models_replace_is_dataclasses_replace_without_init():
    import dataclasses

    from telephony.calls.model import Leg, LegRole, PendingKey, replace
    call = run(connected(), KeyPressed("c1-s1", "*2"), TargetAnswered("c1-t2"))[0]
    changes = {"attempts": 7, "pending_key": PendingKey("c1-s1", 2.0),
               "agent_leg": Leg("x", LegRole.AGENT, "1001")}
    fast, slow = replace(call, **changes), dataclasses.replace(call, **changes)
    assert fast == slow and hash(fast) == hash(slow) and type(fast) is type(slow)
    assert call.attempts != 7            # the original is untouched
    with pytest.raises(TypeError):
        replace(call, no_such_field=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.attempts = 8                 # still frozen
