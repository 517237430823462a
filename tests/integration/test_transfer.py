"""One-key number-carrying transfer (*1), three-way (*2 then *3/*4/*0) and
every failure path, through the real lab: SIPp citizens, SIPp seats pressing
keys, and what the far UA actually received."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest

from telephony.lab.sipp import agent_scenario
from tests.integration.conftest import assert_site_clean, citizen_call, wait_until

pytestmark = pytest.mark.integration

CITIZEN = "13912345678"
ROLES = [("12345", "1002", "110", "2002"), ("110", "2003", "12345", "1003")]
ROLE_IDS = ["12345-to-110", "110-to-12345"]


def journal(order: str | None = None) -> list[dict]:
    url = "http://127.0.0.1:8080/lab/journal" + (f"?order={order}" if order else "")
    with urllib.request.urlopen(url, timeout=2) as resp:
        return json.loads(resp.read())


def kinds(order: str) -> list[str]:
    return [e["kind"] for e in journal(order)]


async def bridge_members(probe) -> list[list[str]]:
    """Endpoint names of the channels in each bridge, e.g. [["1001", "citizen-gw", ...]]."""
    channels = {c["id"]: c["name"] for c in await probe.channels()}
    return [sorted(channels.get(cid, "?").split("/", 1)[-1].rsplit("-", 1)[0]
                   for cid in b["channels"]) for b in await probe.bridges()]


def has_bridge(*members: str):
    want = sorted(members)

    async def check(probe):
        return want in await bridge_members(probe)
    return check


@pytest.mark.parametrize("origin, agent, target_site, target", ROLES, ids=ROLE_IDS)
@pytest.mark.parametrize("dtmf", ["info", "rfc2833"])
async def test_star1_hands_the_citizen_over_with_number_and_linked_order(
        lab, settings, seats, probes, orders, tmp_path, origin, agent, target_site, target, dtmf):
    # the hand-over's originates go on each site's urgent lane, not over HTTP
    def lanes_up() -> bool:
        sites = (lab.health() or {}).get("sites", {})
        return all(sites.get(site, {}).get("urgent_requests") == "lane"
                   for site in (origin, target_site))
    await wait_until(lanes_up, 10, what="both sites' urgent lanes up")
    agent_ua = await seats(agent, agent_scenario(tmp_path / "agent.xml",
                                                 [("pause", 800), (dtmf, "*1")]))
    target_ua = await seats(target)
    citizen = await citizen_call(settings, origin, CITIZEN, hold_ms=7000)

    trunk = f"trunk-{target_site}"
    await wait_until(lambda: has_bridge("citizen-gw", trunk)(probes[origin]), 12,
                     what="citizen bridged with the trunk to the other platform, agent gone")
    await wait_until(lambda: has_bridge(f"trunk-{origin}", target)(probes[target_site]), 5,
                     what=f"seat {target} bridged at {target_site}")
    assert await agent_ua.wait(30) == 0, agent_ua.output()   # released with a BYE
    assert await citizen.wait(30) == 0, citizen.output()
    assert await target_ua.wait(30) == 0, target_ua.output()

    agent_invite = agent_ua.received("INVITE")[0]
    invite = target_ua.received("INVITE")[0]
    origin_order = agent_invite.header("X-Work-Order")
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    linked = invite.header("X-Work-Order")
    assert linked.startswith("PO-" if target_site == "110" else "WO-")
    assert invite.header("X-Linked-Order") == origin_order
    assert invite.header("X-Origin-Site") == origin
    assert invite.header("Call-Info") == (
        f"<urn:hotline-link:incidentid:{origin_order}>;purpose=emergency-IncidentId")
    assert "transfer_completed" in kinds(origin_order)
    await assert_site_clean(probes[origin])
    await assert_site_clean(probes[target_site])
    # the linked order on the other platform points back to the origin's
    source = await orders(origin_order, until=lambda r: r["status"] == "transferred")
    assert [(l["kind"], l["target_order_id"]) for l in source["links"]] == [("handover", linked)]
    linked_record = await orders(linked)
    assert linked_record["platform"] == target_site
    assert linked_record["source_order_id"] == origin_order
    assert linked_record["citizen_number"] == CITIZEN


async def test_star2_three_way_then_star3_hands_over_and_records_who_pressed_what(
        settings, seats, probes, orders, tmp_path):
    agent_ua = await seats("1004", agent_scenario(tmp_path / "agent.xml", [
        ("pause", 800), ("info", "*2"), ("pause", 2500), ("info", "*3")]))
    target_ua = await seats("2004")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=7000)

    await wait_until(lambda: has_bridge("1004", "citizen-gw", "trunk-110")(probes["12345"]), 10,
                     what="citizen, agent and invited 110 seat in one bridge")
    await wait_until(lambda: has_bridge("citizen-gw", "trunk-110")(probes["12345"]), 10,
                     what="agent left after *3")
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    assert await citizen.wait(30) == 0, citizen.output()
    assert await target_ua.wait(30) == 0, target_ua.output()
    order = agent_ua.received("INVITE")[0].header("X-Work-Order")
    negotiated = [e for e in journal(order) if e["kind"] == "negotiated"]
    assert [(e["detail"]["key"], e["detail"]["seat"], e["detail"]["taken_by"])
            for e in negotiated] == [("*3", "1004", "110")]
    ended = [e for e in journal(order) if e["kind"] == "call_ended"]
    assert ended[-1]["detail"]["taken_by"] == "110"
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])
    record = await orders(order, until=lambda r: r["status"] == "transferred")
    assert [link["kind"] for link in record["links"]] == ["three_way"]
    assert any("*3" in str(entry) and "seat:1004" in str(entry) for entry in record["history"])


@pytest.mark.parametrize("key, taken_by", [("*4", "12345"), ("*0", "12345")])
async def test_star2_then_star4_or_star0_drops_the_invited_seat_and_the_case_stays(
        settings, seats, probes, tmp_path, key, taken_by):
    agent_ua = await seats("1005", agent_scenario(tmp_path / "agent.xml", [
        ("pause", 800), ("info", "*2"), ("pause", 2000), ("info", key)]))
    target_ua = await seats("2005")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=6000)

    await wait_until(lambda: has_bridge("1005", "citizen-gw", "trunk-110")(probes["12345"]), 10,
                     what="three-way bridge")
    assert await target_ua.wait(30) == 0, target_ua.output()   # the invited seat got a BYE
    await wait_until(lambda: has_bridge("1005", "citizen-gw")(probes["12345"]), 5,
                     what="back to citizen and agent")
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    order = agent_ua.received("INVITE")[0].header("X-Work-Order")
    ended = [e for e in journal(order) if e["kind"] == "call_ended"]
    assert ended[-1]["detail"]["taken_by"] == taken_by   # 首接负责制 when no hand-over
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


@pytest.mark.parametrize("failure", ["busy", "no_answer"])
async def test_when_the_target_fails_the_citizen_stays_with_the_same_agent(
        settings, seats, probes, tmp_path, failure):
    agent_ua = await seats("1006", agent_scenario(tmp_path / "agent.xml",
                                                  [("pause", 800), ("info", "*1")]))
    scenario = "seat_busy.xml" if failure == "busy" else "seat_noanswer.xml"
    target_ua = await seats("2006", scenario)
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=9000)

    assert await target_ua.wait(30) == 0, target_ua.output()
    order = await wait_until(lambda: next((e["order"] for e in journal()
                                           if e["kind"] == "transfer_failed"
                                           and e["detail"]["reason"] == failure), None),
                             10, what=f"transfer_failed ({failure}) recorded")
    assert await bridge_members(probes["12345"]) == [["1006", "citizen-gw"]]
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    assert "transfer_completed" not in kinds(order)
    assert [(e["site"], e["detail"]["taken_by"]) for e in journal(order)
            if e["kind"] == "call_ended"] in ([("12345", "12345")],
                                              [("110", "12345"), ("12345", "12345")])
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])


async def test_second_star1_while_ringing_is_refused_and_star0_cancels(
        settings, seats, probes, tmp_path):
    agent_ua = await seats("1007", agent_scenario(tmp_path / "agent.xml", [
        ("pause", 800), ("info", "*1"), ("pause", 500), ("info", "*1"), ("pause", 500),
        ("info", "*0")]))
    target_ua = await seats("2007", "seat_noanswer.xml")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=6000)

    assert await target_ua.wait(30) == 0, target_ua.output()   # CANCEL after *0
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    order = agent_ua.received("INVITE")[0].header("X-Work-Order")
    assert [k for k in kinds(order) if k in ("transfer_started", "key_refused",
                                             "transfer_cancelled")] == [
        "transfer_started", "key_refused", "transfer_cancelled"]
    await assert_site_clean(probes["12345"])


async def test_star3_without_a_three_way_is_refused_and_nothing_changes(
        settings, seats, probes, tmp_path):
    agent_ua = await seats("1008", agent_scenario(tmp_path / "agent.xml",
                                                  [("pause", 800), ("info", "*3")]))
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=3000)
    assert await citizen.wait(30) == 0, citizen.output()
    assert await agent_ua.wait(30) == 0, agent_ua.output()
    order = agent_ua.received("INVITE")[0].header("X-Work-Order")
    refused = [e for e in journal(order) if e["kind"] == "key_refused"]
    assert [(e["detail"]["key"], e["state"]) for e in refused] == [("*3", "connected")]
    await assert_site_clean(probes["12345"])


async def test_when_the_target_site_is_down_the_citizen_stays_with_the_agent(
        lab, settings, seats, probes, tmp_path):
    agent_ua = await seats("1009", agent_scenario(tmp_path / "agent.xml",
                                                  [("pause", 800), ("info", "*1")]))
    site = settings.site("110")
    lab.stop_site(site)
    try:
        await wait_until(lambda: not (lab.health() or {}).get("sites", {}).get("110", {}).get("ari"),
                         10, what="controller sees 110 down")
        citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=4000)
        order = await wait_until(lambda: next((e["order"] for e in journal()
                                               if e["kind"] == "transfer_failed"
                                               and e["detail"]["reason"] == "site_down"), None),
                                 10, what="transfer_failed (site_down)")
        assert await bridge_members(probes["12345"]) == [["1009", "citizen-gw"]]
        assert await citizen.wait(30) == 0, citizen.output()
        assert await agent_ua.wait(30) == 0, agent_ua.output()
        assert agent_ua.received("INVITE")[0].header("X-Work-Order") == order
    finally:
        lab.start_site(site, fresh=False)
        await wait_until(lambda: (lab.health() or {}).get("ready"), 30, what="110 back")
    await assert_site_clean(probes["12345"])
    await asyncio.sleep(0)


async def test_summary_suggests_a_line_and_star8_rings_it_with_the_citizens_number(
        settings, seats, probes, tmp_path):
    """The agent types the summary; the suggestion names the power company; *8 rings it."""
    from telephony.lab.sipp import start_sipp

    line = await start_sipp("seat_answer.xml", "", local_ip="127.0.4.7", local_port=5060,
                            service="power", timeout_s=60, name="line-power")
    try:
        agent_ua = await seats("1002", agent_scenario(tmp_path / "agent.xml",
                                                      [("pause", 2500), ("info", "*8")]))
        citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=7000)
        await wait_until(lambda: agent_ua.received("INVITE"), 10, what="agent answers")
        call_id = await wait_until(lambda: next(
            (c["call_id"] for c in api("GET", "/calls", "agent1002")["calls"]
             if c["seat"] == "1002" and c["state"] == "connected"), None), 10, what="call listed")
        reply = api("PUT", f"/calls/{call_id}/summary", "agent1002",
                    {"summary": "家里停电了，整个小区都没电"})
        assert reply["suggestion"]["target"] == "power"

        assert await line.wait(30) == 0, line.output()
        invite = line.received("INVITE")[0]
        assert f"sip:{CITIZEN}@" in invite.header("From")
        assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
        assert invite.header("X-Work-Order") == agent_ua.received("INVITE")[0].header("X-Work-Order")
        assert await agent_ua.wait(30) == 0, agent_ua.output()
        assert await citizen.wait(30) == 0, citizen.output()
    finally:
        line.stop()
    await assert_site_clean(probes["12345"])


def api(method: str, path: str, user: str, body: dict | None = None) -> dict:
    from telephony.settings import lab_accounts
    token = lab_accounts()["api"]["users"][user]["token"]
    request = urllib.request.Request(
        f"http://127.0.0.1:8080/api/v1{path}", method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {user}:{token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        return json.loads(resp.read())


async def test_a_seat_line_lost_mid_call_puts_the_citizen_through_to_the_next_seat(
        settings, seats, probes):
    """Nobody is dropped when a seat's line dies (not a hang-up): the citizen goes back
    to the head of the line and the next seat gets the same number and order."""
    first = await seats("1001")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=9000)
    await wait_until(lambda: has_bridge("1001", "citizen-gw")(probes["12345"]), 10,
                     what="citizen with seat 1001")
    second = await seats("1002")   # on duty only now, so 1001 had the call
    seat_leg = next(c for c in await probes["12345"].channels()
                    if c["name"].startswith("PJSIP/1001-"))
    # Asterisk drops the seat's line as a network failure (Q.850 cause 38)
    assert await probes["12345"].delete(f"/channels/{seat_leg['id']}?reason=failure") == 204
    await wait_until(lambda: has_bridge("1002", "citizen-gw")(probes["12345"]), 10,
                     what="citizen with the next seat")

    assert await citizen.wait(30) == 0, citizen.output()   # hung up by the citizen, at the end
    assert citizen.received("BYE") == []
    assert await first.wait(30) == 0, first.output()
    assert await second.wait(30) == 0, second.output()
    before, after = first.received("INVITE")[0], second.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in after.header("From")
    assert f"sip:{CITIZEN}@" in after.header("P-Asserted-Identity")
    order = before.header("X-Work-Order")
    assert after.header("X-Work-Order") == order
    lost = [e for e in journal(order) if e["kind"] == "agent_lost"]
    assert lost and lost[0]["detail"] == {"seat": "1001", "reason": "network_failure"}
    await assert_site_clean(probes["12345"])
