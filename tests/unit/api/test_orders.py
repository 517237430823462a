"""Orders through the API, on a real migrated SQLite database: role views, masking, changes."""
from __future__ import annotations

import json

from tests.unit.api.conftest import CITIZEN, MASKED, auth, open_order

BASE = "/api/v1"


async def test_agent_lists_only_own_platform_orders_masked(client, orders):
    wo = await open_order(orders, "12345")
    await open_order(orders, "110")
    resp = await client.get(f"{BASE}/orders", headers=auth("agent1001"))
    assert resp.status == 200
    listed = (await resp.json())["orders"]
    assert [o["order_id"] for o in listed] == [wo]
    assert listed[0]["citizen"] == MASKED
    other = await client.get(f"{BASE}/orders?platform=110", headers=auth("agent1001"))
    assert other.status == 403


async def test_supervisor_filters_orders_by_status_and_platform(client, orders):
    await open_order(orders, "12345")
    po = await open_order(orders, "110")
    resp = await client.get(f"{BASE}/orders?platform=110&status=received&limit=5",
                            headers=auth("sup"))
    assert [o["order_id"] for o in (await resp.json())["orders"]] == [po]
    none = await client.get(f"{BASE}/orders?status=closed", headers=auth("sup"))
    assert (await none.json())["orders"] == []


async def test_order_detail_carries_audit_and_links(client, orders):
    wo = await open_order(orders, "12345")
    resp = await client.post(f"{BASE}/orders/{wo}/forward", json={"note": "police matter"},
                             headers=auth("agent1001"))
    assert resp.status == 201
    po = (await resp.json())["linked_order_id"]
    assert po.startswith("PO-")
    detail = await (await client.get(f"{BASE}/orders/{wo}", headers=auth("sup"))).json()
    assert detail["status"] == "transferred"
    assert [h["kind"] for h in detail["history"]][:2] == ["status", "status"]
    assert detail["links"][0]["target_order_id"] == po
    assert detail["linked"][0]["order_id"] == po


async def test_12345_agent_sees_a_linked_police_order_only_through_link_and_feedback(
        client, orders):
    wo = await open_order(orders, "12345")
    po = await orders.forward_online(wo, "agent")
    resp = await client.get(f"{BASE}/orders/{po}", headers=auth("agent1001"))
    assert resp.status == 200
    view = await resp.json()
    assert view["restricted"] is True
    for restricted in ("citizen_number", "summary", "category", "history", "department",
                       "region_code", "call_id"):
        assert restricted not in view
    assert set(view) >= {"order_id", "status", "linked", "feedback"}


async def test_12345_agent_cannot_read_an_unlinked_police_order(client, orders):
    po = await open_order(orders, "110")
    resp = await client.get(f"{BASE}/orders/{po}", headers=auth("agent1001"))
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "access_denied"


async def test_whole_number_only_for_supervisor_and_the_agent_on_the_call(client, orders, desk):
    desk.add_call("call-7", site="12345", seat="1001")
    wo = await open_order(orders, "12345", call_id="call-7")

    async def number(user: str) -> str:
        resp = await client.get(f"{BASE}/orders/{wo}", headers=auth(user))
        assert resp.status == 200
        return (await resp.json())["citizen_number"]

    assert await number("agent1001") == CITIZEN   # on the call
    assert await number("agent1002") == MASKED    # same platform, not on the call
    assert await number("sup") == CITIZEN
    assert (await client.get(f"{BASE}/orders/{wo}", headers=auth("ops"))).status == 403


async def test_unknown_and_malformed_order_ids_are_404(client, orders):
    missing = await client.get(f"{BASE}/orders/WO-20261123-000000000000", headers=auth("sup"))
    assert missing.status == 404
    assert (await missing.json())["error_id"] == "order_not_found"
    bad = await client.get(f"{BASE}/orders/not-an-id", headers=auth("sup"))
    assert bad.status == 404
    assert (await bad.json())["error_id"] == "unknown_order"


