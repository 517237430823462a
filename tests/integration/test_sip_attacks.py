"""SIP attacks against the real lab, one per rule of issue 13's parts 1-3.

Each sends real SIP, as an attacker writes it (tests/support/sip.py), from a
loopback address that is no trunk, and asserts what the attacker was
answered and that the UA it aimed at (a line's, at its real address, or a
seat's softphone) received nothing at all.
"""
from __future__ import annotations

import asyncio

import pytest

from tests.integration.conftest import wait_until
from tests.support.sip import Invite, Outcome, SipListener, send_invite

pytestmark = pytest.mark.integration

ATTACKER_IP = "127.0.3.9"         # no trunk, no gateway, no seat
GATEWAY_IP = "127.0.1.9"          # inside the citizen gateway's network
SEAT_THIEF_IP = "127.0.2.9"       # holds a seat's password, as an insider might
LINE_119 = ("127.0.4.1", 5060)    # where site 12345 rings line 119
SITE_12345 = ("127.0.0.11", 5060)
QUIET_S = 1.5                     # after the answer, how long the far UA must stay silent
REFUSED = {401, 403, 404}


async def attack(invite: Invite, local_ip: str, target=SITE_12345, local_port: int = 0
                 ) -> Outcome:
    outcome = await asyncio.to_thread(send_invite, invite, target, local_ip, 5.0, local_port)
    await asyncio.sleep(QUIET_S)   # a call let in would ring its target well within this
    return outcome


def shown(outcome: Outcome) -> str:
    return ", ".join(f"{r.status} {r.reason}" for r in outcome.responses) or "no answer"


# ---- part 1: SIP identity ------------------------------------------------------------

async def test_reported_attack_stranger_posing_as_trunk_110_cannot_ring_line_119(
        settings, seats, probes):
    """The issue's example: 127.0.3.9, From user trunk-110, `1001&PJSIP/line-119`."""
    seat = await seats("1001")
    async with SipListener(*LINE_119) as line:
        outcome = await attack(Invite("sip:1001&PJSIP/line-119@127.0.0.11", "trunk-110"),
                               ATTACKER_IP)
    assert outcome.final == 401, shown(outcome)
    assert line.requests() == []
    assert seat.received("INVITE") == []
    assert not [c for c in await probes["12345"].channels()
                if c["name"].startswith("PJSIP/trunk-110-")]


async def test_from_user_naming_a_seat_is_challenged_and_the_seat_gets_nothing(seats):
    seat = await seats("1002")
    outcome = await attack(Invite("sip:1002@127.0.0.11", "1001"), ATTACKER_IP)
    assert outcome.final == 401, shown(outcome)
    assert seat.received("INVITE") == []


async def test_seat_with_a_wrong_password_is_refused(seats):
    seat = await seats("1002")
    outcome = await attack(Invite("sip:1002@127.0.0.11", "1001", password="lab-guess"),
                           ATTACKER_IP)
    assert outcome.final in {401, 403}, shown(outcome)
    assert seat.received("INVITE") == []


async def test_from_user_citizen_gw_outside_the_gateway_network_is_no_citizen(
        seats, probes):
    seat = await seats("1001")
    outcome = await attack(Invite("sip:12345@127.0.0.11", "citizen-gw"), ATTACKER_IP)
    assert outcome.final == 401, shown(outcome)
    assert seat.received("INVITE") == []
    assert not [c for c in await probes["12345"].channels()
                if c["name"].startswith("PJSIP/citizen-gw-")]


async def test_another_port_on_a_trunks_host_is_no_trunk(seats):
    """The trunk is site 110's SIP transport, 127.0.0.12:5060; not any UA on that host."""
    seat = await seats("1001")
    async with SipListener(*LINE_119) as line:
        outcome = await attack(Invite("sip:1001@127.0.0.11", "trunk-110"), "127.0.0.12")
    assert outcome.final == 401, shown(outcome)
    assert line.requests() == []
    assert seat.received("INVITE") == []


# ---- part 2: dialling from SIP-supplied digits ---------------------------------------

async def test_citizen_cannot_append_a_second_channel_to_the_number(settings, seats):
    seat = await seats("1001")
    async with SipListener(*LINE_119) as line:
        outcome = await attack(Invite("sip:12345&PJSIP/line-119@127.0.0.11", "13800138000"),
                               GATEWAY_IP)
        outcome_seat = await attack(Invite("sip:1001&PJSIP/line-119@127.0.0.11", "13800138000"),
                                    GATEWAY_IP)
    assert outcome.final == 404, shown(outcome)
    assert outcome_seat.final == 404, shown(outcome_seat)
    assert line.requests() == []
    assert seat.received("INVITE") == []


