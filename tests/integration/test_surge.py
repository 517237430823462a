"""Surge mode: every seat busy past the threshold; waiting callers hear a menu,
press 1 for the FAQ (一问一答) or 2 for a callback, or stay on."""
from __future__ import annotations

import json
import urllib.request

import pytest

from telephony.lab.sipp import citizen_scenario, start_sipp
from tests.integration.conftest import CITIZEN_IP, citizen_call, wait_until

pytestmark = pytest.mark.integration


def journal() -> list[dict]:
    with urllib.request.urlopen("http://127.0.0.1:8080/lab/journal", timeout=2) as resp:
        return json.loads(resp.read())


async def test_waiting_callers_reach_the_faq_and_the_callback_by_dtmf(
        settings, seats, orders, tmp_path):
    site = settings.site("12345")
    seat = await seats("1008")
    busy = await citizen_call(settings, "12345", "13500000001", hold_ms=9000)
    await wait_until(lambda: seat.received("INVITE"), 10, what="the only seat is busy")

    faq = await start_sipp(
        str(citizen_scenario(tmp_path / "faq.xml", [("pause", 5000), ("info", "1"),
                                                     ("pause", 1500)])),
        f"{site.address}:{site.sip_port}", local_ip=CITIZEN_IP, service="12345",
        variables={"citizen": "13500000002"}, timeout_s=60, name="citizen-faq")
    callback = await start_sipp(
        str(citizen_scenario(tmp_path / "cb.xml", [("pause", 5000), ("info", "2")],
                             hang_up=False)),
        f"{site.address}:{site.sip_port}", local_ip=CITIZEN_IP, service="12345",
        variables={"citizen": "13500000003"}, timeout_s=60, name="citizen-callback")

    assert await faq.wait(60) == 0, faq.output()
    assert await callback.wait(60) == 0, callback.output()   # we said goodbye and hung up
    assert await busy.wait(60) == 0, busy.output()

    def entries(kind):
        return [e for e in journal() if e["kind"] == kind and e["site"] == "12345"]
    offered = {e["order"] for e in entries("surge_offered")}
    faq_order = next(e["order"] for e in entries("faq_played"))
    callback_order = next(e["order"] for e in entries("callback_requested"))
    assert {faq_order, callback_order} <= offered
    record = await orders(callback_order, until=lambda r: "[回拨" in (r["summary"] or ""))
    assert record["citizen_number"] == "13500000003"
    assert not [e for e in entries("abandoned") if e["order"] == callback_order]