async def test_update_summary_category_and_level(client, orders):
    wo = await open_order(orders, "12345")
    resp = await client.patch(f"{BASE}/orders/{wo}", headers=auth("agent1001"),
                              json={"summary": "停水三天", "category": "water"})
    assert resp.status == 200
    assert (await resp.json())["changed"] == ["category", "summary"]
    record = await orders.record(wo)
    assert (record["summary"], record["category"], record["level"]) == ("停水三天", "water", "24h")
    assert record["history"][-1]["actor"] == "api:agent1001"


async def test_police_agent_cannot_change_a_12345_order(client, orders):
    wo = await open_order(orders, "12345")
    resp = await client.patch(f"{BASE}/orders/{wo}", headers=auth("agent2001"),
                              json={"summary": "x"})
    assert resp.status == 403
    assert (await resp.json())["error_id"] == "other_platform"


async def test_status_moves_follow_the_table(client, orders):
    wo = await open_order(orders, "12345")
    needs_department = await client.post(f"{BASE}/orders/{wo}/status", headers=auth("sup"),
                                         json={"status": "assigned"})
    assert needs_department.status == 422
    ok = await client.post(f"{BASE}/orders/{wo}/status", headers=auth("sup"),
                           json={"status": "assigned", "department": "城关区住建局"})
    assert ok.status == 200
    illegal = await client.post(f"{BASE}/orders/{wo}/status", headers=auth("sup"),
                                json={"status": "visited"})
    assert illegal.status == 409
    body = await illegal.json()
    assert body["error_id"] == "illegal_transition"
    assert body["details"]["allowed"] == ["in_progress", "returned", "transferred"]


async def test_return_visit_after_reply(client, orders):
    wo = await open_order(orders, "12345")
    early = await client.post(f"{BASE}/orders/{wo}/visits", headers=auth("agent1001"),
                              json={"resolved": True, "satisfied": True})
    assert early.status == 409
    for status, extra in (("assigned", {"department": "住建局"}), ("in_progress", {}),
                          ("replied", {"outcome": "已修复"})):
        resp = await client.post(f"{BASE}/orders/{wo}/status", headers=auth("agent1001"),
                                 json={"status": status, **extra})
        assert resp.status == 200, await resp.text()
    visit = await client.post(f"{BASE}/orders/{wo}/visits", headers=auth("agent1001"),
                              json={"resolved": True, "satisfied": False, "note": "回访"})
    assert visit.status == 201
    record = await orders.record(wo)
    assert record["status"] == "visited"
    assert record["visits"][0]["satisfied"] is False


async def test_online_submission_opens_an_order_on_the_agents_platform(client, orders):
    resp = await client.post(f"{BASE}/orders", headers=auth("agent2001"), json={
        "citizen_number": "13900001111", "region_code": "410300", "summary": "网上报警：丢失钱包"})
    assert resp.status == 201
    order_id = (await resp.json())["order_id"]
    record = await orders.record(order_id)
    assert (record["platform"], record["channel"]) == ("110", "online")
    wrong = await client.post(f"{BASE}/orders", headers=auth("agent2001"), json={
        "platform": "12345", "citizen_number": "13900001111", "region_code": "410300",
        "summary": "x"})
    assert wrong.status == 403
    no_platform = await client.post(f"{BASE}/orders", headers=auth("sup"), json={
        "citizen_number": "13900001111", "region_code": "410300", "summary": "x"})
    assert no_platform.status == 422


async def test_export_is_for_supervisors_and_holds_every_order(client, orders):
    first = await open_order(orders, "12345")
    second = await open_order(orders, "110")
    resp = await client.get(f"{BASE}/orders/export", headers=auth("sup"))
    assert resp.status == 200
    assert resp.headers["X-Order-Count"] == "2"
    lines = [json.loads(line) for line in (await resp.text()).splitlines()]
    assert {r["order_id"] for r in lines} == {first, second}
    csv = await client.get(f"{BASE}/orders/export?format=csv", headers=auth("sup"))
    assert csv.content_type == "text/csv"
    assert (await client.get(f"{BASE}/orders/export", headers=auth("agent1001"))).status == 403
