"""A real 12345 call's order gets its department suggestion, then goes through 派单 and
签收 by the department, through the running controller and order consumer."""
from __future__ import annotations

import json
import urllib.error

import pytest

from tests.integration.conftest import assert_site_clean, citizen_call, wait_until
from tests.integration.test_transfer import api

pytestmark = pytest.mark.integration

CITIZEN = "13912345670"
SUMMARY = "物业公司不管事，物业费年年涨，楼道灯坏了也没人修"


async def test_a_called_in_order_is_suggested_dispatched_and_accepted_by_its_department(
        settings, seats, probes, orders):
    agent = await seats("1001")
    citizen = await citizen_call(settings, "12345", CITIZEN, hold_ms=6000)
    await wait_until(lambda: agent.received("INVITE"), 10, what="seat 1001 answers")
    call = await wait_until(lambda: next(
        (c for c in api("GET", "/calls", "agent1001")["calls"]
         if c["seat"] == "1001" and c["state"] == "connected" and c["order_id"]), None),
        10, what="the call listed with its order")
    order_id = call["order_id"]
    api("PUT", f"/calls/{call['call_id']}/summary", "agent1001", {"summary": SUMMARY})

    def suggested():
        try:
            view = api("GET", f"/orders/{order_id}/dispatch", "agent1001")
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 503):   # the order or the database is not there yet
                return None
            raise
        return view if (view["suggestion"] or {}).get("department") else None

    view = await wait_until(suggested, 20, interval=0.3, what="the order's department suggestion")
    suggestion = view["suggestion"]
    assert suggestion["department"] == "housing"
    assert "物业" in suggestion["candidates"][0]["reasons"][0]["words"]

    step = api("POST", f"/orders/{order_id}/dispatch", "agent1001",
               {"department": suggestion["department"]})
    assert (step["state"], step["status"]) == ("dispatched", "assigned")
    with pytest.raises(urllib.error.HTTPError) as refused:
        api("POST", f"/orders/{order_id}/accept", "dept_urban_management", {})
    assert refused.value.code == 403
    assert json.loads(refused.value.read())["error_id"] == "not_your_order"
    step = api("POST", f"/orders/{order_id}/accept", "dept_housing", {})
    assert (step["state"], step["status"]) == ("accepted", "in_progress")

    record = await orders(order_id, until=lambda r: r["department"] == "housing")
    notes = [e["note"] for e in record["history"] if e["kind"] == "dispatch"]
    assert notes == ["派单 to housing", "签收 by housing"]
    assert await citizen.wait(30) == 0, citizen.output()
    await assert_site_clean(probes["12345"])
