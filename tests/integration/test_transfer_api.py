"""Transfers as API resources through the real lab: `POST /api/v1/transfers` rings the
other platform with the citizen's number and the order headers, as *1 does; a `DELETE`
while the target rings gives the citizen back to the agent; a key press makes the same
resource. SIPp citizens and seats, and what the far UA actually received."""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from jsonschema import Draft202012Validator

from telephony.lab.sipp import agent_scenario
from tests.integration.conftest import assert_site_clean, citizen_call, wait_until
from tests.integration.conftest import lab_api as api
from tests.integration.test_transfer import bridge_members, has_bridge

pytestmark = pytest.mark.integration

CITIZEN = "13912345678"


def bearer(user: str) -> dict[str, str]:
    from telephony.settings import lab_accounts
    return {"Authorization": f"Bearer {user}:{lab_accounts()['api']['users'][user]['token']}"}


async def transfer_events(ws, transfer_id: str, timeout: float = 20.0) -> list[dict]:
    """The stream's transfer_* events for one transfer, up to its transfer_ended."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while not seen or seen[-1]["type"] != "transfer_ended":
        message = await asyncio.wait_for(ws.receive_json(), deadline - time.monotonic())
        if (message["type"].startswith("transfer_")
                and message["transfer"]["transfer_id"] == transfer_id):
            seen.append(message)
    return seen


def answered_call(user: str, seat: str) -> str | None:
    calls = api("GET", "/calls", user)[1]["calls"]
    return next((c["call_id"] for c in calls
                 if c["seat"] == seat and c["state"] == "connected"), None)


def settled(transfer_id: str) -> dict | None:
    """The record once it is no longer ringing (as a supervisor of the site reads it)."""
    status, record = api("GET", f"/transfers/{transfer_id}", "supervisor12345")
    assert status == 200, record
    return record if record["status"] != "ringing" else None


async def test_a_transfer_posted_to_the_api_reaches_the_target_with_number_and_headers(
        settings, seats, probes):
    agent_ua = await seats("1002")
    target_ua = await seats("2002")
    async with aiohttp.ClientSession() as http:
        # the agent's desk listens to the event stream as it does in a browser
        ws = await http.ws_connect("http://127.0.0.1:8080/api/v1/events",
                                   headers=bearer("agent1002"))
        assert (await ws.receive_json())["type"] == "hello"
        await _post_transfer_and_follow_it(settings, probes, ws, agent_ua, target_ua)
        await ws.close()


async def _post_transfer_and_follow_it(settings, probes, ws, agent_ua, target_ua) -> None:
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=8000)
    call_id = await wait_until(lambda: answered_call("agent1002", "1002"), 10,
                               what="the call answered at seat 1002")

    status, created = api("POST", "/transfers", "agent1002",
                          {"call_id": call_id, "target": "platform", "flow": "warm",
                           "timeout": 15})
    assert status == 201, created
    assert (created["status"], created["via"], created["timeout_s"]) == ("ringing", "api", 15)
    again, refused = api("POST", "/transfers", "agent1002",
                         {"call_id": call_id, "target": "platform"})
    assert (again, refused["error_id"]) == (409, "transfer_running")
    assert refused["details"]["transfer_id"] == created["transfer_id"]

    await wait_until(lambda: has_bridge("citizen-gw", "trunk-110")(probes["12345"]), 12,
                     what="citizen bridged with the trunk to 110, the agent released")
    await wait_until(lambda: has_bridge("trunk-12345", "2002")(probes["110"]), 5,
                     what="seat 2002 bridged at 110")
    done = await wait_until(lambda: settled(created["transfer_id"]), 10,
                            what="the transfer record completed")
    assert (done["status"], done["taken_by"]) == ("completed", "110")
    events = await transfer_events(ws, created["transfer_id"])
    assert [e["type"] for e in events] == ["transfer_created", "transfer_ended"]
    assert events[-1]["transfer"]["status"] == "completed"
    document = api("GET", "/openapi.json", "agent1002")[1]
    validator = Draft202012Validator({**document, "$ref": "#/components/schemas/Event"})
    assert [list(validator.iter_errors(e)) for e in events] == [[], []]
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    assert await citizen.wait(30) == 0, citizen.output()
    assert await target_ua.wait(30) == 0, target_ua.output()

    origin_order = agent_ua.received("INVITE")[0].header("X-Work-Order")
    invite = target_ua.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    assert invite.header("X-Work-Order").startswith("PO-")
    assert invite.header("X-Linked-Order") == origin_order == done["order_id"]
    assert invite.header("X-Origin-Site") == "12345"
    assert invite.header("Call-Info") == (
        f"<urn:hotline-link:incidentid:{origin_order}>;purpose=emergency-IncidentId")
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_deleting_a_ringing_transfer_returns_the_citizen_to_the_agent(
        settings, seats, probes):
    agent_ua = await seats("1001")
    target_ua = await seats("2003", "seat_noanswer.xml")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=9000)
    call_id = await wait_until(lambda: answered_call("agent1001", "1001"), 10,
                               what="the call answered at seat 1001")
    status, created = api("POST", "/transfers", "agent1001",
                          {"call_id": call_id, "target": "platform", "timeout": 30})
    assert status == 201, created
    await wait_until(lambda: target_ua.received("INVITE"), 10, what="seat 2003 rung")

    status, cancelled = api("DELETE", f"/transfers/{created['transfer_id']}", "agent1001")
    assert (status, cancelled["status"]) == (200, "cancelled"), cancelled
    assert await target_ua.wait(30) == 0, target_ua.output()   # it got the CANCEL
    assert target_ua.received("CANCEL")
    assert await bridge_members(probes["12345"]) == [["1001", "citizen-gw"]]
    assert api("GET", f"/calls/{call_id}", "agent1001")[1]["state"] == "connected"
    gone, _ = api("DELETE", f"/transfers/{created['transfer_id']}", "agent1001")
    assert gone == 409
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    assert citizen.received("BYE") == []   # the citizen was never hung up on
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_a_key_press_makes_the_same_resource(settings, seats, probes, tmp_path):
    agent_ua = await seats("1002", agent_scenario(tmp_path / "agent.xml",
                                                  [("pause", 1500), ("info", "*1")]))
    target_ua = await seats("2004", "seat_busy.xml")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=7000)
    call_id = await wait_until(lambda: answered_call("agent1002", "1002"), 10,
                               what="the call answered at seat 1002")
    ended = await wait_until(lambda: next(
        (t for t in api("GET", f"/transfers?call_id={call_id}", "agent1002")[1]["transfers"]
         if t["status"] != "ringing"), None), 15, what="the *1 transfer record ended")
    assert (ended["via"], ended["status"], ended["reason"]) == ("key", "failed", "busy")
    assert ended["initiator_seat"] == "1002"
    assert await target_ua.wait(30) == 0, target_ua.output()
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_a_three_way_posted_to_the_api_is_kept_and_the_invited_seat_leaves(
        settings, seats, probes):
    agent_ua = await seats("1001")
    target_ua = await seats("2005")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=9000)
    call_id = await wait_until(lambda: answered_call("agent1001", "1001"), 10,
                               what="the call answered at seat 1001")
    status, created = api("POST", "/three-ways", "agent1001",
                          {"call_id": call_id, "target": "platform", "timeout": 20})
    assert (status, created["kind"]) == (201, "three_way"), created
    await wait_until(lambda: has_bridge("1001", "citizen-gw", "trunk-110")(probes["12345"]), 10,
                     what="citizen, agent and the invited 110 seat in one bridge")
    path = f"/three-ways/{created['transfer_id']}"
    await wait_until(lambda: api("GET", path, "agent1001")[1]["status"] == "answered", 5,
                     what="the three-way answered")

    status, kept = api("PUT", f"{path}/keep", "agent1001")
    assert (status, kept["status"], kept["taken_by"]) == (200, "kept", "12345"), kept
    assert await target_ua.wait(30) == 0, target_ua.output()   # the invited seat got a BYE
    await wait_until(lambda: has_bridge("1001", "citizen-gw")(probes["12345"]), 5,
                     what="back to citizen and agent")
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    invite = target_ua.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])