async def test_citizen_cannot_dial_a_seat_or_a_line_directly(seats):
    seat = await seats("1001")
    async with SipListener(*LINE_119) as line:
        outcomes = [await attack(Invite(f"sip:{number}@127.0.0.11", "13800138000"), GATEWAY_IP)
                    for number in ("1001", "119", "line-119", "91011")]
    assert [o.final for o in outcomes] == [404] * 4, [shown(o) for o in outcomes]
    assert line.requests() == []
    assert seat.received("INVITE") == []


async def test_authenticated_seat_cannot_dial_outside_its_exact_patterns(settings, seats):
    """A seat's password in the wrong hands buys no line and no injected channel."""
    seat = await seats("1001")
    password = settings.credentials.seat_password("1002")
    async with SipListener(*LINE_119) as line:
        outcomes = [await attack(Invite(f"sip:{number}@127.0.0.11", "1002", password=password),
                                 SEAT_THIEF_IP)
                    for number in ("1001&PJSIP/line-119", "119", "1001", "2011")]
    assert [o.final for o in outcomes] == [404] * 4, [shown(o) for o in outcomes]
    assert line.requests() == []
    assert seat.received("INVITE") == []


# ---- part 3: headers ---------------------------------------------------------------

async def test_pai_from_outside_the_gateway_is_not_trusted(seats, probes):
    """A line's UA is known by its address, but is no gateway: its PAI buys nothing."""
    seat = await seats("1001")
    pai = ("P-Asserted-Identity", "<sip:110@127.0.0.12>")
    from_line = await attack(Invite("sip:12345@127.0.0.11", "119", headers=(pai,)),
                             LINE_119[0], local_port=LINE_119[1])
    # (no citizen's number in From here: Asterisk logs the From of a request it
    # cannot place, whole, and the log audit would rightly find it)
    from_stranger = await attack(Invite("sip:12345@127.0.0.11", "attacker", headers=(pai,)),
                                 ATTACKER_IP)
    assert from_line.final == 404, shown(from_line)
    assert from_stranger.final == 401, shown(from_stranger)
    assert seat.received("INVITE") == []
    assert not [c for c in await probes["12345"].channels() if c["caller"]["number"] == "110"]


async def test_ivr_choice_from_outside_the_gateway_never_reaches_a_seat(seats):
    """An emergency IVR choice would jump the queue: only the gateway's IVR sets it."""
    seat = await seats("1001")
    outcome = await attack(Invite("sip:12345@127.0.0.11", "attacker",
                                  headers=(("X-IVR-Choice", "police"),)), ATTACKER_IP)
    assert outcome.final == 401, shown(outcome)
    assert seat.received("INVITE") == []


async def test_trunk_carries_only_known_headers_each_within_its_limits(seats, probes):
    """A far site (buggy or taken over) sends junk over the trunk: the seat gets only the
    known headers that keep to their rules; the rest stays behind."""
    seat = await seats("1001")
    junk = {
        "X-Evil": "1",
        "X-IVR-Choice": "police",                  # never carried: the local IVR sets it
        "X-Work-Order": "WO-" + "1" * 80,          # past its 64 characters
        "X-Linked-Order": "PO-20261201-TRUNK01",   # within its rule: kept
        "X-Origin-Site": "110",
    }
    await probes["110"].post("/channels", params={
        "endpoint": "PJSIP/1001@trunk-12345", "extension": "*43", "context": "from-seat",
        "callerId": '"13800138000" <13800138000>', "channelId": "attack-trunk-headers",
    }, body={"variables": {f"PJSIP_HEADER(add,{k})": v for k, v in junk.items()}})
    invites = await wait_until(lambda: seat.received("INVITE"), 10, what="INVITE at seat 1001")
    assert await probes["110"].delete("/channels/attack-trunk-headers") in (204, 404)
    invite = invites[0]
    assert invite.header("X-Evil") is None
    assert invite.header("X-IVR-Choice") is None
    assert invite.header("X-Work-Order") is None
    assert invite.header("X-Linked-Order") == "PO-20261201-TRUNK01"
    assert invite.header("X-Origin-Site") == "110"
    assert await seat.wait(30) == 0, seat.output()
