"""ARI events as call control's signals, and destinations as dial strings: the one
place that knows Stasis arguments, Q.850 causes and PJSIP."""
from __future__ import annotations

import pytest

from telephony.ari.calls import (
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Dialer,
    PlaybackFinished,
    StasisEnd,
    StasisStart,
    failure_reason,
    lost_reason,
    to_signal,
)
from telephony.calls.ports import (
    CallArrived,
    DigitReceived,
    LegAnswered,
    LegGone,
    LegLeft,
    LineOut,
    OtherPlatform,
    PromptFinished,
    SeatAt,
    StrayLeg,
)
from telephony.sip_rules import UnsafeDialString

CHAN = Channel("ch-1", "PJSIP/citizen-00000001", "Up", "13800138000", "", "12345")


def test_a_hand_over_arrives_with_its_orders_and_origin():
    signal = to_signal(StasisStart(CHAN, ("trunk", "", "WO-20261122-000000000001",
                                          "PO-20261122-000000000002", "12345")))
    assert signal == CallArrived("ch-1", "13800138000", True,
                                 work_order="WO-20261122-000000000001",
                                 linked_order="PO-20261122-000000000002", origin_site="12345",
                                 answered=True)


def test_a_citizen_arrives_with_the_ivr_choice_and_a_bad_value_is_dropped():
    assert to_signal(StasisStart(CHAN, ("citizen", "", "police"))).ivr_choice == "police"
    assert to_signal(StasisStart(CHAN, ("citizen", "", "police&x"))).ivr_choice is None
    bad = to_signal(StasisStart(CHAN, ("trunk", "", "WO-1;drop", "", "")))
    assert isinstance(bad, CallArrived) and bad.work_order is None


def test_a_citizen_the_dialplan_answered_arrives_answered_and_a_hand_over_does_not():
    from dataclasses import replace
    assert to_signal(StasisStart(CHAN, ("citizen", "12345", ""))).answered is True
    ringing = replace(CHAN, state="Ring")
    assert to_signal(StasisStart(ringing, ("citizen", "12345", ""))).answered is False
    assert to_signal(StasisStart(ringing, ("trunk", "", "", "", ""))).answered is False


def test_what_the_dialplan_did_before_stasis_rides_after_the_headers():
    citizen = to_signal(StasisStart(CHAN, ("citizen", "12345", "", "music")))
    assert (citizen.music, citizen.ringing, citizen.ivr_choice) == (True, False, None)
    assert to_signal(StasisStart(CHAN, ("citizen", "12345", "police"))).music is False
    # a value in the IVR choice's place is the choice, never a flag
    assert to_signal(StasisStart(CHAN, ("citizen", "12345", "music"))).music is False
    hand_over = to_signal(StasisStart(CHAN, ("trunk", "110", "WO-20261122-000000000001", "",
                                             "12345", "ringing")))
    assert (hand_over.ringing, hand_over.music) == (True, False)
    assert hand_over.work_order == "WO-20261122-000000000001"
    assert to_signal(StasisStart(CHAN, ("trunk", "110", "", "", ""))).ringing is False


def test_a_rung_leg_that_answers_names_its_call_and_anything_else_is_stray():
    assert to_signal(StasisStart(CHAN, ("seat", "c1"))) == LegAnswered("ch-1", "c1", "seat")
    assert to_signal(StasisStart(CHAN, ("target", "c1"))) == LegAnswered("ch-1", "c1", "target")
    assert isinstance(to_signal(StasisStart(CHAN, ("seat",))), StrayLeg)
    assert isinstance(to_signal(StasisStart(CHAN, ("whatever", "c1"))), StrayLeg)


def test_keys_leaving_and_prompts_are_signals():
    assert to_signal(ChannelDtmfReceived(CHAN, "*")) == DigitReceived("ch-1", "*")
    assert to_signal(StasisEnd(CHAN)) == LegLeft("ch-1")
    assert to_signal(PlaybackFinished("p1", "ch-1")) == PromptFinished("p1", "ch-1")
    assert to_signal(PlaybackFinished("p1", None)) is None


@pytest.mark.parametrize(("cause", "unanswered", "lost"), [
    (16, "unreachable", None),            # normal clearing: a hang-up
    (17, "busy", None), (19, "no_answer", None), (21, "rejected", None),
    (38, "unreachable", "network_failure"), (99, "unreachable", "cause_99"),
])
def test_a_gone_leg_carries_why_by_its_q850_cause(cause, unanswered, lost):
    assert to_signal(ChannelDestroyed(CHAN, cause, "")) == LegGone("ch-1", cause, unanswered, lost)
    assert (failure_reason(cause), lost_reason(cause)) == (unanswered, lost)


def test_destinations_become_pjsip_dial_strings():
    dialer = Dialer(handover={"12345": "110@trunk-110"}, lines=frozenset({"119"}))
    assert dialer.dial_string(SeatAt("1001", "12345", "12345")) == "PJSIP/1001"
    assert dialer.dial_string(SeatAt("3001", "remote", "12345")) == "PJSIP/3001@trunk-remote"
    assert dialer.dial_string(OtherPlatform("12345")) == "PJSIP/110@trunk-110"
    assert dialer.dial_string(LineOut("119")) == "PJSIP/line-119"
    with pytest.raises(UnsafeDialString):
        dialer.dial_string(LineOut("120"))


async def test_a_call_bridge_decodes_keys_and_no_leg_carries_an_audio_hook():
    """RFC 2833 keys reach call control because the call's bridge is `dtmf_events` (media
    through the core), not because of a per-frame hook on a leg (TALK_DETECT, before)."""
    from telephony.ari.calls import AriSwitch, Dialer

    class Ari:
        def __init__(self):
            self.bridges, self.added, self.variables = [], [], []

        async def create_bridge(self, bridge_id, name="", kind="mixing"):
            self.bridges.append((bridge_id, kind))

        async def add_to_bridge(self, bridge_id, *channel_ids):
            self.added.append((bridge_id, channel_ids))

        async def originate(self, endpoint, **kwargs):
            self.variables.append(kwargs["variables"])

    ari = Ari()
    switch = AriSwitch(ari, "hotline", Dialer(handover={}))  # type: ignore[arg-type]
    await switch.bridge("b1", ("citizen", "seat"))
    await switch.ring(SeatAt("1001", "12345", "12345"), "leg", "13800138000",
                      (("X-Work-Order", "WO-1"),), "seat,c", 20)
    assert ari.bridges == [("b1", "mixing,dtmf_events")]
    assert ari.added == [("b1", ("citizen", "seat"))]
    assert not any(name.startswith("TALK_DETECT") for name in ari.variables[0])
    assert ari.variables[0]["PJSIP_HEADER(add,X-Work-Order)"] == "WO-1"
