"""Seats, overflow, suggestions and reports."""
from __future__ import annotations

from tests.unit.api.conftest import auth, open_order

BASE = "/api/v1"


async def test_agents_see_their_sites_seats_and_ops_sees_all(client):
    agent = await (await client.get(f"{BASE}/seats", headers=auth("agent2001"))).json()
    ops = await (await client.get(f"{BASE}/seats", headers=auth("ops"))).json()
    assert {s["site"] for s in agent["seats"]} == {"110"}
    assert {s["site"] for s in ops["seats"]} == {"12345", "110", "remote"}


async def test_agent_pauses_and_resumes_own_seat_only(client, desk):
    resp = await client.post(f"{BASE}/seats/12345/1001/pause", headers=auth("agent1001"))
    assert resp.status == 200
    assert (await resp.json())["state"] == "paused"
    assert desk.seat_states[("12345", "1001")] == "paused"
    resp = await client.post(f"{BASE}/seats/12345/1001/resume", headers=auth("agent1001"))
    assert (await resp.json())["state"] == "available"
    other = await client.post(f"{BASE}/seats/12345/1002/pause", headers=auth("agent1001"))
    assert other.status == 403
    assert (await other.json())["error_id"] == "not_your_seat"


async def test_site_supervisor_manages_own_site_and_unknown_seat_is_404(client, desk):
    ok = await client.post(f"{BASE}/seats/12345/1002/pause", headers=auth("sup12345"))
    other = await client.post(f"{BASE}/seats/110/2001/pause", headers=auth("sup12345"))
    unknown = await client.post(f"{BASE}/seats/12345/9999/pause", headers=auth("ops"))
    assert (ok.status, other.status, unknown.status) == (200, 403, 404)
    assert (await unknown.json())["error_id"] == "seat_not_found"


async def test_overflow_switch(client, desk):
    resp = await client.put(f"{BASE}/overflow", json={"site": "12345", "enabled": True},
                            headers=auth("ops"))
    assert resp.status == 200
    assert desk.overflow_by_site["12345"] is True
    assert desk.overflow_actors == ["api:ops"]
    seen = await (await client.get(f"{BASE}/overflow", headers=auth("agent1001"))).json()
    assert seen == {"sites": {"12345": True},
                    "status": {"12345": {"active": True, "forced": True}}}
    back = await client.put(f"{BASE}/overflow", headers=auth("ops"),
                            json={"site": "12345", "enabled": None, "reason": "drill over"})
    assert back.status == 200 and desk.overflow_by_site["12345"] is None
    agent = await client.put(f"{BASE}/overflow", json={"site": "12345", "enabled": False},
                             headers=auth("agent1001"))
    assert agent.status == 403
    other = await client.put(f"{BASE}/overflow", json={"site": "110", "enabled": True},
                             headers=auth("sup12345"))
    assert other.status == 403
    unknown = await client.put(f"{BASE}/overflow", json={"site": "mars", "enabled": True},
                               headers=auth("ops"))
    assert unknown.status == 404


async def test_suggestion_routes_text_with_context(client):
    resp = await client.post(f"{BASE}/suggestions", headers=auth("agent1001"), json={
        "text": "有人持刀抢劫，快来人", "context": {"site": "12345", "history": [
            {"when": "2026-11-20T10:00:00+08:00", "summary": "噪音", "flags": []}]}})
    assert resp.status == 200
    suggestion = await resp.json()
    assert suggestion["target"] == "110"
    assert suggestion["emergency"] is True
    assert suggestion["reasons"]
    plain = await client.post(f"{BASE}/suggestions", headers=auth("agent2001"),
                              json={"text": "小区停水了"})
    assert plain.status == 200


async def test_rates_by_platform(client, orders):
    await open_order(orders, "12345")
    resp = await client.get(f"{BASE}/reports/rates?by=platform,period&period=day",
                            headers=auth("sup"))
    assert resp.status == 200
    rows = (await resp.json())["rows"]
    assert rows == [{"group": {"platform": "12345", "period": "2026-11-23"}, "orders": 1,
                     "due": 0, "responded_on_time": 0, "visited": 0, "resolved": 0,
                     "satisfied": 0, "response_rate": None, "resolution_rate": None,
                     "satisfaction_rate": None}]


async def test_overdue_board(client, orders, clock):
    order_id = await open_order(orders, "12345", category="water")
    clock.advance(hours=25)
    await orders.supervise()
    resp = await client.get(f"{BASE}/reports/overdue", headers=auth("ops"))
    items = (await resp.json())["items"]
    assert [i["order_id"] for i in items] == [order_id]
    assert items[0]["tier"] == 1
    assert items[0]["overdue_by_s"] == 3600.0


async def test_hotspots_count_orders_by_category_region_and_period(client, orders, clock):
    for _ in range(3):
        await open_order(orders, "12345", category="water")
    await open_order(orders, "12345", category="housing")
    await open_order(orders, "110", category="dispute")
    clock.advance(days=1)
    await open_order(orders, "12345", category="water")
    resp = await client.get(f"{BASE}/reports/hotspots?period=day&platform=12345&top=2",
                            headers=auth("sup"))
    body = await resp.json()
    assert body["complete"] is True
    assert body["rows"] == [
        {"category": "water", "region": "410300", "period": "2026-11-23", "orders": 3},
        {"category": "housing", "region": "410300", "period": "2026-11-23", "orders": 1},
    ]
    since = await client.get(f"{BASE}/reports/hotspots",
                             params={"since": "2026-11-24T00:00:00+08:00"}, headers=auth("sup"))
    assert [r["orders"] for r in (await since.json())["rows"]] == [1]
