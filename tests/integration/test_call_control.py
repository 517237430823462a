"""Call control through the real lab: hold (the citizen's UA receives music as RTP, and
none once taken off hold), hanging up one leg (the right UA gets the BYE, the others stay),
and a callback (the citizen's UA rings with the hotline's number, the agent's seat is
bridged with them through the usual call machine)."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from telephony.lab.rtp import listen
from telephony.lab.sipp import agent_scenario, citizen_scenario, free_udp_port, start_sipp
from tests.integration.conftest import (
    CITIZEN_IP,
    assert_site_clean,
    citizen_call,
    hang_up,
    hotline_cli,
    wait_until,
)
from tests.integration.conftest import lab_api as api

pytestmark = pytest.mark.integration

CITIZEN = "13712345678"
GATEWAY_IP = "127.0.1.254"   # dialplan/sites.toml: citizen_gateway


def live_call(seat: str, state: str = "connected"):
    def find():
        status, body = api("GET", "/calls", "supervisor")
        assert status == 200, body
        return next((c for c in body["calls"] if c["seat"] == seat and c["state"] == state),
                    None)
    return find


def call_state(call_id: str) -> str | None:
    status, body = api("GET", f"/calls/{call_id}", "supervisor")
    return body["state"] if status == 200 else None


async def rtp_citizen(settings, tmp_path: Path, rtp_port: int, max_s: int = 60):
    """A citizen calling 12345 whose SDP names our RTP receiver's port; hangs up when the
    test says so (conftest.hang_up), the call failing if it does not within `max_s`."""
    scenario = citizen_scenario(tmp_path / "citizen_rtp.xml", [("await", max_s * 1000)])
    text = scenario.read_text()
    text = text.replace('<Global variables="citizen" />',
                        '<Global variables="citizen,rtp_port" />')
    text = text.replace("m=audio [media_port]", "m=audio [$rtp_port]")
    scenario.write_text(text)
    site = settings.site("12345")
    return await start_sipp(str(scenario), f"{site.address}:{site.sip_port}",
                            local_ip=CITIZEN_IP, service="12345",
                            variables={"citizen": CITIZEN, "rtp_port": str(rtp_port)},
                            timeout_s=max_s + 30)


async def test_hold_plays_music_to_the_citizen_and_unhold_stops_it(settings, seats, probes,
                                                                   tmp_path):
    agent = await seats("1001")
    port = free_udp_port(CITIZEN_IP)
    transport, heard = await listen(CITIZEN_IP, port)
    try:
        citizen = await rtp_citizen(settings, tmp_path, port)
        call = await wait_until(live_call("1001"), 10, what="citizen connected to seat 1001")
        assert "hold" in call["allowed_controls"] and "unhold" not in call["allowed_controls"]
        # connected: the seat's UA sends no sound, so neither does the bridge
        connected_at = time.monotonic()
        await asyncio.sleep(1.0)   # a window to listen in, not a figure asserted
        before_hold = heard.loud_since(connected_at)

        status, body = api("POST", f"/calls/{call['call_id']}/hold", "agent1001")
        assert status == 202, body
        held_at = time.monotonic()
        await wait_until(lambda: heard.loud_since(held_at) >= 50, 8,
                         what="music on hold reaching the citizen's RTP port")
        status, body = api("GET", f"/calls/{call['call_id']}", "agent1001")
        assert body["on_hold"] is True and "unhold" in body["allowed_controls"]
        # hold again is refused by the machine's own answer
        status, body = api("POST", f"/calls/{call['call_id']}/hold", "agent1001")
        assert status == 409 and body["error_id"] == "control_not_allowed"

        status, body = api("POST", f"/calls/{call['call_id']}/unhold", "agent1001")
        assert status == 202, body
        await wait_until(lambda: api("GET", f"/calls/{call['call_id']}", "agent1001")[1]
                         .get("on_hold") is False, 5, what="the call off hold")
        await asyncio.sleep(0.5)   # packets already on their way
        settled = time.monotonic()
        await asyncio.sleep(1.0)   # a window to listen in
        after_unhold = heard.loud_since(settled)
        assert before_hold == 0, f"{before_hold} loud packets before hold"
        assert after_unhold == 0, f"{after_unhold} loud packets after unhold"
        hang_up(citizen)
        assert await citizen.wait(40) == 0, citizen.output()
        assert await agent.wait(30) == 0, agent.output()
    finally:
        transport.close()
    await assert_site_clean(probes["12345"])


async def test_a_waiting_citizen_hears_music_at_once_and_none_once_a_seat_answers(
        settings, seats, probes, tmp_path):
    """The dialplan starts the waiting music before the call reaches the controller; the
    controller stops it when a seat answers, as it stops music it started itself."""
    agent = await seats("1004")   # its UA sends no sound
    # paused, the site's only seat on duty takes no call: the citizen waits
    assert '"state": "paused"' in hotline_cli("seat", "pause", "--site", "12345",
                                              "--seat", "1004")
    port = free_udp_port(CITIZEN_IP)
    transport, heard = await listen(CITIZEN_IP, port)
    try:
        dialled = time.monotonic()
        citizen = await rtp_citizen(settings, tmp_path, port)
        await wait_until(lambda: heard.loud_since(dialled) >= 50, 8,
                         what="waiting music reaching the citizen's RTP port, no seat free")
        assert not agent.received("INVITE")
        hotline_cli("seat", "resume", "--site", "12345", "--seat", "1004")
        await wait_until(live_call("1004"), 10, what="citizen connected to seat 1004")
        await asyncio.sleep(0.5)   # packets already on their way
        settled = time.monotonic()
        await asyncio.sleep(1.0)   # a window to listen in
        assert heard.loud_since(settled) == 0, "music went on after the seat answered"
        hang_up(citizen)
        assert await citizen.wait(40) == 0, citizen.output()
        assert await agent.wait(30) == 0, agent.output()
    finally:
        transport.close()
        hotline_cli("seat", "resume", "--site", "12345", "--seat", "1004")
    await assert_site_clean(probes["12345"])


async def test_mute_silences_the_agent_for_the_citizen_and_unmute_brings_them_back(
        settings, seats, probes, tmp_path):
    agent = await seats("1002", agent_scenario(tmp_path / "agent.xml", [("tone", 30)]))
    port = free_udp_port(CITIZEN_IP)
    transport, heard = await listen(CITIZEN_IP, port)
    try:
        citizen = await rtp_citizen(settings, tmp_path, port)
        call = await wait_until(live_call("1002"), 10, what="citizen connected to seat 1002")
        start = time.monotonic()
        await wait_until(lambda: heard.loud_since(start) >= 25, 8,
                         what="the agent's voice reaching the citizen")
        status, body = api("POST", f"/calls/{call['call_id']}/mute", "agent1002")
        assert status == 202, body
        await wait_until(lambda: api("GET", f"/calls/{call['call_id']}", "agent1002")[1]
                         .get("muted") is True, 5, what="the call muted")
        await asyncio.sleep(0.5)   # packets already on their way
        muted_at = time.monotonic()
        await asyncio.sleep(1.0)   # a window to listen in
        assert heard.loud_since(muted_at) == 0
        status, body = api("POST", f"/calls/{call['call_id']}/unmute", "agent1002")
        assert status == 202, body
        unmuted_at = time.monotonic()
        await wait_until(lambda: heard.loud_since(unmuted_at) >= 25, 8,
                         what="the agent heard again")
        hang_up(citizen)
        assert await citizen.wait(40) == 0, citizen.output()
        assert await agent.wait(30) == 0, agent.output()
    finally:
        transport.close()
    await assert_site_clean(probes["12345"])


async def test_hanging_up_the_invited_seat_keeps_citizen_and_agent(settings, seats, probes,
                                                                   tmp_path):
    agent = await seats("1002")
    invited = await seats("2002")
    scenario = citizen_scenario(tmp_path / "citizen.xml", [], hang_up=False,
                                bye_timeout_ms=40000)
    site = settings.site("12345")
    citizen = await start_sipp(str(scenario), f"{site.address}:{site.sip_port}",
                               local_ip=CITIZEN_IP, service="12345",
                               variables={"citizen": CITIZEN}, timeout_s=90)
    call = await wait_until(live_call("1002"), 10, what="citizen connected to seat 1002")
    status, body = api("POST", f"/calls/{call['call_id']}/actions/three_way", "agent1002")
    assert status == 202, body
    await wait_until(lambda: call_state(call["call_id"]) == "three_way", 10,
                     what="seat 2002 in the three-way")

    status, body = api("POST", f"/calls/{call['call_id']}/legs/target/hangup", "agent1002")
    assert status == 202, body
    assert await invited.wait(15) == 0, invited.output()   # 2002 got its BYE
    await wait_until(lambda: call_state(call["call_id"]) == "connected", 10,
                     what="back to the two-way call")
    assert agent.received("BYE") == [] and citizen.received("BYE") == []

    # the citizen's leg: the call ends, the agent is hung up too
    status, body = api("POST", f"/calls/{call['call_id']}/legs/citizen/hangup", "supervisor12345")
    assert status == 202, body
    assert await citizen.wait(15) == 0, citizen.output()
    assert len(citizen.received("BYE")) == 1
    assert await agent.wait(15) == 0, agent.output()
    assert len(agent.received("BYE")) == 1
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_a_callback_rings_the_citizen_with_the_hotline_number_then_the_agent(
        settings, seats, probes):
    agent = await seats("1001")
    status, order = api("POST", "/orders", "agent1001",
                        {"citizen_number": CITIZEN, "region_code": "410300",
                         "summary": "来电高峰预约回拨 callback booked"})
    assert status == 201, order
    order_id = order["order_id"]
    phone = await start_sipp("seat_answer.xml", "", local_ip=GATEWAY_IP, local_port=5060,
                             service=CITIZEN, timeout_s=60, name="citizen-callback")

    status, body = api("POST", f"/orders/{order_id}/callback", "agent1001", {})
    assert status == 202, body
    call_id = body["call_id"]
    await wait_until(lambda: call_state(call_id) == "connected", 15,
                     what="citizen answered, seat 1001 bridged")
    invite = phone.received("INVITE")[0]
    assert invite.start_line.startswith(f"INVITE sip:{CITIZEN}@{GATEWAY_IP}")
    assert "sip:12345@" in invite.header("From")
    assert "sip:12345@" in invite.header("P-Asserted-Identity")
    seat_invite = agent.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in seat_invite.header("From")
    assert seat_invite.header("X-Work-Order") == order_id
    status, view = api("GET", f"/calls/{call_id}", "agent1001")
    assert view["seat"] == "1001" and view["callback"] is True
    assert "transfer" in view["allowed_actions"]   # the usual machine: keys work on it

    status, body = api("POST", f"/calls/{call_id}/legs/agent/hangup", "agent1001")
    assert status == 202, body
    assert await agent.wait(15) == 0, agent.output()
    assert await phone.wait(15) == 0, phone.output()   # the citizen got the BYE too
    await assert_site_clean(probes["12345"])


async def test_the_queue_shows_waiting_citizens_emergency_first_and_their_callbacks(
        settings, seats, probes):
    """No seat of 110 on duty: both citizens wait; the emergency (gateway IVR "police")
    heads the line; the one who gives up has a callback booked, shown in the queue."""
    normal = await citizen_call(settings, "110", "13700000001", hold_ms=4000)

    def queue():
        status, body = api("GET", "/sites/110/queue", "supervisor")
        assert status == 200, body
        return body

    await wait_until(lambda: len(queue()["waiting"]) == 1, 10, what="the first citizen waiting")
    urgent = await citizen_call(settings, "110", "13700000002", hold_ms=8000, ivr="police")
    line = await wait_until(lambda: len(queue()["waiting"]) == 2 and queue()["waiting"], 10,
                            what="both citizens waiting")
    assert [w["priority"] for w in line] == ["emergency", "normal"]
    assert line[1]["wait_s"] >= line[0]["wait_s"]   # the first came first, still waits longer
    assert all(w["citizen_number"].count("*") == 4 for w in line)
    abandoning = line[1]["order_id"]
    assert await normal.wait(30) == 0, normal.output()   # gives up waiting
    booked = await wait_until(lambda: queue()["callbacks_booked"], 10,
                              what="a callback booked for the citizen who gave up")
    assert [b["order_id"] for b in booked] == [abandoning]
    assert all(s["state"] == "offline" for s in queue()["seats"])
    status, body = api("GET", "/sites/110/queue", "agent1001")
    assert status == 403 and body["error_id"] == "other_site"
    assert await urgent.wait(30) == 0, urgent.output()
    await assert_site_clean(probes["110"])
