"""Failure drills against the real lab (reduced set for CI)."""
from __future__ import annotations

import signal
import time

import pytest

from telephony.lab.sipp import agent_scenario
from tests.integration.conftest import assert_site_clean, citizen_call, wait_until

pytestmark = pytest.mark.integration

CITIZEN = "13987654321"


async def test_controller_killed_mid_call_the_call_stays_up_and_star1_still_transfers(
        lab, settings, seats, probes, orders, tmp_path):
    agent = await seats("1010", agent_scenario(tmp_path / "agent.xml",
                                               [("pause", 7000), ("info", "*1")]))
    target = await seats("2010")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=12000)

    async def bridged():
        return any(len(b["channels"]) == 2 for b in await probes["12345"].bridges())
    await wait_until(bridged, 10, what="citizen and agent bridged")
    order = agent.received("INVITE")[0].header("X-Work-Order")

    lab.book.stop("controller", sig=signal.SIGKILL)       # no goodbye, no cleanup
    assert await bridged(), "the bridge lives in Asterisk: the call must stay up"
    t0 = time.monotonic()
    lab.start_controller()
    lab.wait_controller()
    print(f"controller back in {time.monotonic() - t0:.2f}s")
    await wait_until(lambda: (lab.health() or {}).get("calls", {}).get("connected", 0) >= 1,
                     10, what="the call adopted as connected")

    # the agent presses *1 seven seconds into the call: after the restart
    assert await target.wait(40) == 0, target.output()
    invite = target.received("INVITE")[0]
    assert f"sip:{CITIZEN}@" in invite.header("P-Asserted-Identity")
    assert invite.header("X-Linked-Order") == order
    assert await agent.wait(40) == 0, agent.output()
    assert await citizen.wait(40) == 0, citizen.output()
    record = await orders(order, until=lambda r: r["status"] == "transferred")
    assert record["citizen_number"] == CITIZEN
    await assert_site_clean(probes["12345"])
    await assert_site_clean(probes["110"])
