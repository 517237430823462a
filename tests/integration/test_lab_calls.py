"""A citizen's call through the real lab reaches a seat carrying the citizen's
number; a call crosses a trunk with its headers; the controller survives an
Asterisk restart."""
from __future__ import annotations

import time

import pytest

from tests.integration.conftest import assert_site_clean, citizen_call, wait_until

pytestmark = pytest.mark.integration

CITIZEN = "13800138000"


async def test_citizen_call_to_12345_rings_seat_1001_with_the_citizens_number(
        settings, seats, probes, orders):
    seat = await seats("1001")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=3000)

    async def bridged():
        for bridge in await probes["12345"].bridges():
            if len(bridge["channels"]) == 2:
                return bridge
    bridge = await wait_until(bridged, 10, what="citizen and seat bridged")
    channels = {c["id"]: c for c in await probes["12345"].channels()}
    members = [channels[cid] for cid in bridge["channels"]]
    assert sorted(m["name"].split("-")[0] for m in members) == ["PJSIP/1001", "PJSIP/citizen"]
    assert {m["caller"]["number"] for m in members} == {CITIZEN}

    assert await citizen.wait(30) == 0, citizen.output()
    assert await seat.wait(30) == 0, seat.output()
    invite = seat.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    order = invite.header("X-Work-Order")
    assert order and order.startswith("WO-")
    assert invite.header("X-Origin-Site") == "12345"
    assert f"incidentid:{order}" in invite.header("Call-Info")
    await assert_site_clean(probes["12345"])
    # every citizen call opens an order on its platform, whole number stored
    record = await orders(order)
    assert (record["platform"], record["citizen_number"], record["region_code"],
            record["channel"], record["status"]) == ("12345", CITIZEN, "410300", "phone", "received")


async def test_call_across_the_trunk_to_remote_keeps_number_and_x_headers(
        settings, seats, probes):
    seat = await seats("3001")
    # ring remote seat 3001 from site 12345 over its trunk, as overflow does
    await probes["12345"].post("/channels", params={
        "endpoint": "PJSIP/3001@trunk-remote", "extension": "*43", "context": "from-seat",
        "callerId": f'"{CITIZEN}" <{CITIZEN}>', "channelId": "trunk-test-1",
    }, body={"variables": {"PJSIP_HEADER(add,X-Work-Order)": "WO-20261122-TRUNKTEST0001",
                           "PJSIP_HEADER(add,X-Origin-Site)": "12345"}})

    await wait_until(lambda: seat.received("INVITE"), 10, what="INVITE at remote seat 3001")
    assert await probes["12345"].delete("/channels/trunk-test-1") == 204
    assert await seat.wait(30) == 0, seat.output()
    invite = seat.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("From")
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    assert invite.header("X-Work-Order") == "WO-20261122-TRUNKTEST0001"
    assert invite.header("X-Origin-Site") == "12345"
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["remote"])


async def test_after_site_110_restarts_the_controller_reconnects_and_handles_the_next_call(
        lab, settings, seats, probes):
    site = settings.site("110")

    def ari_connected():
        return ((lab.health() or {}).get("sites", {}).get("110") or {}).get("ari")

    lab.stop_site(site)
    await wait_until(lambda: ari_connected() is False, 10, what="controller sees 110 down")
    t0 = time.monotonic()
    lab.start_site(site, fresh=False)
    await wait_until(lambda: ari_connected() and (lab.health() or {}).get("ready"), 30,
                     what="controller reconnected to 110")
    print(f"controller reconnected {time.monotonic() - t0:.2f}s after 110 was started")

    seat = await seats("2001")
    citizen = await citizen_call(settings, "110", CITIZEN, hold_ms=1500)
    assert await citizen.wait(30) == 0, citizen.output()
    assert await seat.wait(30) == 0, seat.output()
    assert f"sip:{CITIZEN}@" in seat.received("INVITE")[0].header("P-Asserted-Identity")
    await assert_site_clean(probes["110"])
